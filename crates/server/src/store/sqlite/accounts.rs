//! Accounts, sessions and mailed codes on SQLite (the account methods of
//! [`SqliteStore`](super::SqliteStore)). Each function takes the pool it needs: writes the
//! single `writer` (a statement at a time, or one `begin immediate` transaction), reads a
//! `reader`. Rows decode through the row types shared with PostgreSQL (`accounts/rows.rs`).

use sqlx::sqlite::SqlitePool;

use crate::store::accounts::rows::{
    ProfileRow, SessionProfileRow, SessionRow, profile_columns, session_columns,
};
use crate::store::accounts::{
    CodePurpose, NewAccount, Profile, RegisterError, Role, SessionRecord,
};
use crate::store::{StoreError, User};

/// Clamps a page size into SQLite's integer range.
fn to_limit(limit: u32) -> i64 {
    i64::from(limit)
}

/// A unique violation on `user.email` or `user.handle` as the registration error it means
/// (SQLite's message names the column: `UNIQUE constraint failed: user.email`).
fn register_error(err: sqlx::Error) -> RegisterError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        if db.message().contains("user.email") {
            return RegisterError::EmailTaken;
        }
        if db.message().contains("user.handle") {
            return RegisterError::HandleTaken;
        }
    }
    RegisterError::Store(err.into())
}

/// See [`Store::profile`](crate::store::Store::profile).
pub(super) async fn profile(
    reader: &SqlitePool,
    user_id: &str,
) -> Result<Option<Profile>, StoreError> {
    let row: Option<ProfileRow> = sqlx::query_as(concat!(
        "select ",
        profile_columns!(),
        " from user u where u.user_id = ?"
    ))
    .bind(user_id)
    .fetch_optional(reader)
    .await?;
    Ok(row.map(ProfileRow::into_profile))
}

/// See [`Store::profile_by_login`](crate::store::Store::profile_by_login). Emails contain
/// an `@` and handles cannot, so at most one row matches.
pub(super) async fn profile_by_login(
    reader: &SqlitePool,
    email_or_handle: &str,
) -> Result<Option<Profile>, StoreError> {
    let row: Option<ProfileRow> = sqlx::query_as(concat!(
        "select ",
        profile_columns!(),
        " from user u where u.email = ? or u.handle = ? limit 1"
    ))
    .bind(email_or_handle)
    .bind(email_or_handle)
    .fetch_optional(reader)
    .await?;
    Ok(row.map(ProfileRow::into_profile))
}

/// See [`Store::accounts`](crate::store::Store::accounts): a range of the handle index
/// (every handle sorts after the empty string).
pub(super) async fn accounts(
    reader: &SqlitePool,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Profile>, StoreError> {
    let rows: Vec<ProfileRow> = sqlx::query_as(concat!(
        "select ",
        profile_columns!(),
        " from user u where u.handle > ? order by u.handle limit ?"
    ))
    .bind(after.unwrap_or(""))
    .bind(to_limit(limit))
    .fetch_all(reader)
    .await?;
    Ok(rows.into_iter().map(ProfileRow::into_profile).collect())
}

/// See [`Store::credentials`](crate::store::Store::credentials).
pub(super) async fn credentials(
    reader: &SqlitePool,
    email: &str,
) -> Result<Option<(String, String, bool)>, StoreError> {
    let row = sqlx::query_as(
        "select user_id, password_hash, disabled_at is not null from user \
         where email = ? and password_hash is not null",
    )
    .bind(email)
    .fetch_optional(reader)
    .await?;
    Ok(row)
}

/// See [`Store::password_hash`](crate::store::Store::password_hash).
pub(super) async fn password_hash(
    reader: &SqlitePool,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("select password_hash from user where user_id = ?")
            .bind(user_id)
            .fetch_optional(reader)
            .await?;
    Ok(hash.flatten())
}

/// See [`Store::register`](crate::store::Store::register): one insert for a new account;
/// for an upgrade, one `begin immediate` transaction that updates the guest's row only
/// while it has no handle and, when nothing matched, tells a missing user from an account.
pub(super) async fn register(
    writer: &SqlitePool,
    upgrade: Option<&str>,
    account: &NewAccount,
) -> Result<User, RegisterError> {
    let verified_at = account.email_verified.then_some(account.now);
    let user_id = match upgrade {
        None => {
            let user_id = uuid::Uuid::now_v7().to_string();
            sqlx::query(
                "insert into user (user_id, name, created_at, email, handle, password_hash, \
                 email_verified_at) values (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&user_id)
            .bind(&account.name)
            .bind(account.now)
            .bind(&account.email)
            .bind(&account.handle)
            .bind(&account.password_hash)
            .bind(verified_at)
            .execute(writer)
            .await
            .map_err(register_error)?;
            user_id
        }
        Some(guest) => {
            let mut tx = writer
                .begin_with("begin immediate")
                .await
                .map_err(StoreError::from)?;
            let updated = sqlx::query(
                "update user set name = ?, email = ?, handle = ?, password_hash = ?, \
                 email_verified_at = ? where user_id = ? and handle is null",
            )
            .bind(&account.name)
            .bind(&account.email)
            .bind(&account.handle)
            .bind(&account.password_hash)
            .bind(verified_at)
            .bind(guest)
            .execute(&mut *tx)
            .await
            .map_err(register_error)?
            .rows_affected();
            if updated == 0 {
                let exists: bool =
                    sqlx::query_scalar("select exists (select 1 from user where user_id = ?)")
                        .bind(guest)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(StoreError::from)?;
                return Err(if exists {
                    RegisterError::AlreadyRegistered
                } else {
                    RegisterError::NoSuchUser
                });
            }
            tx.commit().await.map_err(StoreError::from)?;
            guest.to_owned()
        }
    };
    Ok(User {
        user_id,
        name: account.name.clone(),
        handle: Some(account.handle.clone()),
    })
}

/// See [`Store::set_password`](crate::store::Store::set_password): guests have none.
pub(super) async fn set_password(
    writer: &SqlitePool,
    user_id: &str,
    password_hash: &str,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("update user set password_hash = ? where user_id = ? and handle is not null")
            .bind(password_hash)
            .bind(user_id)
            .execute(writer)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::set_role`](crate::store::Store::set_role).
pub(super) async fn set_role(
    writer: &SqlitePool,
    user_id: &str,
    role: Role,
) -> Result<bool, StoreError> {
    let done = sqlx::query("update user set role = ? where user_id = ?")
        .bind(role.as_str())
        .bind(user_id)
        .execute(writer)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::set_disabled`](crate::store::Store::set_disabled).
pub(super) async fn set_disabled(
    writer: &SqlitePool,
    user_id: &str,
    disabled: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("update user set disabled_at = ? where user_id = ?")
        .bind(disabled.then_some(now))
        .bind(user_id)
        .execute(writer)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::set_email_verified`](crate::store::Store::set_email_verified).
pub(super) async fn set_email_verified(
    writer: &SqlitePool,
    user_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("update user set email_verified_at = ? where user_id = ?")
        .bind(now)
        .bind(user_id)
        .execute(writer)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::create_session`](crate::store::Store::create_session).
pub(super) async fn create_session(
    writer: &SqlitePool,
    session: &SessionRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into session (session_id, user_id, label, created_at, last_seen_at, \
         expires_at, revoked_at) values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&session.session_id)
    .bind(&session.user_id)
    .bind(&session.label)
    .bind(session.created_at)
    .bind(session.last_seen_at)
    .bind(session.expires_at)
    .bind(session.revoked_at)
    .execute(writer)
    .await?;
    Ok(())
}

/// See [`Store::session`](crate::store::Store::session): one query joining the user.
pub(super) async fn session(
    reader: &SqlitePool,
    session_id: &str,
) -> Result<Option<(SessionRecord, Profile)>, StoreError> {
    let row: Option<SessionProfileRow> = sqlx::query_as(concat!(
        "select ",
        session_columns!(),
        ", ",
        profile_columns!(),
        " from session s join user u on u.user_id = s.user_id where s.session_id = ?"
    ))
    .bind(session_id)
    .fetch_optional(reader)
    .await?;
    Ok(row.map(SessionProfileRow::into_pair))
}

/// See [`Store::touch_sessions`](crate::store::Store::touch_sessions): the ids as one JSON
/// array (as `heads` does); a session's last use never moves back (backends' clocks
/// differ a little).
pub(super) async fn touch_sessions(
    writer: &SqlitePool,
    session_ids: &[String],
    now: i64,
) -> Result<(), StoreError> {
    if session_ids.is_empty() {
        return Ok(());
    }
    let ids = serde_json::to_string(session_ids)
        .map_err(|e| StoreError::Corrupt(format!("session ids: {e}")))?;
    sqlx::query(
        "update session set last_seen_at = max(last_seen_at, ?) \
         where session_id in (select value from json_each(?))",
    )
    .bind(now)
    .bind(ids)
    .execute(writer)
    .await?;
    Ok(())
}

/// See [`Store::sessions_of`](crate::store::Store::sessions_of).
pub(super) async fn sessions_of(
    reader: &SqlitePool,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionRecord>, StoreError> {
    let rows: Vec<SessionRow> = sqlx::query_as(concat!(
        "select ",
        session_columns!(),
        " from session s where s.user_id = ? and s.revoked_at is null and s.expires_at > ? \
         order by s.created_at desc, s.session_id desc"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(reader)
    .await?;
    Ok(rows.into_iter().map(SessionRow::into_record).collect())
}

/// See [`Store::label_session`](crate::store::Store::label_session).
pub(super) async fn label_session(
    writer: &SqlitePool,
    user_id: &str,
    session_id: &str,
    label: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    let row: Option<SessionRow> = sqlx::query_as(concat!(
        "update session set label = ? \
         where session_id = ? and user_id = ? and revoked_at is null returning ",
        session_columns!(bare)
    ))
    .bind(label)
    .bind(session_id)
    .bind(user_id)
    .fetch_optional(writer)
    .await?;
    Ok(row.map(SessionRow::into_record))
}

/// See [`Store::revoke_session`](crate::store::Store::revoke_session): live is neither
/// revoked nor past its end.
pub(super) async fn revoke_session(
    writer: &SqlitePool,
    user_id: &str,
    session_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "update session set revoked_at = ? where session_id = ? and user_id = ? \
         and revoked_at is null and expires_at > ?",
    )
    .bind(now)
    .bind(session_id)
    .bind(user_id)
    .bind(now)
    .execute(writer)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::revoke_sessions`](crate::store::Store::revoke_sessions).
pub(super) async fn revoke_sessions(
    writer: &SqlitePool,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
) -> Result<u64, StoreError> {
    // `is not` is null-safe: with no session to keep, every live one goes.
    let done = sqlx::query(
        "update session set revoked_at = ? where user_id = ? and session_id is not ? \
         and revoked_at is null and expires_at > ?",
    )
    .bind(now)
    .bind(user_id)
    .bind(keep)
    .bind(now)
    .execute(writer)
    .await?;
    Ok(done.rows_affected())
}

/// See [`Store::revoked_since`](crate::store::Store::revoked_since): a range of the
/// partial index on `revoked_at`, oldest revocation first.
pub(super) async fn revoked_since(
    reader: &SqlitePool,
    since: i64,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let ids = sqlx::query_scalar(
        "select session_id from session where revoked_at >= ? \
         order by revoked_at, session_id limit ?",
    )
    .bind(since)
    .bind(to_limit(limit))
    .fetch_all(reader)
    .await?;
    Ok(ids)
}

/// See [`Store::has_sessions`](crate::store::Store::has_sessions).
pub(super) async fn has_sessions(reader: &SqlitePool, user_id: &str) -> Result<bool, StoreError> {
    let any = sqlx::query_scalar("select exists (select 1 from session where user_id = ?)")
        .bind(user_id)
        .fetch_one(reader)
        .await?;
    Ok(any)
}

/// See [`Store::prune_sessions`](crate::store::Store::prune_sessions): one transaction.
pub(super) async fn prune_sessions(writer: &SqlitePool, before: i64) -> Result<u64, StoreError> {
    let mut tx = writer.begin_with("begin immediate").await?;
    let sessions = sqlx::query("delete from session where revoked_at < ? or expires_at < ?")
        .bind(before)
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let codes = sqlx::query("delete from auth_code where expires_at < ?")
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(sessions + codes)
}

/// See [`Store::create_code`](crate::store::Store::create_code).
pub(super) async fn create_code(
    writer: &SqlitePool,
    code_hash: &str,
    user_id: &str,
    purpose: CodePurpose,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into auth_code (code_hash, user_id, purpose, created_at, expires_at) \
         values (?, ?, ?, ?, ?)",
    )
    .bind(code_hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(now)
    .bind(expires_at)
    .execute(writer)
    .await?;
    Ok(())
}

/// See [`Store::use_code`](crate::store::Store::use_code): one update that only matches
/// an unused, unexpired code, so a code works once.
pub(super) async fn use_code(
    writer: &SqlitePool,
    code_hash: &str,
    purpose: CodePurpose,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let user_id = sqlx::query_scalar(
        "update auth_code set used_at = ? where code_hash = ? and purpose = ? \
         and used_at is null and expires_at > ? returning user_id",
    )
    .bind(now)
    .bind(code_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(writer)
    .await?;
    Ok(user_id)
}
