//! The PostgreSQL store: the shared source of truth when several backends run, with the
//! migrations of `sql/postgres/`.
//!
//! PostgreSQL is the sequencer. [`PgStore::append_batch`] is the group commit (one
//! attempt of it is in `postgres/batch.rs`), with a constant number of statements whatever
//! the batch size (arrays bound as parameters and `unnest`ed):
//! 1. one lookup of every post's author (name and handle), an earlier post with the same
//!    (author, post id) and whether its room exists;
//! 2. only when a room is new, one insert of the missing rooms;
//! 3. one statement, its own transaction, that locks the batch's rooms in `room_id` order
//!    (so concurrent batches from any backend queue on the row locks instead of
//!    deadlocking), raises each room's head once by the number of its new posts and
//!    inserts every new message with the sequences below the new head.
//!
//! A room's row lock is held only while that one statement runs and commits, not across
//! client round trips, so the batches of several backends that post into one room wait
//! for each other as briefly as possible; the next batch sees the raised head, so
//! sequences are 1, 2, 3, ... without holes or repeats, and a failed statement rolls its
//! heads back. If another backend stored the same post id between the lookup and the
//! insert, the unique index refuses the statement; the batch is then retried (at most
//! [`RETRIES`] times), and the retry finds that post, so it ends as a duplicate or an id
//! conflict instead of failing the other posts of the batch.
//!
//! The pool (`store.pool_size`, `store.acquire_timeout_ms`) pings a connection that sat
//! idle for a second before handing it out, closes one whose statement failed, and
//! reconnects when needed, so it recovers by itself after a PostgreSQL restart; while
//! PostgreSQL is down, an operation fails once the acquire timeout passes.
//!
//! Retention's steps are in `postgres/prune.rs` (one backend at a time, by an advisory
//! lock); accounts, sessions and mailed codes in `postgres/accounts.rs`.

mod accounts;
mod batch;
mod prune;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tuitalk_protocol::{ChatMessage, Seq};

use super::accounts::{CodePurpose, NewAccount, Profile, RegisterError, Role, SessionRecord};
use super::retention::{PruneStep, RetentionRule, RoomCursor};
use super::{Appended, NewPost, Store, StoreError, User};

/// How often a batch is retried after a unique violation (a post id stored concurrently by
/// another backend) or a deadlock report; each retry is a new transaction.
pub const RETRIES: u32 = 2;

/// A pooled connection idle for this long is pinged before it is used again.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The PostgreSQL implementation of [`Store`]. Cloning shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl std::fmt::Debug for PgStore {
    // The pool's options hold the password: print nothing of them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// A message row joined with its room's name.
#[derive(Debug, sqlx::FromRow)]
struct MessageRow {
    room: String,
    seq: i64,
    post_id: String,
    author_id: String,
    author: String,
    author_handle: Option<String>,
    text: String,
    created_at: i64,
}

impl MessageRow {
    fn into_message(self) -> Result<ChatMessage, StoreError> {
        Ok(ChatMessage {
            room: self.room,
            seq: to_seq(self.seq)?,
            id: self.post_id,
            author_id: self.author_id,
            author: self.author,
            author_handle: self.author_handle,
            text: self.text,
            ts: self.created_at,
        })
    }
}

/// The columns of [`MessageRow`], completed by a `where` clause.
macro_rules! message_select {
    () => {
        "select r.name as room, m.seq, m.post_id, m.author_id, m.author, m.author_handle, \
         m.text, m.created_at from message m join room r on r.room_id = m.room_id "
    };
}

fn to_seq(value: i64) -> Result<Seq, StoreError> {
    Seq::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative sequence {value}")))
}

/// Clamps a protocol sequence into PostgreSQL's bigint range.
fn to_sql(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Whether a failed batch is worth one more try: a unique violation (the same post id
/// stored by another backend meanwhile) or a deadlock report.
fn is_retryable(err: &StoreError) -> bool {
    match err {
        StoreError::Database(sqlx::Error::Database(db)) => {
            db.is_unique_violation() || db.code().as_deref() == Some("40P01")
        }
        _ => false,
    }
}

impl PgStore {
    /// Connects to the database at `url` with at most `pool_size` connections, each
    /// acquisition waiting at most `acquire_timeout` and each statement running at most
    /// `statement_timeout`, and applies the migrations (on a connection of their own,
    /// without the statement timeout: a migration may rewrite a large table). Fails when
    /// PostgreSQL cannot be reached within the acquire timeout.
    pub async fn connect(
        url: &str,
        pool_size: u32,
        acquire_timeout: Duration,
        statement_timeout: Duration,
    ) -> Result<Self, StoreError> {
        // Migrations first, without the statement timeout, on a connection of their own.
        let migrations = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(acquire_timeout)
            .connect_with(PgConnectOptions::from_str(url)?.application_name("tuitalk-migrate"))
            .await?;
        let migrated = sqlx::migrate!("../../sql/postgres").run(&migrations).await;
        migrations.close().await;
        migrated?;

        let statement_ms = statement_timeout.as_millis().max(1).to_string();
        let options = PgConnectOptions::from_str(url)?
            .application_name("tuitalk-server")
            .options([
                // A statement stuck behind a lock (a backend host that died inside a
                // batch) or a stalled disk fails after this long: its posts are answered
                // `unavailable` and sent again, instead of hanging with the batch.
                ("statement_timeout", statement_ms.as_str()),
                // The statements are prepared once per connection and their plans do not
                // depend on the values: planning each execution anew cost about a fifth of
                // PostgreSQL's CPU under load (docs/benchmarks.md).
                ("plan_cache_mode", "force_generic_plan"),
                // Every statement here is meant to use an index. A generic plan is made
                // once per connection, and one made while a table was still empty (a new
                // deployment's first minute, before autovacuum's first ANALYZE) read the
                // whole `message` table for every batch: 1,313 such scans during one
                // benchmark run (docs/benchmarks.md). Sequential scans are therefore
                // priced out for the store's sessions.
                ("enable_seqscan", "off"),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(acquire_timeout)
            // Ping a connection that sat idle before using it, so connections broken by a
            // PostgreSQL restart are replaced; busy ones are not pinged (a round trip per
            // statement): a broken one fails its statement, is closed, and the batch is
            // answered `unavailable` and sent again by its clients.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_guest(&self, name: &str) -> Result<User, StoreError> {
        let user_id = uuid::Uuid::now_v7().to_string();
        sqlx::query("insert into \"user\" (user_id, name, created_at) values ($1, $2, $3)")
            .bind(&user_id)
            .bind(name)
            .bind(super::now_ms())
            .execute(&self.pool)
            .await?;
        Ok(User {
            user_id,
            name: name.to_owned(),
            handle: None,
        })
    }

    async fn user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("select name, handle from \"user\" where user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(name, handle)| User {
            user_id: user_id.to_owned(),
            name,
            handle,
        }))
    }

    async fn rename(&self, user_id: &str, name: &str) -> Result<Option<String>, StoreError> {
        // The locked read hands the previous name to the update in one statement.
        let old: Option<String> = sqlx::query_scalar(
            "with old as (select name from \"user\" where user_id = $1 for update) \
             update \"user\" set name = $2 from old where user_id = $1 returning old.name",
        )
        .bind(user_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(old)
    }

    async fn join(&self, user_id: &str, room: &str) -> Result<Seq, StoreError> {
        let now = super::now_ms();
        // Three statements: each one's snapshot sees a room created meanwhile by another
        // backend (the insert waits for it, then does nothing).
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "insert into room (name, created_at) values ($1, $2) on conflict (name) do nothing",
        )
        .bind(room)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into membership (user_id, room_id, created_at) \
             select $1, room_id, $2 from room where name = $3 \
             on conflict (user_id, room_id) do nothing",
        )
        .bind(user_id)
        .bind(now)
        .bind(room)
        .execute(&mut *tx)
        .await?;
        let head: i64 = sqlx::query_scalar("select head from room where name = $1")
            .bind(room)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        to_seq(head)
    }

    async fn leave(&self, user_id: &str, room: &str) -> Result<(), StoreError> {
        sqlx::query(
            "delete from membership where user_id = $1 \
             and room_id = (select room_id from room where name = $2)",
        )
        .bind(user_id)
        .bind(room)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rooms_of(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rooms = sqlx::query_scalar(
            "select r.name from membership m join room r on r.room_id = m.room_id \
             where m.user_id = $1 order by r.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rooms)
    }

    async fn head(&self, room: &str) -> Result<Seq, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("select head from room where name = $1")
            .bind(room)
            .fetch_optional(&self.pool)
            .await?;
        to_seq(head.unwrap_or(0))
    }

    async fn heads(&self, rooms: &[String]) -> Result<Vec<(String, Seq)>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, i64)> =
            sqlx::query_as("select name, head from room where name = any($1::text[])")
                .bind(rooms)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(name, head)| Ok((name, to_seq(head)?)))
            .collect()
    }

    async fn append_batch(
        &self,
        posts: Vec<NewPost>,
    ) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        if posts.is_empty() {
            return Ok(Vec::new());
        }
        let mut retries = 0;
        loop {
            match batch::try_append(&self.pool, &posts).await {
                Err(err) if retries < RETRIES && is_retryable(&err) => {
                    retries += 1;
                    tracing::debug!(error = %err, retries, "batch raced another backend; retrying");
                }
                outcome => return outcome,
            }
        }
    }

    async fn messages_after(
        &self,
        room: &str,
        after: Seq,
        up_to: Seq,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let rows: Vec<MessageRow> = sqlx::query_as(concat!(
            message_select!(),
            "where r.name = $1 and m.seq > $2 and m.seq <= $3 order by m.seq limit $4"
        ))
        .bind(room)
        .bind(to_sql(after))
        .bind(to_sql(up_to))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(MessageRow::into_message).collect()
    }

    async fn history(
        &self,
        room: &str,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        // One row more than asked tells whether older messages exist.
        let mut rows: Vec<MessageRow> = sqlx::query_as(concat!(
            message_select!(),
            "where r.name = $1 and m.seq < $2 order by m.seq desc limit $3"
        ))
        .bind(room)
        .bind(before.map_or(i64::MAX, to_sql))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        rows.reverse();
        let messages = rows
            .into_iter()
            .map(MessageRow::into_message)
            .collect::<Result<_, _>>()?;
        Ok((messages, has_more))
    }

    async fn prune(
        &self,
        rule: &RetentionRule,
        from: RoomCursor,
        max_messages: u32,
    ) -> Result<PruneStep, StoreError> {
        prune::step(&self.pool, rule, from, max_messages).await
    }

    async fn size_bytes(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query_scalar("select pg_database_size(current_database())")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(size).unwrap_or(0))
    }

    async fn profile(&self, user_id: &str) -> Result<Option<Profile>, StoreError> {
        accounts::profile(&self.pool, user_id).await
    }

    async fn profile_by_login(&self, email_or_handle: &str) -> Result<Option<Profile>, StoreError> {
        accounts::profile_by_login(&self.pool, email_or_handle).await
    }

    async fn accounts(&self, after: Option<&str>, limit: u32) -> Result<Vec<Profile>, StoreError> {
        accounts::accounts(&self.pool, after, limit).await
    }

    async fn credentials(&self, email: &str) -> Result<Option<(String, String, bool)>, StoreError> {
        accounts::credentials(&self.pool, email).await
    }

    async fn password_hash(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        accounts::password_hash(&self.pool, user_id).await
    }

    async fn register(
        &self,
        upgrade: Option<&str>,
        account: &NewAccount,
    ) -> Result<User, RegisterError> {
        accounts::register(&self.pool, upgrade, account).await
    }

    async fn set_password(&self, user_id: &str, password_hash: &str) -> Result<bool, StoreError> {
        accounts::set_password(&self.pool, user_id, password_hash).await
    }

    async fn set_role(&self, user_id: &str, role: Role) -> Result<bool, StoreError> {
        accounts::set_role(&self.pool, user_id, role).await
    }

    async fn set_disabled(
        &self,
        user_id: &str,
        disabled: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        accounts::set_disabled(&self.pool, user_id, disabled, now).await
    }

    async fn set_email_verified(&self, user_id: &str, now: i64) -> Result<bool, StoreError> {
        accounts::set_email_verified(&self.pool, user_id, now).await
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        accounts::create_session(&self.pool, session).await
    }

    async fn session(
        &self,
        session_id: &str,
    ) -> Result<Option<(SessionRecord, Profile)>, StoreError> {
        accounts::session(&self.pool, session_id).await
    }

    async fn touch_sessions(&self, session_ids: &[String], now: i64) -> Result<(), StoreError> {
        accounts::touch_sessions(&self.pool, session_ids, now).await
    }

    async fn sessions_of(&self, user_id: &str, now: i64) -> Result<Vec<SessionRecord>, StoreError> {
        accounts::sessions_of(&self.pool, user_id, now).await
    }

    async fn label_session(
        &self,
        user_id: &str,
        session_id: &str,
        label: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        accounts::label_session(&self.pool, user_id, session_id, label).await
    }

    async fn revoke_session(
        &self,
        user_id: &str,
        session_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        accounts::revoke_session(&self.pool, user_id, session_id, now).await
    }

    async fn revoke_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        now: i64,
    ) -> Result<u64, StoreError> {
        accounts::revoke_sessions(&self.pool, user_id, keep, now).await
    }

    async fn revoked_since(&self, since: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        accounts::revoked_since(&self.pool, since, limit).await
    }

    async fn has_sessions(&self, user_id: &str) -> Result<bool, StoreError> {
        accounts::has_sessions(&self.pool, user_id).await
    }

    async fn prune_sessions(&self, before: i64) -> Result<u64, StoreError> {
        accounts::prune_sessions(&self.pool, before).await
    }

    async fn create_code(
        &self,
        code_hash: &str,
        user_id: &str,
        purpose: CodePurpose,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        accounts::create_code(&self.pool, code_hash, user_id, purpose, now, expires_at).await
    }

    async fn use_code(
        &self,
        code_hash: &str,
        purpose: CodePurpose,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        accounts::use_code(&self.pool, code_hash, purpose, now).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
