//! Rooms: dedupe by sequence, history pages, unread counts, members, server reset.

use tuitalk_client::NoticeKind;
use tuitalk_protocol::{ClientCommand, Member, ServerEvent};

use crate::support::*;

fn history(room: &str, seqs: std::ops::RangeInclusive<u64>, has_more: bool) -> ServerEvent {
    ServerEvent::History {
        room: room.into(),
        messages: seqs
            .map(|s| msg(room, s, "u-bob", &format!("b-{s}"), &format!("hi {s}")))
            .collect(),
        has_more,
    }
}

#[test]
fn first_join_loads_a_page_of_recent_history_and_presence() {
    let mut client = connected();
    assert_eq!(
        sends(&client.join("42")),
        [ClientCommand::Join {
            room: "42".into(),
            since: None
        }]
    );
    assert_eq!(client.current_room(), Some("42"));
    let actions = client.frame(0, joined("42", 120));
    assert_eq!(
        sends(&actions),
        [
            ClientCommand::History {
                room: "42".into(),
                before: Some(121),
                limit: 50
            },
            ClientCommand::Who { room: "42".into() },
        ]
    );
    client.frame(0, history("42", 71..=120, true));
    assert_eq!(seqs(&client, "42"), (71..=120).collect::<Vec<_>>());
    // Live messages continue after the head.
    client.frame(0, other("42", 121));
    assert_eq!(client.room("42").map(|r| r.last_seq()), Some(121));
}

#[test]
fn empty_room_loads_no_history() {
    let mut client = connected();
    client.join("r");
    let actions = client.frame(0, joined("r", 0));
    assert_eq!(sends(&actions), [ClientCommand::Who { room: "r".into() }]);
}

#[test]
fn duplicates_and_old_sequences_are_dropped() {
    let mut client = in_room("r", 0);
    for seq in [1, 2, 2, 1, 3, 3] {
        client.frame(0, other("r", seq));
    }
    assert_eq!(seqs(&client, "r"), [1, 2, 3]);
}

#[test]
fn a_gap_is_repaired_from_history() {
    let mut client = in_room("r", 0);
    client.frame(0, other("r", 1));
    let actions = client.frame(0, other("r", 5));
    assert_eq!(
        sends(&actions),
        [ClientCommand::History {
            room: "r".into(),
            before: Some(5),
            limit: 3
        }]
    );
    client.frame(0, history("r", 2..=4, true));
    assert_eq!(seqs(&client, "r"), [1, 2, 3, 4, 5]);
}

#[test]
fn fetch_older_pages_backwards_from_the_oldest_loaded() {
    let mut client = in_room("r", 100);
    client.frame(0, history("r", 51..=100, true));
    assert_eq!(
        sends(&client.fetch_older(20)),
        [ClientCommand::History {
            room: "r".into(),
            before: Some(51),
            limit: 20
        }]
    );
    client.frame(0, history("r", 31..=50, true));
    assert_eq!(client.room("r").and_then(|r| r.oldest_seq()), Some(31));
    // Overlapping pages merge without duplicates.
    client.frame(0, history("r", 25..=40, true));
    assert_eq!(seqs(&client, "r"), (25..=100).collect::<Vec<_>>());
    // The limit is capped by the server's page maximum.
    let capped = sends(&client.fetch_older(10_000));
    assert!(matches!(
        capped[0],
        ClientCommand::History {
            limit: 200,
            before: Some(25),
            ..
        }
    ));
    let actions = client.frame(0, history("r", 1..=24, false));
    assert_eq!(notices(&actions, NoticeKind::Info), ["beginning of #r"]);
    // Nothing older: no request.
    let actions = client.fetch_older(10);
    assert!(sends(&actions).is_empty());
    assert_eq!(notices(&actions, NoticeKind::Info), ["no older messages"]);
}

#[test]
fn clear_then_fetch_reloads_the_newest() {
    let mut client = in_room("r", 10);
    client.frame(0, history("r", 1..=10, false));
    client.clear_room("r");
    assert!(seqs(&client, "r").is_empty());
    assert!(matches!(
        sends(&client.fetch_older(5))[0],
        ClientCommand::History {
            before: Some(11),
            limit: 5,
            ..
        }
    ));
}

#[test]
fn unread_counts_only_other_rooms_and_resets_on_switch() {
    let mut client = in_room("a", 0);
    client.join("b");
    client.frame(0, joined("b", 0));
    assert_eq!(client.current_room(), Some("b"));
    client.frame(0, other("a", 1));
    client.frame(0, other("a", 2));
    client.frame(0, other("b", 1));
    // Own messages never count as unread.
    client.frame(0, ServerEvent::Message(msg("a", 3, ME, "mine", "x")));
    assert_eq!(client.room("a").map(|r| r.unread()), Some(2));
    assert_eq!(client.room("b").map(|r| r.unread()), Some(0));
    // Switching to a joined room sends nothing and marks it read.
    assert!(client.join("a").is_empty());
    assert_eq!(client.current_room(), Some("a"));
    assert_eq!(client.room("a").map(|r| r.unread()), Some(0));
}

#[test]
fn server_reset_head_clears_the_room() {
    let mut client = in_room("r", 0);
    for seq in 1..=5 {
        client.frame(0, other("r", seq));
    }
    client.disconnected(0, None, "reset");
    client.tick(u64::MAX / 2);
    client.connected(0);
    client.frame(0, welcome(&["r"]));
    let actions = client.frame(0, joined("r", 2));
    assert!(seqs(&client, "r").is_empty());
    assert_eq!(client.room("r").map(|r| r.last_seq()), Some(2));
    assert_eq!(notices(&actions, NoticeKind::Error).len(), 1);
    assert!(sends(&actions).contains(&ClientCommand::History {
        room: "r".into(),
        before: Some(3),
        limit: 50
    }));
    // The new seq 3 is not mistaken for an old one.
    client.frame(0, other("r", 3));
    assert_eq!(seqs(&client, "r"), [3]);
}

#[test]
fn members_follow_presence_joins_leaves_and_renames() {
    let mut client = in_room("r", 0);
    client.frame(
        0,
        ServerEvent::Presence {
            room: "r".into(),
            members: vec![Member {
                handle: None,
                user_id: ME.into(),
                name: "ada".into(),
            }],
        },
    );
    let joined_bob = client.frame(
        0,
        ServerEvent::UserJoined {
            handle: None,
            room: "r".into(),
            user_id: "u-bob".into(),
            name: "bob".into(),
        },
    );
    assert_eq!(
        notices(&joined_bob, NoticeKind::Presence),
        ["bob (guest) joined #r"]
    );
    let renamed = client.frame(
        0,
        ServerEvent::NameChanged {
            user_id: "u-bob".into(),
            old_name: "bob".into(),
            name: "robert".into(),
            rooms: vec!["r".into()],
        },
    );
    assert_eq!(
        notices(&renamed, NoticeKind::Presence),
        ["bob (guest) is now known as robert"]
    );
    let names = |c: &tuitalk_client::Client| -> Vec<String> {
        c.room("r")
            .map(|r| r.members().into_iter().map(|m| m.name).collect())
            .unwrap_or_default()
    };
    assert_eq!(names(&client), ["ada", "robert"]);
    let left = client.frame(
        0,
        ServerEvent::UserLeft {
            room: "r".into(),
            user_id: "u-bob".into(),
            name: "robert".into(),
        },
    );
    assert_eq!(
        notices(&left, NoticeKind::Presence),
        ["robert (guest) left #r"]
    );
    assert_eq!(names(&client), ["ada"]);
}

#[test]
fn own_rename_updates_identity() {
    let mut client = in_room("r", 0);
    assert_eq!(
        sends(&client.rename("grace")),
        [ClientCommand::Name {
            name: "grace".into()
        }]
    );
    let actions = client.frame(
        0,
        ServerEvent::NameChanged {
            user_id: ME.into(),
            old_name: "ada".into(),
            name: "grace".into(),
            rooms: vec![],
        },
    );
    assert_eq!(client.identity().map(|i| i.name.as_str()), Some("grace"));
    assert_eq!(
        notices(&actions, NoticeKind::Info),
        ["you are now known as grace"]
    );
    assert_eq!(notices(&client.rename(" bad"), NoticeKind::Error).len(), 1);
}

#[test]
fn who_answers_with_a_notice_only_when_asked() {
    let mut client = in_room("r", 0);
    let presence = || ServerEvent::Presence {
        room: "r".into(),
        members: vec![Member {
            handle: None,
            user_id: ME.into(),
            name: "ada".into(),
        }],
    };
    assert!(client.frame(0, presence()).is_empty());
    assert_eq!(
        sends(&client.who()),
        [ClientCommand::Who { room: "r".into() }]
    );
    assert_eq!(
        notices(&client.frame(0, presence()), NoticeKind::Info),
        ["in #r (1): ada (guest)"]
    );
}

#[test]
fn invalid_room_is_refused_locally_and_refused_join_removes_the_room() {
    let mut client = connected();
    assert_eq!(
        notices(&client.join("no spaces"), NoticeKind::Error).len(),
        1
    );
    assert!(client.rooms().next().is_none());
    client.join("r");
    let actions = client.frame(
        0,
        ServerEvent::Error {
            code: tuitalk_protocol::ErrorCode::TooManyRooms,
            message: "too many rooms".into(),
            command: Some("join".into()),
            room: Some("r".into()),
            id: None,
            retry_after_ms: None,
        },
    );
    assert!(client.room("r").is_none());
    assert_eq!(client.current_room(), None);
    assert_eq!(notices(&actions, NoticeKind::Error).len(), 1);
}

#[test]
fn leave_switches_to_another_room() {
    let mut client = in_room("a", 0);
    client.join("b");
    client.frame(0, joined("b", 0));
    let actions = client.leave();
    assert_eq!(sends(&actions), [ClientCommand::Leave { room: "b".into() }]);
    assert_eq!(client.current_room(), Some("a"));
    assert!(client.room("b").is_none());
}

#[test]
fn messages_for_unknown_rooms_are_ignored() {
    let mut client = connected();
    assert!(client.frame(0, other("nowhere", 1)).is_empty());
    assert!(client.room("nowhere").is_none());
}
