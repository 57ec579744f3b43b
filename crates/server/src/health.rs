//! The health checks: `/healthz` (the process is alive) and `/readyz` (the store
//! answers; used by load balancer health checks). `/metrics` is served by
//! [`crate::metrics`], the REST API by [`crate::rest`].

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;
use crate::broker::BrokerState;

/// How long `/readyz` waits for the store before answering 503.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: always 200 `ok` while the process serves HTTP.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the store answers, 503 otherwise (also while shutting down, so
/// load balancers stop sending new clients). The body is `ready`, or `ready (broker
/// degraded)` while Redis is unreachable: messages then flow through the store, so the
/// backend still serves. The broker itself never makes a backend unready.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => match state.broker.state() {
            BrokerState::Connected => (StatusCode::OK, "ready"),
            BrokerState::Degraded => (StatusCode::OK, "ready (broker degraded)"),
        },
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readyz: store not usable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
    }
}
