//! The HTTP edge: the accept loop and each TCP connection's HTTP/1.1 serving, with the
//! bounds a hostile client meets before any route runs.
//!
//! - Accepting: [`accept::Acceptor`] rides out descriptor exhaustion (a reserve
//!   descriptor, backoff); the soft `RLIMIT_NOFILE` is raised to the hard limit, and TCP
//!   connections beyond it minus `limits.reserved_fds` are closed at once, except those
//!   of loopback peers and trusted proxies (health checks, nginx), for which the reserve
//!   is kept.
//! - Per address: a peer that is not a trusted proxy holds at most
//!   `limits.max_connections_per_address` TCP connections ([`ClientAddr::limit_key`]:
//!   IPv6 by /64); more are closed at once.
//! - Timeouts: headers within `server.header_timeout_ms` (also the idle time between
//!   requests), bodies within `server.body_timeout_ms`, the whole request within
//!   `server.request_timeout_ms` (408), and a write to the peer that makes no progress for
//!   `server.write_timeout_ms` closes the connection (WebSockets included).
//! - Whose request: every request carries [`ConnectInfo`] (the socket's peer) and
//!   [`ClientAddr`] (the client, from `X-Real-IP`/`X-Forwarded-For` only when the peer is
//!   a trusted proxy, [`address`]).
//! - Shutdown: [`Edge::serve`] returns as soon as `shutdown` fires; every connection is
//!   then asked to finish its request in flight and close, and one that is still open
//!   when `hard_stop` fires (at the end of `server.shutdown_timeout_ms`) is dropped.

pub mod accept;
pub mod address;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

pub use address::{ClientAddr, TrustedProxies};

use crate::Config;
use crate::metrics::Metrics;
use crate::occupancy::{Held, Occupancy};
use accept::Acceptor;

/// The edge's settings and its per-address bookkeeping.
#[derive(Debug)]
pub struct Edge {
    proxies: TrustedProxies,
    header_timeout: Duration,
    write_timeout: Duration,
    /// TCP connections per peer address (not trusted proxies).
    per_peer: Arc<Occupancy<IpAddr>>,
    /// Open TCP connections, and the most allowed for peers that are neither loopback
    /// nor trusted proxies.
    open: AtomicU64,
    max_open: u64,
    metrics: Arc<Metrics>,
}

impl Edge {
    /// The edge for `config`; raises the descriptor limit and derives the connection cap
    /// from it.
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Arc<Self> {
        let fd_limit = accept::raise_fd_limit();
        let reserved = config.limits.reserved_fds;
        let max_open = fd_limit.map_or(u64::MAX, |limit| limit.saturating_sub(reserved).max(1));
        tracing::info!(
            fd_limit = fd_limit.unwrap_or(0),
            max_tcp_connections = max_open,
            "descriptor limit"
        );
        Arc::new(Self {
            // `Config::validate` checked the list.
            proxies: TrustedProxies::parse(&config.server.trusted_proxies).unwrap_or_default(),
            header_timeout: Duration::from_millis(config.server.header_timeout_ms),
            write_timeout: Duration::from_millis(config.server.write_timeout_ms),
            per_peer: Occupancy::new(config.limits.max_connections_per_address),
            open: AtomicU64::new(0),
            max_open,
            metrics,
        })
    }

    /// The trusted proxies.
    pub fn proxies(&self) -> &TrustedProxies {
        &self.proxies
    }

    /// The layers every route gets: the body and whole-request timeouts.
    pub fn layer(router: Router, config: &Config) -> Router {
        let server = &config.server;
        router
            .layer(RequestBodyTimeoutLayer::new(Duration::from_millis(
                server.body_timeout_ms,
            )))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_millis(server.request_timeout_ms),
            ))
    }

    /// Accepts connections and serves `router` on each until `shutdown` fires; returns
    /// then at once. Connection tasks are spawned on `tracker`; they finish their request
    /// in flight after `shutdown`, and are dropped when `hard_stop` fires.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        router: Router,
        tracker: TaskTracker,
        shutdown: CancellationToken,
        hard_stop: CancellationToken,
    ) {
        let mut acceptor = Acceptor::new(listener);
        loop {
            let (stream, peer) = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                accepted = acceptor.accept() => accepted,
            };
            let Some(admitted) = self.admit(peer.ip()) else {
                drop(stream);
                continue;
            };
            let edge = self.clone();
            let router = router.clone();
            let shutdown = shutdown.clone();
            let hard_stop = hard_stop.clone();
            tracker.spawn(async move {
                let _admitted = admitted;
                edge.serve_connection(stream, peer, router, shutdown, hard_stop)
                    .await;
            });
        }
    }

    /// Whether a TCP connection from `peer` may be served: within the per-address cap
    /// (trusted proxies exempt) and the descriptor budget (loopback and trusted proxies
    /// may use the reserve). Counts refusals.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admitted> {
        let privileged = peer.is_loopback() || self.proxies.contains(peer);
        let open = self.open.fetch_add(1, Ordering::AcqRel);
        let counted = OpenSlot(self.clone());
        if open >= self.max_open && !privileged {
            self.metrics.limited("tcp_descriptors");
            return None;
        }
        let held = if self.proxies.contains(peer) {
            None
        } else {
            match self.per_peer.try_take(address::limit_key(peer)) {
                Some(held) => Some(held),
                None => {
                    self.metrics.limited("tcp_per_address");
                    return None;
                }
            }
        };
        Some(Admitted {
            _open: counted,
            _held: held,
        })
    }

    /// Serves HTTP/1.1 (with upgrades) on one connection.
    async fn serve_connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        router: Router,
        shutdown: CancellationToken,
        hard_stop: CancellationToken,
    ) {
        // Small frames must leave at once: without TCP_NODELAY an ack can wait ~40 ms for
        // the peer's delayed ACK (Nagle).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let mut io = TimeoutStream::new(stream);
        io.set_write_timeout(Some(self.write_timeout));
        let io = TokioIo::new(Box::pin(io));
        let edge = self.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            let client = edge.proxies.client_of(peer.ip(), request.headers());
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(ClientAddr(client));
            router.clone().oneshot(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .serve_connection(io, service)
            .with_upgrades();
        tokio::pin!(connection);
        let finished = tokio::select! {
            result = connection.as_mut() => Some(result),
            () = shutdown.cancelled() => None,
        };
        let result = match finished {
            Some(result) => result,
            None => {
                connection.as_mut().graceful_shutdown();
                tokio::select! {
                    result = connection => result,
                    () = hard_stop.cancelled() => Ok(()),
                }
            }
        };
        if let Err(error) = result {
            tracing::debug!(%error, %peer, "HTTP connection ended");
        }
    }
}

/// A TCP connection's admission: its place in the open count and per-address cap.
struct Admitted {
    _open: OpenSlot,
    _held: Option<Held<IpAddr>>,
}

/// One counted open TCP connection.
struct OpenSlot(Arc<Edge>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}
