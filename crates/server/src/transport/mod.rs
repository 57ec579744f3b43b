//! The WebSocket transport: `GET /ws` upgrades, one task per connection that reads and
//! writes frames, and nothing about what the commands mean.
//!
//! - [`upgrade`]: the `Origin` rule ([`crate::origin`]), admission
//!   (`limits.accepts_per_second`), the frame caps, the socket's
//!   buffers; [`serve`]: the connection slot (`limits.max_connections`), the session's
//!   cleanup, and the close (`slow_consumer` 4000 after the cleanup, the closing
//!   handshake).
//! - [`connection`]: the connection's loop — frames in (size, UTF-8, binary, the
//!   protocol-violation window, `hello` and idle timeouts, pings), commands started
//!   through [`crate::commands`] and their work polled alongside, room events from the
//!   bounded hub queue through the session's delivery rule, store pages of filling rooms
//!   read off the delivery path, and frames out, gathered and flushed once per burst.
//!
//! The hub queue holds at most `limits.send_queue` events and the posts awaiting their ack
//! are bounded the same way; while a write waits for a slow peer the hub queue fills, and
//! a reader too slow for it is closed with 4000 — a connection never makes the server's
//! memory grow. Input never panics the server: every frame is classified and refused with
//! an error code, or the connection is closed with the close code the protocol documents.

mod connection;

use std::net::IpAddr;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tuitalk_protocol::CloseCode;

use self::connection::Connection;
use crate::AppState;
use crate::edge::ClientAddr;
use crate::hub::event_queue;
use crate::occupancy::Held;

/// How long the writer keeps trying to deliver a close frame to a peer that does not read.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// How long to wait for the peer's answer to our close frame before dropping the socket.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);
/// The transport's hard cap is this many times `limits.max_frame_bytes`.
const HARD_CAP_FACTOR: usize = 4;

/// The socket's sending half.
type Sink = SplitSink<WebSocket, Message>;

/// `GET /ws`: upgrades to a WebSocket with the transport's hard frame cap and serves it.
/// Refused before the upgrade: 403 for a browser page of a foreign origin
/// ([`crate::origin`]); 429 with `Retry-After` when the client's address is above its
/// share of new connections (`limits.accepts_per_second_per_address`) or holds
/// `limits.max_connections_per_address` WebSockets; 503 with `Retry-After: 1` above
/// `limits.accepts_per_second`.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<Extension<ClientAddr>>,
) -> Response {
    if let Err(refused) = state.origins.check_ws(&headers, &uri) {
        state.metrics.forbidden_origins.inc();
        tracing::info!(reason = %refused, "WebSocket refused: foreign origin");
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "forbidden origin: {refused}; this server takes WebSocket connections from \
                 its own pages and the origins in web.allowed_origins only\n"
            ),
        )
            .into_response();
    }
    // Without the edge (a router served some other way) every client is one address.
    let address = client.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(c)| c.limit_key());
    let throttles = &state.throttles;
    if let Err(refusal) = throttles.accepts.check(&address) {
        let retry = refusal
            .retry_after_ms
            .unwrap_or(1000)
            .div_ceil(1000)
            .to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry)],
            "too many new connections from your address: try again later\n",
        )
            .into_response();
    }
    let Some(place) = throttles.ws_by_address.try_take(address) else {
        throttles.refused("connections_per_address");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "5".to_owned())],
            "too many connections from your address\n",
        )
            .into_response();
    };
    if !state.admit() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "too many new connections: try again later\n",
        )
            .into_response();
    }
    let cap = state.config.limits.max_frame_bytes as usize * HARD_CAP_FACTOR;
    let limits = &state.config.limits;
    ws.max_message_size(cap)
        .max_frame_size(cap)
        .read_buffer_size(limits.ws_read_buffer_bytes)
        .write_buffer_size(limits.ws_write_buffer_bytes)
        .on_upgrade(move |socket| {
            let tracker = state.tracker.clone();
            // Split before the connection's future is built, so the socket does not take
            // room in it for the connection's whole life.
            let (sink, stream) = socket.split();
            tracker.track_future(serve(sink, stream, state, (address, Some(place))))
        })
}

/// Serves one upgraded WebSocket, split into its halves, until it closes; `client` is the
/// client's address (limit key) and its place in `limits.max_connections_per_address`.
pub async fn serve(
    mut sink: Sink,
    mut stream: SplitStream<WebSocket>,
    state: AppState,
    client: (IpAddr, Option<Held<IpAddr>>),
) {
    if state.shutdown.is_cancelled() {
        let _ = sink
            .send(close_message(
                CloseCode::SERVICE_RESTART,
                "service restart: reconnect",
            ))
            .await;
        return;
    }
    let Some(slot) = state.try_connection_slot() else {
        tracing::warn!("connection limit reached; refusing");
        let _ = sink
            .send(close_message(
                CloseCode::TRY_AGAIN_LATER,
                "server full: try again later",
            ))
            .await;
        return;
    };
    let conn_id = state.hub.next_id();
    let span = tracing::info_span!("conn", conn = conn_id, user_id = tracing::field::Empty);
    async move {
        tracing::debug!("connected");
        let slow = CancellationToken::new();
        let (events_tx, events_rx) = event_queue(state.config.limits.send_queue);
        let metrics = state.metrics.clone();
        let mut connection = Connection::new(state, conn_id, sink, slow.clone(), events_tx, client);
        connection.run(&mut stream, events_rx).await;
        // The rest of the connection's state goes now; the socket stays for the close.
        let mut sink = Box::pin(connection.cleanup()).await;
        // A reader too slow for its queue hears why only now, after its rooms were
        // cleaned up: waiting for a peer that does not read must not delay that. If the
        // 4000 cannot be written within the grace, the socket is dropped (EOF) — never
        // replaced by a close without its code.
        let told = !slow.is_cancelled() || {
            metrics.slow_disconnects.inc();
            send_close(
                &mut sink,
                close_message(
                    CloseCode::SLOW_CONSUMER,
                    "slow_consumer: reconnect and resume",
                ),
            )
            .await
        };
        if told {
            let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
            // Finish the closing handshake: read until the peer's close (or a timeout), so
            // the close frame is not lost to a reset of a socket with unread data.
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                while let Some(Ok(message)) = stream.next().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        drop(slot);
        tracing::debug!("disconnected");
    }
    .instrument(span)
    .await;
}

/// A close frame.
fn close_message(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// Sends a close frame (after everything written before it), giving a peer that does
/// not read `CLOSE_GRACE` to take it; whether it was written.
async fn send_close(sink: &mut Sink, close: Message) -> bool {
    matches!(
        tokio::time::timeout(CLOSE_GRACE, sink.send(close)).await,
        Ok(Ok(()))
    )
}
