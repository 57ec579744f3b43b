//! Helpers: a model brought to a known state, key typing, screen capture.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tuitalk_client::{Client, Config};
use tuitalk_protocol::{ChatMessage, ServerEvent};
use tuitalk_tui::model::Model;
use tuitalk_tui::net::{NetCommand, NetEvent};
use tuitalk_tui::update::{self, Effect, Msg};
use tuitalk_tui::view;

pub const ME: &str = "u-me";

pub fn new_model() -> Model {
    let config = Config {
        name: Some("ada".into()),
        ..Config::default()
    };
    let mut model = Model::new(Client::new(config, 7));
    model.server = tuitalk_tui::http::Server::parse("ws://127.0.0.1:1/ws").ok();
    model
}

/// A model whose session is welcomed.
pub fn connected_model() -> Model {
    let mut model = new_model();
    update::start(&mut model, 0);
    net(&mut model, NetEvent::Connected);
    net(
        &mut model,
        NetEvent::Frame(ServerEvent::Welcome {
            guest: true,
            handle: None,
            email_verified: None,
            session_id: String::new(),
            version: 1,
            user_id: ME.into(),
            name: "ada".into(),
            token: "tok".into(),
            rooms: vec![],
            limits: tuitalk_client::default_limits(),
        }),
    );
    model
}

/// A welcomed model in room `room` (head 0).
pub fn model_in_room(room: &str) -> Model {
    let mut model = connected_model();
    type_line(&mut model, &format!("/room {room}"));
    frame(
        &mut model,
        ServerEvent::Joined {
            room: room.into(),
            head: 0,
        },
    );
    model
}

pub fn net(model: &mut Model, event: NetEvent) -> Vec<Effect> {
    update::update(model, Msg::Net(event), 0)
}

pub fn frame(model: &mut Model, event: ServerEvent) -> Vec<Effect> {
    net(model, NetEvent::Frame(event))
}

pub fn key(model: &mut Model, code: KeyCode) -> Vec<Effect> {
    update::update(model, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)), 0)
}

/// Types a line and presses Enter; returns the effects of Enter.
pub fn type_line(model: &mut Model, line: &str) -> Vec<Effect> {
    for c in line.chars() {
        key(model, KeyCode::Char(c));
    }
    key(model, KeyCode::Enter)
}

pub fn sent(effects: &[Effect]) -> Vec<tuitalk_protocol::ClientCommand> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Net(NetCommand::Send(command)) => Some(command.clone()),
            _ => None,
        })
        .collect()
}

pub fn message(room: &str, seq: u64, author_id: &str, author: &str, text: &str) -> ServerEvent {
    ServerEvent::Message(ChatMessage {
        author_handle: None,
        room: room.into(),
        seq,
        id: format!("id-{seq}"),
        author_id: author_id.into(),
        author: author.into(),
        text: text.into(),
        ts: 1_763_800_000_000,
    })
}

/// Draws the model on a `width`×`height` test terminal and returns the screen as lines.
pub fn screen(model: &mut Model, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|f| view::draw(f, model))
        .expect("draw on test terminal");
    let buffer = terminal.backend().buffer().clone();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol().to_owned())
                .collect::<String>()
        })
        .collect()
}

pub fn screen_text(model: &mut Model) -> String {
    screen(model, 80, 16).join("\n")
}
