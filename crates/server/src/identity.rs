//! Server-issued identities and their session tokens.
//!
//! A token is `base64url(user_id "." issued_at_ms) "." base64url(hmac_sha256(key, that))`:
//! any backend holding the same key verifies it without asking another, and a client can
//! neither forge one nor change the user id inside it. The key comes from `auth.secret`,
//! or is generated once and kept in the data directory with mode 0600.

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

/// Why a token was refused (the client sees `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid token")]
pub struct InvalidToken;

/// Signs and verifies session tokens.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner([redacted])")
    }
}

impl TokenSigner {
    /// A signer with this key.
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    /// The signer for `config`: `auth.secret`, or the key file in the data directory
    /// (created with a random key when missing).
    pub fn from_config(config: &Config) -> std::io::Result<Self> {
        match &config.auth.secret {
            Some(secret) => Ok(Self::new(secret.expose().as_bytes())),
            None => load_or_create_key(&config.store.data_dir).map(Self::new),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }

    /// A token for `user_id`, issued at `issued_at_ms`.
    pub fn sign(&self, user_id: &str, issued_at_ms: i64) -> String {
        let payload = format!("{user_id}.{issued_at_ms}");
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The user id inside a genuine token (constant-time comparison of the tag).
    pub fn verify(&self, token: &str) -> Result<String, InvalidToken> {
        let (payload, tag) = token.split_once('.').ok_or(InvalidToken)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| InvalidToken)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidToken)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).map_err(|_| InvalidToken)?;
        let payload = String::from_utf8(payload).map_err(|_| InvalidToken)?;
        let (user_id, _issued_at) = payload.split_once('.').ok_or(InvalidToken)?;
        if user_id.is_empty() {
            return Err(InvalidToken);
        }
        Ok(user_id.to_owned())
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

    #[test]
    fn sign_verify_and_forgery() {
        let signer = TokenSigner::new(b"0123456789abcdef".to_vec());
        let token = signer.sign("user-1", 42);
        assert_eq!(signer.verify(&token), Ok("user-1".to_owned()));

        let other = TokenSigner::new(b"another key, 16+".to_vec());
        assert_eq!(other.verify(&token), Err(InvalidToken));

        // Swap the user id but keep the tag.
        let (_, tag) = token.split_once('.').expect("two parts");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("user-2.42"));
        assert_eq!(signer.verify(&forged), Err(InvalidToken));

        // Flip one character of the tag.
        let mut bytes = token.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).expect("ascii");
        assert_eq!(signer.verify(&flipped), Err(InvalidToken));

        for junk in ["", ".", "abc", "a.b.c", "!!!.???"] {
            assert_eq!(signer.verify(junk), Err(InvalidToken), "{junk}");
        }
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
