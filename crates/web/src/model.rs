//! The web client's state: the client core plus what only the page needs (system
//! lines per room, who each presence line is about, the history fetch in flight, the
//! end of a session). Every input — the connection opening or closing, a server frame, a
//! clock tick, something the user did — goes through here and comes out as [`Effect`]s
//! for the transport; the page is then redrawn from [`crate::view::View`].

use std::collections::BTreeMap;

use tuitalk_client::{Action, Client, Config, ConnState, Identity, Notice, NoticeKind};
use tuitalk_protocol::{ClientCommand, CloseCode, ErrorCode, Seq, ServerEvent};

use crate::command::{self, Command, DEFAULT_FETCH, HELP};

/// Most system lines kept per room.
const MAX_SYSTEM_LINES: usize = 500;
/// A history request unanswered for this long no longer blocks the next one.
const FETCH_TIMEOUT_MS: u64 = 10_000;

/// What the transport must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Open a new WebSocket (closing any previous one).
    Connect,
    /// Send this command on the open WebSocket.
    Send(ClientCommand),
    /// Close the WebSocket normally.
    Close,
    /// The session is over and its token must not be used again: forget it and go back
    /// to the start screen, saying why.
    SignedOut(SignedOut),
}

/// Why the server ended the session (docs/protocol.md, "Sessions and tokens").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedOut {
    /// Close 4004 `session_revoked`: signed out on another device, "sign out
    /// everywhere", a password change or reset, or an operator.
    Revoked,
    /// Close 4004 `session_expired`: unused or too old.
    Expired,
    /// `hello` refused with `invalid_token` (close 4001): the server does not know the
    /// session (any more).
    Refused,
}

impl SignedOut {
    /// What the start screen says.
    pub fn notice(self) -> &'static str {
        match self {
            Self::Revoked => {
                "You were signed out: this session was ended (signed out on another \
                 device, or the password was changed)."
            }
            Self::Expired => "You were signed out: the session expired.",
            Self::Refused => "You were signed out: the server no longer knows this session.",
        }
    }
}

/// Who a presence line is about (someone joined, left or changed their name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user id.
    pub user_id: String,
    /// The name, marked `name#3f2a` when it looks like another present member's.
    pub name: String,
    /// The account's handle; `None` for a guest.
    pub handle: Option<String>,
}

/// A line of the timeline that is not a message: someone joined, left or changed their
/// name, an error, an answer to `/who`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemLine {
    /// Unique within the page's lifetime (a stable key for rendering).
    pub id: u64,
    /// The room's newest sequence when the line was added: it is shown below that
    /// message.
    pub after_seq: Seq,
    /// What kind of line.
    pub kind: NoticeKind,
    /// Whom the line is about: it is shown before the text (`Ada @ada` + `joined
    /// #lobby`).
    pub subject: Option<Subject>,
    /// The text (shown as text, never as HTML).
    pub text: String,
}

/// A presence change being applied: what the lines it makes say.
#[derive(Debug, Clone)]
enum Change {
    Joined { user_id: String, name: String },
    Left(Subject),
    Renamed { old: Subject, name: String },
}

/// The history page being loaded for the user ("load older", scrolling to the top).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fetch {
    room: String,
    since_ms: u64,
}

/// The web client's state.
#[derive(Debug)]
pub struct Model {
    /// The client core: identity, rooms, outbox, connection.
    pub client: Client,
    system: BTreeMap<Option<String>, Vec<SystemLine>>,
    next_line: u64,
    fetch: Option<Fetch>,
    /// The room to join when the first `welcome` lists none (a new account).
    fallback_room: Option<String>,
    /// The email was verified since the last `welcome` (`POST /api/email-verifications`).
    verified: bool,
    /// The server answered `hello` with `invalid_token`.
    token_refused: bool,
    /// How the next `welcome` is announced.
    greeting: Greeting,
}

/// How a `welcome` is announced in the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Greeting {
    /// As the client core says ("connected as …", "reconnected as …").
    Normal,
    /// After [`Model::switch_identity`]: nothing was lost, nothing to say.
    Silent,
}

/// The close code to give the client core: `None` for the codes a browser reports
/// when no close frame came from the server (1005 no status, 1006 abnormal closure —
/// also what a connection that never opened reports).
pub fn close_code(code: u16) -> Option<u16> {
    match code {
        1005 | 1006 => None,
        code => Some(code),
    }
}

impl Model {
    /// A model around a client core that has not started; `name` is the display name
    /// asked for, `seed` seeds post ids and reconnect jitter.
    pub fn new(name: Option<String>, seed: u64) -> Self {
        let config = Config {
            name,
            ..Config::default()
        };
        Self {
            client: Client::new(config, seed),
            system: BTreeMap::new(),
            next_line: 0,
            fetch: None,
            fallback_room: None,
            verified: false,
            token_refused: false,
            greeting: Greeting::Normal,
        }
    }

    /// A model for an identity that just signed in or registered over REST: it says
    /// `hello` with the new token, and joins `room` if the account is in no room yet.
    pub fn signed_in(identity: Identity, seed: u64, room: &str) -> Self {
        let mut model = Self::resumed(identity, seed);
        model.fallback_room = Some(room.to_owned());
        model
    }

    /// A model that resumes a kept identity (its rooms come back with the `welcome`).
    pub fn resumed(identity: Identity, seed: u64) -> Self {
        let mut model = Self::new(Some(identity.name.clone()), seed);
        model.client.resume_identity(identity);
        model
    }

    /// Starts the session without joining a room (a resumed identity's rooms are
    /// joined on `welcome`).
    pub fn start_resumed(&mut self, now_ms: u64) -> Vec<Effect> {
        let actions = self.client.start(now_ms);
        self.apply(actions)
    }

    /// Starts the session and joins `room`.
    pub fn start(&mut self, now_ms: u64, room: &str) -> Vec<Effect> {
        let mut actions = self.client.start(now_ms);
        actions.extend(self.client.join(room));
        self.apply(actions)
    }

    /// The WebSocket asked for is open.
    pub fn connected(&mut self, now_ms: u64) -> Vec<Effect> {
        let actions = self.client.connected(now_ms);
        self.apply(actions)
    }

    /// The WebSocket closed (or never opened) with the browser's close `code` and
    /// `reason`.
    pub fn disconnected(&mut self, now_ms: u64, code: u16, reason: &str) -> Vec<Effect> {
        self.fetch = None;
        let refused = std::mem::take(&mut self.token_refused) || reason.contains("invalid_token");
        let ended = match close_code(code) {
            Some(CloseCode::SESSION_ENDED) if reason == "session_expired" => {
                Some(SignedOut::Expired)
            }
            Some(CloseCode::SESSION_ENDED) => Some(SignedOut::Revoked),
            Some(CloseCode::HELLO_FAILED) if refused && self.client.identity().is_some() => {
                Some(SignedOut::Refused)
            }
            _ => None,
        };
        if let Some(ended) = ended {
            // Not a lost connection: the session is over. Never resume with its token.
            let actions = self.client.quit();
            let mut effects = self.apply(actions);
            effects.push(Effect::SignedOut(ended));
            return effects;
        }
        let actions = self.client.disconnected(now_ms, close_code(code), reason);
        self.apply(actions)
    }

    /// Takes on `identity` (a guest that became an account: the same user and session)
    /// and says `hello` again with its token on a new connection, so the next `welcome`
    /// brings the handle. Rooms and the outbox stay; nothing was lost, so no
    /// "disconnected" or "reconnected" line is shown.
    pub fn switch_identity(&mut self, now_ms: u64, identity: Identity) -> Vec<Effect> {
        self.fetch = None;
        let open = matches!(
            self.client.state(),
            ConnState::Connected | ConnState::Connecting
        );
        if open {
            self.greeting = Greeting::Silent;
        }
        let mut actions = self.client.sign_in(now_ms, identity);
        if actions.iter().any(|action| matches!(action, Action::Close)) {
            // The transport drops a socket it closes without a close event: its end is
            // now, and the client core reconnects at once.
            actions.extend(self.client.disconnected(now_ms, None, ""));
        }
        self.apply(actions)
    }

    /// The account's email was verified (the next `welcome` will say so too).
    pub fn mark_verified(&mut self) {
        self.verified = true;
    }

    /// Whether this is an account whose email address is not verified.
    pub fn unverified(&self) -> bool {
        self.client.identity().is_some_and(|identity| {
            !identity.is_guest() && !identity.email_verified && !self.verified
        })
    }

    /// The identity to keep in the browser (with what it learnt since the `welcome`).
    pub fn kept_identity(&self) -> Option<Identity> {
        let mut identity = self.client.identity()?.clone();
        identity.email_verified |= self.verified && !identity.is_guest();
        Some(identity)
    }

    /// A server event arrived.
    pub fn frame(&mut self, now_ms: u64, event: ServerEvent) -> Vec<Effect> {
        match &event {
            ServerEvent::Joined { room, head } => self.anchor_lines_on_join(room, *head),
            ServerEvent::History { room, .. }
                if self.fetch.as_ref().is_some_and(|fetch| &fetch.room == room) =>
            {
                self.fetch = None;
            }
            ServerEvent::Error {
                code: ErrorCode::InvalidToken,
                ..
            } => self.token_refused = true,
            ServerEvent::Welcome { .. } => self.verified = false,
            _ => {}
        }
        let fallback = match &event {
            ServerEvent::Welcome { rooms, .. } => {
                self.fallback_room.take().filter(|_| rooms.is_empty())
            }
            _ => None,
        };
        let change = self.change(&event);
        let welcome = matches!(event, ServerEvent::Welcome { .. });
        let mut actions = self.client.frame(now_ms, event);
        if welcome {
            self.greet(&mut actions);
        }
        if let Some(room) = fallback
            && self.client.rooms().next().is_none()
        {
            actions.extend(self.client.join(&room));
        }
        match change {
            Some(change) => self.apply_change(actions, &change),
            None => self.apply(actions),
        }
    }

    /// Drops the `welcome`'s greeting when [`Greeting`] says so.
    fn greet(&mut self, actions: &mut Vec<Action>) {
        if std::mem::replace(&mut self.greeting, Greeting::Normal) == Greeting::Silent {
            actions.retain(|action| {
                !matches!(action, Action::Notice(notice)
                    if notice.kind == NoticeKind::Info && notice.text.contains("connected as "))
            });
        }
    }

    /// Who a presence event is about, read before the client core applies it (a user
    /// who left is no longer a member afterwards).
    fn change(&self, event: &ServerEvent) -> Option<Change> {
        let present = |user_id: &str| {
            self.client
                .rooms()
                .find(|room| room.member_name(user_id).is_some())
        };
        match event {
            ServerEvent::UserJoined { user_id, name, .. } => Some(Change::Joined {
                user_id: user_id.clone(),
                name: name.clone(),
            }),
            ServerEvent::UserLeft {
                room,
                user_id,
                name,
            } => {
                let found = self.client.room(room);
                Some(Change::Left(Subject {
                    user_id: user_id.clone(),
                    name: found.map_or_else(|| name.clone(), |r| r.label(user_id, name)),
                    handle: found
                        .and_then(|r| r.member_handle(user_id))
                        .map(str::to_owned),
                }))
            }
            ServerEvent::NameChanged {
                user_id,
                old_name,
                name,
                ..
            } => {
                let found = present(user_id);
                Some(Change::Renamed {
                    old: Subject {
                        user_id: user_id.clone(),
                        name: found
                            .map_or_else(|| old_name.clone(), |r| r.label(user_id, old_name)),
                        handle: found
                            .and_then(|r| r.member_handle(user_id))
                            .map(str::to_owned),
                    },
                    name: name.clone(),
                })
            }
            _ => None,
        }
    }

    /// Like [`Model::apply`], but the presence lines of `change` name their subject
    /// (with handle or guest mark) in words of the page's own.
    fn apply_change(&mut self, actions: Vec<Action>, change: &Change) -> Vec<Effect> {
        let mut rest = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                Action::Notice(notice) if notice.kind == NoticeKind::Presence => {
                    let room = notice.room.clone().unwrap_or_default();
                    let (subject, text) = match change {
                        Change::Joined { user_id, name } => {
                            let found = self.client.room(&room);
                            let subject = Subject {
                                user_id: user_id.clone(),
                                name: found
                                    .map_or_else(|| name.clone(), |r| r.label(user_id, name)),
                                handle: found
                                    .and_then(|r| r.member_handle(user_id))
                                    .map(str::to_owned),
                            };
                            (subject, format!("joined #{room}"))
                        }
                        Change::Left(subject) => (subject.clone(), format!("left #{room}")),
                        Change::Renamed { old, name } => {
                            (old.clone(), format!("is now known as {name}"))
                        }
                    };
                    let target = notice
                        .room
                        .filter(|room| self.client.room(room).is_some())
                        .or_else(|| self.client.current_room().map(str::to_owned));
                    self.push_line(target, NoticeKind::Presence, Some(subject), text);
                }
                other => rest.push(other),
            }
        }
        self.apply(rest)
    }

    /// Time passes: reconnects when due, re-sends posts whose retry time came.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Effect> {
        if self
            .fetch
            .as_ref()
            .is_some_and(|fetch| now_ms.saturating_sub(fetch.since_ms) > FETCH_TIMEOUT_MS)
        {
            self.fetch = None;
        }
        let actions = self.client.tick(now_ms);
        self.apply(actions)
    }

    /// The user submitted the composer: a post or a slash command.
    pub fn submit(&mut self, now_ms: u64, line: &str) -> Vec<Effect> {
        let command = match command::parse(line) {
            Ok(Some(command)) => command,
            Ok(None) => return Vec::new(),
            Err(usage) => {
                self.error(usage);
                return Vec::new();
            }
        };
        match command {
            Command::Post(text) => {
                let actions = self.client.post(now_ms, &text);
                self.apply(actions)
            }
            Command::Room(room) => self.join(&room),
            Command::Leave => self.leave(),
            Command::Name(name) => self.rename(&name),
            Command::Fetch(n) => self.fetch_older(now_ms, n),
            Command::Who => {
                let actions = self.client.who();
                self.apply(actions)
            }
            Command::Reconnect => self.reconnect_now(now_ms),
            Command::Help => {
                for line in HELP {
                    self.info(*line);
                }
                Vec::new()
            }
            Command::Extra(none) => match none {},
        }
    }

    /// Joins `room` (if needed) and shows it.
    pub fn join(&mut self, room: &str) -> Vec<Effect> {
        let room = room.trim().trim_start_matches('#');
        let actions = self.client.join(room);
        self.apply(actions)
    }

    /// Shows a room the client has; its unread count drops to 0.
    pub fn switch_to(&mut self, room: &str) -> bool {
        self.client.switch_to(room)
    }

    /// Shows the room `delta` places after the current one in the room list (wrapping).
    pub fn switch_by(&mut self, delta: isize) {
        let rooms: Vec<String> = self.client.rooms().map(|r| r.name().to_owned()).collect();
        if rooms.is_empty() {
            return;
        }
        let len = rooms.len() as isize;
        let at = self
            .client
            .current_room()
            .and_then(|current| rooms.iter().position(|room| room == current))
            .map_or(0, |i| i as isize);
        let next = (at + delta).rem_euclid(len) as usize;
        self.client.switch_to(&rooms[next]);
    }

    /// Leaves the current room.
    pub fn leave(&mut self) -> Vec<Effect> {
        let actions = self.client.leave();
        self.apply(actions)
    }

    /// Changes the display name.
    pub fn rename(&mut self, name: &str) -> Vec<Effect> {
        let actions = self.client.rename(name.trim());
        self.apply(actions)
    }

    /// Loads up to `n` messages older than the oldest loaded in the current room, unless
    /// a page is already on its way.
    pub fn fetch_older(&mut self, now_ms: u64, n: u32) -> Vec<Effect> {
        if self.is_fetching() {
            return Vec::new();
        }
        let actions = self.client.fetch_older(n);
        if actions
            .iter()
            .any(|action| matches!(action, Action::Send(ClientCommand::History { .. })))
            && let Some(room) = self.client.current_room()
        {
            self.fetch = Some(Fetch {
                room: room.to_owned(),
                since_ms: now_ms,
            });
        }
        self.apply(actions)
    }

    /// Loads the next page of older messages if there are any and none is loading
    /// (scrolling to the top of the messages does this).
    pub fn fetch_older_if_any(&mut self, now_ms: u64) -> Vec<Effect> {
        let has_older = self
            .client
            .current_room()
            .and_then(|room| self.client.room(room))
            .is_some_and(|room| room.has_older() && room.is_joined());
        if has_older {
            self.fetch_older(now_ms, DEFAULT_FETCH)
        } else {
            Vec::new()
        }
    }

    /// Connects now instead of waiting for the backoff.
    pub fn reconnect_now(&mut self, now_ms: u64) -> Vec<Effect> {
        let actions = self.client.reconnect_now(now_ms);
        self.apply(actions)
    }

    /// Whether a history page asked for by the user is on its way for the room shown
    /// (one for a room left or switched away from does not hold up this one).
    pub fn is_fetching(&self) -> bool {
        self.fetch
            .as_ref()
            .is_some_and(|fetch| Some(fetch.room.as_str()) == self.client.current_room())
    }

    /// The system lines of a room (`None`: those shown when no room is open).
    pub fn system_lines(&self, room: Option<&str>) -> &[SystemLine] {
        self.system
            .get(&room.map(str::to_owned))
            .map_or(&[], Vec::as_slice)
    }

    /// Adds an informational line to the current room.
    pub fn info(&mut self, text: impl Into<String>) {
        let room = self.client.current_room().map(str::to_owned);
        self.push_system(room, NoticeKind::Info, text.into());
    }

    /// Adds an error line to the current room.
    pub fn error(&mut self, text: impl Into<String>) {
        let room = self.client.current_room().map(str::to_owned);
        self.push_system(room, NoticeKind::Error, text.into());
    }

    /// Turns the client core's actions into effects; notices become system lines.
    fn apply(&mut self, actions: Vec<Action>) -> Vec<Effect> {
        let mut effects = Vec::new();
        for action in actions {
            match action {
                Action::Connect => effects.push(Effect::Connect),
                Action::Send(command) => effects.push(Effect::Send(command)),
                Action::Close => effects.push(Effect::Close),
                Action::Notice(notice) => self.push_notice(notice),
            }
        }
        self.drop_lines_of_gone_rooms();
        effects
    }

    /// A notice goes to its room, or to the current room when it names none (or one the
    /// client no longer has).
    fn push_notice(&mut self, notice: Notice) {
        let room = notice
            .room
            .filter(|room| self.client.room(room).is_some())
            .or_else(|| self.client.current_room().map(str::to_owned));
        self.push_system(room, notice.kind, notice.text);
    }

    fn push_system(&mut self, room: Option<String>, kind: NoticeKind, text: String) {
        self.push_line(room, kind, None, text);
    }

    fn push_line(
        &mut self,
        room: Option<String>,
        kind: NoticeKind,
        subject: Option<Subject>,
        text: String,
    ) {
        let after_seq = room
            .as_deref()
            .and_then(|room| self.client.room(room))
            .map_or(0, |room| {
                room.last_seq()
                    .max(room.messages().next_back().map_or(0, |m| m.seq))
            });
        self.next_line += 1;
        let lines = self.system.entry(room).or_default();
        lines.push(SystemLine {
            id: self.next_line,
            after_seq,
            kind,
            subject,
            text,
        });
        if lines.len() > MAX_SYSTEM_LINES {
            lines.remove(0);
        }
    }

    /// Places a room's system lines in its history when it is joined: lines written
    /// before the first join (sequence unknown then) belong below the room's head, not
    /// above its whole history; after the server's history was reset (head below what
    /// we saw), lines from the old history move to the top.
    fn anchor_lines_on_join(&mut self, room: &str, head: Seq) {
        let Some(since) = self.client.room(room).map(|found| found.since()) else {
            return;
        };
        let Some(lines) = self.system.get_mut(&Some(room.to_owned())) else {
            return;
        };
        for line in lines.iter_mut() {
            match since {
                None if line.after_seq == 0 => line.after_seq = head,
                Some(since) if head < since && line.after_seq > head => line.after_seq = 0,
                _ => {}
            }
        }
    }

    /// Forgets the lines of rooms the client left (a room joined again starts afresh).
    fn drop_lines_of_gone_rooms(&mut self) {
        let client = &self.client;
        self.system.retain(|room, _| {
            room.as_deref()
                .is_none_or(|room| client.room(room).is_some())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn welcome() -> ServerEvent {
        ServerEvent::Welcome {
            guest: true,
            handle: None,
            email_verified: None,
            session_id: String::new(),
            version: 1,
            user_id: "u-me".into(),
            name: "ada".into(),
            token: "tok".into(),
            rooms: vec![],
            limits: tuitalk_client::default_limits(),
        }
    }

    /// A model welcomed and joined to `lobby` (head `head`).
    fn joined(head: Seq) -> Model {
        let mut model = Model::new(Some("ada".into()), 7);
        assert_eq!(model.start(0, "lobby"), [Effect::Connect]);
        let hello = model.connected(1);
        assert!(
            matches!(&hello[..], [Effect::Send(ClientCommand::Hello { name: Some(n), .. })] if n == "ada")
        );
        let effects = model.frame(2, welcome());
        assert!(effects.contains(&Effect::Send(ClientCommand::Join {
            room: "lobby".into(),
            since: None
        })));
        model.frame(
            3,
            ServerEvent::Joined {
                room: "lobby".into(),
                head,
            },
        );
        model
    }

    #[test]
    fn browser_close_codes_without_a_frame_are_none() {
        assert_eq!(close_code(1006), None);
        assert_eq!(close_code(1005), None);
        assert_eq!(close_code(1012), Some(1012));
        assert_eq!(close_code(4000), Some(4000));
    }

    #[test]
    fn posts_go_out_and_notices_become_lines() {
        let mut model = joined(0);
        let effects = model.submit(10, "hello");
        assert!(
            matches!(&effects[..], [Effect::Send(ClientCommand::Post { text, .. })] if text == "hello")
        );
        assert_eq!(model.client.outbox().len(), 1);
        assert!(model.submit(11, "/bogus").is_empty());
        let lines = model.system_lines(Some("lobby"));
        assert!(
            lines
                .iter()
                .any(|l| l.kind == NoticeKind::Error && l.text.contains("/help"))
        );
        assert!(lines.iter().any(|l| l.text.contains("connected as ada")));
        let ids: Vec<u64> = lines.iter().map(|l| l.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "unique increasing ids");
    }

    #[test]
    fn one_history_fetch_at_a_time_until_answered() {
        let mut model = joined(120);
        // The first page was asked for by the core itself on join.
        let first = model.fetch_older(5, 50);
        assert!(matches!(
            &first[..],
            [Effect::Send(ClientCommand::History {
                before: Some(121),
                limit: 50,
                ..
            })]
        ));
        assert!(model.is_fetching());
        assert!(
            model.fetch_older_if_any(6).is_empty(),
            "no second request in flight"
        );
        model.frame(
            7,
            ServerEvent::History {
                room: "lobby".into(),
                messages: vec![],
                has_more: true,
            },
        );
        assert!(!model.is_fetching());
    }

    #[test]
    fn lines_before_the_first_join_go_below_the_head() {
        let mut model = Model::new(Some("ada".into()), 7);
        model.start(0, "lobby");
        model.connected(1);
        model.frame(2, welcome());
        assert_eq!(model.system_lines(Some("lobby"))[0].after_seq, 0);
        model.frame(
            3,
            ServerEvent::Joined {
                room: "lobby".into(),
                head: 120,
            },
        );
        assert_eq!(model.system_lines(Some("lobby"))[0].after_seq, 120);
        // A server whose history was reset: the old lines move to the top.
        model.disconnected(4, 1006, "");
        model.reconnect_now(5);
        model.connected(6);
        model.frame(7, welcome());
        model.frame(
            8,
            ServerEvent::Joined {
                room: "lobby".into(),
                head: 3,
            },
        );
        assert_eq!(model.system_lines(Some("lobby"))[0].after_seq, 0);
    }

    #[test]
    fn a_fetch_in_another_room_does_not_hold_this_one_up() {
        let mut model = joined(120);
        model.fetch_older(0, 50);
        model.join("other");
        model.frame(
            1,
            ServerEvent::Joined {
                room: "other".into(),
                head: 300,
            },
        );
        assert!(!model.is_fetching());
        let effects = model.fetch_older(2, 50);
        assert!(matches!(
            &effects[..],
            [Effect::Send(ClientCommand::History { room, .. })] if room == "other"
        ));
        assert!(model.is_fetching());
    }

    #[test]
    fn a_resumed_identity_says_hello_with_its_token_and_rejoins_its_rooms() {
        let identity = Identity {
            handle: None,
            email_verified: false,
            session_id: String::new(),
            user_id: "u-me".into(),
            name: "ada".into(),
            token: "kept".into(),
        };
        let mut model = Model::resumed(identity, 3);
        assert_eq!(model.start_resumed(0), [Effect::Connect]);
        assert!(matches!(
            &model.connected(1)[..],
            [Effect::Send(ClientCommand::Hello { token: Some(t), .. })] if t == "kept"
        ));
        let mut welcome = welcome();
        if let ServerEvent::Welcome { rooms, .. } = &mut welcome {
            rooms.push("42".into());
        }
        let effects = model.frame(2, welcome);
        assert!(effects.contains(&Effect::Send(ClientCommand::Join {
            room: "42".into(),
            since: None
        })));
        assert_eq!(model.client.current_room(), Some("42"));
        assert!(
            model.system_lines(Some("42"))[0]
                .text
                .starts_with("connected as ada"),
            "the page's first welcome: {:?}",
            model.system_lines(Some("42"))
        );
    }

    #[test]
    fn a_lost_fetch_times_out() {
        let mut model = joined(120);
        model.fetch_older(0, 50);
        model.tick(FETCH_TIMEOUT_MS / 2);
        assert!(model.is_fetching());
        model.tick(FETCH_TIMEOUT_MS + 1);
        assert!(!model.is_fetching());
    }

    #[test]
    fn switching_wraps_and_leaving_drops_lines() {
        let mut model = joined(0);
        model.join("b");
        model.join("c");
        assert_eq!(model.client.current_room(), Some("c"));
        model.switch_by(1);
        assert_eq!(model.client.current_room(), Some("lobby"));
        model.switch_by(-1);
        assert_eq!(model.client.current_room(), Some("c"));
        model.info("note in c");
        assert_eq!(model.system_lines(Some("c")).len(), 1);
        let effects = model.leave();
        assert!(effects.contains(&Effect::Send(ClientCommand::Leave { room: "c".into() })));
        assert!(model.system_lines(Some("c")).is_empty());
    }

    #[test]
    fn disconnect_clears_the_fetch_and_schedules_a_reconnect() {
        let mut model = joined(120);
        model.fetch_older(0, 50);
        assert!(model.disconnected(100, 1006, "").is_empty());
        assert!(!model.is_fetching());
        assert!(matches!(
            model.client.state(),
            tuitalk_client::ConnState::Reconnecting { .. }
        ));
        assert_eq!(model.reconnect_now(101), [Effect::Connect]);
    }

    #[test]
    fn a_session_ended_by_the_server_signs_out_and_is_not_resumed() {
        for (code, reason, why) in [
            (4004, "session_revoked", SignedOut::Revoked),
            (4004, "session_expired", SignedOut::Expired),
            (4004, "", SignedOut::Revoked),
        ] {
            let mut model = joined(0);
            let effects = model.disconnected(10, code, reason);
            assert_eq!(
                effects.last(),
                Some(&Effect::SignedOut(why)),
                "{code} {reason}"
            );
            assert!(!effects.contains(&Effect::Connect));
            assert!(
                model.tick(1_000_000).is_empty(),
                "no reconnect with the ended session's token"
            );
        }
    }

    #[test]
    fn a_refused_token_signs_out() {
        let identity = Identity {
            handle: Some("ada".into()),
            email_verified: true,
            session_id: "s".into(),
            user_id: "u-me".into(),
            name: "Ada".into(),
            token: "revoked".into(),
        };
        let mut model = Model::resumed(identity, 3);
        model.start_resumed(0);
        model.connected(1);
        model.frame(
            2,
            ServerEvent::Error {
                code: ErrorCode::InvalidToken,
                message: "unknown session".into(),
                command: Some("hello".into()),
                room: None,
                id: None,
                retry_after_ms: None,
            },
        );
        let effects = model.disconnected(3, 4001, "invalid_token");
        assert_eq!(effects.last(), Some(&Effect::SignedOut(SignedOut::Refused)));
        assert!(
            SignedOut::Refused
                .notice()
                .starts_with("You were signed out")
        );
        // Another refused hello (an unsupported version) is no sign-out.
        let mut other = joined(0);
        let effects = other.disconnected(3, 4001, "unsupported_version");
        assert!(!effects.iter().any(|e| matches!(e, Effect::SignedOut(_))));
    }

    #[test]
    fn a_new_account_joins_the_lobby_but_an_old_one_gets_its_rooms() {
        let identity = Identity {
            handle: Some("ada".into()),
            email_verified: true,
            session_id: "s".into(),
            user_id: "u-me".into(),
            name: "Ada".into(),
            token: "fresh".into(),
        };
        let mut fresh = Model::signed_in(identity.clone(), 1, "lobby");
        fresh.start_resumed(0);
        fresh.connected(1);
        let effects = fresh.frame(2, welcome());
        assert!(effects.contains(&Effect::Send(ClientCommand::Join {
            room: "lobby".into(),
            since: None
        })));
        let mut old = Model::signed_in(identity, 1, "lobby");
        old.start_resumed(0);
        old.connected(1);
        let mut welcome = welcome();
        if let ServerEvent::Welcome { rooms, .. } = &mut welcome {
            rooms.push("42".into());
        }
        let effects = old.frame(2, welcome);
        let joins: Vec<&ClientCommand> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(join @ ClientCommand::Join { .. }) => Some(join),
                _ => None,
            })
            .collect();
        assert_eq!(
            joins,
            [&ClientCommand::Join {
                room: "42".into(),
                since: None
            }]
        );
    }

    #[test]
    fn an_upgraded_guest_says_hello_again_without_a_lost_line() {
        let mut model = joined(4);
        model.submit(5, "waiting");
        let lines = model.system_lines(Some("lobby")).len();
        let account = Identity {
            handle: Some("ada".into()),
            email_verified: true,
            session_id: "s".into(),
            user_id: "u-me".into(),
            name: "ada".into(),
            token: "tok".into(),
        };
        assert_eq!(
            model.switch_identity(6, account.clone()),
            [Effect::Close, Effect::Connect]
        );
        assert_eq!(model.system_lines(Some("lobby")).len(), lines, "no line");
        assert!(matches!(
            &model.connected(7)[..],
            [Effect::Send(ClientCommand::Hello { token: Some(t), .. })] if t == "tok"
        ));
        let effects = model.frame(8, welcome());
        assert!(effects.contains(&Effect::Send(ClientCommand::Join {
            room: "lobby".into(),
            since: Some(4)
        })));
        assert_eq!(
            model.system_lines(Some("lobby")).len(),
            lines,
            "no \"reconnected\" line either"
        );
        assert_eq!(model.client.outbox().len(), 1, "the post still waits");
        // Offline: the next `hello` (connecting now) carries the new identity.
        model.disconnected(9, 1000, "");
        assert_eq!(model.switch_identity(10, account), [Effect::Connect]);
    }
}
