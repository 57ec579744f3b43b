//! One client connection: its protocol state machine and the task that drives it.
//!
//! A client is a receiver, a sender or an idle connection, in exactly one room. Its
//! task connects, says `hello` (with the token of its earlier `welcome` after the first
//! time), joins its room (receivers with `since` = the last sequence seen), and then:
//!
//! - a receiver records every `message` in its [`RoomTrack`], the send → receipt
//!   latency (the post text starts with the send time in microseconds on the run's
//!   clock) and its longest delivery gap;
//! - a sender creates posts (at its share of `--rate`, or whenever an ack frees a place
//!   in its window), keeps them in an outbox until their `ack`, re-sends the unacked ones
//!   with the same ids after a reconnect, and retries refused ones (`rate_limited`,
//!   `unavailable`) after the wait the server asks for;
//! - an idle connection does nothing but stay connected.
//!
//! Any disconnect (a close code, a network error, a handshake or silence timeout) ends
//! the session; the task reconnects after an exponential backoff with full jitter
//! ([`tuitalk_client::Backoff`]) until the run's stop token fires. Protocol state is
//! changed by plain methods that queue outgoing frames; only the session loop does I/O.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;
use tuitalk_client::{Backoff, BackoffConfig};
use tuitalk_protocol::{ClientCommand, ErrorCode, PROTOCOL_VERSION, Seq, encode_command};

use crate::stats::{GapTracker, LatencyBuf, SharedHistogram};
use crate::verify::{RoomTrack, fingerprint};
use crate::wire::{self, Incoming};

/// How long opening the TCP connection and the WebSocket upgrade may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `welcome` and `joined` may take after the upgrade.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After this long without any frame from the server, a live (non-idle) client sends an
/// application `ping`.
const PING_AFTER: Duration = Duration::from_secs(5);
/// After this long without any frame from the server, a live (non-idle) client gives
/// the connection up and reconnects (a frozen server or a silent network).
const SILENCE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a closing handshake may take when the run stops.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Retry delay for a refused post when the server names none.
const DEFAULT_RETRY_MS: u64 = 250;
/// The start of every `message` frame (serde writes the tag first); senders skip those
/// frames without parsing them.
const MESSAGE_PREFIX: &str = r#"{"type":"message""#;

/// State every client task shares with the run: the clock, the phase tokens, counters
/// for the orchestrator and the latency histograms.
#[derive(Debug)]
pub struct Shared {
    epoch: Instant,
    /// Fired when the senders may begin (every receiver has joined).
    pub go: CancellationToken,
    /// Fired when the run is over: tasks close their connections and return.
    pub stop: CancellationToken,
    send_start_us: AtomicU64,
    send_end_us: AtomicU64,
    /// Receivers that have joined their room at least once.
    pub receivers_ready: AtomicUsize,
    /// Senders that have joined their room at least once.
    pub senders_ready: AtomicUsize,
    /// Idle connections that have joined their room at least once.
    pub idle_ready: AtomicUsize,
    /// Connections joined right now.
    pub up: AtomicUsize,
    /// Senders that have created all their posts.
    pub senders_finished: AtomicUsize,
    /// Senders that have created all their posts and got every ack.
    pub senders_drained: AtomicUsize,
    /// Per room, the highest acknowledged sequence.
    pub room_acked: Vec<AtomicU64>,
    /// Per receiver, the highest sequence seen.
    pub receiver_last: Vec<AtomicU64>,
    /// Send → receipt latencies.
    pub latency: SharedHistogram,
    /// Send → ack latencies.
    pub ack_latency: SharedHistogram,
    /// Reconnect delays.
    pub backoff: BackoffConfig,
    /// Diagnostics on stderr.
    pub verbose: bool,
}

impl Shared {
    /// Shared state for `rooms` rooms and `receivers` receivers.
    pub fn new(
        rooms: usize,
        receivers: usize,
        backoff: BackoffConfig,
        verbose: bool,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            epoch: Instant::now(),
            go: CancellationToken::new(),
            stop: CancellationToken::new(),
            send_start_us: AtomicU64::new(u64::MAX),
            send_end_us: AtomicU64::new(u64::MAX),
            receivers_ready: AtomicUsize::new(0),
            senders_ready: AtomicUsize::new(0),
            idle_ready: AtomicUsize::new(0),
            up: AtomicUsize::new(0),
            senders_finished: AtomicUsize::new(0),
            senders_drained: AtomicUsize::new(0),
            room_acked: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            receiver_last: (0..receivers).map(|_| AtomicU64::new(0)).collect(),
            latency: crate::stats::shared_histogram()?,
            ack_latency: crate::stats::shared_histogram()?,
            backoff,
            verbose,
        })
    }

    /// Microseconds since the run began, on the one monotonic clock of this process.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The instant `us` microseconds after the run began.
    pub fn instant(&self, us: u64) -> Instant {
        self.epoch + Duration::from_micros(us)
    }

    /// Marks the start of sending (now) and lets the senders go. Returns the time.
    pub fn start_sending(&self) -> u64 {
        let now = self.now_us();
        self.send_start_us.store(now, Ordering::SeqCst);
        self.go.cancel();
        now
    }

    /// Marks the end of sending (now). Returns the time.
    pub fn end_sending(&self) -> u64 {
        let now = self.now_us();
        self.send_end_us.store(now, Ordering::SeqCst);
        now
    }

    /// When sending started and ended (`u64::MAX` for not yet).
    pub fn send_window(&self) -> (u64, u64) {
        (
            self.send_start_us.load(Ordering::Relaxed),
            self.send_end_us.load(Ordering::Relaxed),
        )
    }

    fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.verbose {
            eprintln!("[{:9.3}s] {what}", self.now_us() as f64 / 1e6);
        }
    }
}

/// How a sender posts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendPlan {
    /// This sender's posts per second; 0 = whenever an ack frees a place in the window.
    pub rate: f64,
    /// Unacknowledged posts in flight at most.
    pub window: usize,
    /// Posts to create at most.
    pub messages: Option<u64>,
    /// How long to create posts, in microseconds from the start of sending.
    pub duration_us: Option<u64>,
    /// With a rate: when this sender's first post is due, in microseconds after the start
    /// of sending (staggers the senders evenly).
    pub offset_us: u64,
}

/// What a client does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    /// Receiver number `index`.
    Receiver {
        /// Index into [`Shared::receiver_last`].
        index: usize,
    },
    /// Sender number `index`.
    Sender {
        /// The sender's number (part of its post texts).
        index: usize,
        /// How it posts.
        plan: SendPlan,
    },
    /// An idle connection.
    Idle,
}

/// One client to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The WebSocket URL.
    pub url: String,
    /// The display name for its guest identity.
    pub name: String,
    /// Its room.
    pub room: String,
    /// The room's index (into [`Shared::room_acked`]).
    pub room_index: usize,
    /// What it does.
    pub role: Role,
}

/// What a client task hands back when the run stops.
#[derive(Debug, Default)]
pub struct ClientReport {
    /// The room's index.
    pub room_index: usize,
    /// Whether it joined its room at least once.
    pub joined: bool,
    /// Sessions re-established after a disconnect.
    pub reconnects: u64,
    /// Error events other than retried posts (and undecodable frames).
    pub errors: u64,
    /// Receivers: what arrived.
    pub track: Option<RoomTrack>,
    /// Receivers: the longest delivery gap while sending went on, in microseconds.
    pub gap_us: u64,
    /// Receivers: when the last first delivery arrived (run clock, µs).
    pub last_delivery_us: Option<u64>,
    /// Senders: posts created.
    pub posts: u64,
    /// Senders: acknowledged posts as (sequence, id fingerprint).
    pub acked: Vec<(Seq, u64)>,
    /// Senders: posts still waiting for an ack.
    pub unacked: u64,
    /// Senders: posts refused for good.
    pub rejected: u64,
    /// Senders: refused posts sent again later.
    pub retries: u64,
    /// Senders: acks naming a post already acknowledged under another sequence.
    pub ack_conflicts: u64,
    /// Senders: when the last ack arrived (run clock, µs).
    pub last_ack_us: Option<u64>,
}

/// Runs one client until the run's stop token fires; returns what it saw.
pub async fn run(spec: Spec, shared: Arc<Shared>) -> ClientReport {
    let mut client = Client::new(spec, &shared);
    let mut backoff = Backoff::new(shared.backoff);
    let mut rng = fastrand::Rng::new();
    loop {
        match client.session(&shared, &mut backoff).await {
            End::Stopped => break,
            End::Lost(reason) => {
                let (delay, attempt) = backoff.next_delay(&mut rng);
                shared.log(format_args!(
                    "{}: {reason}; reconnecting in {delay} ms (attempt {attempt})",
                    client.name
                ));
                let wake = Instant::now() + Duration::from_millis(delay);
                tokio::select! {
                    _ = shared.stop.cancelled() => break,
                    _ = sleep_until(wake) => {}
                }
            }
        }
    }
    client.finish(&shared)
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    /// The run is over.
    Stopped,
    /// The connection was lost or refused; reconnect.
    Lost(String),
}

/// Where a session is in its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Welcome,
    Joining,
    Live,
}

/// One client's state across sessions.
struct Client {
    url: String,
    name: String,
    room: String,
    room_index: usize,
    token: Option<String>,
    /// Sessions that got a `welcome`.
    sessions: u64,
    joined: bool,
    reconnects: u64,
    errors: u64,
    role: RoleState,
    /// Frames to send at the next flush (reused, no allocation once warm).
    out: Vec<Message>,
}

enum RoleState {
    Receiver(ReceiverState),
    Sender(Box<SenderState>),
    Idle,
}

struct ReceiverState {
    index: usize,
    track: RoomTrack,
    gap: GapTracker,
    latency: LatencyBuf,
    last_delivery_us: Option<u64>,
}

/// A post waiting for its ack.
struct Pending {
    fp: u64,
    /// The encoded `post` command, sent again unchanged (same id, same text).
    frame: Utf8Bytes,
    created_us: u64,
    /// Sent on the current connection and not answered yet.
    sent: bool,
    /// Not to be sent before this time (after a retryable refusal).
    not_before_us: u64,
}

struct SenderState {
    index: usize,
    plan: SendPlan,
    rng: fastrand::Rng,
    outbox: VecDeque<Pending>,
    in_flight: usize,
    created: u64,
    started_us: Option<u64>,
    finished: bool,
    drained: bool,
    /// Acknowledged posts: id fingerprint → sequence.
    acked: HashMap<u64, Seq>,
    ack_conflicts: u64,
    rejected: u64,
    retries: u64,
    /// The earliest `not_before_us` of a refused post waiting to be retried.
    retry_at_us: Option<u64>,
    last_ack_us: Option<u64>,
    ack_latency: LatencyBuf,
}

impl Client {
    fn new(spec: Spec, shared: &Shared) -> Self {
        let role = match spec.role {
            Role::Receiver { index } => RoleState::Receiver(ReceiverState {
                index,
                track: RoomTrack::new(),
                gap: GapTracker::new(),
                latency: LatencyBuf::new(shared.latency.clone()),
                last_delivery_us: None,
            }),
            Role::Sender { index, plan } => RoleState::Sender(Box::new(SenderState {
                index,
                plan,
                rng: fastrand::Rng::new(),
                outbox: VecDeque::new(),
                in_flight: 0,
                created: 0,
                started_us: None,
                finished: false,
                drained: false,
                acked: HashMap::new(),
                ack_conflicts: 0,
                rejected: 0,
                retries: 0,
                retry_at_us: None,
                last_ack_us: None,
                ack_latency: LatencyBuf::new(shared.ack_latency.clone()),
            })),
            Role::Idle => RoleState::Idle,
        };
        Self {
            url: spec.url,
            name: spec.name,
            room: spec.room,
            room_index: spec.room_index,
            token: None,
            sessions: 0,
            joined: false,
            reconnects: 0,
            errors: 0,
            role,
            out: Vec::new(),
        }
    }

    fn is_idle(&self) -> bool {
        matches!(self.role, RoleState::Idle)
    }

    /// One connection, from connecting to its end. Cancel-safe at every await: the
    /// client's state is only changed between them.
    async fn session(&mut self, shared: &Shared, backoff: &mut Backoff) -> End {
        let config = WebSocketConfig::default().read_buffer_size(if self.is_idle() {
            4 * 1024
        } else {
            32 * 1024
        });
        let connecting =
            tokio_tungstenite::connect_async_with_config(self.url.as_str(), Some(config), true);
        let mut ws = tokio::select! {
            _ = shared.stop.cancelled() => return End::Stopped,
            result = timeout(CONNECT_TIMEOUT, connecting) => match result {
                Ok(Ok((ws, _response))) => ws,
                Ok(Err(err)) => return End::Lost(format!("connect failed: {err}")),
                Err(_) => return End::Lost("connect timed out".to_owned()),
            },
        };
        let hello = ClientCommand::Hello {
            version: PROTOCOL_VERSION,
            token: self.token.clone(),
            name: self.token.is_none().then(|| self.name.clone()),
        };
        self.out.push(Message::text(encode_command(&hello)));
        if let RoleState::Sender(sender) = &mut self.role {
            sender.new_connection();
        }
        let mut phase = Phase::Welcome;
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        let mut last_rx = Instant::now();
        let mut pinged = false;
        let end = loop {
            if !self.out.is_empty() {
                let mut failed = None;
                for message in self.out.drain(..) {
                    if let Err(err) = ws.feed(message).await {
                        failed = Some(err);
                        break;
                    }
                }
                if let Some(err) = failed {
                    self.out.clear();
                    break End::Lost(format!("send failed: {err}"));
                }
                if let Err(err) = ws.flush().await {
                    break End::Lost(format!("send failed: {err}"));
                }
            }
            let wake = self.next_wake(shared, phase, deadline, last_rx, pinged);
            let waiting_for_go = self.waiting_for_go();
            tokio::select! {
                biased;
                _ = shared.stop.cancelled() => {
                    let _ = timeout(CLOSE_TIMEOUT, ws.close(None)).await;
                    break End::Stopped;
                }
                incoming = ws.next() => {
                    last_rx = Instant::now();
                    pinged = false;
                    match incoming {
                        Some(Ok(Message::Text(text))) => {
                            let was_live = phase == Phase::Live;
                            if let Err(end) = self.frame(text.as_str(), &mut phase, shared) {
                                break end;
                            }
                            if phase == Phase::Live && !was_live {
                                // A fresh session: the failures are behind us.
                                backoff.reset();
                            }
                        }
                        Some(Ok(Message::Ping(_))) => {
                            // tungstenite queued the pong; send it.
                            if let Err(err) = ws.flush().await {
                                break End::Lost(format!("send failed: {err}"));
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let _ = timeout(CLOSE_TIMEOUT, ws.flush()).await;
                            break match frame {
                                Some(frame) => {
                                    let code = u16::from(frame.code);
                                    if code == tuitalk_protocol::CloseCode::HELLO_FAILED
                                        && frame.reason.as_str() == ErrorCode::InvalidToken.as_str()
                                    {
                                        self.token = None;
                                    }
                                    End::Lost(format!("closed by the server: {code} {}", frame.reason))
                                }
                                None => End::Lost("closed by the server without a code".to_owned()),
                            };
                        }
                        Some(Ok(_)) => {}
                        Some(Err(err)) => break End::Lost(format!("connection error: {err}")),
                        None => break End::Lost("connection closed".to_owned()),
                    }
                }
                _ = shared.go.cancelled(), if waiting_for_go => {}
                _ = sleep_until(wake) => {
                    let now = Instant::now();
                    if phase != Phase::Live && now >= deadline {
                        break End::Lost(format!("no {phase:?} answer within {HANDSHAKE_TIMEOUT:?}"));
                    }
                    if phase == Phase::Live && !self.is_idle() {
                        if now >= last_rx + SILENCE_TIMEOUT {
                            break End::Lost(format!("server silent for {SILENCE_TIMEOUT:?}"));
                        }
                        if !pinged && now >= last_rx + PING_AFTER {
                            self.out.push(Message::text(encode_command(&ClientCommand::Ping { nonce: None })));
                            pinged = true;
                        }
                    }
                }
            }
            if phase == Phase::Live {
                self.pump(shared);
            }
        };
        if phase == Phase::Live {
            shared.up.fetch_sub(1, Ordering::Relaxed);
        }
        end
    }

    /// When the session loop must wake up even without a frame.
    fn next_wake(
        &self,
        shared: &Shared,
        phase: Phase,
        deadline: Instant,
        last_rx: Instant,
        pinged: bool,
    ) -> Instant {
        if phase != Phase::Live {
            return deadline;
        }
        let mut wake = if self.is_idle() {
            Instant::now() + Duration::from_secs(3600)
        } else if pinged {
            last_rx + SILENCE_TIMEOUT
        } else {
            last_rx + PING_AFTER
        };
        if let RoleState::Sender(sender) = &self.role
            && let Some(due_us) = sender.next_due_us()
        {
            wake = wake.min(shared.instant(due_us));
        }
        wake
    }

    fn waiting_for_go(&self) -> bool {
        matches!(&self.role, RoleState::Sender(sender) if sender.started_us.is_none())
    }

    /// Handles one text frame. An `Err` ends the session.
    fn frame(&mut self, text: &str, phase: &mut Phase, shared: &Shared) -> Result<(), End> {
        if matches!(self.role, RoleState::Sender(_) | RoleState::Idle)
            && text.starts_with(MESSAGE_PREFIX)
        {
            return Ok(());
        }
        let Some(incoming) = wire::parse(text) else {
            self.errors += 1;
            shared.log(format_args!("{}: undecodable frame {text:.200}", self.name));
            return Ok(());
        };
        match incoming {
            Incoming::Welcome { token } => {
                if *phase != Phase::Welcome {
                    return Ok(());
                }
                self.token = Some(token.into_owned());
                if self.sessions > 0 {
                    self.reconnects += 1;
                }
                self.sessions += 1;
                let since = match &self.role {
                    RoleState::Receiver(receiver) => receiver.track.since(),
                    _ => None,
                };
                let join = ClientCommand::Join {
                    room: self.room.clone(),
                    since,
                };
                self.out.push(Message::text(encode_command(&join)));
                *phase = Phase::Joining;
            }
            Incoming::Joined { room, head } => {
                if *phase != Phase::Joining || room != self.room {
                    return Ok(());
                }
                *phase = Phase::Live;
                shared.up.fetch_add(1, Ordering::Relaxed);
                let first = !self.joined;
                self.joined = true;
                match &mut self.role {
                    RoleState::Receiver(receiver) => {
                        receiver.track.joined(head);
                        shared.receiver_last[receiver.index]
                            .store(receiver.track.last(), Ordering::Relaxed);
                        if first {
                            shared.receivers_ready.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    RoleState::Sender(_) if first => {
                        shared.senders_ready.fetch_add(1, Ordering::Relaxed);
                    }
                    RoleState::Idle if first => {
                        shared.idle_ready.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            Incoming::Message {
                room,
                seq,
                id,
                text,
            } => {
                if let RoleState::Receiver(receiver) = &mut self.role
                    && room == self.room
                {
                    receiver.message(seq, &id, &text, shared);
                }
            }
            Incoming::Ack { room, id, seq } => {
                if let RoleState::Sender(sender) = &mut self.role
                    && room == self.room
                {
                    sender.ack(&id, seq, self.room_index, shared);
                }
            }
            Incoming::Error {
                code,
                command,
                id,
                retry_after_ms,
            } => {
                let shown = code.map_or("unknown", ErrorCode::as_str);
                match *phase {
                    Phase::Welcome => {
                        if code == Some(ErrorCode::InvalidToken) {
                            self.token = None;
                        } else if !code.is_some_and(ErrorCode::is_retryable) {
                            self.errors += 1;
                        }
                        return Err(End::Lost(format!("hello refused: {shown}")));
                    }
                    Phase::Joining if command.as_deref() == Some("join") => {
                        if !code.is_some_and(ErrorCode::is_retryable) {
                            self.errors += 1;
                        }
                        return Err(End::Lost(format!("join refused: {shown}")));
                    }
                    _ => {}
                }
                let handled = match (&mut self.role, &id) {
                    (RoleState::Sender(sender), Some(id)) => {
                        sender.refused(id, code, retry_after_ms, shared.now_us())
                    }
                    _ => Refusal::Unrelated,
                };
                match handled {
                    Refusal::Retry => {}
                    Refusal::Rejected | Refusal::Unrelated => {
                        self.errors += 1;
                        shared.log(format_args!(
                            "{}: error {shown} (command {:?}, id {:?})",
                            self.name, command, id
                        ));
                    }
                }
                if code == Some(ErrorCode::NotJoined) {
                    // Our view of the session is wrong: start over.
                    return Err(End::Lost("server says not joined".to_owned()));
                }
            }
            Incoming::Other => {}
        }
        Ok(())
    }

    /// Lets a sender create and send what is due.
    fn pump(&mut self, shared: &Shared) {
        if let RoleState::Sender(sender) = &mut self.role {
            sender.pump(&self.room, shared, &mut self.out);
        }
    }

    fn finish(self, shared: &Shared) -> ClientReport {
        let mut report = ClientReport {
            room_index: self.room_index,
            joined: self.joined,
            reconnects: self.reconnects,
            errors: self.errors,
            ..ClientReport::default()
        };
        match self.role {
            RoleState::Receiver(mut receiver) => {
                receiver.latency.flush();
                let (start, end) = shared.send_window();
                report.gap_us = receiver.gap.finish(start, end);
                report.last_delivery_us = receiver.last_delivery_us;
                report.track = Some(receiver.track);
            }
            RoleState::Sender(mut sender) => {
                sender.ack_latency.flush();
                report.posts = sender.created;
                report.acked = sender.acked.iter().map(|(&fp, &seq)| (seq, fp)).collect();
                report.unacked = sender.outbox.len() as u64;
                report.rejected = sender.rejected;
                report.retries = sender.retries;
                report.ack_conflicts = sender.ack_conflicts;
                report.last_ack_us = sender.last_ack_us;
            }
            RoleState::Idle => {}
        }
        report
    }
}

impl ReceiverState {
    fn message(&mut self, seq: Seq, id: &str, text: &str, shared: &Shared) {
        let receipt = self.track.message(seq, fingerprint(id));
        shared.receiver_last[self.index].store(self.track.last(), Ordering::Relaxed);
        if !receipt.is_new() {
            return;
        }
        let now = shared.now_us();
        if let Some(sent) = sent_at_us(text) {
            self.latency.record(now.saturating_sub(sent));
        }
        let (start, end) = shared.send_window();
        self.gap.delivery(now, start, end);
        self.last_delivery_us = Some(now);
    }
}

/// The send time a post text starts with (`"<µs> <sender>.<n>"`).
pub fn sent_at_us(text: &str) -> Option<u64> {
    text.split(' ').next()?.parse().ok()
}

/// What became of a refused post.
enum Refusal {
    /// Kept, to be sent again later.
    Retry,
    /// Dropped for good.
    Rejected,
    /// Not one of ours.
    Unrelated,
}

impl SenderState {
    /// A new connection: nothing is in flight on it.
    fn new_connection(&mut self) {
        for pending in &mut self.outbox {
            pending.sent = false;
        }
        self.in_flight = 0;
    }

    /// The microsecond interval between this sender's posts at its rate.
    fn interval_us(&self) -> f64 {
        1e6 / self.plan.rate
    }

    /// When this sender next has something to do without a frame arriving: a post
    /// falling due, the end of its sending time, a refused post to retry.
    fn next_due_us(&self) -> Option<u64> {
        let start = self.started_us?;
        let mut due = self.retry_at_us;
        if !self.finished {
            let end = self.plan.duration_us.map(|d| start.saturating_add(d));
            let next = if self.plan.rate > 0.0 {
                let at = self.plan.offset_us as f64 + self.created as f64 * self.interval_us();
                Some(start.saturating_add(at as u64))
            } else {
                None
            };
            for candidate in [next, end].into_iter().flatten() {
                due = Some(due.map_or(candidate, |d: u64| d.min(candidate)));
            }
        }
        due
    }

    /// Creates the posts that are due and sends what the window allows.
    fn pump(&mut self, room: &str, shared: &Shared, out: &mut Vec<Message>) {
        if self.started_us.is_none() {
            if !shared.go.is_cancelled() {
                return;
            }
            self.started_us = Some(shared.send_window().0);
        }
        let Some(start) = self.started_us else {
            return;
        };
        let now = shared.now_us();
        if !self.finished {
            self.create_due(room, start, now);
            if self.finished {
                shared.senders_finished.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.retry_at_us.is_some_and(|at| at <= now) {
            self.retry_at_us = None;
        }
        for pending in &mut self.outbox {
            if self.in_flight >= self.plan.window {
                break;
            }
            if pending.sent {
                continue;
            }
            if pending.not_before_us > now {
                let at = pending.not_before_us;
                self.retry_at_us = Some(self.retry_at_us.map_or(at, |r| r.min(at)));
                continue;
            }
            out.push(Message::Text(pending.frame.clone()));
            pending.sent = true;
            self.in_flight += 1;
        }
        if self.finished && self.outbox.is_empty() && !self.drained {
            self.drained = true;
            shared.senders_drained.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn create_due(&mut self, room: &str, start: u64, now: u64) {
        let end = self.plan.duration_us.map(|d| start.saturating_add(d));
        loop {
            if self
                .plan
                .messages
                .is_some_and(|limit| self.created >= limit)
            {
                self.finished = true;
                return;
            }
            let at = if self.plan.rate > 0.0 {
                let offset = self.plan.offset_us as f64 + self.created as f64 * self.interval_us();
                let at = start.saturating_add(offset as u64);
                if end.is_some_and(|end| at >= end) {
                    self.finished = true;
                    return;
                }
                if at > now {
                    return;
                }
                at
            } else {
                if end.is_some_and(|end| now >= end) {
                    self.finished = true;
                    return;
                }
                if self.outbox.len() >= self.plan.window {
                    return;
                }
                now
            };
            self.create(room, at);
        }
    }

    /// Creates one post, due (and timed) at `at_us`.
    fn create(&mut self, room: &str, at_us: u64) {
        let id = tuitalk_client::id::uuid_v4(&mut self.rng);
        let fp = fingerprint(&id);
        let text = format!("{at_us} {}.{}", self.index, self.created);
        let post = ClientCommand::Post {
            room: room.to_owned(),
            id,
            text,
        };
        self.outbox.push_back(Pending {
            fp,
            frame: Utf8Bytes::from(encode_command(&post)),
            created_us: at_us,
            sent: false,
            not_before_us: 0,
        });
        self.created += 1;
    }

    fn ack(&mut self, id: &str, seq: Seq, room_index: usize, shared: &Shared) {
        let fp = fingerprint(id);
        let Some(position) = self.outbox.iter().position(|p| p.fp == fp) else {
            // Not in the outbox: an ack repeated for a post acknowledged before.
            if self.acked.get(&fp).is_some_and(|&known| known != seq) {
                self.ack_conflicts += 1;
            }
            return;
        };
        let Some(pending) = self.outbox.remove(position) else {
            return;
        };
        if pending.sent {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let now = shared.now_us();
        self.ack_latency
            .record(now.saturating_sub(pending.created_us));
        if let Some(previous) = self.acked.insert(fp, seq)
            && previous != seq
        {
            self.ack_conflicts += 1;
        }
        if let Some(max) = shared.room_acked.get(room_index) {
            max.fetch_max(seq, Ordering::Relaxed);
        }
        self.last_ack_us = Some(now);
    }

    fn refused(
        &mut self,
        id: &str,
        code: Option<ErrorCode>,
        retry_after_ms: Option<u64>,
        now: u64,
    ) -> Refusal {
        let fp = fingerprint(id);
        let Some(position) = self.outbox.iter().position(|p| p.fp == fp) else {
            return Refusal::Unrelated;
        };
        let retry = code.is_some_and(ErrorCode::is_retryable) || code == Some(ErrorCode::NotJoined);
        if !retry {
            if let Some(pending) = self.outbox.remove(position)
                && pending.sent
            {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            self.rejected += 1;
            return Refusal::Rejected;
        }
        let wait_ms = retry_after_ms.unwrap_or(DEFAULT_RETRY_MS).max(1);
        // A little jitter so refused senders do not all come back in step.
        let jitter_ms = self.rng.u64(0..=wait_ms / 4);
        let at = now.saturating_add((wait_ms + jitter_ms).saturating_mul(1000));
        if let Some(pending) = self.outbox.get_mut(position) {
            if pending.sent {
                pending.sent = false;
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            pending.not_before_us = at;
        }
        self.retry_at_us = Some(self.retry_at_us.map_or(at, |r| r.min(at)));
        self.retries += 1;
        if code == Some(ErrorCode::NotJoined) {
            Refusal::Unrelated
        } else {
            Refusal::Retry
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new(1, 1, BackoffConfig::default(), false).expect("shared")
    }

    fn sender(plan: SendPlan) -> SenderState {
        let shared = shared();
        SenderState {
            index: 0,
            plan,
            rng: fastrand::Rng::with_seed(1),
            outbox: VecDeque::new(),
            in_flight: 0,
            created: 0,
            started_us: None,
            finished: false,
            drained: false,
            acked: HashMap::new(),
            ack_conflicts: 0,
            rejected: 0,
            retries: 0,
            retry_at_us: None,
            last_ack_us: None,
            ack_latency: LatencyBuf::new(shared.ack_latency.clone()),
        }
    }

    fn ids(out: &[Message]) -> Vec<String> {
        out.iter()
            .map(|m| {
                let text = m.to_text().expect("text");
                let value: serde_json::Value = serde_json::from_str(text).expect("json");
                value["id"].as_str().expect("id").to_owned()
            })
            .collect()
    }

    #[test]
    fn texts_carry_the_send_time() {
        assert_eq!(sent_at_us("12345 0.7"), Some(12345));
        assert_eq!(sent_at_us("hello"), None);
    }

    #[test]
    fn ack_paced_sender_keeps_its_window() {
        let shared = shared();
        let plan = SendPlan {
            rate: 0.0,
            window: 3,
            messages: Some(5),
            duration_us: None,
            offset_us: 0,
        };
        let mut s = sender(plan);
        let mut out = Vec::new();
        s.pump("r", &shared, &mut out);
        assert!(out.is_empty(), "nothing before go");
        shared.start_sending();
        s.pump("r", &shared, &mut out);
        assert_eq!(out.len(), 3);
        let sent = ids(&out);
        out.clear();
        s.ack(&sent[0], 1, 0, &shared);
        s.pump("r", &shared, &mut out);
        assert_eq!(out.len(), 1, "one place freed");
        assert_eq!(s.in_flight, 3);
        assert_eq!(shared.room_acked[0].load(Ordering::Relaxed), 1);
        // A repeated ack with another sequence is a conflict.
        s.ack(&sent[0], 2, 0, &shared);
        assert_eq!(s.ack_conflicts, 1);
    }

    #[test]
    fn reconnect_resends_the_same_frames() {
        let shared = shared();
        shared.start_sending();
        let plan = SendPlan {
            rate: 0.0,
            window: 2,
            messages: Some(2),
            duration_us: None,
            offset_us: 0,
        };
        let mut s = sender(plan);
        let mut first = Vec::new();
        s.pump("r", &shared, &mut first);
        s.new_connection();
        let mut again = Vec::new();
        s.pump("r", &shared, &mut again);
        assert_eq!(first, again);
        assert!(s.finished);
        for (seq, id) in ids(&again).iter().enumerate() {
            s.ack(id, seq as u64 + 1, 0, &shared);
        }
        s.pump("r", &shared, &mut again);
        assert!(s.drained);
        assert_eq!(shared.senders_drained.load(Ordering::Relaxed), 1);
        assert_eq!(shared.senders_finished.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn refused_posts_wait_and_come_back() {
        let shared = shared();
        shared.start_sending();
        let plan = SendPlan {
            rate: 0.0,
            window: 4,
            messages: Some(1),
            duration_us: None,
            offset_us: 0,
        };
        let mut s = sender(plan);
        let mut out = Vec::new();
        s.pump("r", &shared, &mut out);
        let id = ids(&out).remove(0);
        out.clear();
        let now = shared.now_us();
        assert!(matches!(
            s.refused(&id, Some(ErrorCode::RateLimited), Some(60_000), now),
            Refusal::Retry
        ));
        s.pump("r", &shared, &mut out);
        assert!(out.is_empty(), "not before the retry time");
        assert!(s.next_due_us().is_some_and(|due| due >= now + 60_000_000));
        s.outbox[0].not_before_us = 0;
        s.retry_at_us = None;
        s.pump("r", &shared, &mut out);
        assert_eq!(ids(&out), std::slice::from_ref(&id));
        assert!(matches!(
            s.refused(&id, Some(ErrorCode::IdConflict), None, now),
            Refusal::Rejected
        ));
        assert_eq!((s.rejected, s.outbox.len(), s.in_flight), (1, 0, 0));
        assert!(matches!(
            s.refused("other", Some(ErrorCode::RateLimited), None, now),
            Refusal::Unrelated
        ));
    }

    #[test]
    fn rate_sender_creates_posts_on_schedule() {
        let shared = shared();
        let start = shared.start_sending();
        let plan = SendPlan {
            rate: 100.0,
            window: 1000,
            messages: None,
            duration_us: Some(50_000),
            offset_us: 5_000,
        };
        let mut s = sender(plan);
        s.started_us = Some(start);
        // 30 ms in: posts due at 5, 15, 25 ms.
        s.create_due("r", start, start + 30_000);
        assert_eq!(s.created, 3);
        assert_eq!(s.next_due_us(), Some(start + 35_000));
        let times: Vec<u64> = s.outbox.iter().map(|p| p.created_us - start).collect();
        assert_eq!(times, [5_000, 15_000, 25_000]);
        // Past the end: 35 and 45 ms, then finished.
        s.create_due("r", start, start + 100_000);
        assert_eq!(s.created, 5);
        assert!(s.finished);
    }
}
