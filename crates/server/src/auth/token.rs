//! Session tokens and the keys that sign them.
//!
//! A token names one session: `v2.KEY_ID.SESSION_ID.MAC`, where MAC is
//! `base64url(hmac_sha256(key[KEY_ID], "v2.KEY_ID.SESSION_ID"))`. Any backend holding the
//! same keys checks the MAC without asking anyone (a forged token costs no store query),
//! then looks the session up in the store ([`super::Auth::resolve`]), which decides
//! whether it was revoked or expired. Key ids make rotation possible: new tokens are
//! signed with `auth.signing_key`, every configured key verifies.
//!
//! Protocol 1 tokens, `base64url(user_id "." issued_at_ms) "." base64url(mac)` under key
//! `0`, named a user rather than a session; they are still recognised
//! ([`Verified::Legacy`]) so that identities from before sessions can be carried over
//! once.
//!
//! Key `0` is `auth.secret`, or is generated once and kept in the data directory with
//! mode 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;

type HmacSha256 = Hmac<Sha256>;

/// The name of the generated key file in the data directory.
pub const SECRET_FILE: &str = "token-secret";

/// The token format this server issues.
const VERSION: &str = "v2";

/// Why a token was refused (the client sees `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid token")]
pub struct InvalidToken;

/// What a genuine token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// A session (a `v2` token).
    Session(String),
    /// A user, from a protocol 1 token.
    Legacy(String),
}

/// Signs and verifies session tokens with a set of keys by id.
#[derive(Clone)]
pub struct Keyring {
    keys: BTreeMap<String, Vec<u8>>,
    signing: String,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring with key `0` only, which signs.
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self {
            keys: BTreeMap::from([("0".to_owned(), key.into())]),
            signing: "0".to_owned(),
        }
    }

    /// Adds (or replaces) the key `id`.
    pub fn with_key(mut self, id: &str, key: impl Into<Vec<u8>>) -> Self {
        self.keys.insert(id.to_owned(), key.into());
        self
    }

    /// Signs new tokens with key `id` (which must be present; otherwise key `0` stays).
    pub fn signing_with(mut self, id: &str) -> Self {
        if self.keys.contains_key(id) {
            id.clone_into(&mut self.signing);
        }
        self
    }

    /// The keyring of `config`: key `0` from `auth.secret` or the key file in the data
    /// directory (created with a random key when missing), the keys of `auth.keys`, and
    /// `auth.signing_key` signing.
    pub fn from_config(config: &Config) -> std::io::Result<Self> {
        let zero = match &config.auth.secret {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None => load_or_create_key(&config.store.data_dir)?,
        };
        let ring = config
            .auth
            .keys
            .iter()
            .fold(Self::new(zero), |ring, (id, secret)| {
                ring.with_key(id, secret.expose().as_bytes())
            });
        Ok(ring.signing_with(&config.auth.signing_key))
    }

    fn mac(key: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        match HmacSha256::new_from_slice(key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }

    /// The token of session `session_id`, signed with the signing key.
    pub fn sign(&self, session_id: &str) -> String {
        let key = self.keys.get(&self.signing).map_or(&[][..], Vec::as_slice);
        let payload = format!("{VERSION}.{}.{session_id}", self.signing);
        let mut mac = Self::mac(key);
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// What a genuine token names (constant-time comparison of the MAC). A token of a key
    /// id not configured here is invalid.
    pub fn verify(&self, token: &str) -> Result<Verified, InvalidToken> {
        if token.len() > 512 {
            return Err(InvalidToken);
        }
        if let Some(rest) = token.strip_prefix("v2.") {
            let (payload_rest, tag) = rest.rsplit_once('.').ok_or(InvalidToken)?;
            let (key_id, session_id) = payload_rest.split_once('.').ok_or(InvalidToken)?;
            let key = self.keys.get(key_id).ok_or(InvalidToken)?;
            let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidToken)?;
            let mut mac = Self::mac(key);
            mac.update(VERSION.as_bytes());
            mac.update(b".");
            mac.update(payload_rest.as_bytes());
            mac.verify_slice(&tag).map_err(|_| InvalidToken)?;
            if session_id.is_empty() || session_id.contains('.') {
                return Err(InvalidToken);
            }
            return Ok(Verified::Session(session_id.to_owned()));
        }
        self.verify_legacy(token).map(Verified::Legacy)
    }

    /// The user id inside a genuine protocol 1 token (key `0`).
    fn verify_legacy(&self, token: &str) -> Result<String, InvalidToken> {
        let key = self.keys.get("0").ok_or(InvalidToken)?;
        let (payload, tag) = token.split_once('.').ok_or(InvalidToken)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| InvalidToken)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidToken)?;
        let mut mac = Self::mac(key);
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| InvalidToken)?;
        let payload = String::from_utf8(payload).map_err(|_| InvalidToken)?;
        let (user_id, _issued_at) = payload.split_once('.').ok_or(InvalidToken)?;
        if user_id.is_empty() {
            return Err(InvalidToken);
        }
        Ok(user_id.to_owned())
    }

    /// A protocol 1 token for `user_id` (what servers before sessions issued); for tests
    /// of the carry-over.
    pub fn sign_legacy(&self, user_id: &str, issued_at_ms: i64) -> String {
        let key = self.keys.get("0").map_or(&[][..], Vec::as_slice);
        let payload = format!("{user_id}.{issued_at_ms}");
        let mut mac = Self::mac(key);
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }
}

/// Reads the key file in `data_dir` (tightening its mode to 0600 if others could read
/// it), or creates it (mode 0600, the directory 0700 when missing) with 256 random bits.
fn load_or_create_key(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    crate::store::files::create_private_dir(data_dir)?;
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read(&path) {
        Ok(key) if key.len() >= 16 => {
            crate::store::files::tighten(&path, crate::store::files::FILE_MODE)?;
            return Ok(key);
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is shorter than 16 bytes", path.display()),
            ));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    // Two v4 UUIDs carry 244 bits from the operating system's CSPRNG.
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(key.as_bytes())?;
    file.sync_all()?;
    Ok(key.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(b"0123456789abcdef".to_vec())
    }

    #[test]
    fn sign_verify_and_forgery() {
        let signer = ring();
        let token = signer.sign("s-1");
        assert!(token.starts_with("v2.0.s-1."), "{token}");
        assert_eq!(
            signer.verify(&token),
            Ok(Verified::Session("s-1".to_owned()))
        );

        let other = Keyring::new(b"another key, 16+".to_vec());
        assert_eq!(other.verify(&token), Err(InvalidToken));

        // Another session id under the same MAC.
        let forged = token.replace("s-1", "s-2");
        assert_eq!(signer.verify(&forged), Err(InvalidToken));
        // Another key id under the same MAC.
        let with_key = signer.clone().with_key("k2", b"0123456789abcdef".to_vec());
        assert_eq!(
            with_key.verify(&token.replace("v2.0.", "v2.k2.")),
            Err(InvalidToken)
        );

        // Flip one character of the tag.
        let mut bytes = token.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).expect("ascii");
        assert_eq!(signer.verify(&flipped), Err(InvalidToken));

        for junk in [
            "", ".", "abc", "a.b.c", "!!!.???", "v2.", "v2.0..", "v2.9.s.x",
        ] {
            assert_eq!(signer.verify(junk), Err(InvalidToken), "{junk}");
        }
        assert_eq!(signer.verify(&"a".repeat(600)), Err(InvalidToken));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = ring();
        let token = old.sign("s-1");
        let rotated = ring()
            .with_key("k2", b"a newer key, 16+".to_vec())
            .signing_with("k2");
        let fresh = rotated.sign("s-2");
        assert!(fresh.starts_with("v2.k2.s-2."), "{fresh}");
        assert_eq!(
            rotated.verify(&token),
            Ok(Verified::Session("s-1".to_owned()))
        );
        assert_eq!(
            rotated.verify(&fresh),
            Ok(Verified::Session("s-2".to_owned()))
        );
        // A backend that does not know k2 yet refuses its tokens.
        assert_eq!(old.verify(&fresh), Err(InvalidToken));
        // Dropping key 0 from the verifiers is not possible; an unknown signing id is ignored.
        assert!(ring().signing_with("nope").sign("s").starts_with("v2.0."));
    }

    #[test]
    fn protocol_1_tokens_are_recognised() {
        let signer = ring();
        let legacy = signer.sign_legacy("user-1", 42);
        assert_eq!(
            signer.verify(&legacy),
            Ok(Verified::Legacy("user-1".to_owned()))
        );
        let (_, tag) = legacy.split_once('.').expect("two parts");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("user-2.42"));
        assert_eq!(signer.verify(&forged), Err(InvalidToken));
    }

    #[test]
    fn generated_key_is_kept_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create_key(dir.path()).expect("create");
        let second = load_or_create_key(dir.path()).expect("read");
        assert_eq!(first, second);
        assert!(first.len() >= 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
