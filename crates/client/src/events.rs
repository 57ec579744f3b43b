//! How the client core reacts to each [`ServerEvent`]: the `frame` input.

use tuitalk_protocol::event::Limits;
use tuitalk_protocol::{ChatMessage, ClientCommand, ErrorCode, Member, Seq, ServerEvent};

use crate::action::{Action, ConnState, Notice};
use crate::client::{Client, Identity};
use crate::label::user_label;
use crate::outbox::PostState;
use crate::room::{Live, Room};

/// Fewest milliseconds to wait before re-sending a post refused with a retryable error.
const MIN_RETRY_MS: u64 = 100;
/// How many times a post refused with `not_joined` is re-sent after joining again.
const MAX_REJOIN_RETRIES: u32 = 3;

impl Client {
    /// A server event arrived on the open connection.
    pub fn frame(&mut self, now_ms: u64, event: ServerEvent) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            ServerEvent::Welcome {
                user_id,
                name,
                handle,
                email_verified,
                session_id,
                token,
                rooms,
                limits,
                ..
            } => self.on_welcome(
                Identity {
                    user_id,
                    name,
                    handle,
                    email_verified: email_verified.unwrap_or(false),
                    session_id,
                    token,
                },
                rooms,
                limits,
                &mut actions,
            ),
            ServerEvent::Joined { room, head } => self.on_joined(now_ms, &room, head, &mut actions),
            ServerEvent::Left { room } => {
                if self.rooms.contains_key(&room) && self.current.as_deref() != Some(&room) {
                    // Left elsewhere (server side); forget it too.
                    self.rooms.remove(&room);
                }
                actions.push(Action::Notice(Notice::info(None, format!("left #{room}"))));
            }
            ServerEvent::Message(message) => self.on_message(message, &mut actions),
            ServerEvent::UserJoined {
                room,
                user_id,
                name,
                handle,
            } => {
                if let Some(found) = self.rooms.get_mut(&room) {
                    let known = found.member_name(&user_id).is_some();
                    found.add_member(&user_id, &name, handle.as_deref());
                    if !known && !self.is_me(&user_id) {
                        let who = user_label(&name, handle.as_deref());
                        actions.push(Action::Notice(Notice::presence(
                            Some(&room),
                            format!("{who} joined #{room}"),
                        )));
                    }
                }
            }
            ServerEvent::UserLeft {
                room,
                user_id,
                name,
            } => {
                if let Some(found) = self.rooms.get_mut(&room) {
                    let who = match found.member_name(&user_id) {
                        Some(_) => user_label(&name, found.member_handle(&user_id)),
                        None => name,
                    };
                    found.remove_member(&user_id);
                    if !self.is_me(&user_id) {
                        actions.push(Action::Notice(Notice::presence(
                            Some(&room),
                            format!("{who} left #{room}"),
                        )));
                    }
                }
            }
            ServerEvent::NameChanged {
                user_id,
                old_name,
                name,
                rooms,
            } => self.on_name_changed(&user_id, &old_name, &name, &rooms, &mut actions),
            ServerEvent::History { room, messages, .. } => {
                self.on_history(&room, messages, &mut actions);
            }
            ServerEvent::Presence { room, members } => {
                self.on_presence(&room, members, &mut actions);
            }
            ServerEvent::Ack { room, id, seq, ts } => self.on_ack(&room, &id, seq, ts),
            ServerEvent::Error {
                code,
                message,
                command,
                room,
                id,
                retry_after_ms,
            } => self.on_error(
                now_ms,
                ErrorReport {
                    code,
                    message,
                    command,
                    room,
                    id,
                    retry_after_ms,
                },
                &mut actions,
            ),
            ServerEvent::Pong { .. } => {}
        }
        actions
    }

    fn is_me(&self, user_id: &str) -> bool {
        self.identity
            .as_ref()
            .is_some_and(|identity| identity.user_id == user_id)
    }

    fn on_welcome(
        &mut self,
        identity: Identity,
        rooms: Vec<String>,
        limits: Limits,
        actions: &mut Vec<Action>,
    ) {
        // A resumed identity's first welcome of this run is a connect, not a reconnect.
        let first = self.identity.is_none() || !self.welcomed;
        self.welcomed = true;
        let who = user_label(&identity.name, identity.handle.as_deref());
        self.identity = Some(identity);
        self.limits = limits;
        self.backoff.reset();
        self.state = ConnState::Connected;
        self.token_refused = false;
        for room in rooms {
            if tuitalk_protocol::name::validate_room(&room).is_ok()
                && !self.rooms.contains_key(&room)
            {
                self.rooms.insert(
                    room.clone(),
                    Room::new(&room, self.config.max_messages_per_room),
                );
                self.history_wanted.insert(room);
            }
        }
        if self.current.is_none()
            && let Some(room) = self.rooms.keys().next().cloned()
        {
            self.switch_to(&room);
        }
        let text = if first {
            format!("connected as {who}")
        } else {
            format!("reconnected as {who}")
        };
        actions.push(Action::Notice(Notice::info(None, text)));
        for room in self.rooms.values() {
            actions.push(Action::Send(ClientCommand::Join {
                room: room.name().to_owned(),
                since: room.since(),
            }));
        }
        if let Some(name) = self.pending_rename.take() {
            actions.push(Action::Send(ClientCommand::Name { name }));
        }
    }

    fn on_joined(&mut self, now_ms: u64, room: &str, head: Seq, actions: &mut Vec<Action>) {
        let page = self
            .config
            .history_page
            .min(self.limits.history_page_max)
            .max(1);
        let Some(found) = self.rooms.get_mut(room) else {
            return;
        };
        found.set_joined(true);
        let mut load_page = self.history_wanted.remove(room);
        match found.since() {
            None => found.start_at(head),
            Some(since) if head < since => {
                found.reset_to(head);
                load_page = true;
                actions.push(Action::Notice(Notice::error(
                    Some(room),
                    format!("the server's history of #{room} was reset; showing it afresh"),
                )));
            }
            Some(_) => {}
        }
        if load_page && head > 0 {
            actions.push(Action::Send(ClientCommand::History {
                room: room.to_owned(),
                before: Some(head + 1),
                limit: page,
            }));
        }
        // Learn who is there (silently: no notice unless the user asked).
        actions.push(Action::Send(ClientCommand::Who {
            room: room.to_owned(),
        }));
        self.flush_room(room, now_ms, actions);
    }

    fn on_message(&mut self, message: ChatMessage, actions: &mut Vec<Action>) {
        let mine = self.is_me(&message.author_id);
        if mine {
            // Our own post came back: it is stored, as good as acknowledged.
            self.outbox.remove(&message.id);
        }
        let room_name = message.room.clone();
        let seq = message.seq;
        let page_max = self.limits.history_page_max.max(1);
        let is_current = self.current.as_deref() == Some(room_name.as_str());
        let Some(room) = self.rooms.get_mut(&room_name) else {
            return;
        };
        if let Live::Added { gap } = room.receive_live(message) {
            if !mine && !is_current {
                room.add_unread();
            }
            if let Some((first, last)) = gap {
                // Should not happen (G2/G3), but repair rather than show a hole.
                let missing = u32::try_from(last - first + 1).unwrap_or(u32::MAX);
                actions.push(Action::Send(ClientCommand::History {
                    room: room_name,
                    before: Some(seq),
                    limit: missing.min(page_max),
                }));
            }
        }
    }

    fn on_name_changed(
        &mut self,
        user_id: &str,
        old_name: &str,
        name: &str,
        rooms: &[String],
        actions: &mut Vec<Action>,
    ) {
        let me = self.is_me(user_id);
        if me && let Some(identity) = self.identity.as_mut() {
            name.clone_into(&mut identity.name);
            self.desired_name = Some(name.to_owned());
        }
        // Guest or account is known only of a member present in one of our rooms.
        let present = self
            .rooms
            .values()
            .find(|room| room.member_name(user_id).is_some());
        let old_who = match present {
            Some(room) => user_label(old_name, room.member_handle(user_id)),
            None => old_name.to_owned(),
        };
        let mut shown_in = Vec::new();
        for room in self.rooms.values_mut() {
            if room.rename_member(user_id, name) || rooms.iter().any(|r| r == room.name()) {
                shown_in.push(room.name().to_owned());
            }
        }
        if me {
            actions.push(Action::Notice(Notice::info(
                None,
                format!("you are now known as {name}"),
            )));
        } else {
            for room in shown_in {
                actions.push(Action::Notice(Notice::presence(
                    Some(&room),
                    format!("{old_who} is now known as {name}"),
                )));
            }
        }
    }

    fn on_history(&mut self, room: &str, messages: Vec<ChatMessage>, actions: &mut Vec<Action>) {
        let requested = self.fetch_requested.remove(room);
        let Some(found) = self.rooms.get_mut(room) else {
            return;
        };
        let added = found.merge(messages);
        if requested && !found.has_older() {
            actions.push(Action::Notice(Notice::info(
                Some(room),
                format!("beginning of #{room}"),
            )));
        } else if requested && added == 0 {
            actions.push(Action::Notice(Notice::info(
                Some(room),
                "no older messages",
            )));
        }
    }

    fn on_presence(&mut self, room: &str, members: Vec<Member>, actions: &mut Vec<Action>) {
        let Some(found) = self.rooms.get_mut(room) else {
            return;
        };
        if self.who_requested.remove(room) {
            let names: Vec<String> = members
                .iter()
                .map(|m| user_label(&m.name, m.handle.as_deref()))
                .collect();
            actions.push(Action::Notice(Notice::info(
                Some(room),
                format!("in #{room} ({}): {}", names.len(), names.join(", ")),
            )));
        }
        found.set_members(members);
    }

    fn on_ack(&mut self, room: &str, id: &str, seq: Seq, ts: i64) {
        let Some(post) = self.outbox.remove(id) else {
            return;
        };
        let Some(identity) = self.identity.as_ref() else {
            return;
        };
        let message = ChatMessage {
            room: room.to_owned(),
            seq,
            id: post.id,
            author_id: identity.user_id.clone(),
            author: identity.name.clone(),
            author_handle: identity.handle.clone(),
            text: post.text,
            ts,
        };
        if let Some(found) = self.rooms.get_mut(room) {
            // Shown in place until the live `message` (same seq) replaces it.
            found.merge([message]);
        }
    }

    fn on_error(&mut self, now_ms: u64, error: ErrorReport, actions: &mut Vec<Action>) {
        let ErrorReport {
            code,
            message,
            command,
            room,
            id,
            retry_after_ms,
        } = error;
        if let Some(id) = id.as_deref()
            && self.outbox.get(id).is_some()
        {
            self.on_post_error(now_ms, id, code, &message, retry_after_ms, actions);
            return;
        }
        let room_ref = room.as_deref();
        match (command.as_deref(), code) {
            (_, ErrorCode::InvalidToken) => self.token_refused = true,
            (Some("join"), _) => {
                if let Some(room) = room_ref {
                    self.rooms.remove(room);
                    self.history_wanted.remove(room);
                    let dropped = self.outbox.remove_room(room);
                    if self.current.as_deref() == Some(room) {
                        self.current = self.rooms.keys().next().cloned();
                    }
                    let mut text = format!("could not join #{room}: {message}");
                    if !dropped.is_empty() {
                        text.push_str(&format!(" ({} unsent message(s) dropped)", dropped.len()));
                    }
                    actions.push(Action::Notice(Notice::error(None, text)));
                } else {
                    actions.push(Action::Notice(Notice::error(
                        None,
                        format!("could not join: {message}"),
                    )));
                }
            }
            (Some("history"), _) => {
                if let Some(room) = room_ref {
                    self.fetch_requested.remove(room);
                }
                actions.push(Action::Notice(Notice::error(
                    room_ref,
                    format!("could not load history: {message}"),
                )));
            }
            (Some("who"), _) => {
                if let Some(room) = room_ref {
                    self.who_requested.remove(room);
                }
            }
            (Some("name"), _) => actions.push(Action::Notice(Notice::error(
                None,
                format!("could not change name: {message}"),
            ))),
            _ => actions.push(Action::Notice(Notice::error(
                room_ref,
                format!("error: {message} ({})", code.as_str()),
            ))),
        }
    }

    fn on_post_error(
        &mut self,
        now_ms: u64,
        id: &str,
        code: ErrorCode,
        message: &str,
        retry_after_ms: Option<u64>,
        actions: &mut Vec<Action>,
    ) {
        let backoff = self.config.backoff;
        if code.is_retryable() {
            let Some(post) = self.outbox.get(id) else {
                return;
            };
            let retries = post.retries.saturating_add(1);
            let delay = retry_after_ms
                .unwrap_or_else(|| backoff.delay_ms(retries, &mut self.rng))
                .max(MIN_RETRY_MS);
            let until_ms = now_ms.saturating_add(delay);
            if let Some(post) = self.outbox.set_state(id, PostState::Waiting { until_ms }) {
                post.retries = retries;
                if retries == 1 && code != ErrorCode::RateLimited {
                    let room = post.room.clone();
                    actions.push(Action::Notice(Notice::error(
                        Some(&room),
                        format!("server cannot store messages right now ({message}); will retry"),
                    )));
                }
            }
            return;
        }
        if code == ErrorCode::NotJoined
            && let Some(post) = self.outbox.set_state(id, PostState::Queued)
            && post.retries < MAX_REJOIN_RETRIES
        {
            post.retries += 1;
            let room = post.room.clone();
            if let Some(found) = self.rooms.get_mut(&room) {
                found.set_joined(false);
                actions.push(Action::Send(ClientCommand::Join {
                    since: found.since(),
                    room,
                }));
                return;
            }
        }
        if let Some(post) = self.outbox.remove(id) {
            actions.push(Action::Notice(Notice::error(
                Some(&post.room),
                format!("message not sent: {message} ({})", code.as_str()),
            )));
        }
    }
}

/// The fields of an `error` event.
struct ErrorReport {
    code: ErrorCode,
    message: String,
    command: Option<String>,
    room: Option<String>,
    id: Option<String>,
    retry_after_ms: Option<u64>,
}
