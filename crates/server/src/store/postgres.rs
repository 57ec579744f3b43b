//! The PostgreSQL store: the shared source of truth when several backends run, with the
//! migrations of `sql/postgres/`.
//!
//! PostgreSQL is the sequencer. [`PgStore::append_batch`] is the group commit, with a
//! constant number of statements whatever the batch size (arrays bound as parameters and
//! `unnest`ed):
//! 1. one lookup of every post's author, an earlier post with the same (author, post id)
//!    and whether its room exists;
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

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tuitalk_protocol::{ChatMessage, Seq};

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
            text: self.text,
            ts: self.created_at,
        })
    }
}

/// What the batch lookup knows about one post (one row per post, in batch order).
#[derive(Debug, sqlx::FromRow)]
struct LookupRow {
    /// The author's current name; `None` for an unknown author.
    author_name: Option<String>,
    /// Whether the post's room exists already.
    room_exists: bool,
    /// The message stored earlier under the same (author, post id), if any.
    old_room: Option<String>,
    old_seq: Option<i64>,
    old_author: Option<String>,
    old_text: Option<String>,
    old_created_at: Option<i64>,
}

/// One row per post, in batch order: its author's name, whether its room exists, and the
/// message already stored under its (author, post id). The unique keys make each left
/// join match at most one row.
const LOOKUP: &str = "select u.name as author_name, pr.room_id is not null as room_exists, \
     r.name as old_room, m.seq as old_seq, m.author as old_author, m.text as old_text, \
     m.created_at as old_created_at \
     from unnest($1::text[], $2::text[], $3::text[]) with ordinality as k(author_id, post_id, room, idx) \
     left join \"user\" u on u.user_id = k.author_id \
     left join room pr on pr.name = k.room \
     left join message m on m.author_id = k.author_id and m.post_id = k.post_id \
     left join room r on r.room_id = m.room_id \
     order by k.idx";

/// Creates the missing rooms, in name order so concurrent batches wait for each other in
/// one order.
const CREATE_ROOMS: &str = "insert into room (name, created_at) \
     select name, $2 from unnest($1::text[]) as t(name) order by name \
     on conflict (name) do nothing";

/// Stores a batch in one statement (so one implicit transaction): locks the batch's rooms
/// in `room_id` order (the fixed order that rules out deadlocks between batches), raises
/// each head by the room's number of new posts, inserts every new message at
/// `new head - count + position`, and returns each raised room's name with its new head
/// and the number of messages inserted by the whole statement.
const STORE_BATCH: &str = "with wanted as (select * from unnest($1::text[], $2::bigint[]) as w(name, n)), \
     locked as materialized ( \
        select r.room_id, w.n from room r join wanted w on w.name = r.name \
        order by r.room_id for update of r), \
     raised as ( \
        update room set head = room.head + locked.n from locked \
        where room.room_id = locked.room_id \
        returning room.room_id, room.name, room.head, locked.n), \
     fresh as (select * from unnest($3::text[], $4::bigint[], $5::text[], $6::text[], \
        $7::text[], $8::text[], $9::bigint[]) \
        as p(room, pos, post_id, author_id, author, text, created_at)), \
     stored as ( \
        insert into message (room_id, seq, post_id, author_id, author, text, created_at) \
        select r.room_id, r.head - r.n + p.pos, p.post_id, p.author_id, p.author, p.text, \
        p.created_at from fresh p join raised r on r.name = p.room \
        returning 1) \
     select r.name, r.head, (select count(*) from stored) as inserted from raised r";

/// The columns of [`MessageRow`], completed by a `where` clause.
macro_rules! message_select {
    () => {
        "select r.name as room, m.seq, m.post_id, m.author_id, m.author, m.text, m.created_at \
         from message m join room r on r.room_id = m.room_id "
    };
}

fn to_seq(value: i64) -> Result<Seq, StoreError> {
    Seq::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative sequence {value}")))
}

/// Clamps a protocol sequence into PostgreSQL's bigint range.
fn to_sql(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A batch length as PostgreSQL counts it.
fn to_sql_len(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
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

/// How the batch treats one post, decided from the lookup.
enum Plan {
    /// Answered without storing anything (a duplicate of a stored post, a conflict, an
    /// unknown author).
    Done(Result<Appended, StoreError>),
    /// Stored: the `offset`-th new post (1-based) of the room at `room` in the room list.
    New {
        room: usize,
        offset: i64,
        author: String,
    },
    /// Same author, id, room and text as the new post at this earlier batch position.
    SameAs(usize),
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

    /// One attempt at [`Store::append_batch`]: one transaction.
    async fn try_append(
        &self,
        posts: &[NewPost],
    ) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let authors: Vec<&str> = posts.iter().map(|p| p.author_id.as_str()).collect();
        let ids: Vec<&str> = posts.iter().map(|p| p.post_id.as_str()).collect();
        let rooms: Vec<&str> = posts.iter().map(|p| p.room.as_str()).collect();
        let found: Vec<LookupRow> = sqlx::query_as(LOOKUP)
            .bind(&authors)
            .bind(&ids)
            .bind(&rooms)
            .fetch_all(&mut *conn)
            .await?;
        if found.len() != posts.len() {
            return Err(StoreError::Corrupt(format!(
                "batch lookup returned {} rows for {} posts",
                found.len(),
                posts.len()
            )));
        }

        // Decide every post in batch order, as if they were stored one after the other.
        let mut plans = Vec::with_capacity(posts.len());
        let mut new_by_key: HashMap<(&str, &str), usize> = HashMap::new();
        let mut room_index: HashMap<&str, usize> = HashMap::new();
        // Per room of the batch with new posts: name, number of new posts, whether it exists.
        let mut batch_rooms: Vec<(&str, i64, bool)> = Vec::new();
        for (i, (post, row)) in posts.iter().zip(found).enumerate() {
            let plan = if let (Some(room), Some(seq), Some(author), Some(text), Some(ts)) = (
                row.old_room,
                row.old_seq,
                row.old_author,
                row.old_text,
                row.old_created_at,
            ) {
                Plan::Done(if room == post.room && text == post.text {
                    to_seq(seq).map(|seq| Appended {
                        message: ChatMessage {
                            room,
                            seq,
                            id: post.post_id.clone(),
                            author_id: post.author_id.clone(),
                            author,
                            text,
                            ts,
                        },
                        duplicate: true,
                    })
                } else {
                    Err(StoreError::IdConflict)
                })
            } else if let Some(&earlier) =
                new_by_key.get(&(post.author_id.as_str(), post.post_id.as_str()))
            {
                let first = &posts[earlier];
                if first.room == post.room && first.text == post.text {
                    Plan::SameAs(earlier)
                } else {
                    Plan::Done(Err(StoreError::IdConflict))
                }
            } else if let Some(author) = row.author_name {
                new_by_key.insert((post.author_id.as_str(), post.post_id.as_str()), i);
                let room = *room_index.entry(post.room.as_str()).or_insert_with(|| {
                    batch_rooms.push((post.room.as_str(), 0, row.room_exists));
                    batch_rooms.len() - 1
                });
                batch_rooms[room].1 += 1;
                Plan::New {
                    room,
                    offset: batch_rooms[room].1,
                    author,
                }
            } else {
                Plan::Done(Err(StoreError::Corrupt(format!(
                    "unknown author {}",
                    post.author_id
                ))))
            };
            plans.push(plan);
        }

        // New head per batch room.
        let mut heads: Vec<Option<i64>> = vec![None; batch_rooms.len()];
        if !batch_rooms.is_empty() {
            let missing: Vec<&str> = batch_rooms
                .iter()
                .filter(|(_, _, exists)| !exists)
                .map(|(name, _, _)| *name)
                .collect();
            if !missing.is_empty() {
                sqlx::query(CREATE_ROOMS)
                    .bind(&missing)
                    .bind(super::now_ms())
                    .execute(&mut *conn)
                    .await?;
            }
            let names: Vec<&str> = batch_rooms.iter().map(|(name, _, _)| *name).collect();
            let counts: Vec<i64> = batch_rooms.iter().map(|(_, n, _)| *n).collect();
            let mut fresh_rooms = Vec::new();
            let mut positions = Vec::new();
            let mut post_ids = Vec::new();
            let mut author_ids = Vec::new();
            let mut author_names = Vec::new();
            let mut texts = Vec::new();
            let mut times = Vec::new();
            for (plan, post) in plans.iter().zip(posts) {
                if let Plan::New { offset, author, .. } = plan {
                    fresh_rooms.push(post.room.as_str());
                    positions.push(*offset);
                    post_ids.push(post.post_id.as_str());
                    author_ids.push(post.author_id.as_str());
                    author_names.push(author.as_str());
                    texts.push(post.text.as_str());
                    times.push(post.ts);
                }
            }
            let raised: Vec<(String, i64, i64)> = sqlx::query_as(STORE_BATCH)
                .bind(&names)
                .bind(&counts)
                .bind(&fresh_rooms)
                .bind(&positions)
                .bind(&post_ids)
                .bind(&author_ids)
                .bind(&author_names)
                .bind(&texts)
                .bind(&times)
                .fetch_all(&mut *conn)
                .await?;
            let inserted = raised.first().map_or(0, |row| row.2);
            if raised.len() != batch_rooms.len() || inserted != to_sql_len(fresh_rooms.len()) {
                // Only possible if a room row disappeared; what was stored is found as a
                // duplicate when the posts are sent again.
                return Err(StoreError::Corrupt(format!(
                    "batch stored {inserted} of {} messages in {} of {} rooms",
                    fresh_rooms.len(),
                    raised.len(),
                    batch_rooms.len()
                )));
            }
            for (name, head, _) in raised {
                if let Some(&i) = room_index.get(name.as_str()) {
                    heads[i] = Some(head);
                }
            }
            for (plan, post) in plans.iter_mut().zip(posts) {
                if let Plan::New { room, offset, .. } = plan {
                    let Some(head) = heads[*room] else {
                        return Err(StoreError::Corrupt(format!(
                            "room {} vanished during a batch",
                            post.room
                        )));
                    };
                    // The room's new posts took the last `count` sequences up to the head;
                    // from here on `offset` holds the sequence.
                    *offset += head - batch_rooms[*room].1;
                }
            }
        }

        let mut outcomes: Vec<Result<Appended, StoreError>> = Vec::with_capacity(posts.len());
        for (plan, post) in plans.into_iter().zip(posts) {
            let outcome = match plan {
                Plan::Done(outcome) => outcome,
                Plan::New { offset, author, .. } => to_seq(offset).map(|seq| Appended {
                    message: ChatMessage {
                        room: post.room.clone(),
                        seq,
                        id: post.post_id.clone(),
                        author_id: post.author_id.clone(),
                        author,
                        text: post.text.clone(),
                        ts: post.ts,
                    },
                    duplicate: false,
                }),
                Plan::SameAs(earlier) => match outcomes.get(earlier) {
                    Some(Ok(first)) => Ok(Appended {
                        message: first.message.clone(),
                        duplicate: true,
                    }),
                    _ => Err(StoreError::Corrupt(
                        "duplicate of a post that was not stored".to_owned(),
                    )),
                },
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
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
        })
    }

    async fn user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let name: Option<String> =
            sqlx::query_scalar("select name from \"user\" where user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(name.map(|name| User {
            user_id: user_id.to_owned(),
            name,
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
            match self.try_append(&posts).await {
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

    async fn close(&self) {
        self.pool.close().await;
    }
}
