//! The view: lays the components out and draws them. Each component draws into the
//! `Rect` it is given.
//!
//! ```text
//! header   room and who is present (`Ada @ada`, `bob (guest)`)
//! messages the timeline (scrollable)
//! status   connection, room, unread, outbox, who you are
//! input    > text being typed (or a password prompt that shows nothing typed)
//! ```

pub mod input;
pub mod messages;
pub mod status;
pub mod style;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::model::Model;
use crate::sanitize::sanitize_line;
use input::{InputLine, PasswordLine};
use messages::MessagesView;
use status::StatusLine;

/// Draws the whole UI. Takes the model mutably only to record the message area's height
/// (the page size for PgUp/PgDn) and clamp the scroll position.
pub fn draw(frame: &mut Frame<'_>, model: &mut Model) {
    let [header, body, status, input] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(header_line(model), header);
    draw_messages(frame, body, model);
    frame.render_widget(StatusLine { model }, status);
    if let Some(prompt) = &model.prompt {
        let line = PasswordLine {
            label: &prompt.label,
        };
        frame.set_cursor_position(line.cursor_position(input));
        frame.render_widget(line, input);
        return;
    }
    let input_line = InputLine {
        input: &model.input,
    };
    frame.set_cursor_position(input_line.cursor_position(input));
    frame.render_widget(input_line, input);
}

fn draw_messages(frame: &mut Frame<'_>, area: Rect, model: &mut Model) {
    let lines = messages::lines(model, area.width);
    let height = usize::from(area.height);
    model.page_height = height;
    model.scroll = model
        .scroll
        .min(MessagesView::max_scroll(lines.len(), height));
    frame.render_widget(
        MessagesView {
            lines,
            scroll: model.scroll,
        },
        area,
    );
}

/// The top line: the program, the room and who is present in it.
pub fn header_line(model: &Model) -> Line<'static> {
    let title = Style::default()
        .fg(Color::Cyan)
        .add_modifier(Modifier::BOLD);
    let mut spans = vec![Span::styled(" TuiTalk", title)];
    if let Some(room) = model
        .client
        .current_room()
        .and_then(|room| model.client.room(room))
    {
        spans.push(Span::raw(format!("  #{}", room.name())));
        let members = room.members();
        if !members.is_empty() {
            let names: Vec<String> = members
                .iter()
                .map(|m| {
                    sanitize_line(&tuitalk_client::user_label(
                        &room.label(&m.user_id, &m.name),
                        m.handle.as_deref(),
                    ))
                })
                .collect();
            spans.push(Span::styled(
                format!("  {} present: {}", names.len(), names.join(", ")),
                Style::default().fg(Color::DarkGray),
            ));
        }
    }
    Line::from(spans)
}
