//! Passwords: argon2id hashes (the `argon2` crate, RustCrypto) computed off the async
//! threads with bounded concurrency, and the strength rule for new passwords.
//!
//! Hashing is deliberately costly (`auth.argon2_memory_kib`, `auth.argon2_iterations`),
//! so it runs on the blocking pool, at most `auth.max_concurrent_hashes` at once, with
//! at most `auth.hash_queue` waiting; more are refused with `unavailable` at once rather
//! than queued without bound. A login of an unknown email verifies against a dummy hash
//! of the same cost, so both answers take the same work.
//!
//! New passwords need `auth.password_min_chars` characters, at most 1024 bytes, and a
//! zxcvbn score of at least 2 ("somewhat guessable" or better): zxcvbn matches the
//! common-password lists, dictionary words, keyboard patterns, repeats and sequences, and
//! the user's own email, handle and name given with it. No composition rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use tuitalk_protocol::{ErrorCode, account};

use crate::config::AuthConfig;
use crate::error::Refusal;

/// The least zxcvbn score (0 to 4) a new password must reach.
const MIN_SCORE: u8 = 2;

/// Hashes and verifies passwords.
#[derive(Debug)]
pub struct Passwords {
    params: Params,
    min_chars: usize,
    slots: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// A hash of a random password with the configured cost, verified against when an
    /// email is unknown.
    dummy: String,
}

impl Passwords {
    /// The hasher of the `auth` settings (validated by `Config::validate`).
    pub fn new(config: &AuthConfig) -> Result<Arc<Self>, argon2::Error> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None)?;
        let dummy = hash_with(&params, uuid::Uuid::new_v4().to_string().as_bytes())
            .map_err(|_| argon2::Error::AlgorithmInvalid)?;
        Ok(Arc::new(Self {
            params,
            min_chars: config.password_min_chars,
            slots: Semaphore::new(config.max_concurrent_hashes.max(1)),
            waiting: AtomicUsize::new(0),
            max_waiting: config.hash_queue,
            dummy,
        }))
    }

    /// Checks a new password: length and guessability, the user's own `inputs` (email,
    /// handle, name) counted as known to an attacker. Error `weak_password`.
    pub fn check_strength(&self, password: &str, inputs: &[&str]) -> Result<(), Refusal> {
        account::validate_password_length(password, self.min_chars).map_err(|code| {
            Refusal::new(
                code,
                format!(
                    "a password needs at least {} characters (and at most 1024 bytes)",
                    self.min_chars
                ),
            )
        })?;
        let score = u8::from(zxcvbn::zxcvbn(password, inputs).score());
        if score < MIN_SCORE {
            return Err(Refusal::new(
                ErrorCode::WeakPassword,
                "this password is too easy to guess (a common password, a word, a pattern, or your own name or address); a few unrelated words make a good one",
            ));
        }
        Ok(())
    }

    /// The argon2id hash (PHC string) of `password`.
    pub async fn hash(self: &Arc<Self>, password: &str) -> Result<String, Refusal> {
        let password = password.to_owned();
        let this = self.clone();
        self.run(move || hash_with(&this.params, password.as_bytes()))
            .await?
            .map_err(|()| Refusal::internal())
    }

    /// Whether `password` matches `hash`; with `None` (unknown email, or a guest) it
    /// verifies against the dummy hash and answers `false`, taking the same time.
    pub async fn verify(
        self: &Arc<Self>,
        hash: Option<String>,
        password: &str,
    ) -> Result<bool, Refusal> {
        let password = password.to_owned();
        let this = self.clone();
        self.run(move || {
            let (hash, known) = match hash {
                Some(hash) => (hash, true),
                None => (this.dummy.clone(), false),
            };
            let matches = PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            });
            known && matches
        })
        .await
    }

    /// Runs `work` on the blocking pool when a slot is free; `unavailable` when too many
    /// wait already.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::new(
                ErrorCode::Unavailable,
                "too many password checks at once; retry in a moment",
            ));
        }
        let permit = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let Ok(_permit) = permit else {
            return Err(Refusal::internal());
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| Refusal::internal())
    }
}

fn hash_with(params: &Params, password: &[u8]) -> Result<String, ()> {
    // 16 bytes from the operating system's CSPRNG (a v4 UUID: 122 random bits).
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).map_err(|_| ())?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Arc<Passwords> {
        let config = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..AuthConfig::default()
        };
        Passwords::new(&config).expect("params")
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let passwords = cheap();
        let one = passwords.hash("correct horse battery").await.expect("hash");
        let two = passwords.hash("correct horse battery").await.expect("hash");
        assert!(one.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{one}");
        assert_ne!(one, two, "salted");
        assert!(
            passwords
                .verify(Some(one.clone()), "correct horse battery")
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify(Some(one), "correct horse batter")
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify(None, "correct horse battery")
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify(Some("not a hash".into()), "x")
                .await
                .expect("verify")
        );
    }

    #[test]
    fn strength_refuses_short_common_and_personal_passwords() {
        let passwords = cheap();
        for weak in [
            "short",
            "password",
            "password123",
            "qwertyuiop",
            "11111111",
            "adalovelace",
        ] {
            let refused = passwords.check_strength(weak, &["ada@example.org", "adalovelace"]);
            assert_eq!(
                refused.map_err(|r| r.code),
                Err(ErrorCode::WeakPassword),
                "{weak}"
            );
        }
        for good in ["correct horse battery", "tuiTalk river 1987 lantern"] {
            assert!(
                passwords.check_strength(good, &["ada@example.org"]).is_ok(),
                "{good}"
            );
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let config = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            max_concurrent_hashes: 1,
            hash_queue: 0,
            ..AuthConfig::default()
        };
        let passwords = Passwords::new(&config).expect("params");
        let refused = passwords.verify(None, "x").await.map_err(|r| r.code);
        assert_eq!(refused, Err(ErrorCode::Unavailable));
    }
}
