//! Retention: deleting each room's oldest messages by age (`store.retention_days`) or by
//! count (`store.retention_messages`), off by default, the same for every room.
//!
//! Retention only ever deletes a prefix of a room's log: the messages with `seq <=` some
//! bound. So what a room keeps is always the contiguous range from its oldest kept
//! message up to its head, the head itself is never touched (sequence numbers are never
//! reused), and history pages, resumes and gap repairs ([`crate::session`],
//! [`crate::watcher`]) simply get what is left: a page asked from below the oldest kept
//! message starts at it.
//!
//! The work is bounded. A pass ([`pass`]) sweeps the rooms in steps
//! ([`Store::prune`](super::Store::prune)); one step looks at [`ROOMS_PER_STEP`] rooms and
//! deletes at most `store.retention_batch` messages in one short transaction, and a pass
//! stops after `store.retention_max_per_pass` messages (the sweep continues where it
//! stopped at the next pass, every `store.retention_interval_ms`). Between steps the
//! group commit gets the database, so a large backlog never blocks posting for long.
//!
//! Every backend runs the task. Deleting a prefix is idempotent, so concurrent passes
//! cannot harm each other; with PostgreSQL a transaction-scoped advisory lock
//! ([`PRUNE_LOCK`]) lets one backend prune at a time and the others skip their pass.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Store, StoreError};
use crate::config::StoreConfig;
use crate::metrics::Metrics;

/// Rooms one step looks at.
pub const ROOMS_PER_STEP: u32 = 100;

/// The PostgreSQL advisory lock key a pruning step holds (`pg_try_advisory_xact_lock`):
/// "tuitalk" in ASCII followed by 1.
pub const PRUNE_LOCK: i64 = (0x0074_7569_7461_6c6b_i64 << 8) | 1;

/// A day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// A pause between two steps of a pass, leaving the database to the group commit.
const STEP_PAUSE: Duration = Duration::from_millis(2);

/// What retention deletes in every room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionRule {
    /// Messages created before this time (milliseconds since the Unix epoch) go.
    pub created_before: Option<i64>,
    /// Each room keeps only its newest this many messages.
    pub keep_newest: Option<u64>,
}

impl RetentionRule {
    /// The rule of the configuration at time `now_ms`; `None` when retention is off.
    pub fn from_config(config: &StoreConfig, now_ms: i64) -> Option<Self> {
        let rule = Self {
            created_before: (config.retention_days > 0)
                .then(|| now_ms.saturating_sub(i64::from(config.retention_days) * DAY_MS)),
            keep_newest: (config.retention_messages > 0).then_some(config.retention_messages),
        };
        (rule.created_before.is_some() || rule.keep_newest.is_some()).then_some(rule)
    }
}

/// Where a sweep through the rooms stands: the lowest internal room id still to look at.
pub type RoomCursor = i64;

/// The outcome of one [`Store::prune`](super::Store::prune) step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneStep {
    /// Messages deleted.
    pub deleted: u64,
    /// Where the next step starts; `None` once the sweep passed the last room.
    pub next: Option<RoomCursor>,
    /// Another backend holds the pruning lock (PostgreSQL): nothing was done.
    pub busy: bool,
}

/// A room as a step sees it.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct RoomRow {
    /// The internal room id (the sweep's order).
    pub room_id: i64,
    /// The room's head sequence.
    pub head: i64,
    /// The room's oldest kept sequence; `None` when it keeps no message.
    pub oldest: Option<i64>,
    /// When the oldest kept message was created.
    pub oldest_created: Option<i64>,
}

/// What a step does in one room: delete `seq <= bound`, at most `cap - oldest + 1`
/// messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPlan {
    room_id: i64,
    oldest: i64,
    cap: i64,
    by_count: Option<i64>,
    created_before: Option<i64>,
}

impl RoomPlan {
    /// The plan for `room` with `budget` (at least 1) messages left in the step; `None`
    /// when the rule keeps everything the room has.
    pub fn new(rule: &RetentionRule, room: &RoomRow, budget: u32) -> Option<Self> {
        let oldest = room.oldest?;
        let by_count = rule
            .keep_newest
            .map(|n| {
                room.head
                    .saturating_sub(i64::try_from(n).unwrap_or(i64::MAX))
            })
            .filter(|bound| *bound >= oldest);
        let created_before = rule
            .created_before
            .filter(|cutoff| room.oldest_created.is_some_and(|c| c < *cutoff));
        if by_count.is_none() && created_before.is_none() {
            return None;
        }
        Some(Self {
            room_id: room.room_id,
            oldest,
            cap: oldest.saturating_add(i64::from(budget.max(1)) - 1),
            by_count,
            created_before,
        })
    }

    /// The room.
    pub fn room_id(&self) -> i64 {
        self.room_id
    }

    /// The highest sequence the step may delete in this room.
    pub fn cap(&self) -> i64 {
        self.cap
    }

    /// The age cutoff to ask about: the caller reads the newest sequence `<= cap()`
    /// created before it and hands it to [`bound`](Self::bound).
    pub fn created_before(&self) -> Option<i64> {
        self.created_before
    }

    /// What to delete given `aged` (the newest sequence up to the cap created before the
    /// cutoff): `seq <= bound`, the number of messages that is, and whether the room has
    /// more to delete after it. `None` when nothing goes.
    pub fn bound(&self, aged: Option<i64>) -> Option<(i64, u32, bool)> {
        let bound = self.by_count.max(aged)?.min(self.cap);
        if bound < self.oldest {
            return None;
        }
        let more = bound == self.cap && (self.by_count > Some(self.cap) || aged == Some(self.cap));
        let count = u32::try_from(bound - self.oldest + 1).unwrap_or(u32::MAX);
        Some((bound, count, more))
    }
}

/// One pass: steps through the rooms from `cursor` until the sweep ends, another backend
/// holds the lock, or `max_messages` were deleted; `cursor` is where the next pass goes
/// on. Returns the messages deleted.
pub async fn pass(
    store: &dyn Store,
    rule: &RetentionRule,
    cursor: &mut RoomCursor,
    batch: u32,
    max_messages: u64,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    while deleted < max_messages {
        let budget = u32::try_from(max_messages - deleted)
            .unwrap_or(u32::MAX)
            .min(batch.max(1));
        let step = store.prune(rule, *cursor, budget).await?;
        deleted += step.deleted;
        if step.busy {
            break;
        }
        match step.next {
            Some(next) => *cursor = next,
            None => {
                *cursor = 0;
                break;
            }
        }
        tokio::time::sleep(STEP_PAUSE).await;
    }
    Ok(deleted)
}

/// Starts the retention task when `store.retention_days` or `store.retention_messages`
/// is set: a pass at once, then one every `store.retention_interval_ms`, until
/// `shutdown` fires.
pub fn start(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    config: &StoreConfig,
    shutdown: CancellationToken,
) -> Option<JoinHandle<()>> {
    RetentionRule::from_config(config, super::now_ms())?;
    let config = config.clone();
    Some(tokio::spawn(async move {
        let interval = Duration::from_millis(config.retention_interval_ms.max(1));
        let mut cursor = 0;
        let mut failing = false;
        while let Some(rule) = RetentionRule::from_config(&config, super::now_ms()) {
            let pruning = pass(
                &*store,
                &rule,
                &mut cursor,
                config.retention_batch,
                config.retention_max_per_pass,
            );
            let outcome = tokio::select! {
                () = shutdown.cancelled() => break,
                outcome = pruning => outcome,
            };
            match outcome {
                Ok(deleted) => {
                    metrics.retention_pruned.inc_by(deleted);
                    if deleted > 0 {
                        tracing::debug!(deleted, "retention pass");
                    }
                    failing = false;
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "retention pass failed; retrying next interval");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
            }
        }
        tracing::debug!("retention stopped");
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(head: i64, oldest: i64, created: i64) -> RoomRow {
        RoomRow {
            room_id: 7,
            head,
            oldest: Some(oldest),
            oldest_created: Some(created),
        }
    }

    #[test]
    fn plans_delete_a_bounded_prefix() {
        let count = RetentionRule {
            created_before: None,
            keep_newest: Some(10),
        };
        // Head 100, keep 10: up to 90 goes, 5 per step at most.
        let plan = RoomPlan::new(&count, &room(100, 1, 0), 5).expect("plan");
        assert_eq!(plan.created_before(), None);
        assert_eq!(plan.bound(None), Some((5, 5, true)));
        let plan = RoomPlan::new(&count, &room(100, 86, 0), 5).expect("plan");
        assert_eq!(plan.bound(None), Some((90, 5, false)));
        assert_eq!(RoomPlan::new(&count, &room(100, 91, 0), 5), None);
        assert_eq!(RoomPlan::new(&count, &room(5, 1, 0), 5), None);
        let empty = RoomRow {
            oldest: None,
            oldest_created: None,
            ..room(5, 1, 0)
        };
        assert_eq!(RoomPlan::new(&count, &empty, 5), None);

        let age = RetentionRule {
            created_before: Some(1000),
            keep_newest: None,
        };
        assert_eq!(RoomPlan::new(&age, &room(100, 1, 1000), 5), None, "young");
        let plan = RoomPlan::new(&age, &room(100, 1, 999), 5).expect("plan");
        assert_eq!(plan.created_before(), Some(1000));
        assert_eq!(plan.cap(), 5);
        assert_eq!(plan.bound(Some(3)), Some((3, 3, false)));
        assert_eq!(plan.bound(Some(5)), Some((5, 5, true)), "maybe more");
        assert_eq!(plan.bound(None), None);

        // Both rules: the further bound wins.
        let both = RetentionRule {
            created_before: Some(1000),
            keep_newest: Some(98),
        };
        let plan = RoomPlan::new(&both, &room(100, 1, 0), 50).expect("plan");
        assert_eq!(plan.bound(Some(1)), Some((2, 2, false)));
        assert_eq!(plan.bound(Some(7)), Some((7, 7, false)));
    }

    #[test]
    fn the_rule_follows_the_settings() {
        let mut config = StoreConfig::default();
        assert_eq!(
            RetentionRule::from_config(&config, 0),
            None,
            "off by default"
        );
        config.retention_days = 2;
        config.retention_messages = 5;
        let rule = RetentionRule::from_config(&config, 10 * DAY_MS).expect("on");
        assert_eq!(rule.created_before, Some(8 * DAY_MS));
        assert_eq!(rule.keep_newest, Some(5));
    }
}
