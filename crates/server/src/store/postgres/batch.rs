//! One attempt at the PostgreSQL group commit (`PgStore::append_batch`): the lookup of
//! every post of the batch, the plan that decides each post from it in batch order (new,
//! duplicate, conflict, unknown author), and the statements that create the missing rooms
//! and store the new messages. The parent module describes the design and retries an
//! attempt that raced another backend.

use std::collections::HashMap;

use sqlx::postgres::PgPool;
use tuitalk_protocol::ChatMessage;

use super::to_seq;
use crate::store::{Appended, NewPost, StoreError};

/// What the batch lookup knows about one post (one row per post, in batch order).
#[derive(Debug, sqlx::FromRow)]
struct LookupRow {
    /// The author's current name; `None` for an unknown author.
    author_name: Option<String>,
    /// The author's current handle; `None` for a guest (or an unknown author).
    author_handle: Option<String>,
    /// Whether the post's room exists already.
    room_exists: bool,
    /// The message stored earlier under the same (author, post id), if any.
    old_room: Option<String>,
    old_seq: Option<i64>,
    old_author: Option<String>,
    /// The stored message's author handle (`None` also when posted as a guest).
    old_author_handle: Option<String>,
    old_text: Option<String>,
    old_created_at: Option<i64>,
}

/// One row per post, in batch order: its author's name and handle, whether its room
/// exists, and the message already stored under its (author, post id). The unique keys
/// make each left join match at most one row.
const LOOKUP: &str = "select u.name as author_name, u.handle as author_handle, \
     pr.room_id is not null as room_exists, r.name as old_room, m.seq as old_seq, \
     m.author as old_author, m.author_handle as old_author_handle, m.text as old_text, \
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
        $7::text[], $8::text[], $9::text[], $10::bigint[]) \
        as p(room, pos, post_id, author_id, author, author_handle, text, created_at)), \
     stored as ( \
        insert into message (room_id, seq, post_id, author_id, author, author_handle, text, \
        created_at) \
        select r.room_id, r.head - r.n + p.pos, p.post_id, p.author_id, p.author, \
        p.author_handle, p.text, p.created_at from fresh p join raised r on r.name = p.room \
        returning 1) \
     select r.name, r.head, (select count(*) from stored) as inserted from raised r";

/// A batch length as PostgreSQL counts it.
fn to_sql_len(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
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
        author_handle: Option<String>,
    },
    /// Same author, id, room and text as the new post at this earlier batch position.
    SameAs(usize),
}

/// One attempt at [`Store::append_batch`](crate::store::Store::append_batch) on one
/// connection: the lookup, the insert of the missing rooms (when there are any) and the
/// statement that stores the batch, each its own transaction.
pub(super) async fn try_append(
    pool: &PgPool,
    posts: &[NewPost],
) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
    let mut conn = pool.acquire().await?;
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
                        author_handle: row.old_author_handle,
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
                author_handle: row.author_handle,
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
                .bind(crate::store::now_ms())
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
        let mut author_handles = Vec::new();
        let mut texts = Vec::new();
        let mut times = Vec::new();
        for (plan, post) in plans.iter().zip(posts) {
            if let Plan::New {
                offset,
                author,
                author_handle,
                ..
            } = plan
            {
                fresh_rooms.push(post.room.as_str());
                positions.push(*offset);
                post_ids.push(post.post_id.as_str());
                author_ids.push(post.author_id.as_str());
                author_names.push(author.as_str());
                author_handles.push(author_handle.as_deref());
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
            .bind(&author_handles)
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
            Plan::New {
                offset,
                author,
                author_handle,
                ..
            } => to_seq(offset).map(|seq| Appended {
                message: ChatMessage {
                    room: post.room.clone(),
                    seq,
                    id: post.post_id.clone(),
                    author_id: post.author_id.clone(),
                    author,
                    author_handle,
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
