//! The client state machine: identity, rooms, outbox and connection state, with the
//! connection lifecycle inputs and the user's intents. Server events are handled in
//! [`crate::events`].

use std::collections::{BTreeMap, BTreeSet};

use tuitalk_protocol::event::Limits;
use tuitalk_protocol::name::{validate_display_name, validate_room, validate_text};
use tuitalk_protocol::{ClientCommand, CloseCode, PROTOCOL_VERSION, Seq};

use crate::action::{Action, ConnState, Notice};
use crate::backoff::{Backoff, BackoffConfig};
use crate::id::uuid_v4;
use crate::outbox::Outbox;
use crate::room::Room;

/// Settings of the client core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The display name to ask for when starting as a new guest (the server picks one
    /// when `None`).
    pub name: Option<String>,
    /// Reconnect backoff.
    pub backoff: BackoffConfig,
    /// How many messages to load when a room is first shown (default 50).
    pub history_page: u32,
    /// Most messages kept in memory per room (default 5000); older ones can be fetched
    /// again.
    pub max_messages_per_room: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            name: None,
            backoff: BackoffConfig::default(),
            history_page: 50,
            max_messages_per_room: 5000,
        }
    }
}

/// Who this session is, as the server's `welcome` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id (stable across reconnects).
    pub user_id: String,
    /// The current display name.
    pub name: String,
    /// The account's handle (without `@`); `None` for a guest.
    pub handle: Option<String>,
    /// For an account: whether its email address is verified.
    pub email_verified: bool,
    /// This device's session id.
    pub session_id: String,
    /// The session token that resumes this identity in a later `hello`.
    pub token: String,
}

impl Identity {
    /// Whether this identity is a guest (no account).
    pub fn is_guest(&self) -> bool {
        self.handle.is_none()
    }
}

/// The limits a server announces, with the protocol's documented defaults until the
/// first `welcome`.
pub fn default_limits() -> Limits {
    Limits {
        max_text_chars: 4000,
        max_name_chars: 32,
        max_frame_bytes: 16_384,
        history_page_max: 200,
        max_rooms: 50,
        posts_per_second: 20,
    }
}

/// The client core: feed it inputs, carry out the [`Action`]s it returns.
///
/// All inputs take the current time in milliseconds (any monotonic clock the host has);
/// randomness (post ids, jitter) comes from a generator seeded by the caller.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) config: Config,
    pub(crate) rng: fastrand::Rng,
    pub(crate) identity: Option<Identity>,
    pub(crate) desired_name: Option<String>,
    pub(crate) pending_rename: Option<String>,
    pub(crate) rooms: BTreeMap<String, Room>,
    pub(crate) current: Option<String>,
    pub(crate) outbox: Outbox,
    pub(crate) state: ConnState,
    pub(crate) backoff: Backoff,
    pub(crate) limits: Limits,
    /// Rooms whose next `joined` should be followed by a first history page.
    pub(crate) history_wanted: BTreeSet<String>,
    /// Rooms whose `presence` answers the user's `/who`.
    pub(crate) who_requested: BTreeSet<String>,
    /// Rooms with a user-requested "fetch older" in flight.
    pub(crate) fetch_requested: BTreeSet<String>,
    /// The server answered our `hello` with `invalid_token`.
    pub(crate) token_refused: bool,
    /// The open connection is being closed to say `hello` again with another identity
    /// ([`Client::sign_in`], [`Client::sign_out`]): its end reconnects at once.
    pub(crate) restarting: bool,
    /// A `welcome` arrived at least once in this run.
    pub(crate) welcomed: bool,
}

impl Client {
    /// A client that is offline until [`Client::start`]; `seed` seeds post ids and
    /// jitter (use a different one per run, for example from the clock).
    pub fn new(config: Config, seed: u64) -> Self {
        Self {
            desired_name: config.name.clone(),
            backoff: Backoff::new(config.backoff),
            config,
            rng: fastrand::Rng::with_seed(seed),
            identity: None,
            pending_rename: None,
            rooms: BTreeMap::new(),
            current: None,
            outbox: Outbox::new(),
            state: ConnState::Offline { reason: None },
            limits: default_limits(),
            history_wanted: BTreeSet::new(),
            who_requested: BTreeSet::new(),
            fetch_requested: BTreeSet::new(),
            token_refused: false,
            restarting: false,
            welcomed: false,
        }
    }

    // ----- queries -----

    /// The connection state.
    pub fn state(&self) -> &ConnState {
        &self.state
    }

    /// Who this session is, once welcomed.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The limits in force (the server's, once welcomed).
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Every room the client has, by name.
    pub fn rooms(&self) -> impl Iterator<Item = &Room> {
        self.rooms.values()
    }

    /// One room.
    pub fn room(&self, name: &str) -> Option<&Room> {
        self.rooms.get(name)
    }

    /// The name of the room being shown (posts go there).
    pub fn current_room(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// The posts waiting for acknowledgement.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    // ----- connection lifecycle -----

    /// Takes on the identity of an earlier session whose token the host kept (the web
    /// client keeps it across a page reload): the first `hello` resumes it (same user,
    /// name and rooms) instead of creating a guest. If the server no longer accepts the
    /// token (`invalid_token`, or close 4004 later: the session was revoked or expired),
    /// the identity is dropped and the session continues as a new guest with the same
    /// name; the host then forgets the token too. Only before the first `start`.
    pub fn resume_identity(&mut self, identity: Identity) {
        if self.identity.is_none() && self.state == (ConnState::Offline { reason: None }) {
            self.desired_name = Some(identity.name.clone());
            self.identity = Some(identity);
        }
    }

    /// Starts the session: asks the host to connect. Does nothing unless offline.
    pub fn start(&mut self, _now_ms: u64) -> Vec<Action> {
        if !matches!(self.state, ConnState::Offline { .. }) {
            return Vec::new();
        }
        self.backoff.reset();
        self.state = ConnState::Connecting;
        vec![Action::Connect]
    }

    /// The connection asked for by [`Action::Connect`] is open: say `hello` (resuming
    /// the identity when there is a token).
    pub fn connected(&mut self, _now_ms: u64) -> Vec<Action> {
        if self.state != ConnState::Connecting {
            // The user quit (or something else moved on) while connecting.
            return vec![Action::Close];
        }
        let hello = match &self.identity {
            Some(identity) => ClientCommand::Hello {
                version: PROTOCOL_VERSION,
                token: Some(identity.token.clone()),
                name: None,
            },
            None => ClientCommand::Hello {
                version: PROTOCOL_VERSION,
                token: None,
                name: self.desired_name.clone(),
            },
        };
        vec![Action::Send(hello)]
    }

    /// The connection is gone (or could not be opened). `code` is the WebSocket close
    /// code when the server sent one, `reason` its reason or the transport's error.
    pub fn disconnected(&mut self, now_ms: u64, code: Option<u16>, reason: &str) -> Vec<Action> {
        for room in self.rooms.values_mut() {
            room.set_joined(false);
        }
        self.outbox.requeue_all();
        self.who_requested.clear();
        self.fetch_requested.clear();
        let was_connected = self.state.is_connected();
        if matches!(self.state, ConnState::Offline { .. }) {
            return Vec::new();
        }
        if std::mem::take(&mut self.restarting) {
            // Closed (or lost) to say `hello` again with another identity: whatever
            // ended the old session, the new one starts now.
            self.token_refused = false;
            self.backoff.reset();
            self.state = ConnState::Connecting;
            return vec![Action::Connect];
        }
        let mut actions = Vec::new();
        let mut prompt = matches!(
            code,
            Some(CloseCode::SERVICE_RESTART | CloseCode::SLOW_CONSUMER)
        );
        let token_refused = reason.contains("invalid_token") || self.token_refused;
        self.token_refused = false;
        let ended = match code {
            Some(CloseCode::HELLO_FAILED) if token_refused => {
                Some("the server no longer accepts this session")
            }
            Some(CloseCode::SESSION_ENDED) => Some(match reason {
                "session_revoked" => "session revoked",
                "session_expired" => "session expired",
                _ => "session ended",
            }),
            _ => None,
        };
        let signed_out = ended.is_some() && self.identity.is_some();
        if let Some(why) = ended.filter(|_| signed_out) {
            // The session is over (revoked, expired, or unknown to the server): its token
            // must not be used again. Start again as a new guest with the same name,
            // keeping rooms and outbox; the host drops the token it kept.
            if let Some(identity) = self.identity.take() {
                self.desired_name = Some(identity.name);
                actions.push(Action::Notice(Notice::error(
                    None,
                    format!("signed out: {why}; continuing as a new guest"),
                )));
                prompt = true;
            }
        } else if let Some(code) = code.filter(|code| !CloseCode::should_reconnect(*code)) {
            let reason = describe_close(code, reason);
            actions.push(Action::Notice(Notice::error(
                None,
                format!("disconnected: {reason}"),
            )));
            self.state = ConnState::Offline {
                reason: Some(reason),
            };
            return actions;
        }
        if prompt {
            self.backoff.reset();
        }
        let (delay, attempt) = self.backoff.next_delay(&mut self.rng);
        self.state = ConnState::Reconnecting {
            at_ms: now_ms.saturating_add(delay),
            attempt,
        };
        if was_connected && !signed_out {
            let why = match code {
                Some(code) => describe_close(code, reason),
                None if reason.is_empty() => "connection lost".to_owned(),
                None => reason.to_owned(),
            };
            actions.push(Action::Notice(Notice::error(
                None,
                format!("disconnected ({why}); reconnecting"),
            )));
        }
        actions
    }

    /// Time passes: connects again when a reconnect is due, and re-sends posts whose
    /// retry time has come.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Action> {
        match self.state {
            ConnState::Reconnecting { at_ms, .. } if now_ms >= at_ms => {
                self.state = ConnState::Connecting;
                vec![Action::Connect]
            }
            ConnState::Connected => {
                let mut actions = Vec::new();
                for room in self.outbox.rooms_due(now_ms) {
                    self.flush_room(&room, now_ms, &mut actions);
                }
                actions
            }
            _ => Vec::new(),
        }
    }

    /// Connects now instead of waiting for the backoff (or again after going offline).
    pub fn reconnect_now(&mut self, now_ms: u64) -> Vec<Action> {
        match self.state {
            ConnState::Reconnecting { .. } => {
                self.state = ConnState::Connecting;
                vec![Action::Connect]
            }
            ConnState::Offline { .. } => self.start(now_ms),
            _ => Vec::new(),
        }
    }

    /// The user quits: close the connection and stay offline.
    pub fn quit(&mut self) -> Vec<Action> {
        self.restarting = false;
        let was_open = matches!(self.state, ConnState::Connected | ConnState::Connecting);
        self.state = ConnState::Offline {
            reason: Some("quit".to_owned()),
        };
        if was_open {
            vec![Action::Close]
        } else {
            Vec::new()
        }
    }

    /// Takes on another identity at once, for example after logging in or registering
    /// over the REST API: the open connection (if any) is closed and the next `hello`
    /// resumes `identity`. Rooms and the outbox are kept (posts still waiting are sent
    /// as the new identity).
    pub fn sign_in(&mut self, now_ms: u64, identity: Identity) -> Vec<Action> {
        self.desired_name = Some(identity.name.clone());
        self.identity = Some(identity);
        self.restart(now_ms)
    }

    /// Drops the identity (its session was revoked, for example by logging out): the
    /// open connection (if any) is closed and the next `hello` makes a new guest with
    /// the same display name. Rooms and the outbox are kept.
    pub fn sign_out(&mut self, now_ms: u64) -> Vec<Action> {
        if let Some(identity) = self.identity.take() {
            self.desired_name = Some(identity.name);
        }
        self.restart(now_ms)
    }

    /// Says `hello` again on a new connection, now.
    fn restart(&mut self, now_ms: u64) -> Vec<Action> {
        self.token_refused = false;
        self.pending_rename = None;
        match self.state {
            ConnState::Connected | ConnState::Connecting => {
                // The `hello` of a connection being opened may already carry the old
                // identity: close it too; its end reconnects (see `disconnected`).
                self.restarting = true;
                vec![Action::Close]
            }
            ConnState::Reconnecting { .. } => {
                self.backoff.reset();
                self.state = ConnState::Connecting;
                vec![Action::Connect]
            }
            ConnState::Offline { .. } => self.start(now_ms),
        }
    }

    // ----- user intents -----

    /// Posts `text` into the current room. It stays in the outbox (shown as pending)
    /// until acknowledged, and is sent as soon as the room is joined.
    pub fn post(&mut self, now_ms: u64, text: &str) -> Vec<Action> {
        let Some(room) = self.current.clone() else {
            return vec![Action::Notice(Notice::error(
                None,
                "join a room first (/room NAME)",
            ))];
        };
        if let Err(code) = validate_text(text, self.limits.max_text_chars as usize) {
            let why = match code {
                tuitalk_protocol::ErrorCode::TextTooLong => format!(
                    "message too long (at most {} characters)",
                    self.limits.max_text_chars
                ),
                _ => "message is empty".to_owned(),
            };
            return vec![Action::Notice(Notice::error(Some(&room), why))];
        }
        let id = uuid_v4(&mut self.rng);
        let ready = self.state.is_connected()
            && self.rooms.get(&room).is_some_and(Room::is_joined)
            && !self.outbox.room_blocked(&room, now_ms);
        self.outbox.push(id, room.clone(), text.to_owned(), now_ms);
        let mut actions = Vec::new();
        if ready {
            self.flush_room(&room, now_ms, &mut actions);
        }
        actions
    }

    /// Joins `room` (if not joined yet) and makes it the current room.
    pub fn join(&mut self, room: &str) -> Vec<Action> {
        if validate_room(room).is_err() {
            return vec![Action::Notice(Notice::error(
                None,
                format!(
                    "invalid room name {room:?}: use ASCII letters, digits, '-', '_' or '.' (at most 64)"
                ),
            ))];
        }
        if self.rooms.contains_key(room) {
            self.switch_to(room);
            return Vec::new();
        }
        self.rooms.insert(
            room.to_owned(),
            Room::new(room, self.config.max_messages_per_room),
        );
        self.history_wanted.insert(room.to_owned());
        self.current = Some(room.to_owned());
        if self.state.is_connected() {
            vec![Action::Send(ClientCommand::Join {
                room: room.to_owned(),
                since: None,
            })]
        } else {
            Vec::new()
        }
    }

    /// Shows a room the client already has (its unread count drops to 0). Returns
    /// whether the room exists.
    pub fn switch_to(&mut self, room: &str) -> bool {
        match self.rooms.get_mut(room) {
            Some(found) => {
                found.mark_read();
                self.current = Some(room.to_owned());
                true
            }
            None => false,
        }
    }

    /// Leaves the current room; its unsent posts are dropped. Another room (if any)
    /// becomes current.
    pub fn leave(&mut self) -> Vec<Action> {
        let Some(room) = self.current.take() else {
            return vec![Action::Notice(Notice::error(None, "not in a room"))];
        };
        self.rooms.remove(&room);
        self.history_wanted.remove(&room);
        let mut actions = Vec::new();
        let dropped = self.outbox.remove_room(&room);
        if !dropped.is_empty() {
            actions.push(Action::Notice(Notice::error(
                None,
                format!("{} unsent message(s) to #{room} dropped", dropped.len()),
            )));
        }
        if let Some(next) = self.rooms.keys().next().cloned() {
            self.switch_to(&next);
        }
        if self.state.is_connected() {
            actions.push(Action::Send(ClientCommand::Leave { room }));
        } else {
            actions.push(Action::Notice(Notice::info(None, format!("left #{room}"))));
        }
        actions
    }

    /// Changes the display name (sent when connected, otherwise on the next `welcome`).
    pub fn rename(&mut self, name: &str) -> Vec<Action> {
        if validate_display_name(name, self.limits.max_name_chars as usize).is_err() {
            return vec![Action::Notice(Notice::error(
                None,
                format!(
                    "invalid name: 1 to {} characters, no control characters or surrounding spaces",
                    self.limits.max_name_chars
                ),
            ))];
        }
        if self.state.is_connected() {
            return vec![Action::Send(ClientCommand::Name {
                name: name.to_owned(),
            })];
        }
        if self.identity.is_some() {
            self.pending_rename = Some(name.to_owned());
        } else {
            self.desired_name = Some(name.to_owned());
        }
        vec![Action::Notice(Notice::info(
            None,
            format!("you will be called {name} once connected"),
        ))]
    }

    /// Loads up to `n` messages older than the oldest one loaded in the current room.
    pub fn fetch_older(&mut self, n: u32) -> Vec<Action> {
        let Some(room_name) = self.current.clone() else {
            return vec![Action::Notice(Notice::error(None, "not in a room"))];
        };
        let Some(room) = self.rooms.get(&room_name) else {
            return Vec::new();
        };
        if !room.has_older() {
            return vec![Action::Notice(Notice::info(
                Some(&room_name),
                "no older messages",
            ))];
        }
        if !(self.state.is_connected() && room.is_joined()) {
            return vec![Action::Notice(Notice::error(
                Some(&room_name),
                "not connected; try again later",
            ))];
        }
        let before: Seq = room.oldest_seq().unwrap_or(room.last_seq() + 1);
        let limit = n.clamp(1, self.limits.history_page_max.max(1));
        self.fetch_requested.insert(room_name.clone());
        vec![Action::Send(ClientCommand::History {
            room: room_name,
            before: Some(before),
            limit,
        })]
    }

    /// Asks who is present in the current room (answered by a notice).
    pub fn who(&mut self) -> Vec<Action> {
        let Some(room) = self.current.clone() else {
            return vec![Action::Notice(Notice::error(None, "not in a room"))];
        };
        if !(self.state.is_connected() && self.rooms.get(&room).is_some_and(Room::is_joined)) {
            return vec![Action::Notice(Notice::error(
                Some(&room),
                "not connected; try again later",
            ))];
        }
        self.who_requested.insert(room.clone());
        vec![Action::Send(ClientCommand::Who { room })]
    }

    /// Forgets the loaded messages of a room (a local "clear screen"); `fetch_older`
    /// brings them back.
    pub fn clear_room(&mut self, room: &str) {
        if let Some(found) = self.rooms.get_mut(room) {
            found.clear_loaded();
        }
    }

    // ----- helpers shared with `events` -----

    /// Sends the room's outbox entries that may go now.
    pub(crate) fn flush_room(&mut self, room: &str, now_ms: u64, actions: &mut Vec<Action>) {
        if !self.rooms.get(room).is_some_and(Room::is_joined) {
            return;
        }
        actions.extend(
            self.outbox
                .take_sendable(room, now_ms)
                .into_iter()
                .map(Action::Send),
        );
    }
}

/// A human-readable account of a close code.
pub fn describe_close(code: u16, reason: &str) -> String {
    let what = match code {
        CloseCode::NORMAL => "closed",
        CloseCode::GOING_AWAY => "server going away",
        CloseCode::INVALID_PAYLOAD => "invalid payload",
        CloseCode::POLICY => "protocol violations",
        CloseCode::TOO_BIG => "frame too big",
        CloseCode::SERVICE_RESTART => "server restarting",
        CloseCode::TRY_AGAIN_LATER => "server full",
        CloseCode::SLOW_CONSUMER => "too slow to keep up",
        CloseCode::HELLO_FAILED => "session refused",
        CloseCode::HELLO_TIMEOUT => "handshake timeout",
        CloseCode::IDLE_TIMEOUT => "idle timeout",
        CloseCode::SESSION_ENDED => "session ended",
        _ => "closed",
    };
    if reason.is_empty() {
        format!("{what} ({code})")
    } else {
        format!("{what} ({code}: {reason})")
    }
}
