//! The store's records of accounts, sessions and mailed codes (docs/protocol.md,
//! "Identities: guests and accounts" and "Sessions and tokens"). The rules about them
//! (password hashing, token signing, expiry) live in [`crate::auth`]; the store only
//! keeps and finds them. Both stores decode them from the same rows (`accounts/rows.rs`).

pub(super) mod rows;

use super::User;

/// What an identity may do beyond chatting; set by the operator CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everybody.
    Member,
    /// An operator of the server (moderation uses it).
    Admin,
}

impl Role {
    /// The stored and wire form: `member` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }

    /// The role of a stored value; anything unknown reads as [`Role::Member`].
    pub fn parse(value: &str) -> Self {
        if value == "admin" {
            Self::Admin
        } else {
            Self::Member
        }
    }
}

/// An identity with its account fields (a guest has no email and no handle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Id, display name and handle.
    pub user: User,
    /// The normalised email address; `None` for a guest.
    pub email: Option<String>,
    /// Whether the email address was verified (always `false` for a guest).
    pub email_verified: bool,
    /// The role.
    pub role: Role,
    /// Whether an operator disabled the account (it cannot log in; its sessions were
    /// revoked).
    pub disabled: bool,
    /// When the identity was created, in ms since the Unix epoch.
    pub created_at: i64,
}

impl Profile {
    /// Whether the identity is a guest (no account).
    pub fn is_guest(&self) -> bool {
        self.user.handle.is_none()
    }
}

/// The fields of a new account (all validated and normalised by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// Normalised email address.
    pub email: String,
    /// Normalised (lower-case) handle.
    pub handle: String,
    /// The display name.
    pub name: String,
    /// The argon2id hash in PHC string form.
    pub password_hash: String,
    /// Whether the email counts as verified from the start (a server without mail).
    pub email_verified: bool,
    /// The time of registration, in ms since the Unix epoch.
    pub now: i64,
}

/// Why a registration was refused by the store.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Another account has this email.
    #[error("email taken")]
    EmailTaken,
    /// Another account has this handle.
    #[error("handle taken")]
    HandleTaken,
    /// The guest to upgrade is already an account.
    #[error("already registered")]
    AlreadyRegistered,
    /// The guest to upgrade does not exist.
    #[error("no such user")]
    NoSuchUser,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

/// A session as stored: one device's sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's id (32 lower-case hex digits).
    pub session_id: String,
    /// Whose session it is.
    pub user_id: String,
    /// The label ("laptop", or the user agent it was created with).
    pub label: String,
    /// Created, in ms since the Unix epoch.
    pub created_at: i64,
    /// Last used (a request or a live connection), in ms since the Unix epoch.
    pub last_seen_at: i64,
    /// The absolute end, in ms since the Unix epoch.
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// What a mailed code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// A password reset.
    Reset,
    /// An email verification.
    Verify,
}

impl CodePurpose {
    /// The stored form: `reset` or `verify`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Verify => "verify",
        }
    }
}
