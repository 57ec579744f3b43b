//! The rows behind the account records, shared by both stores: the same column lists
//! (with the same aliases) in SQLite's and PostgreSQL's statements decode into the same
//! row types, so a profile or a session reads alike from either database.

use super::{Profile, Role, SessionRecord};
use crate::store::User;

/// The columns of a [`ProfileRow`], from the `user` table aliased `u`.
macro_rules! profile_columns {
    () => {
        "u.user_id, u.name, u.handle, u.email, u.email_verified_at, u.role, u.disabled_at, \
         u.created_at"
    };
}

/// The columns of a [`SessionRow`], from the `session` table aliased `s` (or unqualified,
/// for SQLite's `returning`, which takes no table names: `session_columns!(bare)`); the
/// two that a user row also has are renamed, so a session joined with its user decodes as
/// one row.
macro_rules! session_columns {
    () => {
        "s.session_id, s.user_id as session_user_id, s.label, s.created_at as session_created_at, \
         s.last_seen_at, s.expires_at, s.revoked_at"
    };
    (bare) => {
        "session_id, user_id as session_user_id, label, created_at as session_created_at, \
         last_seen_at, expires_at, revoked_at"
    };
}

pub(in crate::store) use {profile_columns, session_columns};

/// A user row with its account columns ([`profile_columns!`]).
#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct ProfileRow {
    user_id: String,
    name: String,
    handle: Option<String>,
    email: Option<String>,
    email_verified_at: Option<i64>,
    role: String,
    disabled_at: Option<i64>,
    created_at: i64,
}

impl ProfileRow {
    /// The profile; a verification time without an email (a guest) does not count.
    pub(in crate::store) fn into_profile(self) -> Profile {
        Profile {
            email_verified: self.email.is_some() && self.email_verified_at.is_some(),
            email: self.email,
            role: Role::parse(&self.role),
            disabled: self.disabled_at.is_some(),
            created_at: self.created_at,
            user: User {
                user_id: self.user_id,
                name: self.name,
                handle: self.handle,
            },
        }
    }
}

/// A session row ([`session_columns!`]).
#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct SessionRow {
    session_id: String,
    session_user_id: String,
    label: String,
    session_created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl SessionRow {
    /// The session record.
    pub(in crate::store) fn into_record(self) -> SessionRecord {
        SessionRecord {
            session_id: self.session_id,
            user_id: self.session_user_id,
            label: self.label,
            created_at: self.session_created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// A session joined with its user ([`session_columns!`] then [`profile_columns!`]).
#[derive(Debug, sqlx::FromRow)]
pub(in crate::store) struct SessionProfileRow {
    #[sqlx(flatten)]
    session: SessionRow,
    #[sqlx(flatten)]
    profile: ProfileRow,
}

impl SessionProfileRow {
    /// The session and its user's profile.
    pub(in crate::store) fn into_pair(self) -> (SessionRecord, Profile) {
        (self.session.into_record(), self.profile.into_profile())
    }
}
