//! Limits that follow the person, not the socket: rates per client address and per
//! identity, shared by every connection and the REST API, and the concurrent caps of
//! WebSocket connections per address and per identity.
//!
//! Each rate is a keyed [`governor`] limiter ([`Rate`]) bounded to `limits.max_rate_keys`
//! keys: when full it forgets keys that are back to a full budget, and while it is still
//! full it refuses new keys (`rate_limited`, retry after a second) rather than grow. Every
//! refusal counts in `tuitalk_limited_total{limit}` under the rate's name;
//! docs/security.md lists them with their settings.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tuitalk_protocol::ErrorCode;

use crate::Config;
use crate::error::Refusal;
use crate::metrics::Metrics;
use crate::occupancy::Occupancy;

/// How long a client should wait when a limiter is full.
const FULL_RETRY_MS: u64 = 1000;

/// One keyed rate limit.
pub struct Rate<K: std::hash::Hash + Eq + Clone> {
    name: &'static str,
    what: &'static str,
    limiter: DefaultKeyedRateLimiter<K>,
    max_keys: usize,
    metrics: Arc<Metrics>,
}

impl<K: std::hash::Hash + Eq + Clone> std::fmt::Debug for Rate<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rate").field("name", &self.name).finish()
    }
}

impl<K: std::hash::Hash + Eq + Clone> Rate<K> {
    /// A limit named `name` (its metric label) allowing `quota`; `what` names the
    /// refused thing in the refusal's message ("posts", "joins").
    fn new(name: &'static str, what: &'static str, quota: Quota, limits: &Limits) -> Self {
        Self {
            name,
            what,
            limiter: RateLimiter::keyed(quota),
            max_keys: limits.max_keys,
            metrics: limits.metrics.clone(),
        }
    }

    /// Takes one unit of `key`'s budget, or refuses with `rate_limited` and how long to
    /// wait.
    pub fn check(&self, key: &K) -> Result<(), Refusal> {
        if self.limiter.len() >= self.max_keys {
            self.limiter.retain_recent();
            if self.limiter.len() >= self.max_keys {
                tracing::warn!(limit = self.name, max = self.max_keys, "rate limiter full");
                self.metrics.limited(self.name);
                let mut refusal = Refusal::new(
                    ErrorCode::RateLimited,
                    format!("too many {}: retry later", self.what),
                );
                refusal.retry_after_ms = Some(FULL_RETRY_MS);
                return Err(refusal);
            }
        }
        self.limiter.check_key(key).map_err(|not_until| {
            self.metrics.limited(self.name);
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut refusal = Refusal::new(
                ErrorCode::RateLimited,
                format!("too many {}: slow down", self.what),
            );
            refusal.retry_after_ms = Some((wait.as_millis() as u64).max(1));
            refusal
        })
    }
}

/// What every [`Rate`] is built with.
struct Limits {
    max_keys: usize,
    metrics: Arc<Metrics>,
}

/// Every per-address and per-identity limit.
#[derive(Debug)]
pub struct Throttles {
    /// New WebSocket connections per address (`limits.accepts_per_second_per_address`).
    pub accepts: Rate<IpAddr>,
    /// `hello` and REST session creations per address
    /// (`limits.sessions_per_minute_per_address`).
    pub sessions: Rate<IpAddr>,
    /// New guest identities per address (`limits.guests_per_hour_per_address`).
    pub guests: Rate<IpAddr>,
    /// Posts per address (`limits.posts_per_second_per_address`).
    pub posts_by_address: Rate<IpAddr>,
    /// Posts per identity, WebSocket and REST together (`limits.posts_per_second`).
    pub posts: Rate<String>,
    /// History pages per identity (`limits.history_per_second`).
    pub history: Rate<String>,
    /// Presence requests (`who`) per identity (`limits.presence_per_second`).
    pub presence: Rate<String>,
    /// Renames per identity (`limits.renames_per_minute`).
    pub renames: Rate<String>,
    /// Joins per identity (`limits.joins_per_minute`).
    pub joins: Rate<String>,
    /// Rooms created per identity (`limits.rooms_created_per_hour`).
    pub rooms_created: Rate<String>,
    /// Login attempts per address (`limits.logins_per_minute_per_address`).
    pub logins: Rate<IpAddr>,
    /// Login attempts per email address (`limits.logins_per_hour_per_account`).
    pub logins_by_account: Rate<String>,
    /// Registrations per address (`limits.registrations_per_hour_per_address`).
    pub registrations: Rate<IpAddr>,
    /// Mails asked for per address (`limits.mails_per_hour_per_address`).
    pub mails: Rate<IpAddr>,
    /// Mails per email address (`limits.mails_per_hour_per_account`).
    pub mails_by_account: Rate<String>,
    /// Open WebSocket connections per address (`limits.max_connections_per_address`).
    pub ws_by_address: Arc<Occupancy<IpAddr>>,
    /// Open WebSocket connections per identity (`limits.max_connections_per_identity`).
    pub ws_by_identity: Arc<Occupancy<String>>,
    metrics: Arc<Metrics>,
}

/// `n` as a non-zero quota count (validation keeps the settings positive).
fn count(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Throttles {
    /// The limits of `config`.
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Self {
        let l = &config.limits;
        let limits = Limits {
            max_keys: l.max_rate_keys,
            metrics: metrics.clone(),
        };
        let per_second = |n: u32| Quota::per_second(count(n)).allow_burst(count(n));
        let per_minute = |n: u32| Quota::per_minute(count(n)).allow_burst(count(n));
        let per_hour = |n: u32| Quota::per_hour(count(n)).allow_burst(count(n));
        Self {
            accepts: Rate::new(
                "accepts_per_address",
                "new connections from your address",
                per_second(l.accepts_per_second_per_address),
                &limits,
            ),
            sessions: Rate::new(
                "sessions_per_address",
                "sessions from your address",
                per_minute(l.sessions_per_minute_per_address),
                &limits,
            ),
            guests: Rate::new(
                "guests_per_address",
                "new guests from your address",
                per_hour(l.guests_per_hour_per_address),
                &limits,
            ),
            posts_by_address: Rate::new(
                "posts_per_address",
                "posts from your address",
                per_second(l.posts_per_second_per_address),
                &limits,
            ),
            posts: Rate::new(
                "posts_per_identity",
                "posts",
                per_second(l.posts_per_second),
                &limits,
            ),
            history: Rate::new(
                "history_per_identity",
                "history requests",
                per_second(l.history_per_second),
                &limits,
            ),
            presence: Rate::new(
                "presence_per_identity",
                "presence requests",
                per_second(l.presence_per_second),
                &limits,
            ),
            renames: Rate::new(
                "renames_per_identity",
                "renames",
                per_minute(l.renames_per_minute),
                &limits,
            ),
            joins: Rate::new(
                "joins_per_identity",
                "joins",
                per_minute(l.joins_per_minute),
                &limits,
            ),
            rooms_created: Rate::new(
                "rooms_created_per_identity",
                "new rooms",
                per_hour(l.rooms_created_per_hour),
                &limits,
            ),
            logins: Rate::new(
                "logins_per_address",
                "login attempts from your address",
                per_minute(l.logins_per_minute_per_address),
                &limits,
            ),
            logins_by_account: Rate::new(
                "logins_per_account",
                "login attempts for this account",
                per_hour(l.logins_per_hour_per_account),
                &limits,
            ),
            registrations: Rate::new(
                "registrations_per_address",
                "new accounts from your address",
                per_hour(l.registrations_per_hour_per_address),
                &limits,
            ),
            mails: Rate::new(
                "mails_per_address",
                "mails asked for from your address",
                per_hour(l.mails_per_hour_per_address),
                &limits,
            ),
            mails_by_account: Rate::new(
                "mails_per_account",
                "mails to this address",
                per_hour(l.mails_per_hour_per_account),
                &limits,
            ),
            ws_by_address: Occupancy::new(l.max_connections_per_address),
            ws_by_identity: Occupancy::new(l.max_connections_per_identity),
            metrics,
        }
    }

    /// A post by `user_id` from `address`: the identity's and the address's budgets.
    pub fn post(&self, user_id: &str, address: IpAddr) -> Result<(), Refusal> {
        self.posts.check(&user_id.to_owned())?;
        self.posts_by_address.check(&address)
    }

    /// Counts a refusal by a cap that is not a [`Rate`] (named as in docs/security.md).
    pub fn refused(&self, limit: &'static str) {
        self.metrics.limited(limit);
    }
}
