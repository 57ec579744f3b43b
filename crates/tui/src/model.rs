//! The UI's state: the client core plus what only the terminal needs (input line,
//! system lines, scroll position, clock).

use std::collections::BTreeMap;

use tuitalk_client::{Client, Notice, NoticeKind};
use tuitalk_protocol::Seq;

use crate::http::Server;
use crate::secret::Secret;

/// A system line (join, leave, rename, error, help…) shown in a room's timeline after the
/// message with sequence `after_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemLine {
    /// The last sequence of the room when the line was added; it is shown below that
    /// message.
    pub after_seq: Seq,
    /// What kind of line (styles it).
    pub kind: NoticeKind,
    /// The text (sanitised when rendered).
    pub text: String,
}

/// The input line being edited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    text: String,
    /// Cursor position, in characters.
    cursor: usize,
}

impl Input {
    /// The text typed so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor position, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    fn byte_index(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    /// Inserts text at the cursor (control characters are dropped; newlines from a paste
    /// become spaces).
    pub fn insert(&mut self, text: &str) {
        for c in text.chars() {
            let c = if c == '\n' || c == '\t' { ' ' } else { c };
            if c.is_control() {
                continue;
            }
            let at = self.byte_index(self.cursor);
            self.text.insert(at, c);
            self.cursor += 1;
        }
    }

    /// Deletes the character before the cursor.
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            let at = self.byte_index(self.cursor);
            self.text.remove(at);
        }
    }

    /// Deletes the character under the cursor.
    pub fn delete(&mut self) {
        if self.cursor < self.text.chars().count() {
            let at = self.byte_index(self.cursor);
            self.text.remove(at);
        }
    }

    /// Moves the cursor by `delta` characters, within the text.
    pub fn move_by(&mut self, delta: isize) {
        let len = self.text.chars().count();
        self.cursor = self.cursor.saturating_add_signed(delta).min(len);
    }

    /// Moves the cursor to the start.
    pub fn home(&mut self) {
        self.cursor = 0;
    }

    /// Moves the cursor to the end.
    pub fn end(&mut self) {
        self.cursor = self.text.chars().count();
    }

    /// Takes the text out, leaving the input empty.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }
}

/// What a password typed into the [`Prompt`] is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptFor {
    /// `/register`: the password of the new account; `first` holds the first entry
    /// while it is typed again.
    Register {
        /// The email address.
        email: String,
        /// The handle.
        handle: String,
        /// The display name.
        name: String,
        /// The password as typed the first time, once it was.
        first: Option<Secret>,
    },
    /// `/login`: the account's password.
    Login {
        /// The email address.
        email: String,
    },
}

/// A password being typed: echo off. The view shows only the [`Prompt::label`]; the
/// text typed is never drawn, never kept in the input line, and cleared when the prompt
/// ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// What is asked for, for example `password for ada@example.org`.
    pub label: String,
    /// What the password is for.
    pub purpose: PromptFor,
    /// The characters typed so far.
    pub(crate) secret: Secret,
}

impl Prompt {
    /// A prompt with nothing typed yet.
    pub fn new(label: impl Into<String>, purpose: PromptFor) -> Self {
        Self {
            label: label.into(),
            purpose,
            secret: Secret::default(),
        }
    }
}

/// Everything the view shows and the update function changes.
#[derive(Debug)]
pub struct Model {
    /// The client core (identity, rooms, outbox, connection).
    pub client: Client,
    /// The input line.
    pub input: Input,
    /// A password being asked for: while set, keys go to it instead of the input line.
    pub prompt: Option<Prompt>,
    /// The server's REST API, derived from the WebSocket URL (`None`: the URL names
    /// none this client can reach, and account commands say so).
    pub server: Option<Server>,
    /// System lines per room; `None` holds those shown when no room is open.
    pub system: BTreeMap<Option<String>, Vec<SystemLine>>,
    /// How many lines the message view is scrolled up from the bottom.
    pub scroll: usize,
    /// The height of the message area at the last draw (a page for PgUp/PgDn).
    pub page_height: usize,
    /// The current time on the client core's clock, in milliseconds.
    pub now_ms: u64,
    /// Set when the user asked to quit.
    pub quit: bool,
}

/// Most system lines kept per room.
const MAX_SYSTEM_LINES: usize = 500;

impl Model {
    /// A model around a client core that has not started yet.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            input: Input::default(),
            prompt: None,
            server: None,
            system: BTreeMap::new(),
            scroll: 0,
            page_height: 10,
            now_ms: 0,
            quit: false,
        }
    }

    /// Adds a notice from the client core: to its room, or to the current room when it
    /// names none.
    pub fn push_notice(&mut self, notice: Notice) {
        let room = notice
            .room
            .filter(|room| self.client.room(room).is_some())
            .or_else(|| self.client.current_room().map(str::to_owned));
        self.push_system(room, notice.kind, notice.text);
    }

    /// Adds a system line to a room (or the no-room view).
    pub fn push_system(&mut self, room: Option<String>, kind: NoticeKind, text: String) {
        let after_seq = room
            .as_deref()
            .and_then(|room| self.client.room(room))
            .map_or(0, |room| {
                room.last_seq()
                    .max(room.messages().next_back().map_or(0, |m| m.seq))
            });
        let lines = self.system.entry(room).or_default();
        lines.push(SystemLine {
            after_seq,
            kind,
            text,
        });
        if lines.len() > MAX_SYSTEM_LINES {
            lines.remove(0);
        }
    }

    /// Keeps system lines in place after a room's history was reset on the server: a
    /// line anchored above the room's newest sequence moves to the top, so that new
    /// messages (with small sequences again) appear below it.
    pub fn reanchor_system_lines(&mut self) {
        for (room, lines) in &mut self.system {
            let Some(room) = room.as_deref().and_then(|room| self.client.room(room)) else {
                continue;
            };
            let top = room
                .last_seq()
                .max(room.messages().next_back().map_or(0, |m| m.seq));
            for line in lines.iter_mut().filter(|line| line.after_seq > top) {
                line.after_seq = 0;
            }
        }
    }

    /// Adds an informational line to the current view.
    pub fn info(&mut self, text: impl Into<String>) {
        let room = self.client.current_room().map(str::to_owned);
        self.push_system(room, NoticeKind::Info, text.into());
    }

    /// Adds an error line to the current view.
    pub fn error(&mut self, text: impl Into<String>) {
        let room = self.client.current_room().map(str::to_owned);
        self.push_system(room, NoticeKind::Error, text.into());
    }

    /// The system lines of the current view.
    pub fn current_system_lines(&self) -> &[SystemLine] {
        let key = self.client.current_room().map(str::to_owned);
        self.system.get(&key).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_edits_by_character() {
        let mut input = Input::default();
        input.insert("héllo");
        input.move_by(-2);
        input.insert("X");
        assert_eq!(input.text(), "hélXlo");
        input.backspace();
        input.delete();
        assert_eq!(input.text(), "hélo");
        input.home();
        input.delete();
        input.end();
        input.insert("\x1b!\n?");
        assert_eq!(input.text(), "élo! ?");
        assert_eq!(input.take(), "élo! ?");
        assert_eq!(input.cursor(), 0);
        input.move_by(-5);
        input.backspace();
        assert_eq!(input.text(), "");
    }
}
