//! Retention on SQLite ([`SqliteStore::prune`](super::SqliteStore)): one step is one
//! `begin immediate` transaction on the writer, so it waits for a running batch and the
//! group commit waits for it, which is why a step is bounded ([`crate::store::retention`]).

use sqlx::sqlite::SqlitePool;

use crate::store::StoreError;
use crate::store::retention::{
    PruneStep, ROOMS_PER_STEP, RetentionRule, RoomCursor, RoomPlan, RoomRow,
};

/// The rooms of a step with their oldest kept message; each subquery is one probe of the
/// `(room_id, seq)` index.
const ROOMS: &str = "select r.room_id, r.head, \
     (select m.seq from message m where m.room_id = r.room_id order by m.seq limit 1) as oldest, \
     (select m.created_at from message m where m.room_id = r.room_id order by m.seq limit 1) \
     as oldest_created \
     from room r where r.room_id >= ? order by r.room_id limit ?";

/// The newest sequence up to a cap created before a cutoff (a range of the index).
const AGED: &str = "select max(seq) from message where room_id = ? and seq <= ? and created_at < ?";

/// Deletes a prefix of a room's log.
const DELETE: &str = "delete from message where room_id = ? and seq <= ?";

/// One step of retention (see [`crate::store::Store::prune`]).
pub(super) async fn step(
    writer: &SqlitePool,
    rule: &RetentionRule,
    from: RoomCursor,
    max_messages: u32,
) -> Result<PruneStep, StoreError> {
    let mut tx = writer.begin_with("begin immediate").await?;
    let rooms: Vec<RoomRow> = sqlx::query_as(ROOMS)
        .bind(from)
        .bind(i64::from(ROOMS_PER_STEP))
        .fetch_all(&mut *tx)
        .await?;
    let mut next = (rooms.len() == ROOMS_PER_STEP as usize)
        .then(|| rooms.last().map(|room| room.room_id + 1))
        .flatten();
    let mut budget = max_messages.max(1);
    let mut deleted = 0;
    for room in &rooms {
        let Some(plan) = RoomPlan::new(rule, room, budget) else {
            continue;
        };
        let aged = match plan.created_before() {
            Some(cutoff) => {
                sqlx::query_scalar(AGED)
                    .bind(plan.room_id())
                    .bind(plan.cap())
                    .bind(cutoff)
                    .fetch_one(&mut *tx)
                    .await?
            }
            None => None,
        };
        let Some((bound, count, more)) = plan.bound(aged) else {
            continue;
        };
        deleted += sqlx::query(DELETE)
            .bind(plan.room_id())
            .bind(bound)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        budget = budget.saturating_sub(count);
        if more || budget == 0 {
            // Go on with this room (more to delete) or the next one.
            next = Some(if more { room.room_id } else { room.room_id + 1 });
            break;
        }
    }
    tx.commit().await?;
    Ok(PruneStep {
        deleted,
        next,
        busy: false,
    })
}
