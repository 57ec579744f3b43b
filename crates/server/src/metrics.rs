//! Metrics at `GET /metrics` in the OpenMetrics text format (prometheus-client).
//!
//! Events on hot paths (a delivery, a post, a commit) cost one atomic add on a series
//! created at start — no lock and no label lookup per event. Values other parts already
//! keep (open connections, rooms, the broker's counters and state, the room watcher's
//! repairs) are read at scrape time by [`StateCollector`], not counted twice.
//! docs/operations.md lists every metric. Who may read them: [`access`]
//! (`metrics.bearer_token`, else loopback peers only).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tuitalk_protocol::ErrorCode;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::broker::{Broker, BrokerState};
use crate::config::Secret;
use crate::hub::Hub;
use crate::watcher::RoomWatcher;

/// The label of a refused post: its error code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

/// The label of a refusal by a limit: the limit's name.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

/// The label of an outcome (`sent`, `failed`, …).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The server's own counters and histograms, plus the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    /// WebSocket connections accepted (a connection slot was free).
    pub connections_opened: Counter,
    /// WebSocket connections closed at once because `limits.max_connections` was reached.
    pub connections_refused: Counter,
    /// WebSocket upgrades refused with HTTP 503 by `limits.accepts_per_second`.
    pub connections_throttled: Counter,
    /// Connections closed with 4000 because they read too slowly.
    pub slow_disconnects: Counter,
    /// `hello` refused (unsupported version or invalid token; close 4001).
    pub hello_failures: Counter,
    /// WebSocket upgrades and REST POSTs refused with 403 for their `Origin`.
    pub forbidden_origins: Counter,
    /// Posts stored for the first time.
    pub posts_stored: Counter,
    /// Posts answered with the original message of an earlier post with the same id.
    pub posts_duplicate: Counter,
    /// Posts refused, by error code (one series per code, created at start).
    refused: HashMap<ErrorCode, Counter>,
    /// Message frames handed to connections (each message once per receiving connection).
    pub deliveries: Counter,
    /// Posts per group-commit transaction.
    pub commit_batch_size: Histogram,
    /// Time of one group-commit transaction, in seconds.
    pub commit_seconds: Histogram,
    /// Group-commit transactions that failed (every post in them was refused).
    pub commit_failures: Counter,
    /// Connections and requests refused by a per-address or per-identity limit, by limit.
    limited: Family<LimitLabel, Counter>,
    /// Messages deleted by retention (`store/retention.rs`).
    pub retention_pruned: Counter,
    /// Login attempts with a password, by outcome (`ok`, `invalid_credentials`,
    /// `disabled`).
    logins: Family<OutcomeLabel, Counter>,
    /// Mails, by outcome (`sent`, `failed`, `dropped`).
    mails: Family<OutcomeLabel, Counter>,
    /// The store's size in bytes, as last read (`store/size.rs`).
    pub store_size_bytes: Gauge,
    /// 1 while the store's size is above `store.size_alarm_bytes`.
    pub store_size_alarm: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates every series. `collector` adds the values read at scrape time.
    pub fn new(collector: StateCollector) -> Self {
        let mut registry = Registry::with_prefix("tuitalk");
        let connections_opened = Counter::default();
        let connections_refused = Counter::default();
        let connections_throttled = Counter::default();
        let slow_disconnects = Counter::default();
        let hello_failures = Counter::default();
        let forbidden_origins = Counter::default();
        let posts_stored = Counter::default();
        let posts_duplicate = Counter::default();
        let deliveries = Counter::default();
        let commit_batch_size =
            Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]);
        let commit_seconds = Histogram::new([
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
        ]);
        let commit_failures = Counter::default();
        let limited = Family::<LimitLabel, Counter>::default();
        let retention_pruned = Counter::default();
        let logins = Family::<OutcomeLabel, Counter>::default();
        let mails = Family::<OutcomeLabel, Counter>::default();
        let store_size_bytes = Gauge::default();
        let store_size_alarm = Gauge::default();
        let refused_family = Family::<CodeLabel, Counter>::default();
        let refused = ErrorCode::ALL
            .iter()
            .map(|code| {
                let label = CodeLabel {
                    code: code.as_str(),
                };
                (*code, refused_family.get_or_create(&label).clone())
            })
            .collect();

        registry.register(
            "connections_opened",
            "WebSocket connections accepted",
            connections_opened.clone(),
        );
        registry.register(
            "connections_refused",
            "WebSocket connections refused at limits.max_connections (close 1013)",
            connections_refused.clone(),
        );
        registry.register(
            "connections_throttled",
            "WebSocket upgrades refused with HTTP 503 at limits.accepts_per_second",
            connections_throttled.clone(),
        );
        registry.register(
            "slow_consumer_disconnects",
            "connections closed with 4000 because they read too slowly",
            slow_disconnects.clone(),
        );
        registry.register(
            "hello_failures",
            "hello refused: unsupported version or invalid token (close 4001)",
            hello_failures.clone(),
        );
        registry.register(
            "forbidden_origins",
            "WebSocket upgrades and REST POSTs refused with 403 for their Origin header",
            forbidden_origins.clone(),
        );
        registry.register(
            "posts_stored",
            "posts stored for the first time (acknowledged after commit)",
            posts_stored.clone(),
        );
        registry.register(
            "posts_duplicate",
            "posts answered with the original message of an earlier post with the same id",
            posts_duplicate.clone(),
        );
        registry.register(
            "posts_refused",
            "posts refused, by error code",
            refused_family,
        );
        registry.register(
            "deliveries",
            "message frames handed to connections",
            deliveries.clone(),
        );
        registry.register(
            "commit_batch_size",
            "posts per group-commit transaction",
            commit_batch_size.clone(),
        );
        registry.register(
            "commit_duration_seconds",
            "duration of one group-commit transaction",
            commit_seconds.clone(),
        );
        registry.register(
            "commit_failures",
            "group-commit transactions that failed",
            commit_failures.clone(),
        );
        registry.register(
            "limited",
            "connections and requests refused by a per-address or per-identity limit, by limit (docs/security.md)",
            limited.clone(),
        );
        registry.register(
            "retention_pruned",
            "messages deleted by retention (store.retention_days, store.retention_messages)",
            retention_pruned.clone(),
        );
        registry.register(
            "logins",
            "login attempts with a password, by outcome (ok, invalid_credentials, disabled)",
            logins.clone(),
        );
        registry.register(
            "mail",
            "mails (password resets, verification), by outcome (sent, failed, dropped)",
            mails.clone(),
        );
        registry.register(
            "store_size_bytes",
            "size of the store in bytes (SQLite file and WAL, or pg_database_size)",
            store_size_bytes.clone(),
        );
        registry.register(
            "store_size_alarm",
            "1 while the store is larger than store.size_alarm_bytes",
            store_size_alarm.clone(),
        );
        registry.register_collector(Box::new(collector));
        Self {
            registry,
            connections_opened,
            connections_refused,
            connections_throttled,
            slow_disconnects,
            hello_failures,
            forbidden_origins,
            posts_stored,
            posts_duplicate,
            refused,
            deliveries,
            commit_batch_size,
            commit_seconds,
            commit_failures,
            limited,
            retention_pruned,
            logins,
            mails,
            store_size_bytes,
            store_size_alarm,
        }
    }

    /// Counts a refusal by the limit named `limit` (docs/security.md lists the names).
    pub fn limited(&self, limit: &'static str) {
        self.limited.get_or_create(&LimitLabel { limit }).inc();
    }

    /// Counts a login attempt with a password by its outcome.
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// Counts a mail by its outcome.
    pub fn mail(&self, outcome: &'static str) {
        self.mails.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// Counts a refused post.
    pub fn post_refused(&self, code: ErrorCode) {
        if let Some(counter) = self.refused.get(&code) {
            counter.inc();
        }
    }

    /// Records one group-commit transaction of `posts` posts that took `took`.
    pub fn commit(&self, posts: usize, took: Duration) {
        self.commit_batch_size.observe(posts as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Values kept elsewhere, read on each scrape.
#[derive(Debug)]
pub struct StateCollector {
    /// This backend's connections and rooms.
    pub hub: Arc<Hub>,
    /// The broker (state and counters).
    pub broker: Arc<dyn Broker>,
    /// The room watcher.
    pub watcher: Arc<RoomWatcher>,
}

/// Writes one constant counter.
fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// Writes one constant gauge.
fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> std::fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let e = &mut encoder;
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        gauge(
            e,
            "connections",
            "open WebSocket connections with a session",
            as_i64(self.hub.connection_count()),
        )?;
        gauge(
            e,
            "rooms",
            "rooms with at least one local connection",
            as_i64(self.hub.room_count()),
        )?;
        let degraded = self.broker.state() == BrokerState::Degraded;
        gauge(
            e,
            "broker_degraded",
            "1 while the broker cannot carry events and the store fallback does",
            i64::from(degraded),
        )?;
        let stats = self.broker.stats();
        counter(
            e,
            "broker_published",
            "events published to the broker",
            stats.published,
        )?;
        counter(
            e,
            "broker_publish_failures",
            "events the broker could not publish",
            stats.publish_failures,
        )?;
        counter(
            e,
            "broker_received",
            "events received from other backends",
            stats.received,
        )?;
        counter(
            e,
            "broker_duplicates",
            "received events dropped as duplicates",
            stats.duplicates,
        )?;
        counter(
            e,
            "broker_resubscribes",
            "completed resubscriptions after a broker disconnection",
            stats.resubscribes,
        )?;
        counter(
            e,
            "broker_dropped_pushes",
            "received events dropped because the receive queue was full",
            stats.dropped_pushes,
        )?;
        counter(
            e,
            "presence_pruned",
            "users found expired (their backend died) and announced as gone",
            stats.presence_pruned,
        )?;
        counter(
            e,
            "watcher_repairs",
            "messages the room watcher delivered from the store because the broker missed them",
            self.watcher.repairs(),
        )?;
        Ok(())
    }
}

/// Who may read `/metrics` (`metrics.bearer_token`): with a token, any peer that sends
/// `Authorization: Bearer TOKEN` (compared in constant time); without one, loopback peers
/// only. The same rule with or without Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Answer with the metrics.
    Granted,
    /// 401: the token is set and the request's is missing or wrong.
    BadToken,
    /// 403: no token is set and the peer is not on the loopback interface.
    NotLoopback,
}

/// The [`Access`] of a request from `peer` with the header `authorization`.
pub fn access(token: Option<&Secret>, peer: IpAddr, authorization: Option<&[u8]>) -> Access {
    match token {
        Some(token) => {
            let sent = authorization
                .and_then(|value| value.strip_prefix(b"Bearer "))
                .unwrap_or_default();
            // Comparing digests keeps the time independent of where they differ and of
            // the token's length.
            let expected = Sha256::digest(token.expose().as_bytes());
            let equal = Sha256::digest(sent).as_slice().ct_eq(expected.as_slice());
            if bool::from(equal) && authorization.is_some() {
                Access::Granted
            } else {
                Access::BadToken
            }
        }
        None if peer.to_canonical().is_loopback() => Access::Granted,
        None => Access::NotLoopback,
    }
}

/// `GET /metrics`: the OpenMetrics text format (what prometheus-client writes; Prometheus
/// asks for it first when scraping), for the peers [`access`] grants.
pub async fn handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    match access(
        state.config.metrics.bearer_token.as_ref(),
        peer.ip(),
        authorization,
    ) {
        Access::Granted => {}
        Access::BadToken => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics: send Authorization: Bearer <metrics.bearer_token>\n",
            )
                .into_response();
        }
        Access::NotLoopback => {
            tracing::debug!(%peer, "metrics refused: not a loopback peer");
            return (
                StatusCode::FORBIDDEN,
                "metrics: loopback peers only (set metrics.bearer_token to scrape from elsewhere)\n",
            )
                .into_response();
        }
    }
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_without_a_token() {
        let v4: IpAddr = [127, 0, 0, 1].into();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        let lan: IpAddr = [10, 0, 0, 5].into();
        assert_eq!(access(None, v4, None), Access::Granted);
        assert_eq!(access(None, mapped, None), Access::Granted);
        assert_eq!(
            access(None, IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), None),
            Access::Granted
        );
        assert_eq!(access(None, lan, None), Access::NotLoopback);
        assert_eq!(access(None, lan, Some(b"Bearer x")), Access::NotLoopback);
    }

    #[test]
    fn the_token_is_needed_from_everywhere() {
        let token = Secret::new("0123456789abcdef");
        let token = Some(&token);
        let lan: IpAddr = [10, 0, 0, 5].into();
        let v4: IpAddr = [127, 0, 0, 1].into();
        assert_eq!(
            access(token, lan, Some(b"Bearer 0123456789abcdef")),
            Access::Granted
        );
        assert_eq!(access(token, v4, None), Access::BadToken, "loopback too");
        assert_eq!(
            access(token, lan, Some(b"Bearer 0123456789abcdeX")),
            Access::BadToken
        );
        assert_eq!(access(token, lan, Some(b"Bearer ")), Access::BadToken);
        assert_eq!(
            access(token, lan, Some(b"0123456789abcdef")),
            Access::BadToken
        );
        assert_eq!(
            access(token, lan, Some(b"Basic 0123456789abcdef")),
            Access::BadToken
        );
    }
}
