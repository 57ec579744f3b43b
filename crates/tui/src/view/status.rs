//! The status line: connection state, current room, unread counts of other rooms,
//! outbox size, who you are (`Ada @ada`, `(unverified)`, or a dim `(guest)`), scroll
//! hint.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use tuitalk_client::ConnState;

use crate::model::Model;
use crate::view::style::user_spans;

/// The connection state in words, for example `reconnecting in 3 s`.
pub fn connection_text(state: &ConnState, now_ms: u64) -> String {
    match state {
        ConnState::Connecting => "connecting…".to_owned(),
        ConnState::Connected => "connected".to_owned(),
        ConnState::Reconnecting { at_ms, .. } => {
            let seconds = at_ms.saturating_sub(now_ms).div_ceil(1000);
            format!("reconnecting in {seconds} s")
        }
        ConnState::Offline {
            reason: Some(reason),
        } => format!("offline: {reason}"),
        ConnState::Offline { reason: None } => "offline".to_owned(),
    }
}

/// The status line of a model.
#[derive(Debug)]
pub struct StatusLine<'a> {
    /// What to show.
    pub model: &'a Model,
}

impl Widget for StatusLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let model = self.model;
        let client = &model.client;
        let bar = Style::default().bg(Color::DarkGray).fg(Color::White);
        let state_color = match client.state() {
            ConnState::Connected => Color::LightGreen,
            ConnState::Connecting | ConnState::Reconnecting { .. } => Color::Yellow,
            ConnState::Offline { .. } => Color::LightRed,
        };
        let sep = || Span::styled(" │ ", bar);
        let mut spans = vec![
            Span::styled(
                format!(" {}", connection_text(client.state(), model.now_ms)),
                bar.fg(state_color).add_modifier(Modifier::BOLD),
            ),
            sep(),
        ];
        match client.current_room() {
            Some(room) => spans.push(Span::styled(
                format!("#{room}"),
                bar.add_modifier(Modifier::BOLD),
            )),
            None => spans.push(Span::styled("no room", bar)),
        }
        let others: Vec<String> = client
            .rooms()
            .filter(|room| Some(room.name()) != client.current_room())
            .map(|room| match room.unread() {
                0 => format!("#{}", room.name()),
                n => format!("#{}({n})", room.name()),
            })
            .collect();
        if !others.is_empty() {
            spans.push(sep());
            spans.push(Span::styled(others.join(" "), bar));
        }
        let pending = client.outbox().len();
        if pending > 0 {
            spans.push(sep());
            spans.push(Span::styled(
                format!("outbox {pending}"),
                bar.fg(Color::Yellow),
            ));
        }
        if let Some(identity) = client.identity() {
            spans.push(sep());
            spans.push(Span::styled("you: ", bar));
            spans.extend(user_spans(&identity.name, identity.handle.as_deref(), bar));
            if identity.is_guest() {
                // Dim on the bar's background, not the timeline's grey.
                if let Some(mark) = spans.last_mut() {
                    mark.style = bar.fg(Color::Gray).add_modifier(Modifier::DIM);
                }
            } else if !identity.email_verified {
                spans.push(Span::styled(" (unverified)", bar.fg(Color::Yellow)));
            }
        }
        if model.scroll > 0 {
            spans.push(sep());
            spans.push(Span::styled("scrolled (End)", bar.fg(Color::Yellow)));
        }
        buf.set_style(area, bar);
        buf.set_line(area.x, area.y, &Line::from(spans), area.width);
    }
}
