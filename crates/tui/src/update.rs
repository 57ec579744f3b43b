//! The update function: every input (key, network event, tick) changes the [`Model`]
//! and yields [`Effect`]s for the run loop to carry out.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tuitalk_client::Action;

use crate::account::{self, Step};
use crate::api::{ApiCall, ApiError, ApiOk};
use crate::command::{self, Command, Extra, HELP};
use crate::model::Model;
use crate::net::{NetCommand, NetEvent};

/// One input to the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// Text pasted into the terminal.
    Paste(String),
    /// Something from the network task.
    Net(NetEvent),
    /// The answer to an [`Effect::Api`] call.
    Api {
        /// What the call was for.
        step: Step,
        /// The answer.
        result: Result<ApiOk, ApiError>,
    },
    /// Time passes (reconnect countdown, retries).
    Tick,
    /// The terminal was resized (redraw only).
    Resize,
}

/// Something the run loop must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Hand this to the network task.
    Net(NetCommand),
    /// Call the REST API; hand the answer back as [`Msg::Api`] with the same `step`.
    Api {
        /// What the call is for.
        step: Step,
        /// The request.
        call: ApiCall,
    },
    /// Leave the program.
    Quit,
}

/// Starts the session (the first connect).
pub fn start(model: &mut Model, now_ms: u64) -> Vec<Effect> {
    model.now_ms = now_ms;
    let actions = model.client.start(now_ms);
    model.info("welcome to TuiTalk: /room NAME joins a room, /help lists the commands");
    apply(model, actions)
}

/// Applies one input at time `now_ms` (the client core's clock).
pub fn update(model: &mut Model, msg: Msg, now_ms: u64) -> Vec<Effect> {
    model.now_ms = now_ms;
    let actions = match msg {
        Msg::Key(key) => return on_key(model, key, now_ms),
        Msg::Paste(text) if model.prompt.is_some() => {
            account::prompt_paste(model, &text);
            Vec::new()
        }
        Msg::Paste(text) => {
            model.input.insert(&text);
            Vec::new()
        }
        Msg::Api { step, result } => return account::reply(model, step, result, now_ms),
        Msg::Net(NetEvent::Connected) => model.client.connected(now_ms),
        Msg::Net(NetEvent::Frame(event)) => model.client.frame(now_ms, event),
        Msg::Net(NetEvent::Disconnected { code, reason }) => {
            model.client.disconnected(now_ms, code, &reason)
        }
        Msg::Tick => model.client.tick(now_ms),
        Msg::Resize => Vec::new(),
    };
    apply(model, actions)
}

/// Turns the client core's actions into effects; notices become system lines.
pub(crate) fn apply(model: &mut Model, actions: Vec<Action>) -> Vec<Effect> {
    let mut effects = Vec::new();
    model.reanchor_system_lines();
    for action in actions {
        match action {
            Action::Connect => effects.push(Effect::Net(NetCommand::Connect)),
            Action::Send(command) => effects.push(Effect::Net(NetCommand::Send(command))),
            Action::Close => effects.push(Effect::Net(NetCommand::Close)),
            Action::Notice(notice) => model.push_notice(notice),
        }
    }
    if model.quit {
        effects.push(Effect::Quit);
    }
    effects
}

fn on_key(model: &mut Model, key: KeyEvent, now_ms: u64) -> Vec<Effect> {
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let page = model.page_height.saturating_sub(1).max(1);
    if model.prompt.is_some() && !matches!(key.code, KeyCode::PageUp | KeyCode::PageDown) {
        return account::prompt_key(model, key);
    }
    match key.code {
        KeyCode::Char('c' | 'd') if ctrl => return quit(model),
        KeyCode::Char('a') if ctrl => model.input.home(),
        KeyCode::Char('e') if ctrl => model.input.end(),
        KeyCode::Char('u') if ctrl => {
            model.input.take();
        }
        KeyCode::Char('l') if ctrl => {}
        KeyCode::Char(c) if !ctrl => model.input.insert(c.encode_utf8(&mut [0; 4])),
        KeyCode::Backspace => model.input.backspace(),
        KeyCode::Delete => model.input.delete(),
        KeyCode::Left => model.input.move_by(-1),
        KeyCode::Right => model.input.move_by(1),
        KeyCode::PageUp => model.scroll = model.scroll.saturating_add(page),
        KeyCode::PageDown => model.scroll = model.scroll.saturating_sub(page),
        KeyCode::Up if key.modifiers.contains(KeyModifiers::SHIFT) => {
            model.scroll = model.scroll.saturating_add(1);
        }
        KeyCode::Down if key.modifiers.contains(KeyModifiers::SHIFT) => {
            model.scroll = model.scroll.saturating_sub(1);
        }
        // Clamped to the top by the view.
        KeyCode::Home => model.scroll = usize::MAX,
        KeyCode::End => model.scroll = 0,
        KeyCode::Tab => next_room(model),
        KeyCode::Enter => {
            let line = model.input.take();
            return submit(model, &line, now_ms);
        }
        _ => {}
    }
    Vec::new()
}

/// The user quits: close the connection, then leave.
pub(crate) fn quit(model: &mut Model) -> Vec<Effect> {
    model.quit = true;
    let actions = model.client.quit();
    apply(model, actions)
}

fn next_room(model: &mut Model) {
    let rooms: Vec<String> = model.client.rooms().map(|r| r.name().to_owned()).collect();
    if rooms.is_empty() {
        return;
    }
    let next = match model.client.current_room() {
        Some(current) => rooms
            .iter()
            .position(|room| room == current)
            .map_or(0, |i| (i + 1) % rooms.len()),
        None => 0,
    };
    model.client.switch_to(&rooms[next]);
    model.scroll = 0;
}

/// Handles a line typed into the input box (a command or a post).
pub fn submit(model: &mut Model, line: &str, now_ms: u64) -> Vec<Effect> {
    let command = match command::parse(line) {
        Ok(Some(command)) => command,
        Ok(None) => return Vec::new(),
        Err(usage) => {
            model.error(usage);
            return Vec::new();
        }
    };
    let actions = match command {
        Command::Help => {
            for line in HELP {
                model.info(*line);
            }
            Vec::new()
        }
        Command::Extra(Extra::Clear) => {
            let room = model.client.current_room().map(str::to_owned);
            if let Some(room) = &room {
                model.client.clear_room(room);
            }
            model.system.remove(&room);
            model.scroll = 0;
            Vec::new()
        }
        Command::Name(name) => model.client.rename(&name),
        Command::Room(room) => {
            model.scroll = 0;
            model.client.join(&room)
        }
        Command::Leave => {
            model.scroll = 0;
            model.client.leave()
        }
        Command::Fetch(n) => model.client.fetch_older(n),
        Command::Who => model.client.who(),
        Command::Extra(Extra::Rooms) => {
            let current = model.client.current_room().map(str::to_owned);
            let rooms: Vec<String> = model
                .client
                .rooms()
                .map(|room| {
                    let mark = if Some(room.name()) == current.as_deref() {
                        "*"
                    } else {
                        ""
                    };
                    match room.unread() {
                        0 => format!("{mark}#{}", room.name()),
                        n => format!("{mark}#{} ({n} unread)", room.name()),
                    }
                })
                .collect();
            if rooms.is_empty() {
                model.info("no rooms yet: /room NAME joins one");
            } else {
                model.info(format!("your rooms: {}", rooms.join(", ")));
            }
            Vec::new()
        }
        Command::Reconnect => model.client.reconnect_now(now_ms),
        Command::Extra(Extra::Quit) => return quit(model),
        Command::Extra(Extra::Account(command)) => {
            return account::command(model, command);
        }
        Command::Post(text) => {
            model.scroll = 0;
            model.client.post(now_ms, &text)
        }
    };
    apply(model, actions)
}
