//! The timeline of the current room: messages by sequence, system lines where they
//! happened, and pending posts (marked) at the end; wrapped to the width and scrolled.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use tuitalk_client::{NoticeKind, PostState};
use unicode_width::UnicodeWidthChar;

use crate::model::{Model, SystemLine};
use crate::sanitize::{sanitize_line, sanitize_text};
use crate::view::style::{author_color, local_time, user_spans};

/// The mark after a post the server has not acknowledged yet.
pub const PENDING_MARK: &str = " (pending)";
/// The mark after a post waiting to be retried.
pub const RETRY_MARK: &str = " (retrying)";
/// Continuation lines are indented past the time column.
const INDENT: usize = 6;

/// Builds the current view's lines, wrapped to `width` columns.
pub fn lines(model: &Model, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width).max(INDENT + 4);
    let mut out = Vec::new();
    let Some(room_name) = model.client.current_room() else {
        for line in model.current_system_lines() {
            out.extend(wrap(system_spans(line), width));
        }
        return out;
    };
    let mut system: Vec<&SystemLine> = model.current_system_lines().iter().collect();
    system.sort_by_key(|line| line.after_seq);
    let mut system = system.into_iter().peekable();
    if let Some(room) = model.client.room(room_name) {
        if room.has_older() {
            out.push(Line::styled(
                "  (older messages: /fetch)",
                Style::default().fg(Color::DarkGray),
            ));
        }
        for message in room.messages() {
            while let Some(line) = system.next_if(|line| line.after_seq < message.seq) {
                out.extend(wrap(system_spans(line), width));
            }
            let mut spans = vec![Span::styled(
                format!("{} ", local_time(message.ts)),
                Style::default().fg(Color::DarkGray),
            )];
            spans.extend(user_spans(
                &room.label(&message.author_id, &message.author),
                message.author_handle.as_deref(),
                Style::default()
                    .fg(author_color(&message.author_id))
                    .add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::raw(": "));
            spans.push(Span::raw(sanitize_text(&message.text)));
            out.extend(wrap(spans, width));
        }
    }
    for line in system {
        out.extend(wrap(system_spans(line), width));
    }
    let me = model.client.identity();
    let (my_name, my_id) = me.map_or(("me", ""), |i| (i.name.as_str(), i.user_id.as_str()));
    let my_handle = me.and_then(|i| i.handle.as_deref());
    let dim = Style::default().fg(Color::DarkGray);
    for post in model.client.outbox().in_room(room_name) {
        let mark = match post.state {
            PostState::Waiting { .. } => RETRY_MARK,
            PostState::Queued | PostState::Sent => PENDING_MARK,
        };
        let mut spans = vec![Span::styled("--:-- ", dim)];
        spans.extend(user_spans(
            my_name,
            my_handle,
            Style::default()
                .fg(author_color(my_id))
                .add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(": "));
        spans.push(Span::styled(sanitize_text(&post.text), dim));
        spans.push(Span::styled(mark, dim.add_modifier(Modifier::ITALIC)));
        out.extend(wrap(spans, width));
    }
    out
}

fn system_spans(line: &SystemLine) -> Vec<Span<'static>> {
    let style = match line.kind {
        NoticeKind::Error => Style::default().fg(Color::Red),
        NoticeKind::Presence => Style::default().fg(Color::DarkGray),
        NoticeKind::Info => Style::default().fg(Color::Gray),
    };
    vec![
        Span::styled("    * ", style),
        Span::styled(sanitize_line(&line.text), style),
    ]
}

/// Wraps styled spans into lines of at most `width` columns, breaking at `\n` too;
/// continuation lines are indented by [`INDENT`] columns.
pub fn wrap(spans: Vec<Span<'static>>, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut column = 0;
    for span in spans {
        let style = span.style;
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if c == '\n' || column + w > width {
                if !piece.is_empty() {
                    current.push(Span::styled(std::mem::take(&mut piece), style));
                }
                lines.push(Line::from(std::mem::take(&mut current)));
                current.push(Span::raw(" ".repeat(INDENT)));
                column = INDENT;
                if c == '\n' {
                    continue;
                }
            }
            piece.push(c);
            column += w;
        }
        if !piece.is_empty() {
            current.push(Span::styled(piece, style));
        }
    }
    lines.push(Line::from(current));
    lines
}

/// The message area: the last lines that fit, `scroll` lines up from the bottom,
/// bottom-aligned when they do not fill the area.
#[derive(Debug)]
pub struct MessagesView {
    /// Every line of the timeline.
    pub lines: Vec<Line<'static>>,
    /// Lines scrolled up from the bottom (already clamped).
    pub scroll: usize,
}

impl MessagesView {
    /// The largest useful scroll for `lines` lines in an area `height` lines tall.
    pub fn max_scroll(lines: usize, height: usize) -> usize {
        lines.saturating_sub(height)
    }
}

impl Widget for MessagesView {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let height = usize::from(area.height);
        let end = self.lines.len().saturating_sub(self.scroll);
        let start = end.saturating_sub(height);
        let shown = end - start;
        let top = area.y + area.height - u16::try_from(shown).unwrap_or(area.height);
        for (i, line) in self.lines.into_iter().skip(start).take(shown).enumerate() {
            let y = top + u16::try_from(i).unwrap_or(0);
            buf.set_line(area.x, y, &line, area.width);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn wraps_at_width_and_newlines_with_indent() {
        let lines = wrap(vec![Span::raw("0123456789abcdef\nxy")], 10);
        let shown: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(shown, ["0123456789", "      abcd", "      ef", "      xy"]);
    }

    #[test]
    fn wide_characters_count_double() {
        let lines = wrap(vec![Span::raw("日本語日本語")], 10);
        let shown: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(shown, ["日本語日本", "      語"]);
    }
}
