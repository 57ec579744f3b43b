//! The revocation check each backend runs (every `auth.revocation_check_ms`): it asks the
//! store which sessions were revoked lately and ends this backend's connections of them,
//! ends connections whose session passed its absolute end, and about once a minute marks
//! the sessions of live connections in use (so a connected client's session does not
//! end for being idle). Hourly it deletes sessions that ended a week ago.
//!
//! The store is the one channel: a revocation written by any backend (or by the operator
//! CLI, with no server running at all) reaches every backend within one interval, with
//! or without Redis. Each query looks back [`OVERLAP_MS`] beyond the previous one, so
//! backends whose clocks differ by less than that miss nothing; ending a connection
//! twice is harmless.

use std::collections::HashSet;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::AppState;

/// How far back (ms) beyond the previous check each check looks.
pub const OVERLAP_MS: i64 = 10_000;

/// Most revoked sessions read per check.
const MAX_PER_CHECK: u32 = 10_000;

/// How often (ms) live sessions are marked in use.
const TOUCH_EVERY_MS: i64 = 60_000;

/// How often (ms) ended sessions are deleted, and how long after their end (ms).
const PRUNE_EVERY_MS: i64 = 3_600_000;
const PRUNE_AFTER_MS: i64 = 7 * 24 * 3_600_000;

/// Starts the check; it ends at shutdown.
pub fn start(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let interval = Duration::from_millis(state.config.auth.revocation_check_ms);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let clock = state.auth.clock.clone();
        let mut since = clock.now_ms().saturating_sub(OVERLAP_MS);
        let mut touched = clock.now_ms();
        let mut pruned = i64::MIN;
        loop {
            tokio::select! {
                () = state.shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let now = clock.now_ms();
            match state.store.revoked_since(since, MAX_PER_CHECK).await {
                Ok(revoked) => {
                    since = now.saturating_sub(OVERLAP_MS);
                    if !revoked.is_empty() {
                        let revoked: HashSet<String> = revoked.into_iter().collect();
                        let ended = state.hub.end_sessions(&revoked, "session_revoked");
                        if ended > 0 {
                            tracing::info!(ended, "closed connections of revoked sessions");
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "cannot read revoked sessions"),
            }
            let expired = state.hub.end_expired(now);
            if expired > 0 {
                tracing::info!(expired, "closed connections of expired sessions");
            }
            if now.saturating_sub(touched) >= TOUCH_EVERY_MS {
                touched = now;
                let live = state.hub.live_sessions();
                for chunk in live.chunks(1000) {
                    if let Err(err) = state.store.touch_sessions(chunk, now).await {
                        tracing::warn!(error = %err, "cannot mark live sessions in use");
                        break;
                    }
                }
            }
            if now.saturating_sub(pruned) >= PRUNE_EVERY_MS {
                pruned = now;
                match state
                    .store
                    .prune_sessions(now.saturating_sub(PRUNE_AFTER_MS))
                    .await
                {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "deleted long-ended sessions and codes"),
                    Err(err) => tracing::warn!(error = %err, "cannot delete ended sessions"),
                }
            }
        }
    })
}
