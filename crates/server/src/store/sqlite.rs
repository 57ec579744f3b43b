//! The embedded store: one SQLite file in WAL mode, with the migrations of `sql/sqlite/`.
//!
//! Writes go through a pool of exactly one connection: SQLite has a single writer anyway,
//! and a deferred transaction that reads then writes can fail with `SQLITE_BUSY` when
//! another connection wrote in between. Reads use a separate pool and run concurrently
//! (WAL lets readers see the last committed state while a write is in progress).
//! Write transactions start with `begin immediate`, taking the write lock up front: with
//! several servers on one file (tests of several backends), a deferred transaction that
//! read first would fail with `SQLITE_BUSY` instead of waiting for the busy timeout.
//! `synchronous = full` makes a commit durable before it returns, which G1 relies on.
//!
//! A write that fails (a full disk: `SQLITE_FULL`, or an I/O error) rolls its transaction
//! back (the writer connection is replaced when SQLite rolled it back by itself, which
//! sqlx does not notice); a failed batch is answered `unavailable` by the group committer, which goes on
//! with the next one, and posting works again once there is space. The database file is
//! created with mode 0600 before SQLite opens it ([`super::files`]). Retention's steps
//! are in `sqlite/prune.rs`; accounts, sessions and mailed codes in `sqlite/accounts.rs`.

mod accounts;
mod prune;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tuitalk_protocol::{ChatMessage, Seq};

use super::accounts::{CodePurpose, NewAccount, Profile, RegisterError, Role, SessionRecord};
use super::retention::{PruneStep, RetentionRule, RoomCursor};
use super::{Appended, NewPost, Store, StoreError, User};

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The database file (its WAL is `<path>-wal`).
    path: PathBuf,
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

/// The message an author stored under a post id (the duplicate lookup).
const MESSAGE_BY_AUTHOR: &str =
    concat!(message_select!(), "where m.author_id = ? and m.post_id = ?");

fn to_seq(value: i64) -> Result<Seq, StoreError> {
    Seq::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative sequence {value}")))
}

/// Clamps a protocol sequence into SQLite's integer range.
fn to_sql(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `path` and applies the migrations.
    /// The file (and a missing directory) is created private: mode 0600 (0700); existing
    /// database files open to others are tightened.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        super::files::prepare_sqlite_files(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(|conn, _| {
                Box::pin(async move {
                    // SQLite rolls a transaction back by itself on some errors (a full
                    // disk: SQLITE_FULL); the ROLLBACK of the dropped `Transaction` then
                    // fails and sqlx keeps counting the transaction as open, so every
                    // later `begin` on this connection would fail. The ping runs after
                    // that queued rollback; a connection still "in a transaction" is
                    // closed, and the pool opens a fresh one for the next write.
                    conn.ping().await?;
                    let usable = !conn.is_in_transaction();
                    if !usable {
                        tracing::warn!(
                            "SQLite rolled back a failed transaction by itself; reopening the writer connection"
                        );
                    }
                    Ok(usable)
                })
            })
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../../sql/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            path: path.to_path_buf(),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn create_guest(&self, name: &str) -> Result<User, StoreError> {
        let user_id = uuid::Uuid::now_v7().to_string();
        sqlx::query("insert into user (user_id, name, created_at) values (?, ?, ?)")
            .bind(&user_id)
            .bind(name)
            .bind(super::now_ms())
            .execute(&self.writer)
            .await?;
        Ok(User {
            user_id,
            name: name.to_owned(),
            handle: None,
        })
    }

    async fn user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("select name, handle from user where user_id = ?")
                .bind(user_id)
                .fetch_optional(&self.reader)
                .await?;
        Ok(row.map(|(name, handle)| User {
            user_id: user_id.to_owned(),
            name,
            handle,
        }))
    }

    async fn rename(&self, user_id: &str, name: &str) -> Result<Option<String>, StoreError> {
        let mut tx = self.writer.begin_with("begin immediate").await?;
        let old: Option<String> = sqlx::query_scalar("select name from user where user_id = ?")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if old.is_some() {
            sqlx::query("update user set name = ? where user_id = ?")
                .bind(name)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(old)
    }

    async fn join(&self, user_id: &str, room: &str) -> Result<Seq, StoreError> {
        let now = super::now_ms();
        let mut tx = self.writer.begin_with("begin immediate").await?;
        sqlx::query(
            "insert into room (name, created_at) values (?, ?) on conflict (name) do nothing",
        )
        .bind(room)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into membership (user_id, room_id, created_at) \
             select ?, room_id, ? from room where name = ? \
             on conflict (user_id, room_id) do nothing",
        )
        .bind(user_id)
        .bind(now)
        .bind(room)
        .execute(&mut *tx)
        .await?;
        let head: i64 = sqlx::query_scalar("select head from room where name = ?")
            .bind(room)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        to_seq(head)
    }

    async fn leave(&self, user_id: &str, room: &str) -> Result<(), StoreError> {
        sqlx::query(
            "delete from membership where user_id = ? \
             and room_id = (select room_id from room where name = ?)",
        )
        .bind(user_id)
        .bind(room)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn rooms_of(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rooms = sqlx::query_scalar(
            "select r.name from membership m join room r on r.room_id = m.room_id \
             where m.user_id = ? order by r.name",
        )
        .bind(user_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rooms)
    }

    async fn head(&self, room: &str) -> Result<Seq, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("select head from room where name = ?")
            .bind(room)
            .fetch_optional(&self.reader)
            .await?;
        to_seq(head.unwrap_or(0))
    }

    async fn heads(&self, rooms: &[String]) -> Result<Vec<(String, Seq)>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for all rooms: `json_each` takes the names as a JSON array, so
        // the statement text does not depend on how many rooms there are.
        let names = serde_json::to_string(rooms)
            .map_err(|e| StoreError::Corrupt(format!("room names: {e}")))?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select name, head from room where name in (select value from json_each(?))",
        )
        .bind(names)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(name, head)| Ok((name, to_seq(head)?)))
            .collect()
    }

    async fn append_batch(
        &self,
        posts: Vec<NewPost>,
    ) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        let mut tx = self.writer.begin_with("begin immediate").await?;
        let mut outcomes = Vec::with_capacity(posts.len());
        for post in posts {
            // A post id seen before (also earlier in this batch) is a duplicate or a conflict.
            let existing: Option<MessageRow> = sqlx::query_as(MESSAGE_BY_AUTHOR)
                .bind(&post.author_id)
                .bind(&post.post_id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = existing {
                if row.room == post.room && row.text == post.text {
                    outcomes.push(row.into_message().map(|message| Appended {
                        message,
                        duplicate: true,
                    }));
                } else {
                    outcomes.push(Err(StoreError::IdConflict));
                }
                continue;
            }
            // The author's current name and handle go into the message; read them before
            // taking a sequence so an unknown author cannot leave a hole.
            let author: Option<(String, Option<String>)> =
                sqlx::query_as("select name, handle from user where user_id = ?")
                    .bind(&post.author_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((author, author_handle)) = author else {
                outcomes.push(Err(StoreError::Corrupt(format!(
                    "unknown author {}",
                    post.author_id
                ))));
                continue;
            };
            sqlx::query(
                "insert into room (name, created_at) values (?, ?) on conflict (name) do nothing",
            )
            .bind(&post.room)
            .bind(post.ts)
            .execute(&mut *tx)
            .await?;
            let (room_id, seq): (i64, i64) = sqlx::query_as(
                "update room set head = head + 1 where name = ? returning room_id, head",
            )
            .bind(&post.room)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "insert into message (room_id, seq, post_id, author_id, author, author_handle, \
                 text, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(room_id)
            .bind(seq)
            .bind(&post.post_id)
            .bind(&post.author_id)
            .bind(&author)
            .bind(&author_handle)
            .bind(&post.text)
            .bind(post.ts)
            .execute(&mut *tx)
            .await?;
            outcomes.push(Ok(Appended {
                message: ChatMessage {
                    room: post.room,
                    seq: to_seq(seq)?,
                    id: post.post_id,
                    author_id: post.author_id,
                    author,
                    author_handle,
                    text: post.text,
                    ts: post.ts,
                },
                duplicate: false,
            }));
        }
        tx.commit().await?;
        Ok(outcomes)
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
            "where r.name = ? and m.seq > ? and m.seq <= ? order by m.seq limit ?"
        ))
        .bind(room)
        .bind(to_sql(after))
        .bind(to_sql(up_to))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
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
            "where r.name = ? and m.seq < ? order by m.seq desc limit ?"
        ))
        .bind(room)
        .bind(before.map_or(i64::MAX, to_sql))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.reader)
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
        prune::step(&self.writer, rule, from, max_messages).await
    }

    async fn size_bytes(&self) -> Result<u64, StoreError> {
        let pages: i64 = sqlx::query_scalar(
            "select page_count * page_size from pragma_page_count(), pragma_page_size()",
        )
        .fetch_one(&self.reader)
        .await?;
        let [_, wal, _] = super::files::sqlite_files(&self.path);
        let wal = match std::fs::metadata(&wal) {
            Ok(meta) => meta.len(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => 0,
            Err(err) => return Err(err.into()),
        };
        Ok(u64::try_from(pages).unwrap_or(0).saturating_add(wal))
    }

    async fn profile(&self, user_id: &str) -> Result<Option<Profile>, StoreError> {
        accounts::profile(&self.reader, user_id).await
    }

    async fn profile_by_login(&self, email_or_handle: &str) -> Result<Option<Profile>, StoreError> {
        accounts::profile_by_login(&self.reader, email_or_handle).await
    }

    async fn accounts(&self, after: Option<&str>, limit: u32) -> Result<Vec<Profile>, StoreError> {
        accounts::accounts(&self.reader, after, limit).await
    }

    async fn credentials(&self, email: &str) -> Result<Option<(String, String, bool)>, StoreError> {
        accounts::credentials(&self.reader, email).await
    }

    async fn password_hash(&self, user_id: &str) -> Result<Option<String>, StoreError> {
        accounts::password_hash(&self.reader, user_id).await
    }

    async fn register(
        &self,
        upgrade: Option<&str>,
        account: &NewAccount,
    ) -> Result<User, RegisterError> {
        accounts::register(&self.writer, upgrade, account).await
    }

    async fn set_password(&self, user_id: &str, password_hash: &str) -> Result<bool, StoreError> {
        accounts::set_password(&self.writer, user_id, password_hash).await
    }

    async fn set_role(&self, user_id: &str, role: Role) -> Result<bool, StoreError> {
        accounts::set_role(&self.writer, user_id, role).await
    }

    async fn set_disabled(
        &self,
        user_id: &str,
        disabled: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        accounts::set_disabled(&self.writer, user_id, disabled, now).await
    }

    async fn set_email_verified(&self, user_id: &str, now: i64) -> Result<bool, StoreError> {
        accounts::set_email_verified(&self.writer, user_id, now).await
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        accounts::create_session(&self.writer, session).await
    }

    async fn session(
        &self,
        session_id: &str,
    ) -> Result<Option<(SessionRecord, Profile)>, StoreError> {
        accounts::session(&self.reader, session_id).await
    }

    async fn touch_sessions(&self, session_ids: &[String], now: i64) -> Result<(), StoreError> {
        accounts::touch_sessions(&self.writer, session_ids, now).await
    }

    async fn sessions_of(&self, user_id: &str, now: i64) -> Result<Vec<SessionRecord>, StoreError> {
        accounts::sessions_of(&self.reader, user_id, now).await
    }

    async fn label_session(
        &self,
        user_id: &str,
        session_id: &str,
        label: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        accounts::label_session(&self.writer, user_id, session_id, label).await
    }

    async fn revoke_session(
        &self,
        user_id: &str,
        session_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        accounts::revoke_session(&self.writer, user_id, session_id, now).await
    }

    async fn revoke_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        now: i64,
    ) -> Result<u64, StoreError> {
        accounts::revoke_sessions(&self.writer, user_id, keep, now).await
    }

    async fn revoked_since(&self, since: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        accounts::revoked_since(&self.reader, since, limit).await
    }

    async fn has_sessions(&self, user_id: &str) -> Result<bool, StoreError> {
        accounts::has_sessions(&self.reader, user_id).await
    }

    async fn prune_sessions(&self, before: i64) -> Result<u64, StoreError> {
        accounts::prune_sessions(&self.writer, before).await
    }

    async fn create_code(
        &self,
        code_hash: &str,
        user_id: &str,
        purpose: CodePurpose,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        accounts::create_code(&self.writer, code_hash, user_id, purpose, now, expires_at).await
    }

    async fn use_code(
        &self,
        code_hash: &str,
        purpose: CodePurpose,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        accounts::use_code(&self.writer, code_hash, purpose, now).await
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
