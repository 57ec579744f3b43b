//! Accounts and sessions (docs/protocol.md, "Identities: guests and accounts" and
//! "Sessions and tokens"; docs/security.md, "Accounts and sessions").
//!
//! Every sign-in — a login, a registration, a new guest — is a session stored in the
//! store; its token ([`token`]) names the session and is signed, so any backend checks a
//! token by its MAC and one store lookup, without asking another backend
//! ([`Auth::resolve`]). A session ends when it is revoked, unused for
//! `auth.session_idle_seconds`, or older than `auth.session_max_seconds`; live WebSockets
//! of ended sessions are closed by [`revocation`] on every backend within about
//! `auth.revocation_check_ms`.
//!
//! - [`token`]: token format, keys by id (rotation), the generated key file;
//! - [`password`]: argon2id hashing with bounded concurrency, the strength rule;
//! - [`clock`]: the clock sessions are judged by (a test sets its own);
//! - [`codes`]: the single-use codes mailed for resets and verification;
//! - [`revocation`]: the per-backend check that closes ended sessions' connections.

pub mod clock;
pub mod codes;
pub mod password;
pub mod revocation;
pub mod token;

use std::sync::Arc;

use tuitalk_protocol::ErrorCode;

use crate::config::Config;
use crate::error::Refusal;
use crate::store::Store;
use crate::store::accounts::{Profile, SessionRecord};

pub use clock::Clock;
pub use password::Passwords;
pub use token::{InvalidToken, Keyring, Verified};

/// A session's `last_seen_at` is written at most this often (ms) by requests with its
/// token, so a busy client does not write on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The longest session label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// The label of a session carried over from a protocol 1 token.
const CARRIED_OVER: &str = "signed in before sessions";

/// The session machinery every request and connection shares.
#[derive(Debug)]
pub struct Auth {
    /// Signs and verifies tokens.
    pub keys: Keyring,
    /// Hashes and verifies passwords.
    pub passwords: Arc<Passwords>,
    /// The clock sessions are judged by.
    pub clock: Clock,
    idle_ms: i64,
    max_ms: i64,
}

/// A token that names a live session, with the session and its identity.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The session (not revoked, not expired).
    pub session: SessionRecord,
    /// Its identity.
    pub profile: Profile,
    /// The token to use from now on: the one given, or for a protocol 1 token the new
    /// session's.
    pub token: String,
}

impl Auth {
    /// The machinery of `config`, with `clock`. Fails when the key file cannot be read or
    /// made, or argon2 refuses the costs.
    pub fn new(config: &Config, clock: Clock) -> std::io::Result<Self> {
        let keys = Keyring::from_config(config)?;
        let passwords = Passwords::new(&config.auth).map_err(|err| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, err.to_string())
        })?;
        let ms = |seconds: u64| i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        Ok(Self {
            keys,
            passwords,
            clock,
            idle_ms: ms(config.auth.session_idle_seconds),
            max_ms: ms(config.auth.session_max_seconds),
        })
    }

    /// Starts a session of `user_id` labelled `label` (cleaned and shortened by
    /// [`clean_label`]); the record and its token.
    pub async fn start_session(
        &self,
        store: &dyn Store,
        user_id: &str,
        label: &str,
    ) -> Result<(SessionRecord, String), Refusal> {
        let now = self.clock.now_ms();
        let session = SessionRecord {
            session_id: uuid::Uuid::new_v4().simple().to_string(),
            user_id: user_id.to_owned(),
            label: clean_label(label),
            created_at: now,
            last_seen_at: now,
            expires_at: now.saturating_add(self.max_ms),
            revoked_at: None,
        };
        store.create_session(&session).await?;
        let token = self.keys.sign(&session.session_id);
        Ok((session, token))
    }

    /// Whether `session` is live at `now`: not revoked, used within the idle time, before
    /// its absolute end.
    pub fn is_live(&self, session: &SessionRecord, now: i64) -> bool {
        session.revoked_at.is_none()
            && now < session.expires_at
            && now.saturating_sub(session.last_seen_at) < self.idle_ms
    }

    /// The live session a token names, and its identity; marks it in use. A protocol 1
    /// token is carried over (a new session) when `carry_over` is set and its identity
    /// has no session yet. Errors: `invalid_token` (malformed, forged, unknown key,
    /// revoked, expired, no such user, account disabled), `unavailable`.
    pub async fn resolve(
        &self,
        store: &dyn Store,
        token: &str,
        carry_over: bool,
    ) -> Result<Resolved, Refusal> {
        let now = self.clock.now_ms();
        let session_id = match self.keys.verify(token) {
            Ok(Verified::Session(session_id)) => session_id,
            Ok(Verified::Legacy(user_id)) if carry_over => {
                return self.carry_over(store, &user_id).await;
            }
            Ok(Verified::Legacy(_)) | Err(InvalidToken) => return Err(invalid_token()),
        };
        let Some((mut session, profile)) = store.session(&session_id).await? else {
            return Err(invalid_token());
        };
        if !self.is_live(&session, now) || profile.disabled {
            return Err(invalid_token());
        }
        if now.saturating_sub(session.last_seen_at) >= TOUCH_EVERY_MS {
            if let Err(err) = store
                .touch_sessions(std::slice::from_ref(&session.session_id), now)
                .await
            {
                tracing::warn!(error = %err, "cannot mark the session in use");
            }
            session.last_seen_at = now;
        }
        Ok(Resolved {
            session,
            profile,
            token: token.to_owned(),
        })
    }

    /// A new session for the identity of a protocol 1 token, once: only while the
    /// identity has no session at all (afterwards its old tokens are refused).
    async fn carry_over(&self, store: &dyn Store, user_id: &str) -> Result<Resolved, Refusal> {
        let Some(profile) = store.profile(user_id).await? else {
            return Err(invalid_token());
        };
        if profile.disabled || store.has_sessions(user_id).await? {
            return Err(invalid_token());
        }
        let (session, token) = self.start_session(store, user_id, CARRIED_OVER).await?;
        tracing::info!(user_id, "protocol 1 token carried over into a session");
        Ok(Resolved {
            session,
            profile,
            token,
        })
    }
}

/// The refusal of a token that does not name a live session.
pub fn invalid_token() -> Refusal {
    Refusal::new(
        ErrorCode::InvalidToken,
        "the token is not valid here (unknown, revoked or expired session): sign in again",
    )
}

/// A session label as stored: control and format characters dropped, surrounding
/// whitespace trimmed, at most [`MAX_LABEL_CHARS`] characters; `device` when nothing is
/// left.
pub fn clean_label(label: &str) -> String {
    let cleaned: String = label
        .chars()
        .filter(|c| !c.is_control() && !tuitalk_protocol::charclass::is_refused_in_name(*c))
        .take(MAX_LABEL_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "device".to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_cleaned_and_bounded() {
        assert_eq!(clean_label("  laptop "), "laptop");
        assert_eq!(clean_label("a\u{202e}b\nc"), "abc");
        assert_eq!(clean_label(""), "device");
        assert_eq!(
            clean_label(&"x".repeat(100)).chars().count(),
            MAX_LABEL_CHARS
        );
    }
}
