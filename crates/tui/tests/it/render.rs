//! Rendering against ratatui's TestBackend.

use tuitalk_protocol::{ErrorCode, ServerEvent};
use tuitalk_tui::net::NetEvent;
use tuitalk_tui::update;
use tuitalk_tui::view::style::local_time;

use crate::support::*;

#[test]
fn shows_message_time_author_and_text() {
    let mut model = model_in_room("42");
    frame(&mut model, message("42", 1, "u-bob", "bob", "hello ada"));
    let text = screen_text(&mut model);
    let time = local_time(1_763_800_000_000);
    assert!(
        text.contains(&format!("{time} bob (guest): hello ada")),
        "{text}"
    );
}

#[test]
fn pending_post_is_marked_until_acknowledged() {
    let mut model = model_in_room("42");
    let effects = type_line(&mut model, "on its way");
    let id = match &sent(&effects)[0] {
        tuitalk_protocol::ClientCommand::Post { id, .. } => id.clone(),
        other => panic!("not a post: {other:?}"),
    };
    let text = screen_text(&mut model);
    assert!(text.contains("ada (guest): on its way (pending)"), "{text}");
    assert!(text.contains("outbox 1"), "{text}");
    frame(
        &mut model,
        ServerEvent::Ack {
            room: "42".into(),
            id,
            seq: 1,
            ts: 1_763_800_000_000,
        },
    );
    let text = screen_text(&mut model);
    assert!(text.contains("ada (guest): on its way"), "{text}");
    assert!(!text.contains("(pending)"), "{text}");
    assert!(!text.contains("outbox"), "{text}");
}

#[test]
fn status_line_shows_state_room_unread_and_name() {
    let mut model = model_in_room("42");
    type_line(&mut model, "/room lobby");
    frame(
        &mut model,
        ServerEvent::Joined {
            room: "lobby".into(),
            head: 0,
        },
    );
    frame(&mut model, message("42", 1, "u-bob", "bob", "x"));
    frame(&mut model, message("42", 2, "u-bob", "bob", "y"));
    let lines = screen(&mut model, 80, 10);
    let status = &lines[8];
    assert!(status.contains("connected"), "{status}");
    assert!(status.contains("#lobby"), "{status}");
    assert!(status.contains("#42(2)"), "{status}");
    assert!(status.contains("you: ada"), "{status}");
}

#[test]
fn status_line_counts_down_the_reconnect_and_shows_offline() {
    let mut model = model_in_room("42");
    update::update(
        &mut model,
        update::Msg::Net(NetEvent::Disconnected {
            code: None,
            reason: "connection reset".into(),
        }),
        1_000,
    );
    // Draw as if 0 ms passed: "reconnecting in N s" with N ≤ 1 (first delay ≤ 500 ms).
    let text = screen_text(&mut model);
    assert!(
        text.contains("reconnecting in 1 s") || text.contains("reconnecting in 0 s"),
        "{text}"
    );
    assert!(
        text.contains("disconnected (connection reset); reconnecting"),
        "{text}"
    );
    let mut model = model_in_room("42");
    net(
        &mut model,
        NetEvent::Disconnected {
            code: Some(4001),
            reason: "unsupported_version".into(),
        },
    );
    let text = screen_text(&mut model);
    assert!(text.contains("offline: session refused"), "{text}");
}

#[test]
fn text_from_others_is_sanitised() {
    let mut model = model_in_room("42");
    frame(
        &mut model,
        message(
            "42",
            1,
            "u-evil",
            "ev\x1b[31mil\u{202E}",
            "a\x1b]0;title\x07b\x1b[2Jc\u{9b}1md",
        ),
    );
    let text = screen_text(&mut model);
    assert!(text.contains("evil (guest): abcd"), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(!text.contains("title"), "{text}");
    assert!(!text.contains("[31m"), "{text}");
}

#[test]
fn lookalike_names_are_marked_with_an_id_tag() {
    let mut model = model_in_room("42");
    for (user_id, name) in [("u-3f2a", "alice"), ("u-9c41", "\u{410}lice")] {
        frame(
            &mut model,
            ServerEvent::UserJoined {
                handle: None,
                room: "42".into(),
                user_id: user_id.into(),
                name: name.into(),
            },
        );
    }
    frame(
        &mut model,
        message("42", 1, "u-9c41", "\u{410}lice", "it's me"),
    );
    frame(&mut model, message("42", 2, "u-bob", "bob", "hi"));
    let lines = screen(&mut model, 100, 16);
    let header = &lines[0];
    assert!(header.contains("alice#3f2a"), "{header}");
    assert!(header.contains("\u{410}lice#9c41"), "{header}");
    let text = lines.join("\n");
    assert!(text.contains("\u{410}lice#9c41 (guest): it's me"), "{text}");
    assert!(text.contains(" bob (guest): hi"), "{text}");
}

#[test]
fn notices_are_system_lines_not_dumps() {
    let mut model = model_in_room("42");
    frame(
        &mut model,
        ServerEvent::UserJoined {
            handle: None,
            room: "42".into(),
            user_id: "u-bob".into(),
            name: "bob".into(),
        },
    );
    frame(
        &mut model,
        ServerEvent::Error {
            code: ErrorCode::InvalidName,
            message: "name too long".into(),
            command: Some("name".into()),
            room: None,
            id: None,
            retry_after_ms: None,
        },
    );
    let text = screen_text(&mut model);
    assert!(text.contains("* bob (guest) joined #42"), "{text}");
    assert!(
        text.contains("* could not change name: name too long"),
        "{text}"
    );
    assert!(!text.contains("Error {"), "{text}");
}

#[test]
fn header_lists_who_is_present() {
    let mut model = model_in_room("42");
    frame(
        &mut model,
        ServerEvent::Presence {
            room: "42".into(),
            members: vec![
                tuitalk_protocol::Member {
                    handle: None,
                    user_id: ME.into(),
                    name: "ada".into(),
                },
                tuitalk_protocol::Member {
                    handle: None,
                    user_id: "u-bob".into(),
                    name: "bob".into(),
                },
            ],
        },
    );
    let lines = screen(&mut model, 80, 10);
    assert!(
        lines[0].contains("#42  2 present: ada (guest), bob (guest)"),
        "{}",
        lines[0]
    );
}

#[test]
fn long_messages_wrap_and_multiline_texts_break() {
    let mut model = model_in_room("42");
    frame(
        &mut model,
        message(
            "42",
            1,
            "u-bob",
            "bob",
            &format!("{}\nsecond line", "x".repeat(70)),
        ),
    );
    let lines = screen(&mut model, 40, 12);
    let text = lines.join("\n");
    assert!(text.contains("second line"), "{text}");
    assert!(lines.iter().all(|line| line.chars().count() == 40));
}

#[test]
fn no_room_shows_the_welcome_hint() {
    let mut model = connected_model();
    let text = screen_text(&mut model);
    assert!(text.contains("/room NAME joins a room"), "{text}");
    assert!(text.contains("no room"), "{text}");
}

#[test]
fn after_a_server_reset_new_messages_show_below_old_system_lines() {
    let mut model = model_in_room("42");
    for seq in 1..=5 {
        frame(
            &mut model,
            message("42", seq, "u-bob", "bob", &format!("old {seq}")),
        );
    }
    model.info("an old notice");
    net(
        &mut model,
        NetEvent::Disconnected {
            code: Some(1012),
            reason: String::new(),
        },
    );
    let at = match *model.client.state() {
        tuitalk_client::ConnState::Reconnecting { at_ms, .. } => at_ms,
        ref other => panic!("not reconnecting: {other:?}"),
    };
    update::update(&mut model, update::Msg::Tick, at);
    net(&mut model, NetEvent::Connected);
    frame(
        &mut model,
        ServerEvent::Welcome {
            guest: true,
            handle: None,
            email_verified: None,
            session_id: String::new(),
            version: 1,
            user_id: ME.into(),
            name: "ada".into(),
            token: "tok".into(),
            rooms: vec!["42".into()],
            limits: tuitalk_client::default_limits(),
        },
    );
    frame(
        &mut model,
        ServerEvent::Joined {
            room: "42".into(),
            head: 0,
        },
    );
    frame(&mut model, message("42", 1, "u-bob", "bob", "new one"));
    let text = screen_text(&mut model);
    let notice = text.find("an old notice").expect("old notice shown");
    let reset = text.find("was reset").expect("reset notice shown");
    let new = text
        .find("bob (guest): new one")
        .expect("new message shown");
    assert!(notice < reset && reset < new, "{text}");
    assert!(!text.contains("old 5"), "{text}");
}
