//! `tuitalk-server user …`: accounts from the operator's shell, against the configured
//! store (SQLite or PostgreSQL), with no server running or beside running ones
//! (docs/operations.md, "Accounts").
//!
//! Accounts are named by email or `@handle`. Passwords come from the terminal without
//! echo, or one line from standard input with `--password-stdin`. Disabling an account,
//! resetting its password and demoting it revoke its sessions, which every running
//! backend notices within `auth.revocation_check_ms` (the revocation check reads the
//! store).

use std::fmt::Write as _;
use std::sync::Arc;

use tuitalk_protocol::{account, name};

use crate::Config;
use crate::auth::Passwords;
use crate::store::accounts::{NewAccount, Profile, RegisterError, Role};
use crate::store::{Store, now_ms};

/// What the operator asked for.
#[derive(Debug, Clone)]
pub enum UserAction {
    /// List accounts, ordered by handle, after a handle.
    List {
        /// Start after this handle.
        after: Option<String>,
        /// At most this many.
        limit: u32,
    },
    /// Create an account (its email counts as verified).
    Create {
        /// Email address.
        email: String,
        /// Handle.
        handle: String,
        /// Display name (the handle when absent).
        name: Option<String>,
        /// The password.
        password: String,
    },
    /// Set a new password; every session of the account is revoked.
    ResetPassword {
        /// Email or `@handle`.
        who: String,
        /// The new password.
        password: String,
    },
    /// Disable (sessions revoked, login refused) or enable an account.
    SetDisabled {
        /// Email or `@handle`.
        who: String,
        /// Disable (`true`) or enable.
        disabled: bool,
    },
    /// Make an account an admin, or a member again.
    SetRole {
        /// Email or `@handle`.
        who: String,
        /// The role.
        role: Role,
    },
}

/// Runs `action` against the store of `config`; the text to print, or why not.
pub async fn run(config: &Config, action: UserAction) -> anyhow::Result<String> {
    config.validate()?;
    let store = crate::open_store(config).await?;
    let result = perform(config, &store, action).await;
    store.close().await;
    result
}

async fn perform(
    config: &Config,
    store: &Arc<dyn Store>,
    action: UserAction,
) -> anyhow::Result<String> {
    match action {
        UserAction::List { after, limit } => {
            let accounts = store.accounts(after.as_deref(), limit).await?;
            Ok(table(&accounts))
        }
        UserAction::Create {
            email,
            handle,
            name,
            password,
        } => {
            let email = account::normalize_email(&email)
                .map_err(|_| anyhow::anyhow!("not an email address: {email}"))?;
            let handle = account::normalize_handle(&handle).map_err(|_| {
                anyhow::anyhow!(
                    "invalid handle: 3 to 20 of a-z, 0-9 and _, starting with a letter, not reserved"
                )
            })?;
            let name = name.unwrap_or_else(|| handle.clone());
            name::validate_display_name(&name, config.limits.max_name_chars as usize)
                .map_err(|_| anyhow::anyhow!("invalid display name"))?;
            let password_hash = hash(config, &password, &[&email, &handle, &name]).await?;
            let new = NewAccount {
                email,
                handle,
                name,
                password_hash,
                email_verified: true,
                now: now_ms(),
            };
            match store.register(None, &new).await {
                Ok(user) => Ok(format!(
                    "created @{} ({}), user id {}\n",
                    new.handle, new.email, user.user_id
                )),
                Err(RegisterError::EmailTaken) => {
                    anyhow::bail!("an account with this email exists")
                }
                Err(RegisterError::HandleTaken) => anyhow::bail!("this handle is taken"),
                Err(err) => Err(err.into()),
            }
        }
        UserAction::ResetPassword { who, password } => {
            let profile = find(store, &who).await?;
            let email = profile.email.clone().unwrap_or_default();
            let handle = profile.user.handle.clone().unwrap_or_default();
            let password_hash = hash(config, &password, &[&email, &handle]).await?;
            store
                .set_password(&profile.user.user_id, &password_hash)
                .await?;
            let revoked = store
                .revoke_sessions(&profile.user.user_id, None, now_ms())
                .await?;
            Ok(format!(
                "new password set for {}; {revoked} session(s) revoked\n",
                label(&profile)
            ))
        }
        UserAction::SetDisabled { who, disabled } => {
            let profile = find(store, &who).await?;
            store
                .set_disabled(&profile.user.user_id, disabled, now_ms())
                .await?;
            if disabled {
                let revoked = store
                    .revoke_sessions(&profile.user.user_id, None, now_ms())
                    .await?;
                Ok(format!(
                    "disabled {}; {revoked} session(s) revoked\n",
                    label(&profile)
                ))
            } else {
                Ok(format!("enabled {}\n", label(&profile)))
            }
        }
        UserAction::SetRole { who, role } => {
            let profile = find(store, &who).await?;
            store.set_role(&profile.user.user_id, role).await?;
            Ok(format!("{} is now {}\n", label(&profile), role.as_str()))
        }
    }
}

/// The account named by an email or `@handle`.
async fn find(store: &Arc<dyn Store>, who: &str) -> anyhow::Result<Profile> {
    let key = match who.strip_prefix('@') {
        Some(handle) => handle.to_ascii_lowercase(),
        None => account::normalize_email(who).unwrap_or_else(|_| who.to_ascii_lowercase()),
    };
    store
        .profile_by_login(&key)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account {who}"))
}

/// Checks and hashes a password the operator chose.
async fn hash(config: &Config, password: &str, inputs: &[&str]) -> anyhow::Result<String> {
    let passwords = Passwords::new(&config.auth).map_err(|e| anyhow::anyhow!("{e}"))?;
    passwords
        .check_strength(password, inputs)
        .map_err(|refusal| anyhow::anyhow!("{}", refusal.message))?;
    passwords
        .hash(password)
        .await
        .map_err(|refusal| anyhow::anyhow!("{}", refusal.message))
}

fn label(profile: &Profile) -> String {
    match &profile.user.handle {
        Some(handle) => format!("@{handle}"),
        None => profile.user.user_id.clone(),
    }
}

/// The accounts as an aligned table.
fn table(accounts: &[Profile]) -> String {
    let mut out = format!(
        "{:<21} {:<32} {:<20} {:<7} {:<9} {}\n",
        "HANDLE", "EMAIL", "NAME", "ROLE", "STATE", "USER ID"
    );
    for profile in accounts {
        let state = match (profile.disabled, profile.email_verified) {
            (true, _) => "disabled",
            (false, true) => "active",
            (false, false) => "unverified",
        };
        let _ = writeln!(
            out,
            "{:<21} {:<32} {:<20} {:<7} {:<9} {}",
            label(profile),
            profile.email.as_deref().unwrap_or(""),
            profile.user.name,
            profile.role.as_str(),
            state,
            profile.user.user_id
        );
    }
    if accounts.is_empty() {
        out.push_str("(no accounts)\n");
    }
    out
}
