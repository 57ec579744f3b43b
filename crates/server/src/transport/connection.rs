//! One connection's loop: frames in, commands started and their work polled, room events
//! delivered, store pages of filling rooms read, frames out. One task per connection; the
//! command work, the acks and the page reads are futures it polls alongside its hub
//! queue, so none of them holds up delivery.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::future::OptionFuture;
use futures_util::stream::{FuturesUnordered, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;
use tuitalk_protocol::{
    ChatMessage, ClientCommand, CloseCode, ErrorCode, ServerEvent, decode_command,
};

use super::{Sink, close_message, send_close};
use crate::AppState;
use crate::commands::{self, Context, InFlight, Started, posts};
use crate::error::Refusal;
use crate::hub::{ConnId, Delivery, EventReceiver, EventSender};
use crate::occupancy::Held;
use crate::peer::Peer;
use crate::session::{FillRead, Filled, Session};
use crate::store::StoreError;

/// Most queued events written before one flush.
const WRITE_BURST: usize = 64;
/// The window over which protocol violations are counted (`limits.max_errors_per_minute`).
const ERROR_WINDOW: Duration = Duration::from_secs(60);

/// The connection ends (the reason was already logged or sent).
#[derive(Debug)]
pub struct Stop;

/// A store page read for a filling room.
type PageRead =
    Pin<Box<dyn Future<Output = (FillRead, Result<Vec<ChatMessage>, StoreError>)> + Send>>;

/// An outbound frame.
#[derive(Debug)]
enum Outbound {
    /// A text frame.
    Frame(Utf8Bytes),
    /// A WebSocket ping.
    Ping,
}

/// Counts protocol violations per [`ERROR_WINDOW`].
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
pub struct Connection {
    peer: Peer,
    sink: Sink,
    slow: CancellationToken,
    /// The command whose work is in flight (one at a time; posts only wait here until
    /// the committer took them).
    command: Option<InFlight>,
    /// Page reads of filling rooms (at most one per room), allocated while there are any.
    pages: Option<FuturesUnordered<PageRead>>,
    errors: ErrorWindow,
    last_seen: Instant,
}

impl Connection {
    /// A connection writing to `sink`, its hub queue's sender `queue` (registered at
    /// `hello`), closed as a slow consumer when `slow` fires.
    pub fn new(
        state: AppState,
        conn_id: ConnId,
        sink: Sink,
        slow: CancellationToken,
        queue: EventSender,
        client: (IpAddr, Option<Held<IpAddr>>),
    ) -> Self {
        Self {
            peer: Peer::new(state, conn_id, queue, slow.clone(), client),
            sink,
            slow,
            command: None,
            pages: None,
            errors: ErrorWindow {
                started: Instant::now(),
                count: 0,
            },
            last_seen: Instant::now(),
        }
    }

    fn state(&self) -> &AppState {
        self.peer.state()
    }

    /// The loop, until the connection ends.
    ///
    /// Shutdown, acks, page reads and command work run in futures of their own (boxed
    /// while they run), so an idle connection's task stays small.
    pub async fn run(&mut self, stream: &mut SplitStream<WebSocket>, mut events: EventReceiver) {
        let limits = &self.state().config.limits;
        // One timer: the hello deadline until the session exists, then the ping interval.
        let timer = tokio::time::sleep(Duration::from_millis(limits.hello_timeout_ms));
        tokio::pin!(timer);
        let mut pinging = false;
        let ping_every = Duration::from_millis(limits.ping_interval_ms);
        let idle_after = Duration::from_millis(limits.idle_timeout_ms);
        let max_pending = limits.send_queue;
        let shutdown = self.state().shutdown.clone();
        let slow = self.slow.clone();
        let session_end = self.peer.session_end();
        loop {
            let reading = self.command.is_none() && self.peer.acks_len() < max_pending;
            let step = tokio::select! {
                biased;
                () = slow.cancelled() => Err(Stop),
                () = session_end.fired() => {
                    let reason = session_end.reason();
                    tracing::info!(reason, "session ended: closing");
                    self.peer.close_after(CloseCode::SESSION_ENDED, reason);
                    Ok(())
                }
                () = shutdown.cancelled() => Box::pin(self.shut_down()).await,
                () = &mut timer => {
                    timer.as_mut().reset(tokio::time::Instant::now() + ping_every);
                    if self.peer.session().is_err() {
                        if self.command.is_none() {
                            tracing::info!("no hello in time");
                            self.peer.close_after(CloseCode::HELLO_TIMEOUT, "hello_timeout");
                        }
                        Ok(())
                    } else if self.last_seen.elapsed() > idle_after {
                        tracing::info!("idle timeout");
                        self.peer.close_after(CloseCode::IDLE_TIMEOUT, "idle_timeout");
                        Ok(())
                    } else {
                        self.push(Outbound::Ping).await
                    }
                }
                Some(finish) = OptionFuture::from(self.command.as_mut()) => {
                    finish(&mut self.peer);
                    self.command = self.peer.take_then();
                    Ok(())
                }
                Some(Some((room, id, outcome))) = OptionFuture::from(
                    self.peer.acks().map(StreamExt::next)
                ) => {
                    posts::answer(&mut self.peer, room, id, outcome);
                    Ok(())
                }
                Some(Some((read, page))) = OptionFuture::from(
                    self.pages.as_mut().map(StreamExt::next)
                ) => {
                    self.on_page(read, page)
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
                frame = stream.next(), if reading => {
                    Box::pin(self.on_frame(frame)).await
                }
            };
            if step.is_err() || self.write_out().await.is_err() {
                break;
            }
            if !pinging && self.peer.session().is_ok() {
                // The hello was answered: from now on the timer paces the pings.
                pinging = true;
                timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + ping_every);
            }
        }
    }

    /// After each step: writes the peer's answers, sends a requested close, starts the
    /// page reads filling rooms wait for, and flushes.
    async fn write_out(&mut self) -> Result<(), Stop> {
        while let Some(frame) = self.peer.outbox().pop_front() {
            self.push(Outbound::Frame(frame)).await?;
        }
        if let Some((code, reason)) = self.peer.closing() {
            let _ = send_close(&mut self.sink, close_message(code, reason)).await;
            return Err(Stop);
        }
        self.start_page_reads();
        if self.pages.as_ref().is_some_and(FuturesUnordered::is_empty) {
            self.pages = None;
        }
        self.flush().await
    }

    /// Starts a store read for every filling room that waits for its next page.
    fn start_page_reads(&mut self) {
        if !self.peer.session().is_ok_and(Session::awaits_fill) {
            return;
        }
        let page = self.state().config.limits.history_page_max;
        let store = self.state().store.clone();
        let Some(session) = self.peer.session_mut() else {
            return;
        };
        while let Some(read) = session.next_fill() {
            let store = store.clone();
            self.pages
                .get_or_insert_with(FuturesUnordered::new)
                .push(Box::pin(async move {
                    let page = store
                        .messages_after(&read.room, read.after, read.up_to, page)
                        .await;
                    (read, page)
                }));
        }
    }

    /// A page for a filling room arrived: its messages go out in order. A store failure
    /// closes with 1012 so the client resumes (elsewhere) rather than miss messages.
    fn on_page(
        &mut self,
        read: FillRead,
        page: Result<Vec<ChatMessage>, StoreError>,
    ) -> Result<(), Stop> {
        let page = match page {
            Ok(page) => page,
            Err(err) => {
                tracing::warn!(error = %err, room = read.room, "cannot read missed messages");
                self.peer.close_after(
                    CloseCode::SERVICE_RESTART,
                    "store unavailable: reconnect and resume",
                );
                return Ok(());
            }
        };
        let Some(session) = self.peer.session_mut() else {
            return Ok(());
        };
        for sent in session.filled(&read, page) {
            match sent {
                Filled::Stored(message) => self.peer.send(&ServerEvent::Message(message)),
                Filled::Live(frame) => {
                    // A live message, only sent later: counted as the live ones are.
                    self.peer.state().metrics.deliveries.inc();
                    self.peer.outbox().push_back(frame);
                }
            }
        }
        Ok(())
    }

    /// One event from the hub queue, through the session's delivery rule.
    async fn deliver(&mut self, delivery: &Delivery) -> Result<(), Stop> {
        let Some(session) = self.peer.session_mut() else {
            return Ok(());
        };
        let frame = match delivery {
            Delivery::Message { room, seq, frame } => {
                if !session.on_message(room, *seq, frame) {
                    return Ok(());
                }
                self.peer.state().metrics.deliveries.inc();
                frame
            }
            Delivery::Room { room, frame } => {
                if !session.shows_room_events(room) {
                    return Ok(());
                }
                frame
            }
            Delivery::Direct { frame } => frame,
        };
        self.push(Outbound::Frame(frame.clone())).await
    }

    /// Graceful shutdown: finish the command in flight and acknowledge in-flight posts,
    /// then close with 1012.
    async fn shut_down(&mut self) -> Result<(), Stop> {
        while let Some(command) = self.command.take() {
            let finish = command.await;
            finish(&mut self.peer);
            self.command = self.peer.take_then();
        }
        while let Some(acks) = self.peer.acks()
            && let Some((room, id, outcome)) = acks.next().await
        {
            posts::answer(&mut self.peer, room, id, outcome);
        }
        self.peer
            .close_after(CloseCode::SERVICE_RESTART, "service restart: reconnect");
        Ok(())
    }

    /// Takes the connection out of every room after it ended; returns the socket's
    /// sending half for the close.
    pub async fn cleanup(mut self) -> Sink {
        let conn = self.peer.conn_id();
        let state = self.peer.state().clone();
        let rooms = &state.subscriptions;
        if let Some(session) = self.peer.take_session() {
            for room in session.rooms() {
                rooms.exit(conn, &session.user.user_id, room).await;
            }
        }
        rooms.forget(conn).await;
        self.sink
    }

    /// Writes an outbound frame into the socket's write buffer (written out when the
    /// buffer fills or at the next [`flush`](Self::flush)). Waits while the peer does not
    /// read; meanwhile the hub queue fills and the slow-consumer rule applies: the
    /// connection ends, and after its cleanup the close 4000 follows the frame in progress.
    async fn push(&mut self, item: Outbound) -> Result<(), Stop> {
        let message = match item {
            Outbound::Frame(frame) => Message::Text(frame),
            Outbound::Ping => Message::Ping(Default::default()),
        };
        tokio::select! {
            biased;
            () = self.slow.cancelled() => Err(Stop),
            fed = self.sink.feed(message) => fed.map_err(|_| Stop),
        }
    }

    /// Writes out whatever [`push`](Self::push) gathered.
    async fn flush(&mut self) -> Result<(), Stop> {
        tokio::select! {
            biased;
            () = self.slow.cancelled() => Err(Stop),
            flushed = self.sink.flush() => flushed.map_err(|_| Stop),
        }
    }

    /// Refuses a protocol violation; closes with 1008 once there were too many.
    fn violation(&mut self, context: &Context, refusal: Refusal) {
        self.peer.refuse(context, refusal);
        self.count_violation();
    }

    fn count_violation(&mut self) {
        if self
            .errors
            .record(self.state().config.limits.max_errors_per_minute)
        {
            tracing::info!("too many protocol violations");
            self.peer
                .close_after(CloseCode::POLICY, "too many protocol violations");
        }
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Result<(), Stop> {
        let message = match frame {
            None => return Err(Stop),
            Some(Ok(message)) => message,
            Some(Err(err)) => return self.on_transport_error(err),
        };
        self.last_seen = Instant::now();
        match message {
            Message::Text(text) => {
                let max = self.state().config.limits.max_frame_bytes as usize;
                if text.len() > max {
                    let refusal = Refusal::new(
                        ErrorCode::FrameTooLarge,
                        format!("frame of {} bytes exceeds {max}", text.len()),
                    );
                    self.violation(&Context::default(), refusal);
                    return Ok(());
                }
                match decode_command(&text) {
                    Ok(command) => self.on_command(command),
                    Err(err) => {
                        let context = Context {
                            command: err.command.as_deref().and_then(|kind| {
                                ClientCommand::KINDS.iter().copied().find(|k| *k == kind)
                            }),
                            ..Context::default()
                        };
                        self.violation(&context, Refusal::new(err.code, err.message));
                    }
                }
            }
            Message::Binary(_) => {
                let refusal = Refusal::new(
                    ErrorCode::BinaryFrame,
                    "binary frames are not supported; send JSON text frames",
                );
                self.violation(&Context::default(), refusal);
            }
            Message::Ping(_) | Message::Pong(_) => {}
            Message::Close(_) => return Err(Stop),
        }
        Ok(())
    }

    /// Starts a command; its work is polled at once, so what finishes without waiting
    /// (most posts, `ping`) is answered in this step.
    fn on_command(&mut self, command: ClientCommand) {
        match commands::start(command, &mut self.peer) {
            Started::Running(mut work) => match work.as_mut().now_or_never() {
                Some(finish) => {
                    finish(&mut self.peer);
                    self.command = self.peer.take_then();
                }
                None => self.command = Some(work),
            },
            Started::Refused => {}
            Started::Violation => self.count_violation(),
        }
    }

    /// A read error: invalid UTF-8 (error then 1007), a frame above the hard cap (1009),
    /// or a broken transport.
    fn on_transport_error(&mut self, err: axum::Error) -> Result<(), Stop> {
        use tokio_tungstenite::tungstenite::Error as WsError;
        let inner = err.into_inner();
        match inner.downcast_ref::<WsError>() {
            Some(WsError::Utf8(_)) => {
                let refusal = Refusal::new(ErrorCode::InvalidUtf8, "frame is not valid UTF-8");
                self.peer.refuse(&Context::default(), refusal);
                self.peer
                    .close_after(CloseCode::INVALID_PAYLOAD, "invalid_utf8");
                Ok(())
            }
            Some(WsError::Capacity(cap)) => {
                tracing::info!(error = %cap, "frame above the hard cap");
                self.peer.close_after(CloseCode::TOO_BIG, "frame too large");
                Ok(())
            }
            _ => {
                tracing::debug!(error = %inner, "transport error");
                Err(Stop)
            }
        }
    }
}
