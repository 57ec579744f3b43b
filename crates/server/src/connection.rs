//! One WebSocket connection: framing and transport limits, the `hello` handshake, pings
//! and idle detection, rate limiting, and the command loop.
//!
//! One task per connection reads frames, runs commands, takes events from its hub queue
//! (applying the session's delivery rule) and writes outbound frames to the socket itself:
//! frames are gathered in the WebSocket's write buffer and flushed once per burst. The hub
//! queue holds at most `limits.send_queue` events and the posts awaiting their ack are
//! bounded the same way; while a write waits for a slow peer the hub queue fills, and a
//! reader too slow for it is closed with 4000 — a connection never makes the server's
//! memory grow. One task and one queue per connection keep an idle connection small.
//!
//! Input never panics the server: every frame is classified and refused with an error
//! code, or the connection is closed with the close code the protocol documents.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::OptionFuture;
use futures_util::stream::{FuturesOrdered, SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tuitalk_protocol::{
    ClientCommand, CloseCode, ErrorCode, Member, PROTOCOL_VERSION, Seq, ServerEvent,
    decode_command, encode_event, name,
};

use crate::AppState;
use crate::broker::BrokerEvent;
use crate::error::Refusal;
use crate::hub::{ConnId, Delivery, EventReceiver, EventSender, event_queue};
use crate::ops;
use crate::session::{Decision, Session, decide};
use crate::store::commit::PostResult;
use crate::store::{NewPost, now_ms};

/// How long the writer keeps trying to deliver a close frame to a peer that does not read.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// How long to wait for the peer's answer to our close frame before dropping the socket.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);
/// The transport's hard cap is this many times `limits.max_frame_bytes`.
const HARD_CAP_FACTOR: usize = 4;
/// The window over which protocol violations are counted.
/// Most queued frames written before one flush.
const WRITE_BURST: usize = 64;

const ERROR_WINDOW: Duration = Duration::from_secs(60);

/// `GET /ws`: upgrades to a WebSocket with the transport's hard frame cap and serves it,
/// or refuses with 503 and `Retry-After: 1` above `limits.accepts_per_second`.
pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
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
            tracker.track_future(serve(sink, stream, state))
        })
}

/// Serves one upgraded WebSocket, split into its halves, until it closes.
pub async fn serve(
    mut sink: SplitSink<WebSocket, Message>,
    mut stream: SplitStream<WebSocket>,
    state: AppState,
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
        let send_queue = state.config.limits.send_queue;
        let slow = CancellationToken::new();
        let (events_tx, events_rx) = event_queue(send_queue);
        let mut connection = Connection::new(state, conn_id, sink, slow, events_tx);
        connection.run(&mut stream, events_rx).await;
        Box::pin(connection.cleanup()).await;
        // The rest of the connection's state goes now; the socket stays for the close.
        let slow = connection.slow.clone();
        let state_metrics = connection.state.metrics.clone();
        let mut sink = {
            let Connection { sink, .. } = connection;
            sink.into_inner()
        };
        if slow.is_cancelled() {
            state_metrics.slow_disconnects.inc();
            // A reader too slow for its queue hears why only now, after its rooms were
            // cleaned up: waiting for a peer that does not read must not delay that.
            send_close(&mut sink, slow_close()).await;
        }
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
        drop(slot);
        tracing::debug!("disconnected");
    }
    .instrument(span)
    .await;
}

fn close_message(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// The close frame for a slow consumer.
fn slow_close() -> Message {
    close_message(
        CloseCode::SLOW_CONSUMER,
        "slow_consumer: reconnect and resume",
    )
}

/// Sends a close frame, giving a peer that does not read `CLOSE_GRACE` to take it.
async fn send_close(sink: &mut SplitSink<WebSocket, Message>, close: Message) {
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(close)).await;
}

/// An outbound frame other than a text frame.
#[derive(Debug)]
enum Outbound {
    /// A text frame.
    Frame(Utf8Bytes),
    /// A WebSocket ping.
    Ping,
}

/// The connection ends (the reason was already logged or sent).
#[derive(Debug)]
struct Stop;

/// An acknowledgement being awaited: room, post id, outcome.
type AckFuture = Pin<Box<dyn Future<Output = (String, String, PostResult)> + Send + Sync>>;

/// Counts protocol violations per minute.
#[derive(Debug)]
struct ErrorWindow {
    started: Instant,
    count: u32,
}

impl ErrorWindow {
    /// Counts one violation; returns whether the limit is now exceeded.
    fn record(&mut self, max: u32) -> bool {
        if self.started.elapsed() > ERROR_WINDOW {
            self.started = Instant::now();
            self.count = 0;
        }
        self.count += 1;
        self.count > max
    }
}

/// The connection task's state.
struct Connection {
    state: AppState,
    conn_id: ConnId,
    /// The socket's sending half; only this task writes, the lock is never contended
    /// (it lets `&self` methods send).
    sink: tokio::sync::Mutex<SplitSink<WebSocket, Message>>,
    slow: CancellationToken,
    /// The hub queue's sender until the connection registers with the hub at `hello`.
    events_tx: Option<EventSender>,
    session: Option<Session>,
    /// Posts awaiting their outcome, in arrival order; allocated while there are any, so
    /// a connection that does not post carries none.
    pending: Option<FuturesOrdered<AckFuture>>,
    limiter: DefaultDirectRateLimiter,
    errors: ErrorWindow,
    last_seen: Instant,
}

/// The context of a command, copied into its error event.
#[derive(Debug, Default, Clone)]
struct Context {
    command: Option<&'static str>,
    room: Option<String>,
    id: Option<String>,
}

impl Context {
    fn of(command: &ClientCommand) -> Self {
        let (room, id) = match command {
            ClientCommand::Join { room, .. }
            | ClientCommand::Leave { room }
            | ClientCommand::History { room, .. }
            | ClientCommand::Who { room } => (Some(room.clone()), None),
            ClientCommand::Post { room, id, .. } => (Some(room.clone()), Some(id.clone())),
            _ => (None, None),
        };
        Self {
            command: Some(command.kind()),
            room,
            id,
        }
    }
}

impl Connection {
    fn new(
        state: AppState,
        conn_id: ConnId,
        sink: SplitSink<WebSocket, Message>,
        slow: CancellationToken,
        events_tx: EventSender,
    ) -> Self {
        let rate = NonZeroU32::new(state.config.limits.posts_per_second).unwrap_or(NonZeroU32::MIN);
        Self {
            conn_id,
            sink: tokio::sync::Mutex::new(sink),
            slow,
            events_tx: Some(events_tx),
            session: None,
            pending: None,
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(rate)),
            errors: ErrorWindow {
                started: Instant::now(),
                count: 0,
            },
            last_seen: Instant::now(),
            state,
        }
    }

    /// The command loop.
    ///
    /// Command handling, post answers, gap repair and shutdown run in futures of their
    /// own (boxed while they run), so an idle connection's task stays small.
    async fn run(&mut self, stream: &mut SplitStream<WebSocket>, mut events: EventReceiver) {
        let limits = &self.state.config.limits;
        // One timer: the hello deadline until the session exists, then the ping interval.
        let timer = tokio::time::sleep(Duration::from_millis(limits.hello_timeout_ms));
        tokio::pin!(timer);
        let mut pinging = false;
        let ping_every = Duration::from_millis(limits.ping_interval_ms);
        let idle_after = Duration::from_millis(limits.idle_timeout_ms);
        let max_pending = limits.send_queue;
        let shutdown = self.state.shutdown.clone();
        let slow = self.slow.clone();
        loop {
            let step = tokio::select! {
                biased;
                () = slow.cancelled() => Err(Stop),
                () = shutdown.cancelled() => Box::pin(self.shut_down()).await,
                () = &mut timer => {
                    timer.as_mut().reset(tokio::time::Instant::now() + ping_every);
                    if self.session.is_none() {
                        tracing::info!("no hello in time");
                        self.close(CloseCode::HELLO_TIMEOUT, "hello_timeout").await
                    } else if self.last_seen.elapsed() > idle_after {
                        tracing::info!("idle timeout");
                        self.close(CloseCode::IDLE_TIMEOUT, "idle_timeout").await
                    } else {
                        self.push(Outbound::Ping).await
                    }
                }
                Some(Some((room, id, outcome))) = OptionFuture::from(
                    self.pending.as_mut().map(StreamExt::next)
                ), if self.pending_len() > 0 => {
                    if self.pending_len() == 0 {
                        self.pending = None;
                    }
                    Box::pin(self.answer_post(room, id, outcome)).await
                }
                Some(delivery) = events.recv() => {
                    // Everything already queued goes out in the same burst, then one flush.
                    // Events come in runs (a stored batch, a burst from Redis): when this
                    // one came alone, let the producer finish its run first, so one write
                    // carries the run instead of one write per event.
                    if events.is_empty() {
                        tokio::task::yield_now().await;
                    }
                    let mut step = self.deliver(&delivery).await;
                    for _ in 1..WRITE_BURST {
                        if step.is_err() {
                            break;
                        }
                        let Ok(delivery) = events.try_recv() else { break };
                        step = self.deliver(&delivery).await;
                    }
                    step
                }
                frame = stream.next(), if self.pending_len() < max_pending => {
                    Box::pin(self.on_frame(frame)).await
                }
            };
            if step.is_err() || self.flush().await.is_err() {
                break;
            }
            if !pinging && self.session.is_some() {
                // The hello arrived: from now on the timer paces the pings.
                pinging = true;
                timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + ping_every);
            }
        }
    }

    /// How many posts await their outcome.
    fn pending_len(&self) -> usize {
        self.pending.as_ref().map_or(0, FuturesOrdered::len)
    }

    /// Graceful shutdown: acknowledge in-flight posts, then close with 1012.
    async fn shut_down(&mut self) -> Result<(), Stop> {
        while let Some(pending) = self.pending.as_mut()
            && let Some((room, id, outcome)) = pending.next().await
        {
            self.answer_post(room, id, outcome).await?;
        }
        self.close(CloseCode::SERVICE_RESTART, "service restart: reconnect")
            .await
    }

    /// Leaves every room (presence, hub, broker) after the connection ended.
    async fn cleanup(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let rooms: Vec<String> = session.rooms.keys().cloned().collect();
        for room in rooms {
            self.leave_locally(&session, &room).await;
        }
        for room in self.state.hub.unregister(self.conn_id) {
            if let Err(err) = self.state.broker.unsubscribe(&room).await {
                tracing::warn!(error = %err, room, "unsubscribe failed");
            }
        }
    }

    /// Removes this connection from a room's hub subscribers and presence, publishing
    /// `user_left` when it was the user's last connection there.
    async fn leave_locally(&self, session: &Session, room: &str) {
        if self.state.hub.leave(self.conn_id, room)
            && let Err(err) = self.state.broker.unsubscribe(room).await
        {
            tracing::warn!(error = %err, room, "unsubscribe failed");
        }
        match self
            .state
            .broker
            .presence_remove(room, &session.user.user_id, self.conn_id)
            .await
        {
            Ok(Some(member)) => {
                let event = BrokerEvent::UserLeft {
                    room: room.to_owned(),
                    user_id: member.user_id,
                    name: member.name,
                };
                if let Err(err) = self.state.broker.publish(event).await {
                    tracing::warn!(error = %err, room, "publishing user_left failed");
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, room, "presence removal failed"),
        }
    }

    /// Writes an outbound frame into the socket's write buffer (written out when the
    /// buffer fills or at the next [`flush`](Self::flush)). Waits while the peer does not
    /// read; meanwhile the hub queue fills and the slow-consumer rule applies: the
    /// connection ends, and after its cleanup the close 4000 follows the frame in progress.
    async fn push(&self, item: Outbound) -> Result<(), Stop> {
        let message = match item {
            Outbound::Frame(frame) => Message::Text(frame),
            Outbound::Ping => Message::Ping(Default::default()),
        };
        let mut sink = self.sink.lock().await;
        tokio::select! {
            biased;
            () = self.slow.cancelled() => Err(Stop),
            fed = sink.feed(message) => fed.map_err(|_| Stop),
        }
    }

    /// Writes out whatever [`push`](Self::push) gathered.
    async fn flush(&self) -> Result<(), Stop> {
        let mut sink = self.sink.lock().await;
        tokio::select! {
            biased;
            () = self.slow.cancelled() => Err(Stop),
            flushed = sink.flush() => flushed.map_err(|_| Stop),
        }
    }

    async fn send(&self, event: &ServerEvent) -> Result<(), Stop> {
        self.push(Outbound::Frame(Utf8Bytes::from(encode_event(event))))
            .await
    }

    /// Sends a close frame (after everything written before it) and ends the connection.
    async fn close(&self, code: u16, reason: &'static str) -> Result<(), Stop> {
        let mut sink = self.sink.lock().await;
        send_close(&mut sink, close_message(code, reason)).await;
        Err(Stop)
    }

    /// Sends an `error` event for a refused command.
    async fn refuse(&self, context: &Context, refusal: Refusal) -> Result<(), Stop> {
        tracing::debug!(code = %refusal.code, command = ?context.command, room = ?context.room, "refused");
        if context.command == Some("post") {
            self.state.metrics.post_refused(refusal.code);
        }
        self.send(&ServerEvent::Error {
            code: refusal.code,
            message: refusal.message,
            command: context.command.map(str::to_owned),
            room: context.room.clone(),
            id: context.id.clone(),
            retry_after_ms: refusal.retry_after_ms,
        })
        .await
    }

    /// Refuses a protocol violation and closes with 1008 once there were too many.
    async fn violation(&mut self, context: &Context, refusal: Refusal) -> Result<(), Stop> {
        self.refuse(context, refusal).await?;
        if self
            .errors
            .record(self.state.config.limits.max_errors_per_minute)
        {
            tracing::info!("too many protocol violations");
            return self
                .close(CloseCode::POLICY, "too many protocol violations")
                .await;
        }
        Ok(())
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Result<(), Stop> {
        let message = match frame {
            None => return Err(Stop),
            Some(Ok(message)) => message,
            Some(Err(err)) => return self.on_transport_error(err).await,
        };
        self.last_seen = Instant::now();
        match message {
            Message::Text(text) => {
                let max = self.state.config.limits.max_frame_bytes as usize;
                if text.len() > max {
                    let refusal = Refusal::new(
                        ErrorCode::FrameTooLarge,
                        format!("frame of {} bytes exceeds {max}", text.len()),
                    );
                    return self.violation(&Context::default(), refusal).await;
                }
                match decode_command(&text) {
                    Ok(command) => self.on_command(command).await,
                    Err(err) => {
                        let context = Context {
                            command: err.command.as_deref().and_then(|kind| {
                                ClientCommand::KINDS.iter().copied().find(|k| *k == kind)
                            }),
                            ..Context::default()
                        };
                        self.violation(&context, Refusal::new(err.code, err.message))
                            .await
                    }
                }
            }
            Message::Binary(_) => {
                let refusal = Refusal::new(
                    ErrorCode::BinaryFrame,
                    "binary frames are not supported; send JSON text frames",
                );
                self.violation(&Context::default(), refusal).await
            }
            Message::Ping(_) | Message::Pong(_) => Ok(()),
            Message::Close(_) => Err(Stop),
        }
    }

    /// A read error: invalid UTF-8 (error then 1007), a frame above the hard cap (1009),
    /// or a broken transport.
    async fn on_transport_error(&mut self, err: axum::Error) -> Result<(), Stop> {
        use tokio_tungstenite::tungstenite::Error as WsError;
        let inner = err.into_inner();
        match inner.downcast_ref::<WsError>() {
            Some(WsError::Utf8(_)) => {
                let refusal = Refusal::new(ErrorCode::InvalidUtf8, "frame is not valid UTF-8");
                let _ = self.refuse(&Context::default(), refusal).await;
                self.close(CloseCode::INVALID_PAYLOAD, "invalid_utf8").await
            }
            Some(WsError::Capacity(cap)) => {
                tracing::info!(error = %cap, "frame above the hard cap");
                self.close(CloseCode::TOO_BIG, "frame too large").await
            }
            _ => {
                tracing::debug!(error = %inner, "transport error");
                Err(Stop)
            }
        }
    }

    async fn on_command(&mut self, command: ClientCommand) -> Result<(), Stop> {
        let context = Context::of(&command);
        if self.session.is_none() {
            return match command {
                ClientCommand::Hello {
                    version,
                    token,
                    name,
                } => self.hello(&context, version, token, name).await,
                _ => {
                    let refusal = Refusal::new(ErrorCode::NotAuthenticated, "send hello first");
                    self.violation(&context, refusal).await
                }
            };
        }
        let result = match command {
            ClientCommand::Hello { .. } => {
                let refusal =
                    Refusal::new(ErrorCode::AlreadyAuthenticated, "hello was already sent");
                return self.violation(&context, refusal).await;
            }
            ClientCommand::Ping { nonce } => Ok(self.send(&ServerEvent::Pong { nonce }).await),
            ClientCommand::Join { room, since } => self.join(room, since).await,
            ClientCommand::Leave { room } => self.leave(room).await,
            ClientCommand::Post { room, id, text } => self.post(room, id, text).await,
            ClientCommand::Name { name } => self.rename(name).await,
            ClientCommand::History {
                room,
                before,
                limit,
            } => self.history(room, before, limit).await,
            ClientCommand::Who { room } => self.who(room).await,
        };
        match result {
            Ok(step) => step,
            Err(refusal) => self.refuse(&context, refusal).await,
        }
    }

    fn session(&self) -> Result<&Session, Refusal> {
        self.session
            .as_ref()
            .ok_or_else(|| Refusal::new(ErrorCode::NotAuthenticated, "send hello first"))
    }

    fn joined_session(&self, room: &str) -> Result<&Session, Refusal> {
        name::validate_room(room)?;
        let session = self.session()?;
        if !session.has_joined(room) {
            return Err(ErrorCode::NotJoined.into());
        }
        Ok(session)
    }

    async fn hello(
        &mut self,
        context: &Context,
        version: u32,
        token: Option<String>,
        wanted: Option<String>,
    ) -> Result<(), Stop> {
        if version != PROTOCOL_VERSION {
            let refusal = Refusal::new(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}"),
            );
            let _ = self.refuse(context, refusal).await;
            self.state.metrics.hello_failures.inc();
            return self
                .close(CloseCode::HELLO_FAILED, "unsupported_version")
                .await;
        }
        let user = match token {
            Some(token) => match ops::user_of_token(&self.state, &token).await {
                Ok(user) => user,
                Err(refusal) if refusal.code == ErrorCode::InvalidToken => {
                    let _ = self.refuse(context, refusal).await;
                    self.state.metrics.hello_failures.inc();
                    return self.close(CloseCode::HELLO_FAILED, "invalid_token").await;
                }
                Err(refusal) => return self.refuse(context, refusal).await,
            },
            None => match ops::create_guest(&self.state, wanted).await {
                Ok(user) => user,
                Err(refusal) => return self.refuse(context, refusal).await,
            },
        };
        let rooms = match self.state.store.rooms_of(&user.user_id).await {
            Ok(rooms) => rooms,
            Err(err) => return self.refuse(context, err.into()).await,
        };
        tracing::Span::current().record("user_id", user.user_id.as_str());
        tracing::info!(name = %user.name, "hello");
        let Some(events_tx) = self.events_tx.take() else {
            return Err(Stop);
        };
        self.state
            .hub
            .register(self.conn_id, &user.user_id, events_tx, self.slow.clone());
        let welcome = ServerEvent::Welcome {
            version: PROTOCOL_VERSION,
            user_id: user.user_id.clone(),
            name: user.name.clone(),
            token: self.state.tokens.sign(&user.user_id, now_ms()),
            rooms,
            limits: self.state.config.protocol_limits(),
        };
        self.session = Some(Session::new(self.conn_id, user));
        self.send(&welcome).await
    }

    async fn join(
        &mut self,
        room: String,
        since: Option<Seq>,
    ) -> Result<Result<(), Stop>, Refusal> {
        name::validate_room(&room)?;
        let session = self.session()?;
        let user = session.user.clone();
        let already = session.has_joined(&room);
        if !already && session.rooms.len() >= self.state.config.limits.max_rooms as usize {
            return Err(ErrorCode::TooManyRooms.into());
        }
        // Subscribe first, then read the head: a message stored after the head was read
        // is then surely delivered live (and one stored before is dropped as a duplicate).
        if !already
            && self.state.hub.join(self.conn_id, &room)
            && let Err(err) = self.state.broker.subscribe(&room).await
        {
            self.state.hub.leave(self.conn_id, &room);
            return Err(err.into());
        }
        let head = match self.state.store.join(&user.user_id, &room).await {
            Ok(head) => head,
            Err(err) => {
                if !already
                    && self.state.hub.leave(self.conn_id, &room)
                    && let Err(err) = self.state.broker.unsubscribe(&room).await
                {
                    tracing::warn!(error = %err, room, "unsubscribe failed");
                }
                return Err(err.into());
            }
        };
        let Some(session) = self.session.as_mut() else {
            return Err(Refusal::internal());
        };
        // Where delivery continues from: `since` (resume), else the head for a new join,
        // else unchanged for a repeated join without `since`.
        let start = match (since, session.last(&room)) {
            (Some(since), _) => since.min(head),
            (None, Some(last)) => last,
            (None, None) => head,
        };
        session.rooms.insert(room.clone(), start);
        tracing::debug!(room, head, since, "joined");
        if let Err(stop) = self
            .send(&ServerEvent::Joined {
                room: room.clone(),
                head,
            })
            .await
        {
            return Ok(Err(stop));
        }
        if !already {
            let member = Member {
                user_id: user.user_id.clone(),
                name: user.name.clone(),
            };
            match self
                .state
                .broker
                .presence_add(&room, &member, self.conn_id)
                .await
            {
                Ok(true) => {
                    let event = BrokerEvent::UserJoined {
                        room: room.clone(),
                        user_id: member.user_id,
                        name: member.name,
                    };
                    if let Err(err) = self.state.broker.publish(event).await {
                        tracing::warn!(error = %err, room, "publishing user_joined failed");
                    }
                }
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, room, "presence add failed"),
            }
        }
        if start < head {
            return Ok(self.fill(&room, start, head).await);
        }
        Ok(Ok(()))
    }

    /// Sends `after + 1 ..= up_to` of `room` from the store, page by page, advancing the
    /// session's last sequence. A store failure closes the connection with 1012 so the
    /// client resumes (elsewhere) rather than miss messages.
    async fn fill(&mut self, room: &str, after: Seq, up_to: Seq) -> Result<(), Stop> {
        let page = self.state.config.limits.history_page_max;
        let mut next = after;
        while next < up_to {
            let messages = match self
                .state
                .store
                .messages_after(room, next, up_to, page)
                .await
            {
                Ok(messages) => messages,
                Err(err) => {
                    tracing::warn!(error = %err, room, "cannot read missed messages");
                    return self
                        .close(
                            CloseCode::SERVICE_RESTART,
                            "store unavailable: reconnect and resume",
                        )
                        .await;
                }
            };
            let Some(last) = messages.last().map(|m| m.seq) else {
                tracing::warn!(
                    room,
                    after = next,
                    up_to,
                    "store has fewer messages than its head"
                );
                break;
            };
            for message in messages {
                let seq = message.seq;
                self.send(&ServerEvent::Message(message)).await?;
                if let Some(session) = self.session.as_mut() {
                    session.delivered(room, seq);
                }
            }
            next = last;
        }
        Ok(())
    }

    async fn deliver(&mut self, delivery: &Delivery) -> Result<(), Stop> {
        let Some(session) = self.session.as_ref() else {
            return Ok(());
        };
        match delivery {
            Delivery::Message { room, seq, frame } => {
                let Some(last) = session.last(room) else {
                    return Ok(());
                };
                match decide(last, *seq) {
                    Decision::Duplicate => return Ok(()),
                    Decision::Deliver => {}
                    Decision::Gap { after, up_to } => {
                        tracing::debug!(room, after, up_to, "repairing a gap from the store");
                        Box::pin(self.fill(room, after, up_to)).await?;
                    }
                }
                self.push(Outbound::Frame(frame.clone())).await?;
                self.state.metrics.deliveries.inc();
                if let Some(session) = self.session.as_mut() {
                    session.delivered(room, *seq);
                }
                Ok(())
            }
            Delivery::Room { room, frame } => {
                if session.has_joined(room) {
                    self.push(Outbound::Frame(frame.clone())).await?;
                }
                Ok(())
            }
            Delivery::Direct { frame } => self.push(Outbound::Frame(frame.clone())).await,
        }
    }

    async fn leave(&mut self, room: String) -> Result<Result<(), Stop>, Refusal> {
        let session = self.joined_session(&room)?.clone();
        self.state.store.leave(&session.user.user_id, &room).await?;
        if let Some(session) = self.session.as_mut() {
            session.rooms.remove(&room);
        }
        self.leave_locally(&session, &room).await;
        tracing::debug!(room, "left");
        Ok(self.send(&ServerEvent::Left { room }).await)
    }

    async fn post(
        &mut self,
        room: String,
        id: String,
        text: String,
    ) -> Result<Result<(), Stop>, Refusal> {
        ops::validate_post(&self.state, &room, &id, &text)?;
        let session = self.joined_session(&room)?;
        let author_id = session.user.user_id.clone();
        self.limiter
            .check()
            .map_err(|not_until| ops::rate_limited(&not_until))?;
        let post = NewPost {
            room: room.clone(),
            post_id: id.clone(),
            author_id,
            text,
            ts: now_ms(),
        };
        let receipt = self.state.committer.submit(post).await?;
        self.pending
            .get_or_insert_with(FuturesOrdered::new)
            .push_back(Box::pin(async move {
                let outcome = receipt.outcome().await;
                (room, id, outcome)
            }));
        Ok(Ok(()))
    }

    async fn answer_post(&self, room: String, id: String, outcome: PostResult) -> Result<(), Stop> {
        match outcome {
            Ok(appended) => {
                self.send(&ServerEvent::Ack {
                    room: appended.message.room,
                    id,
                    seq: appended.message.seq,
                    ts: appended.message.ts,
                })
                .await
            }
            Err(refusal) => {
                let context = Context {
                    command: Some("post"),
                    room: Some(room),
                    id: Some(id),
                };
                self.refuse(&context, refusal).await
            }
        }
    }

    async fn rename(&mut self, wanted: String) -> Result<Result<(), Stop>, Refusal> {
        name::validate_display_name(&wanted, self.state.config.limits.max_name_chars as usize)?;
        let session = self.session()?;
        let user_id = session.user.user_id.clone();
        let joined: Vec<String> = session.rooms.keys().cloned().collect();
        let Some(old_name) = self.state.store.rename(&user_id, &wanted).await? else {
            return Err(Refusal::internal());
        };
        if let Some(session) = self.session.as_mut() {
            session.user.name = wanted.clone();
        }
        if let Err(err) = self.state.broker.presence_rename(&user_id, &wanted).await {
            tracing::warn!(error = %err, "presence rename failed");
        }
        // Everyone sharing a room the user is a member of, or has joined here, hears it.
        let mut rooms = match self.state.store.rooms_of(&user_id).await {
            Ok(rooms) => rooms,
            Err(err) => {
                tracing::warn!(error = %err, "cannot list the user's rooms");
                Vec::new()
            }
        };
        rooms.extend(joined);
        rooms.sort();
        rooms.dedup();
        tracing::info!(old_name, name = %wanted, "renamed");
        let event = BrokerEvent::NameChanged {
            user_id,
            old_name,
            name: wanted,
            rooms,
        };
        if let Err(err) = self.state.broker.publish(event).await {
            tracing::warn!(error = %err, "publishing name_changed failed");
        }
        Ok(Ok(()))
    }

    async fn history(
        &mut self,
        room: String,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<Result<(), Stop>, Refusal> {
        self.joined_session(&room)?;
        let (messages, has_more) = ops::history_page(&self.state, &room, before, limit).await?;
        Ok(self
            .send(&ServerEvent::History {
                room,
                messages,
                has_more,
            })
            .await)
    }

    async fn who(&mut self, room: String) -> Result<Result<(), Stop>, Refusal> {
        self.joined_session(&room)?;
        let members = self.state.broker.presence(&room).await?;
        Ok(self.send(&ServerEvent::Presence { room, members }).await)
    }
}
