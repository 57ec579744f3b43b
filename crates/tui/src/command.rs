//! The input line's slash commands.

pub use tuitalk_client::command::DEFAULT_FETCH;
use tuitalk_protocol::account::{normalize_email, normalize_handle};

/// The terminal's own commands, besides the shared ones of
/// [`tuitalk_client::command::Command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extra {
    /// `/clear`: clear the current room's view (`/fetch` brings messages back).
    Clear,
    /// `/rooms`: the joined rooms with their unread counts.
    Rooms,
    /// `/quit`: leave the program.
    Quit,
    /// An account or session command (`/register`, `/login`, `/logout`, `/sessions`,
    /// `/signout-all`).
    Account(Account),
}

/// The account and session commands. Passwords are never part of a command: they are
/// asked for next, with echo off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// `/register EMAIL HANDLE [NAME]`: make this session an account (a guest keeps its
    /// user id, rooms and history); NAME defaults to the current display name.
    Register {
        /// The email address, normalised.
        email: String,
        /// The handle, normalised, without `@`.
        handle: String,
        /// The display name, if given.
        name: Option<String>,
    },
    /// `/login EMAIL`: sign in to an account.
    Login {
        /// The email address, normalised.
        email: String,
    },
    /// `/logout`: revoke this session and continue as a new guest.
    Logout,
    /// `/sessions`: list this identity's sessions.
    Sessions,
    /// `/sessions revoke ID-PREFIX`: revoke one session.
    Revoke(String),
    /// `/sessions label ID-PREFIX LABEL`: rename one session.
    Label {
        /// The start of the session's id.
        prefix: String,
        /// The new label.
        label: String,
    },
    /// `/signout-all`: revoke every session of this identity, this one included.
    SignOutAll,
}

/// What a line typed by the user asks for.
pub type Command = tuitalk_client::command::Command<Extra>;

/// One line per command, for `/help`.
pub const HELP: &[&str] = &[
    "/room ROOM    join ROOM (ASCII letters, digits, - _ .) and switch to it",
    "/leave        leave the current room",
    "/name NAME    change your display name",
    "/fetch [N]    load N older messages (default 50)",
    "/who          who is in the current room",
    "/rooms        your rooms and unread counts",
    "/register EMAIL HANDLE [NAME]  make this session an account (asks for a password)",
    "/login EMAIL  sign in to your account (asks for a password)",
    "/logout       end this session and continue as a new guest",
    "/sessions     your sessions; /sessions revoke ID, /sessions label ID LABEL",
    "/signout-all  end every session of this identity, this one too",
    "/clear        clear the view of this room",
    "/reconnect    connect now instead of waiting",
    "/quit         leave TuiTalk (also Ctrl-C)",
    "keys: Enter send, Tab next room, PgUp/PgDn/Home/End scroll, Ctrl-A/Ctrl-E/Ctrl-U edit",
    "text not starting with / is posted to the current room (start with // for a literal /)",
];

/// Parses a line from the input box. `Ok(None)` for a blank line; `Err` carries a usage
/// message for the user.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    if let Some(rest) = line.strip_prefix('/').filter(|rest| !rest.starts_with('/')) {
        let rest = rest.trim();
        let (word, arg) = match rest.split_once(char::is_whitespace) {
            Some((word, arg)) => (word, arg.trim()),
            None => (rest, ""),
        };
        if let Some(account) = parse_account(word, arg) {
            return account.map(|account| Some(Command::Extra(Extra::Account(account))));
        }
    }
    tuitalk_client::command::parse(line, |word| match word {
        "clear" => Some(Extra::Clear),
        "rooms" => Some(Extra::Rooms),
        "quit" | "exit" | "q" => Some(Extra::Quit),
        _ => None,
    })
}

const REGISTER_USAGE: &str = "usage: /register EMAIL HANDLE [NAME] (the password is asked next)";
const LOGIN_USAGE: &str = "usage: /login EMAIL (the password is asked next)";
const SESSIONS_USAGE: &str =
    "usage: /sessions, /sessions revoke ID-PREFIX, /sessions label ID-PREFIX LABEL";

/// Parses an account command; `None` when `word` is not one.
fn parse_account(word: &str, arg: &str) -> Option<Result<Account, String>> {
    let mut words = arg.split_whitespace();
    let no_arg = |account: Account| {
        if arg.is_empty() {
            Ok(account)
        } else {
            Err(format!("/{word} takes no argument"))
        }
    };
    let email = |email: Option<&str>, usage: &str| {
        let email = email.ok_or_else(|| usage.to_owned())?;
        normalize_email(email).map_err(|_| format!("not an email address; {usage}"))
    };
    Some(match word {
        "register" => (|| {
            let email = email(words.next(), REGISTER_USAGE)?;
            let handle = words.next().ok_or_else(|| REGISTER_USAGE.to_owned())?;
            let handle = normalize_handle(handle).map_err(|_| {
                "a handle has 3 to 20 of a-z, 0-9 and _, starts with a letter and is not \
                 reserved"
                    .to_owned()
            })?;
            // The name is the rest of the line, spaces and all.
            let name = arg
                .splitn(3, char::is_whitespace)
                .nth(2)
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned);
            Ok(Account::Register {
                email,
                handle,
                name,
            })
        })(),
        "login" => (|| {
            let address = email(words.next(), LOGIN_USAGE)?;
            match words.next() {
                // Never echo what followed: it may be the password.
                Some(_) => Err(format!("{LOGIN_USAGE}; type only the address")),
                None => Ok(Account::Login { email: address }),
            }
        })(),
        "logout" | "signout" => no_arg(Account::Logout),
        "signout-all" | "logout-all" => no_arg(Account::SignOutAll),
        "sessions" => match words.next() {
            None | Some("list") if words.clone().next().is_none() => Ok(Account::Sessions),
            Some("revoke") => match (words.next(), words.next()) {
                (Some(prefix), None) => Ok(Account::Revoke(prefix.to_owned())),
                _ => Err(SESSIONS_USAGE.to_owned()),
            },
            Some("label") => match words.next() {
                Some(prefix) => {
                    let label = arg
                        .splitn(3, char::is_whitespace)
                        .nth(2)
                        .map(str::trim)
                        .unwrap_or_default();
                    if label.is_empty() {
                        Err(SESSIONS_USAGE.to_owned())
                    } else {
                        Ok(Account::Label {
                            prefix: prefix.to_owned(),
                            label: label.to_owned(),
                        })
                    }
                }
                None => Err(SESSIONS_USAGE.to_owned()),
            },
            _ => Err(SESSIONS_USAGE.to_owned()),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse("/help"), Ok(Some(Command::Help)));
        assert_eq!(parse("/room 42"), Ok(Some(Command::Room("42".into()))));
        assert_eq!(
            parse("/room #lobby"),
            Ok(Some(Command::Room("lobby".into())))
        );
        assert_eq!(
            parse("/name  grace hopper "),
            Ok(Some(Command::Name("grace hopper".into())))
        );
        assert_eq!(parse("/fetch"), Ok(Some(Command::Fetch(DEFAULT_FETCH))));
        assert_eq!(parse("/fetch 20"), Ok(Some(Command::Fetch(20))));
        assert_eq!(parse("/quit"), Ok(Some(Command::Extra(Extra::Quit))));
        assert_eq!(
            parse("hello /room"),
            Ok(Some(Command::Post("hello /room".into())))
        );
        assert_eq!(parse("//shrug"), Ok(Some(Command::Post("/shrug".into()))));
        assert_eq!(parse("   "), Ok(None));
    }

    fn account(line: &str) -> Result<Account, String> {
        match parse(line) {
            Ok(Some(Command::Extra(Extra::Account(account)))) => Ok(account),
            Ok(other) => Err(format!("not an account command: {other:?}")),
            Err(usage) => Err(usage),
        }
    }

    #[test]
    fn account_commands_parse() {
        assert_eq!(
            account("/register  Ada@Example.ORG @Ada  Ada Lovelace "),
            Ok(Account::Register {
                email: "ada@example.org".into(),
                handle: "ada".into(),
                name: Some("Ada Lovelace".into()),
            })
        );
        assert_eq!(
            account("/register ada@example.org ada"),
            Ok(Account::Register {
                email: "ada@example.org".into(),
                handle: "ada".into(),
                name: None,
            })
        );
        assert_eq!(
            account("/login ADA@example.org"),
            Ok(Account::Login {
                email: "ada@example.org".into()
            })
        );
        assert_eq!(account("/logout"), Ok(Account::Logout));
        assert_eq!(account("/signout-all"), Ok(Account::SignOutAll));
        assert_eq!(account("/sessions"), Ok(Account::Sessions));
        assert_eq!(account("/sessions list"), Ok(Account::Sessions));
        assert_eq!(
            account("/sessions revoke 9b2e"),
            Ok(Account::Revoke("9b2e".into()))
        );
        assert_eq!(
            account("/sessions label 9b2e my  laptop "),
            Ok(Account::Label {
                prefix: "9b2e".into(),
                label: "my  laptop".into()
            })
        );
        assert_eq!(
            parse("//login is a word"),
            Ok(Some(Command::Post("/login is a word".into())))
        );
    }

    #[test]
    fn bad_account_commands_explain_themselves() {
        for line in [
            "/register",
            "/register ada@example.org",
            "/register nobody ada",
            "/register ada@example.org 9lives",
            "/register ada@example.org admin",
            "/login",
            "/login ada",
            "/logout now",
            "/signout-all please",
            "/sessions frob",
            "/sessions list more",
            "/sessions revoke",
            "/sessions revoke a b",
            "/sessions label 9b2e",
        ] {
            assert!(account(line).is_err(), "{line}");
        }
        // A password typed after the address is not repeated in the error.
        let err = account("/login ada@example.org hunter2secret").expect_err("extra word");
        assert!(!err.contains("hunter2secret"), "{err}");
        assert!(err.contains("usage: /login EMAIL"), "{err}");
    }

    #[test]
    fn help_lists_the_account_commands() {
        for command in [
            "/register",
            "/login",
            "/logout",
            "/sessions",
            "/signout-all",
        ] {
            assert!(
                HELP.iter().any(|line| line.starts_with(command)),
                "{command}"
            );
        }
    }

    #[test]
    fn bad_commands_explain_themselves() {
        assert!(parse("/fetch x").is_err());
        assert!(parse("/fetch 0").is_err());
        assert!(parse("/room").is_err());
        assert!(parse("/room a b").is_err());
        assert!(parse("/name").is_err());
        assert!(parse("/who me").is_err());
        assert!(parse("/frobnicate").expect_err("unknown").contains("/help"));
    }
}
