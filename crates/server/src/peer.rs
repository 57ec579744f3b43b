//! One client connection as the command handlers ([`crate::commands`]) see it: its
//! session, the answers waiting to be written, the posts awaiting their ack, and what a
//! command asks of the transport (close the connection, run follow-up work). The
//! transport ([`crate::transport`]) owns the peer, writes its outbox and polls its
//! futures; handlers never touch the socket.

use std::collections::VecDeque;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use futures_util::stream::FuturesOrdered;
use tokio_util::sync::CancellationToken;
use tuitalk_protocol::{ErrorCode, ServerEvent, encode_event, name};

use crate::AppState;
use crate::commands::{Context, InFlight};
use crate::error::Refusal;
use crate::hub::{ConnId, EventSender, LiveSession, SessionEnd};
use crate::occupancy::Held;
use crate::session::Session;
use crate::store::User;
use crate::store::commit::{PostResult, Receipt};

/// A post's acknowledgement being awaited: room, post id, outcome.
pub type AckFuture = Pin<Box<dyn Future<Output = (String, String, PostResult)> + Send>>;

/// The connection's state that commands read and change.
pub struct Peer {
    state: AppState,
    conn_id: ConnId,
    session: Option<Session>,
    /// The hub queue's sender, handed to the hub when `hello` registers the connection.
    queue: EventSender,
    /// Fired by the hub when the queue overflows.
    slow: CancellationToken,
    /// Fired by the revocation check when the session ends.
    session_end: Arc<SessionEnd>,
    /// Encoded answers, written by the transport in order.
    outbox: VecDeque<Utf8Bytes>,
    /// Posts awaiting their outcome, in arrival order; allocated while there are any, so
    /// a connection that does not post carries none.
    acks: Option<FuturesOrdered<AckFuture>>,
    /// Work a finished command left to run next (before the next command is read).
    then: Option<InFlight>,
    /// A close the transport sends once the outbox is written.
    close: Option<(u16, &'static str)>,
    /// The client's address as the per-address limits count it
    /// ([`crate::edge::ClientAddr::limit_key`]).
    address: IpAddr,
    /// This connection's places in `limits.max_connections_per_address` and, once
    /// `hello` named the identity, `limits.max_connections_per_identity`.
    places: (Option<Held<IpAddr>>, Option<Held<String>>),
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("conn_id", &self.conn_id)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// A peer of the client at `address` (holding its place there) without a session;
    /// its events will go to `queue`.
    pub fn new(
        state: AppState,
        conn_id: ConnId,
        queue: EventSender,
        slow: CancellationToken,
        (address, place): (IpAddr, Option<Held<IpAddr>>),
    ) -> Self {
        Self {
            state,
            conn_id,
            session: None,
            queue,
            slow,
            session_end: SessionEnd::new(),
            outbox: VecDeque::new(),
            acks: None,
            then: None,
            close: None,
            address,
            places: (place, None),
        }
    }

    /// The client's address as the per-address limits count it.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The server's shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The connection's id in the hub.
    pub fn conn_id(&self) -> ConnId {
        self.conn_id
    }

    /// The session, or `not_authenticated` before `hello`.
    pub fn session(&self) -> Result<&Session, Refusal> {
        self.session
            .as_ref()
            .ok_or_else(|| Refusal::new(ErrorCode::NotAuthenticated, "send hello first"))
    }

    /// The session, if `hello` was answered.
    pub fn session_mut(&mut self) -> Option<&mut Session> {
        self.session.as_mut()
    }

    /// The session, checking that `room` is a valid name joined on this connection
    /// (`invalid_room`, `not_authenticated`, `not_joined`).
    pub fn joined(&self, room: &str) -> Result<&Session, Refusal> {
        name::validate_room(room)?;
        let session = self.session()?;
        if !session.has_joined(room) {
            return Err(ErrorCode::NotJoined.into());
        }
        Ok(session)
    }

    /// Registers the connection with the hub as `user` and starts its session (once:
    /// `hello` is refused on a connection that has a session), holding its place in
    /// `limits.max_connections_per_identity`.
    pub fn register(&mut self, user: User, place: Held<String>, live: LiveSession) {
        self.places.1 = Some(place);
        self.state.hub.register(
            self.conn_id,
            &user.user_id,
            live,
            self.queue.clone(),
            self.slow.clone(),
        );
        self.session = Some(Session::new(user, self.state.config.limits.send_queue));
    }

    /// What ends this connection when its session ends (revoked, expired).
    pub fn session_end(&self) -> Arc<SessionEnd> {
        self.session_end.clone()
    }

    /// Takes one post from the identity's and the address's rates
    /// (`limits.posts_per_second`, `limits.posts_per_second_per_address`), or refuses with
    /// `rate_limited`.
    pub fn take_post(&self) -> Result<(), Refusal> {
        let user_id = &self.session()?.user.user_id;
        self.state.throttles.post(user_id, self.address)
    }

    /// Queues an answer for the client.
    pub fn send(&mut self, event: &ServerEvent) {
        self.outbox.push_back(Utf8Bytes::from(encode_event(event)));
    }

    /// Queues an `error` event for a refused command.
    pub fn refuse(&mut self, context: &Context, refusal: Refusal) {
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
        });
    }

    /// Awaits a post's outcome; the transport answers it (in arrival order).
    pub fn await_ack(&mut self, room: String, id: String, receipt: Receipt) {
        self.acks
            .get_or_insert_with(FuturesOrdered::new)
            .push_back(Box::pin(async move {
                let outcome = receipt.outcome().await;
                (room, id, outcome)
            }));
    }

    /// Runs `work` before the next command is read (the second half of a command).
    pub fn then(&mut self, work: InFlight) {
        self.then = Some(work);
    }

    /// Closes the connection with `code` once the answers queued so far are written.
    pub fn close_after(&mut self, code: u16, reason: &'static str) {
        self.close.get_or_insert((code, reason));
    }

    /// The queued answers (for the transport).
    pub fn outbox(&mut self) -> &mut VecDeque<Utf8Bytes> {
        &mut self.outbox
    }

    /// The posts awaiting their ack (for the transport), dropped once none is left.
    pub fn acks(&mut self) -> Option<&mut FuturesOrdered<AckFuture>> {
        if self.acks.as_ref().is_some_and(FuturesOrdered::is_empty) {
            self.acks = None;
        }
        self.acks.as_mut()
    }

    /// How many posts await their ack.
    pub fn acks_len(&self) -> usize {
        self.acks.as_ref().map_or(0, FuturesOrdered::len)
    }

    /// Follow-up work a command left (for the transport).
    pub fn take_then(&mut self) -> Option<InFlight> {
        self.then.take()
    }

    /// The requested close (for the transport).
    pub fn closing(&self) -> Option<(u16, &'static str)> {
        self.close
    }

    /// Ends the session (the connection ended): returns it for the cleanup.
    pub fn take_session(&mut self) -> Option<Session> {
        self.session.take()
    }
}
