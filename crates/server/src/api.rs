//! HTTP endpoints other than the WebSocket: `/healthz` (the process is alive) and
//! `/readyz` (the store and the broker answer; used by load balancer health checks).
//! `/metrics` is served by [`crate::metrics`].

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;
use crate::broker::BrokerState;

/// How long `/readyz` waits for the store and broker before answering 503.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: always 200 `ok` while the process serves HTTP.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the store and the broker answer, 503 otherwise (also while
/// shutting down, so load balancers stop sending new clients). The body is `ready`, or
/// `ready (broker degraded)` while Redis is unreachable: messages then flow through the
/// store, so the backend still serves.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let check = async {
        let store = state.store.ping().await;
        let broker = state.broker.ping().await;
        (store, broker)
    };
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok((Ok(()), Ok(()))) => match state.broker.state() {
            BrokerState::Connected => (StatusCode::OK, "ready"),
            BrokerState::Degraded => (StatusCode::OK, "ready (broker degraded)"),
        },
        Ok((Err(err), _)) => {
            tracing::warn!(error = %err, "readyz: store not usable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
        Ok((_, Err(err))) => {
            tracing::warn!(error = %err, "readyz: broker not usable");
            (StatusCode::SERVICE_UNAVAILABLE, "broker unavailable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
    }
}
