//! `tuitalk login` and `tuitalk logout`: sign in or out from a shell, without starting
//! the chat. Both use the same saved sessions as the chat ([`crate::tokens`]), so a
//! `tuitalk` started afterwards resumes the account (or starts a new guest).

use std::io::BufRead;

use anyhow::{Context, bail};
use tuitalk_protocol::account::{MAX_PASSWORD_BYTES, normalize_email};

use crate::account::short_id;
use crate::api::{self, ApiCall, ApiOk};
use crate::cli::{LoginArgs, ServerArgs, Sub};
use crate::http::Server;
use crate::secret::Secret;
use crate::tokens::{SavedSession, TokenStore};

/// Runs a subcommand; what it did is printed on standard output, problems on standard
/// error.
pub async fn run(command: Sub) -> anyhow::Result<()> {
    let store = TokenStore::from_env()?;
    match command {
        Sub::Login(args) => login(&store, args).await,
        Sub::Logout(args) => logout(&store, args).await,
    }
}

async fn login(store: &TokenStore, args: LoginArgs) -> anyhow::Result<()> {
    let server = Server::parse(&args.server.server)?;
    let email = normalize_email(&args.email)
        .map_err(|_| anyhow::anyhow!("{:?} is not an email address", args.email))?;
    let password = if args.password_stdin {
        read_password_line(std::io::stdin().lock())?
    } else {
        let prompt = format!("Password for {email}: ");
        tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
            .await
            .context("reading the password")?
            .map(Secret::new)
            .context("reading the password from the terminal (or use --password-stdin)")?
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let previous = store.load(server.key())?;
    let call = ApiCall::Login {
        email,
        password,
        label: args.label,
    };
    let granted = match api::execute(&server, call).await {
        Ok(ApiOk::Granted(granted)) => granted,
        Ok(other) => bail!("unexpected answer: {other:?}"),
        Err(err) => bail!("could not sign in: {}", err.describe()),
    };
    let identity = granted.identity();
    store
        .save(server.key(), &SavedSession::from_identity(&identity))
        .context("saving the session")?;
    println!(
        "signed in to {} as {} (session {}); saved in {}",
        server.key(),
        tuitalk_client::user_label(&identity.name, identity.handle.as_deref()),
        short_id(&identity.session_id),
        store.path().display()
    );
    // The session saved before is kept nowhere now: end it on the server.
    if let Some(previous) = previous.filter(|p| p.session_id != identity.session_id) {
        let call = ApiCall::RevokeSession {
            token: previous.token.clone(),
            id: previous.session_id.clone(),
        };
        if api::execute(&server, call).await.is_ok() {
            println!(
                "the session saved before ({}) was revoked",
                short_id(&previous.session_id)
            );
        }
    }
    Ok(())
}

async fn logout(store: &TokenStore, args: ServerArgs) -> anyhow::Result<()> {
    let server = Server::parse(&args.server)?;
    let Some(saved) = store.load(server.key())? else {
        println!("no session saved for {}", server.key());
        return Ok(());
    };
    let call = ApiCall::RevokeSession {
        token: saved.token.clone(),
        id: saved.session_id.clone(),
    };
    let revoked = api::execute(&server, call).await;
    // Forget it whatever the server said: the user asked to be signed out here.
    store.remove(server.key()).context("removing the session")?;
    match revoked {
        Ok(_) => {
            println!("signed out of {}", server.key());
            Ok(())
        }
        Err(err) if matches!(err.code(), Some("invalid_token" | "unknown_session")) => {
            println!(
                "signed out of {} (the session had ended already)",
                server.key()
            );
            Ok(())
        }
        Err(err) => bail!(
            "the session was forgotten here, but the server could not revoke it: {}",
            err.describe()
        ),
    }
}

/// The password on the first line of `input` (without its line break), read with a
/// bound.
fn read_password_line(input: impl BufRead) -> anyhow::Result<Secret> {
    let mut line = String::new();
    let limit = u64::try_from(MAX_PASSWORD_BYTES + 2).unwrap_or(u64::MAX);
    input
        .take(limit)
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = Secret::new(line.trim_end_matches(['\n', '\r']));
    line.replace_range(.., &"\0".repeat(line.len()));
    if password.expose().len() > MAX_PASSWORD_BYTES {
        bail!("the password is longer than {MAX_PASSWORD_BYTES} bytes");
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_first_line() {
        let read =
            |input: &str| read_password_line(input.as_bytes()).map(|s| s.expose().to_owned());
        assert_eq!(
            read("correct horse\nsecond line\n").ok().as_deref(),
            Some("correct horse")
        );
        assert_eq!(read("crlf\r\n").ok().as_deref(), Some("crlf"));
        assert_eq!(read("no newline").ok().as_deref(), Some("no newline"));
        assert_eq!(read("").ok().as_deref(), Some(""));
        assert!(read(&"x".repeat(MAX_PASSWORD_BYTES + 5)).is_err());
    }
}
