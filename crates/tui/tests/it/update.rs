//! The update function: commands parsed into intents, network events into state.

use crossterm::event::KeyCode;
use tuitalk_client::ConnState;
use tuitalk_protocol::{ClientCommand, ServerEvent};
use tuitalk_tui::net::{NetCommand, NetEvent};
use tuitalk_tui::update::{self, Effect};

use crate::support::*;

#[test]
fn start_connects_and_connected_says_hello() {
    let mut model = new_model();
    assert_eq!(
        update::start(&mut model, 0),
        [Effect::Net(NetCommand::Connect)]
    );
    let effects = net(&mut model, NetEvent::Connected);
    assert_eq!(
        sent(&effects),
        [ClientCommand::Hello {
            version: 1,
            token: None,
            name: Some("ada".into())
        }]
    );
}

#[test]
fn room_command_joins_and_loads_history() {
    let mut model = connected_model();
    let effects = type_line(&mut model, "/room 42");
    assert_eq!(
        sent(&effects),
        [ClientCommand::Join {
            room: "42".into(),
            since: None
        }]
    );
    assert_eq!(model.input.text(), "");
    let effects = frame(
        &mut model,
        ServerEvent::Joined {
            room: "42".into(),
            head: 10,
        },
    );
    assert!(matches!(
        sent(&effects)[0],
        ClientCommand::History {
            before: Some(11),
            ..
        }
    ));
}

#[test]
fn plain_text_posts_to_the_current_room() {
    let mut model = model_in_room("42");
    let effects = type_line(&mut model, "hello there");
    let commands = sent(&effects);
    assert!(matches!(
        &commands[..],
        [ClientCommand::Post { room, text, .. }] if room == "42" && text == "hello there"
    ));
    assert_eq!(model.client.outbox().len(), 1);
}

#[test]
fn slash_commands_map_to_intents() {
    let mut model = model_in_room("42");
    assert_eq!(
        sent(&type_line(&mut model, "/name grace")),
        [ClientCommand::Name {
            name: "grace".into()
        }]
    );
    assert_eq!(
        sent(&type_line(&mut model, "/who")),
        [ClientCommand::Who { room: "42".into() }]
    );
    assert_eq!(
        sent(&type_line(&mut model, "/leave")),
        [ClientCommand::Leave { room: "42".into() }]
    );
    assert_eq!(model.client.current_room(), None);
}

#[test]
fn fetch_asks_for_messages_above_the_oldest_shown() {
    let mut model = model_in_room("42");
    for seq in 1..=3 {
        frame(&mut model, message("42", seq, "u-bob", "bob", "x"));
    }
    type_line(&mut model, "/clear");
    frame(&mut model, message("42", 4, "u-bob", "bob", "y"));
    assert_eq!(
        sent(&type_line(&mut model, "/fetch 2")),
        [ClientCommand::History {
            room: "42".into(),
            before: Some(4),
            limit: 2
        }]
    );
}

#[test]
fn bad_command_shows_usage_and_sends_nothing() {
    let mut model = model_in_room("42");
    assert!(sent(&type_line(&mut model, "/fetch lots")).is_empty());
    assert!(sent(&type_line(&mut model, "/bogus")).is_empty());
    let text = screen_text(&mut model);
    assert!(text.contains("usage: /fetch"), "{text}");
    assert!(text.contains("unknown command /bogus"), "{text}");
}

#[test]
fn quit_closes_and_quits() {
    let mut model = model_in_room("42");
    let effects = type_line(&mut model, "/quit");
    assert_eq!(effects, [Effect::Net(NetCommand::Close), Effect::Quit]);
    assert!(matches!(model.client.state(), ConnState::Offline { .. }));
}

#[test]
fn ctrl_c_quits() {
    let mut model = model_in_room("42");
    let effects = update::update(
        &mut model,
        update::Msg::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('c'),
            crossterm::event::KeyModifiers::CONTROL,
        )),
        0,
    );
    assert!(effects.contains(&Effect::Quit));
}

#[test]
fn disconnect_then_tick_reconnects() {
    let mut model = model_in_room("42");
    net(
        &mut model,
        NetEvent::Disconnected {
            code: Some(1012),
            reason: "restart".into(),
        },
    );
    let ConnState::Reconnecting { at_ms, .. } = *model.client.state() else {
        panic!("not reconnecting");
    };
    let effects = update::update(&mut model, update::Msg::Tick, at_ms);
    assert_eq!(effects, [Effect::Net(NetCommand::Connect)]);
}

#[test]
fn tab_cycles_rooms_and_clears_unread() {
    let mut model = model_in_room("a");
    type_line(&mut model, "/room b");
    frame(
        &mut model,
        ServerEvent::Joined {
            room: "b".into(),
            head: 0,
        },
    );
    frame(&mut model, message("a", 1, "u-bob", "bob", "x"));
    assert_eq!(model.client.room("a").map(|r| r.unread()), Some(1));
    key(&mut model, KeyCode::Tab);
    assert_eq!(model.client.current_room(), Some("a"));
    assert_eq!(model.client.room("a").map(|r| r.unread()), Some(0));
}

#[test]
fn scroll_keys_move_and_clamp() {
    let mut model = model_in_room("42");
    for seq in 1..=40 {
        frame(
            &mut model,
            message("42", seq, "u-bob", "bob", &format!("line {seq}")),
        );
    }
    screen(&mut model, 60, 12);
    key(&mut model, KeyCode::PageUp);
    assert!(model.scroll > 0);
    let text = screen(&mut model, 60, 12).join("\n");
    assert!(!text.contains("line 40"), "{text}");
    key(&mut model, KeyCode::Home);
    let text = screen(&mut model, 60, 12).join("\n");
    assert!(text.contains("line 1 "), "{text}");
    key(&mut model, KeyCode::End);
    let text = screen(&mut model, 60, 12).join("\n");
    assert!(text.contains("line 40"), "{text}");
}
