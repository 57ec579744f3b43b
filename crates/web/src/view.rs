//! The view model: everything the page shows, computed from the [`Model`] at a given
//! time. Pure data, so what the page will show is tested on the host; `render` (browser
//! only) turns it into DOM nodes.

use tuitalk_client::{ConnState, NoticeKind, PostState};
use tuitalk_protocol::Seq;

use crate::colour::author_class;
use crate::model::{Model, SystemLine};

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The connection banner; `None` while connected.
    pub banner: Option<Banner>,
    /// Who this session is, once welcomed.
    pub me: Option<Person>,
    /// The rooms, in name order.
    pub rooms: Vec<RoomEntry>,
    /// The room shown, if any.
    pub room: Option<String>,
    /// Whether older messages can be loaded above the oldest shown.
    pub older: Older,
    /// The timeline of the room shown: messages, system lines, pending posts.
    pub timeline: Vec<Item>,
    /// Who is present in the room shown, ordered by name.
    pub members: Vec<Person>,
    /// Posts not yet acknowledged, in every room.
    pub outbox: usize,
    /// Unread messages in the rooms not shown.
    pub unread: u32,
}

/// The connection banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// The state it reports (styles it).
    pub state: BannerState,
    /// What it says, for example `Connection lost. Reconnecting in 3 s…`.
    pub text: String,
    /// Whether a "reconnect now" button makes sense.
    pub can_retry: bool,
}

/// The connection states a banner reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BannerState {
    /// Opening a connection.
    Connecting,
    /// Waiting for the next attempt.
    Reconnecting,
    /// Not trying any more.
    Offline,
}

/// A user as the page shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The user id.
    pub user_id: String,
    /// The display name; in the member list, marked `name#3f2a` (a tag of the user id)
    /// when another present member's name looks like it (`Room::label`).
    pub name: String,
    /// The author colour class ([`author_class`]).
    pub colour: String,
    /// Whether it is this session's own identity.
    pub me: bool,
}

/// A room in the room list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEntry {
    /// The room name.
    pub name: String,
    /// Messages not yet seen.
    pub unread: u32,
    /// Whether it is the room shown.
    pub current: bool,
}

/// Whether older messages can be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Older {
    /// The beginning of the room is shown (or there is no room).
    None,
    /// Older messages exist on the server.
    Available,
    /// A page of them is on its way.
    Loading,
}

/// One entry of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A stored message.
    Message {
        /// Its sequence in the room.
        seq: Seq,
        /// The author's user id.
        author_id: String,
        /// The author's display name when it was posted, marked `name#3f2a` when a
        /// present member other than the author has a look-alike name (`Room::label`).
        author: String,
        /// The author colour class.
        colour: String,
        /// The text.
        text: String,
        /// The server's time of storing it (milliseconds since the Unix epoch).
        ts: i64,
        /// Whether this session's identity wrote it.
        mine: bool,
    },
    /// A system line.
    System {
        /// The line's id.
        id: u64,
        /// What kind of line.
        kind: NoticeKind,
        /// The text.
        text: String,
    },
    /// An own post the server has not acknowledged yet.
    Pending {
        /// The post id.
        id: String,
        /// This session's name.
        author: String,
        /// This session's colour class.
        colour: String,
        /// The text.
        text: String,
        /// Refused with a retryable error and waiting to be sent again.
        retrying: bool,
    },
}

impl Item {
    /// A key that identifies the item across redraws.
    pub fn key(&self) -> String {
        match self {
            Self::Message { seq, .. } => format!("m{seq}"),
            Self::System { id, .. } => format!("s{id}"),
            Self::Pending { id, .. } => format!("p{id}"),
        }
    }
}

/// The connection state in words for the banner, or `None` when connected.
pub fn banner(state: &ConnState, now_ms: u64, outbox: usize) -> Option<Banner> {
    let waiting = match outbox {
        0 => String::new(),
        1 => " 1 message waits to be sent.".to_owned(),
        n => format!(" {n} messages wait to be sent."),
    };
    let (state, text, can_retry) = match state {
        ConnState::Connected => return None,
        ConnState::Connecting => (BannerState::Connecting, "Connecting…".to_owned(), false),
        ConnState::Reconnecting { at_ms, .. } => {
            let seconds = at_ms.saturating_sub(now_ms).div_ceil(1000);
            (
                BannerState::Reconnecting,
                format!("Connection lost. Reconnecting in {seconds} s…"),
                true,
            )
        }
        ConnState::Offline { reason } => {
            let text = match reason {
                Some(reason) => format!("Offline: {reason}."),
                None => "Offline.".to_owned(),
            };
            (BannerState::Offline, text, true)
        }
    };
    Some(Banner {
        state,
        text: format!("{text}{waiting}"),
        can_retry,
    })
}

impl Model {
    /// What the page shows at `now_ms`.
    pub fn view(&self, now_ms: u64) -> View {
        let client = &self.client;
        let me = client.identity().map(|identity| Person {
            user_id: identity.user_id.clone(),
            name: identity.name.clone(),
            colour: author_class(&identity.user_id),
            me: true,
        });
        let current = client.current_room().map(str::to_owned);
        let rooms = client
            .rooms()
            .map(|room| RoomEntry {
                name: room.name().to_owned(),
                unread: room.unread(),
                current: current.as_deref() == Some(room.name()),
            })
            .collect::<Vec<_>>();
        let unread = rooms.iter().filter(|r| !r.current).map(|r| r.unread).sum();
        let room = current.as_deref().and_then(|name| client.room(name));
        let older = match room {
            Some(room) if room.has_older() && self.is_fetching() => Older::Loading,
            Some(room) if room.has_older() => Older::Available,
            _ => Older::None,
        };
        let my_id = me.as_ref().map_or("", |me| me.user_id.as_str());
        let members = room
            .map(|room| {
                room.members()
                    .into_iter()
                    .map(|member| Person {
                        colour: author_class(&member.user_id),
                        me: member.user_id == my_id,
                        name: room.label(&member.user_id, &member.name),
                        user_id: member.user_id,
                    })
                    .collect()
            })
            .unwrap_or_default();
        View {
            banner: banner(client.state(), now_ms, client.outbox().len()),
            timeline: self.timeline(current.as_deref(), me.as_ref()),
            me,
            rooms,
            room: current,
            older,
            members,
            outbox: client.outbox().len(),
            unread,
        }
    }

    /// Messages in sequence order with the system lines where they happened, then the
    /// pending posts.
    fn timeline(&self, room_name: Option<&str>, me: Option<&Person>) -> Vec<Item> {
        let system_item = |line: &SystemLine| Item::System {
            id: line.id,
            kind: line.kind,
            text: line.text.clone(),
        };
        let mut system: Vec<&SystemLine> = self.system_lines(room_name).iter().collect();
        system.sort_by_key(|line| line.after_seq);
        let mut system = system.into_iter().peekable();
        let mut items = Vec::new();
        let my_id = me.map_or("", |me| me.user_id.as_str());
        let room = room_name.and_then(|name| self.client.room(name));
        let messages = room
            .into_iter()
            .flat_map(|room| room.messages().map(move |m| (room, m)));
        for (room, message) in messages {
            while let Some(line) = system.next_if(|line| line.after_seq < message.seq) {
                items.push(system_item(line));
            }
            items.push(Item::Message {
                seq: message.seq,
                author_id: message.author_id.clone(),
                author: room.label(&message.author_id, &message.author),
                colour: author_class(&message.author_id),
                text: message.text.clone(),
                ts: message.ts,
                mine: message.author_id == my_id,
            });
        }
        items.extend(system.map(system_item));
        if let Some(room_name) = room_name {
            let author = me.map_or("me", |me| me.name.as_str());
            let colour = author_class(my_id);
            for post in self.client.outbox().in_room(room_name) {
                items.push(Item::Pending {
                    id: post.id.clone(),
                    author: author.to_owned(),
                    colour: colour.clone(),
                    text: post.text.clone(),
                    retrying: matches!(post.state, PostState::Waiting { .. }),
                });
            }
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Effect;
    use tuitalk_protocol::{ChatMessage, ClientCommand, Member, ServerEvent};

    fn message(seq: Seq, author_id: &str, author: &str, text: &str) -> ChatMessage {
        ChatMessage {
            author_handle: None,
            room: "lobby".into(),
            seq,
            id: format!("p-{author_id}-{seq}"),
            author_id: author_id.into(),
            author: author.into(),
            text: text.into(),
            ts: 1_763_800_000_000 + seq as i64,
        }
    }

    fn welcomed() -> Model {
        let mut model = Model::new(Some("ada".into()), 1);
        model.start(0, "lobby");
        model.connected(0);
        model.frame(
            0,
            ServerEvent::Welcome {
                guest: true,
                handle: None,
                email_verified: None,
                session_id: String::new(),
                version: 1,
                user_id: "u-ada".into(),
                name: "ada".into(),
                token: "t".into(),
                rooms: vec![],
                limits: tuitalk_client::default_limits(),
            },
        );
        model.frame(
            0,
            ServerEvent::Joined {
                room: "lobby".into(),
                head: 0,
            },
        );
        model
    }

    #[test]
    fn banner_counts_down_and_mentions_the_outbox() {
        let reconnecting = ConnState::Reconnecting {
            at_ms: 5_200,
            attempt: 2,
        };
        let shown = banner(&reconnecting, 1_000, 0).expect("banner");
        assert_eq!(shown.text, "Connection lost. Reconnecting in 5 s…");
        assert_eq!(shown.state, BannerState::Reconnecting);
        assert!(shown.can_retry);
        let shown = banner(&reconnecting, 5_000, 2).expect("banner");
        assert_eq!(
            shown.text,
            "Connection lost. Reconnecting in 1 s… 2 messages wait to be sent."
        );
        assert_eq!(banner(&ConnState::Connected, 0, 3), None);
        let offline = ConnState::Offline {
            reason: Some("closed (1000)".into()),
        };
        assert_eq!(
            banner(&offline, 0, 0).expect("banner").text,
            "Offline: closed (1000)."
        );
        assert!(
            !banner(&ConnState::Connecting, 0, 0)
                .expect("banner")
                .can_retry
        );
    }

    #[test]
    fn messages_system_lines_and_pending_posts_in_order() {
        let mut model = welcomed();
        model.frame(
            1,
            ServerEvent::Message(message(1, "u-bob", "bob", "hi <b>ada</b>")),
        );
        model.frame(
            2,
            ServerEvent::UserJoined {
                handle: None,
                room: "lobby".into(),
                user_id: "u-cy".into(),
                name: "cy".into(),
            },
        );
        model.frame(3, ServerEvent::Message(message(2, "u-ada", "ada", "hello")));
        let effects = model.submit(4, "still sending");
        assert!(matches!(
            &effects[..],
            [Effect::Send(ClientCommand::Post { .. })]
        ));
        let view = model.view(5);
        assert_eq!(view.banner, None);
        let keys: Vec<String> = view.timeline.iter().map(Item::key).collect();
        // connected notice, bob's message, cy joined, own message, pending post
        assert_eq!(keys.len(), 5, "{keys:?}");
        assert!(keys[0].starts_with('s'));
        assert_eq!(keys[1], "m1");
        assert!(keys[2].starts_with('s'));
        assert_eq!(keys[3], "m2");
        assert!(keys[4].starts_with('p'));
        match &view.timeline[1] {
            Item::Message {
                author,
                text,
                mine,
                colour,
                ..
            } => {
                assert_eq!(author, "bob");
                assert_eq!(text, "hi <b>ada</b>", "text is kept verbatim, never parsed");
                assert!(!mine);
                assert_eq!(colour, &author_class("u-bob"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            &view.timeline[3],
            Item::Message { mine: true, .. }
        ));
        match &view.timeline[4] {
            Item::Pending {
                author,
                text,
                retrying,
                ..
            } => {
                assert_eq!(
                    (author.as_str(), text.as_str(), *retrying),
                    ("ada", "still sending", false)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(view.outbox, 1);
    }

    #[test]
    fn lookalike_members_and_authors_carry_an_id_tag() {
        let mut model = welcomed();
        model.frame(
            1,
            ServerEvent::Presence {
                room: "lobby".into(),
                members: vec![
                    Member {
                        handle: None,
                        user_id: "u-ada".into(),
                        name: "ada".into(),
                    },
                    Member {
                        handle: None,
                        user_id: "u-3f2a".into(),
                        name: "alice".into(),
                    },
                    Member {
                        handle: None,
                        user_id: "u-9c41".into(),
                        name: "\u{410}lice".into(),
                    },
                ],
            },
        );
        model.frame(
            2,
            ServerEvent::Message(message(1, "u-9c41", "\u{410}lice", "hi")),
        );
        model.frame(3, ServerEvent::Message(message(2, "u-ada", "ada", "hello")));
        let view = model.view(4);
        let names: Vec<&str> = view.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["ada", "alice#3f2a", "\u{410}lice#9c41"]);
        let authors: Vec<&str> = view
            .timeline
            .iter()
            .filter_map(|item| match item {
                Item::Message { author, .. } => Some(author.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(authors, ["\u{410}lice#9c41", "ada"]);
    }

    #[test]
    fn ack_turns_a_pending_post_into_a_message() {
        let mut model = welcomed();
        let effects = model.submit(1, "mine");
        let Some(Effect::Send(ClientCommand::Post { id, .. })) = effects.first() else {
            panic!("{effects:?}");
        };
        let id = id.clone();
        model.frame(
            2,
            ServerEvent::Ack {
                room: "lobby".into(),
                id,
                seq: 1,
                ts: 9,
            },
        );
        let view = model.view(3);
        assert!(
            view.timeline
                .iter()
                .all(|item| !matches!(item, Item::Pending { .. }))
        );
        assert!(view.timeline.iter().any(|item| matches!(
            item,
            Item::Message {
                seq: 1,
                mine: true,
                ..
            }
        )));
        assert_eq!(view.outbox, 0);
    }

    #[test]
    fn rooms_unread_members_and_older() {
        let mut model = welcomed();
        model.join("42");
        model.frame(
            1,
            ServerEvent::Joined {
                room: "42".into(),
                head: 80,
            },
        );
        model.frame(
            1,
            ServerEvent::Presence {
                room: "42".into(),
                members: vec![
                    Member {
                        handle: None,
                        user_id: "u-ada".into(),
                        name: "ada".into(),
                    },
                    Member {
                        handle: None,
                        user_id: "u-bob".into(),
                        name: "bob".into(),
                    },
                ],
            },
        );
        model.frame(
            2,
            ServerEvent::Message(message(1, "u-bob", "bob", "in lobby")),
        );
        let view = model.view(3);
        assert_eq!(view.room.as_deref(), Some("42"));
        assert_eq!(
            view.rooms,
            [
                RoomEntry {
                    name: "42".into(),
                    unread: 0,
                    current: true
                },
                RoomEntry {
                    name: "lobby".into(),
                    unread: 1,
                    current: false
                },
            ]
        );
        assert_eq!(view.unread, 1);
        let names: Vec<(&str, bool)> = view
            .members
            .iter()
            .map(|p| (p.name.as_str(), p.me))
            .collect();
        assert_eq!(names, [("ada", true), ("bob", false)]);
        assert_eq!(view.older, Older::Available, "head 80 and nothing loaded");
        model.fetch_older(4, 50);
        assert_eq!(model.view(4).older, Older::Loading);
        model.switch_to("lobby");
        let view = model.view(5);
        assert_eq!(view.unread, 0);
        assert_eq!(view.older, Older::None);
    }

    #[test]
    fn name_changes_are_shown() {
        let mut model = welcomed();
        model.frame(
            1,
            ServerEvent::UserJoined {
                handle: None,
                room: "lobby".into(),
                user_id: "u-bob".into(),
                name: "bob".into(),
            },
        );
        model.frame(
            2,
            ServerEvent::NameChanged {
                user_id: "u-bob".into(),
                old_name: "bob".into(),
                name: "robert".into(),
                rooms: vec!["lobby".into()],
            },
        );
        let view = model.view(3);
        assert!(view.timeline.iter().any(|item| matches!(
            item,
            Item::System { kind: NoticeKind::Presence, text, .. } if text == "bob (guest) is now known as robert"
        )));
        assert!(view.members.iter().any(|p| p.name == "robert"));
    }
}
