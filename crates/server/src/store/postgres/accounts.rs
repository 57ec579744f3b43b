//! Accounts, sessions and mailed codes on PostgreSQL (the account methods of
//! [`PgStore`](super::PgStore)). Every write is one statement (or, for a guest's upgrade,
//! one short transaction), so concurrent backends are decided by row locks and the unique
//! indexes: the same email or handle registered twice at once fails on the index, a code
//! used twice at once matches the update's `used_at is null` once. Rows decode through the
//! row types shared with SQLite (`accounts/rows.rs`).

use sqlx::postgres::PgPool;

use crate::store::accounts::rows::{
    ProfileRow, SessionProfileRow, SessionRow, profile_columns, session_columns,
};
use crate::store::accounts::{
    CodePurpose, NewAccount, Profile, RegisterError, Role, SessionRecord,
};
use crate::store::{StoreError, User};

/// A page size as PostgreSQL's bigint.
fn to_limit(limit: u32) -> i64 {
    i64::from(limit)
}

/// A unique violation on `user_email_key` or `user_handle_key` (the indexes of
/// `sql/postgres/0003_accounts.sql`) as the registration error it means.
fn register_error(err: sqlx::Error) -> RegisterError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        match db.constraint() {
            Some("user_email_key") => return RegisterError::EmailTaken,
            Some("user_handle_key") => return RegisterError::HandleTaken,
            _ => {}
        }
    }
    RegisterError::Store(err.into())
}

/// See [`Store::profile`](crate::store::Store::profile).
pub(super) async fn profile(pool: &PgPool, user_id: &str) -> Result<Option<Profile>, StoreError> {
    let row: Option<ProfileRow> = sqlx::query_as(concat!(
        "select ",
        profile_columns!(),
        " from \"user\" u where u.user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(ProfileRow::into_profile))
}

/// See [`Store::profile_by_login`](crate::store::Store::profile_by_login). Emails contain
/// an `@` and handles cannot, so at most one row matches.
pub(super) async fn profile_by_login(
    pool: &PgPool,
    email_or_handle: &str,
) -> Result<Option<Profile>, StoreError> {
    let row: Option<ProfileRow> = sqlx::query_as(concat!(
        "select ",
        profile_columns!(),
        " from \"user\" u where u.email = $1 or u.handle = $1 limit 1"
    ))
    .bind(email_or_handle)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(ProfileRow::into_profile))
}

/// See [`Store::accounts`](crate::store::Store::accounts): a range of the handle index
/// (every handle sorts after the empty string; the column's "C" collation orders bytewise,
/// as SQLite does).
pub(super) async fn accounts(
    pool: &PgPool,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Profile>, StoreError> {
    let rows: Vec<ProfileRow> = sqlx::query_as(concat!(
        "select ",
        profile_columns!(),
        " from \"user\" u where u.handle > $1 order by u.handle limit $2"
    ))
    .bind(after.unwrap_or(""))
    .bind(to_limit(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(ProfileRow::into_profile).collect())
}

/// See [`Store::credentials`](crate::store::Store::credentials).
pub(super) async fn credentials(
    pool: &PgPool,
    email: &str,
) -> Result<Option<(String, String, bool)>, StoreError> {
    let row = sqlx::query_as(
        "select user_id, password_hash, disabled_at is not null from \"user\" \
         where email = $1 and password_hash is not null",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// See [`Store::password_hash`](crate::store::Store::password_hash).
pub(super) async fn password_hash(
    pool: &PgPool,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("select password_hash from \"user\" where user_id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    Ok(hash.flatten())
}

/// See [`Store::register`](crate::store::Store::register): one insert for a new account;
/// for an upgrade, one transaction that updates the guest's row only while it has no
/// handle (a concurrent upgrade of the same guest waits for the row lock, then no longer
/// matches) and, when nothing matched, tells a missing user from an account.
pub(super) async fn register(
    pool: &PgPool,
    upgrade: Option<&str>,
    account: &NewAccount,
) -> Result<User, RegisterError> {
    let verified_at = account.email_verified.then_some(account.now);
    let user_id = match upgrade {
        None => {
            let user_id = uuid::Uuid::now_v7().to_string();
            sqlx::query(
                "insert into \"user\" (user_id, name, created_at, email, handle, password_hash, \
                 email_verified_at) values ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&user_id)
            .bind(&account.name)
            .bind(account.now)
            .bind(&account.email)
            .bind(&account.handle)
            .bind(&account.password_hash)
            .bind(verified_at)
            .execute(pool)
            .await
            .map_err(register_error)?;
            user_id
        }
        Some(guest) => {
            let mut tx = pool.begin().await.map_err(StoreError::from)?;
            let updated = sqlx::query(
                "update \"user\" set name = $1, email = $2, handle = $3, password_hash = $4, \
                 email_verified_at = $5 where user_id = $6 and handle is null",
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
                    sqlx::query_scalar("select exists (select 1 from \"user\" where user_id = $1)")
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
    pool: &PgPool,
    user_id: &str,
    password_hash: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "update \"user\" set password_hash = $1 where user_id = $2 and handle is not null",
    )
    .bind(password_hash)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::set_role`](crate::store::Store::set_role).
pub(super) async fn set_role(pool: &PgPool, user_id: &str, role: Role) -> Result<bool, StoreError> {
    let done = sqlx::query("update \"user\" set role = $1 where user_id = $2")
        .bind(role.as_str())
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::set_disabled`](crate::store::Store::set_disabled).
pub(super) async fn set_disabled(
    pool: &PgPool,
    user_id: &str,
    disabled: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("update \"user\" set disabled_at = $1 where user_id = $2")
        .bind(disabled.then_some(now))
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::set_email_verified`](crate::store::Store::set_email_verified).
pub(super) async fn set_email_verified(
    pool: &PgPool,
    user_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("update \"user\" set email_verified_at = $1 where user_id = $2")
        .bind(now)
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::create_session`](crate::store::Store::create_session).
pub(super) async fn create_session(
    pool: &PgPool,
    session: &SessionRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into session (session_id, user_id, label, created_at, last_seen_at, \
         expires_at, revoked_at) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&session.session_id)
    .bind(&session.user_id)
    .bind(&session.label)
    .bind(session.created_at)
    .bind(session.last_seen_at)
    .bind(session.expires_at)
    .bind(session.revoked_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// See [`Store::session`](crate::store::Store::session): one query joining the user.
pub(super) async fn session(
    pool: &PgPool,
    session_id: &str,
) -> Result<Option<(SessionRecord, Profile)>, StoreError> {
    let row: Option<SessionProfileRow> = sqlx::query_as(concat!(
        "select ",
        session_columns!(),
        ", ",
        profile_columns!(),
        " from session s join \"user\" u on u.user_id = s.user_id where s.session_id = $1"
    ))
    .bind(session_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(SessionProfileRow::into_pair))
}

/// See [`Store::touch_sessions`](crate::store::Store::touch_sessions): the ids as one
/// array; a session's last use never moves back (backends' clocks differ a little).
pub(super) async fn touch_sessions(
    pool: &PgPool,
    session_ids: &[String],
    now: i64,
) -> Result<(), StoreError> {
    if session_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "update session set last_seen_at = greatest(last_seen_at, $1) \
         where session_id = any($2::text[])",
    )
    .bind(now)
    .bind(session_ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// See [`Store::sessions_of`](crate::store::Store::sessions_of).
pub(super) async fn sessions_of(
    pool: &PgPool,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionRecord>, StoreError> {
    let rows: Vec<SessionRow> = sqlx::query_as(concat!(
        "select ",
        session_columns!(),
        " from session s where s.user_id = $1 and s.revoked_at is null and s.expires_at > $2 \
         order by s.created_at desc, s.session_id desc"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(SessionRow::into_record).collect())
}

/// See [`Store::label_session`](crate::store::Store::label_session).
pub(super) async fn label_session(
    pool: &PgPool,
    user_id: &str,
    session_id: &str,
    label: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    let row: Option<SessionRow> = sqlx::query_as(concat!(
        "update session as s set label = $1 \
         where s.session_id = $2 and s.user_id = $3 and s.revoked_at is null returning ",
        session_columns!()
    ))
    .bind(label)
    .bind(session_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(SessionRow::into_record))
}

/// See [`Store::revoke_session`](crate::store::Store::revoke_session): live is neither
/// revoked nor past its end.
pub(super) async fn revoke_session(
    pool: &PgPool,
    user_id: &str,
    session_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "update session set revoked_at = $1 where session_id = $2 and user_id = $3 \
         and revoked_at is null and expires_at > $1",
    )
    .bind(now)
    .bind(session_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// See [`Store::revoke_sessions`](crate::store::Store::revoke_sessions).
pub(super) async fn revoke_sessions(
    pool: &PgPool,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
) -> Result<u64, StoreError> {
    // `is distinct from` is null-safe: with no session to keep, every live one goes.
    let done = sqlx::query(
        "update session set revoked_at = $1 where user_id = $2 \
         and session_id is distinct from $3 and revoked_at is null and expires_at > $1",
    )
    .bind(now)
    .bind(user_id)
    .bind(keep)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// See [`Store::revoked_since`](crate::store::Store::revoked_since): a range of the
/// partial index on `revoked_at`, oldest revocation first.
pub(super) async fn revoked_since(
    pool: &PgPool,
    since: i64,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let ids = sqlx::query_scalar(
        "select session_id from session where revoked_at >= $1 \
         order by revoked_at, session_id limit $2",
    )
    .bind(since)
    .bind(to_limit(limit))
    .fetch_all(pool)
    .await?;
    Ok(ids)
}

/// See [`Store::has_sessions`](crate::store::Store::has_sessions).
pub(super) async fn has_sessions(pool: &PgPool, user_id: &str) -> Result<bool, StoreError> {
    let any = sqlx::query_scalar("select exists (select 1 from session where user_id = $1)")
        .bind(user_id)
        .fetch_one(pool)
        .await?;
    Ok(any)
}

/// See [`Store::prune_sessions`](crate::store::Store::prune_sessions): one statement (so
/// one transaction) deleting from both tables.
pub(super) async fn prune_sessions(pool: &PgPool, before: i64) -> Result<u64, StoreError> {
    let deleted: i64 = sqlx::query_scalar(
        "with sessions as (delete from session where revoked_at < $1 or expires_at < $1 \
         returning 1), codes as (delete from auth_code where expires_at < $1 returning 1) \
         select (select count(*) from sessions) + (select count(*) from codes)",
    )
    .bind(before)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(deleted).unwrap_or(0))
}

/// See [`Store::create_code`](crate::store::Store::create_code).
pub(super) async fn create_code(
    pool: &PgPool,
    code_hash: &str,
    user_id: &str,
    purpose: CodePurpose,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into auth_code (code_hash, user_id, purpose, created_at, expires_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(code_hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(now)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// See [`Store::use_code`](crate::store::Store::use_code): one update that only matches
/// an unused, unexpired code, so a code works once.
pub(super) async fn use_code(
    pool: &PgPool,
    code_hash: &str,
    purpose: CodePurpose,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let user_id = sqlx::query_scalar(
        "update auth_code set used_at = $1 where code_hash = $2 and purpose = $3 \
         and used_at is null and expires_at > $1 returning user_id",
    )
    .bind(now)
    .bind(code_hash)
    .bind(purpose.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(user_id)
}
