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

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tuitalk_client::Backoff;
use tuitalk_protocol::{ClientCommand, ErrorCode, PROTOCOL_VERSION, Seq, encode_command};

use crate::sender::{Refusal, SendPlan, SenderState};
use crate::shared::Shared;
use crate::stats::{GapTracker, LatencyBuf};
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
/// The start of every `message` frame (serde writes the tag first); senders skip those
/// frames without parsing them.
const MESSAGE_PREFIX: &str = r#"{"type":"message""#;

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
    /// Receivers: the delivery gaps while sending went on (finished by the caller,
    /// which knows when the room's last post was acknowledged).
    pub gap: GapTracker,
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
    client.finish()
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
            Role::Sender { index, plan } => RoleState::Sender(Box::new(SenderState::new(
                index,
                plan,
                LatencyBuf::new(shared.ack_latency.clone()),
            ))),
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
        matches!(&self.role, RoleState::Sender(sender) if sender.waiting_for_go())
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

    fn finish(self) -> ClientReport {
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
                report.gap = receiver.gap;
                report.last_delivery_us = receiver.last_delivery_us;
                report.track = Some(receiver.track);
            }
            RoleState::Sender(sender) => sender.report(&mut report),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_carry_the_send_time() {
        assert_eq!(sent_at_us("12345 0.7"), Some(12345));
        assert_eq!(sent_at_us("hello"), None);
    }
}
