//! The input line: a prompt and the text being typed, scrolled horizontally so the
//! cursor stays visible; or, while a password is asked for, only what is asked
//! ([`PasswordLine`]).

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use unicode_width::UnicodeWidthChar;

use crate::model::Input;
use crate::sanitize::sanitize_line;

/// The prompt before the input text.
pub const PROMPT: &str = "> ";

/// The input line.
#[derive(Debug)]
pub struct InputLine<'a> {
    /// The text and cursor.
    pub input: &'a Input,
}

impl InputLine<'_> {
    /// The first character shown and the cursor's column, for an area `width` wide.
    fn window(&self, width: u16) -> (usize, u16) {
        let room = usize::from(width).saturating_sub(PROMPT.len() + 1).max(1);
        let widths: Vec<usize> = self
            .input
            .text()
            .chars()
            .map(|c| c.width().unwrap_or(0))
            .collect();
        let cursor = self.input.cursor().min(widths.len());
        let mut first = 0;
        while widths[first..cursor].iter().sum::<usize>() > room {
            first += 1;
        }
        let column = PROMPT.len() + widths[first..cursor].iter().sum::<usize>();
        (first, u16::try_from(column).unwrap_or(width))
    }

    /// Where the terminal cursor goes when the line is drawn in `area`.
    pub fn cursor_position(&self, area: Rect) -> Position {
        let (_, column) = self.window(area.width);
        Position::new(area.x + column.min(area.width.saturating_sub(1)), area.y)
    }
}

impl Widget for InputLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (first, _) = self.window(area.width);
        let shown: String = self.input.text().chars().skip(first).collect();
        let line = Line::from(vec![
            Span::styled(PROMPT, Style::default().fg(Color::Cyan)),
            Span::raw(shown),
        ]);
        buf.set_line(area.x, area.y, &line, area.width);
    }
}

/// The input line while a password is asked for: the question, nothing of what is
/// typed (it is not even given to this widget), and how to cancel.
#[derive(Debug)]
pub struct PasswordLine<'a> {
    /// What is asked for, for example `password for ada@example.org`.
    pub label: &'a str,
}

/// What follows the question on the password line.
pub const PASSWORD_HINT: &str = " (hidden; Enter sends, Esc cancels): ";

impl PasswordLine<'_> {
    fn text(&self) -> String {
        format!("{}{}", sanitize_line(self.label), PASSWORD_HINT)
    }

    /// Where the terminal cursor goes: after the question.
    pub fn cursor_position(&self, area: Rect) -> Position {
        let width: usize = self.text().chars().map(|c| c.width().unwrap_or(0)).sum();
        let column = u16::try_from(width).unwrap_or(u16::MAX);
        Position::new(area.x + column.min(area.width.saturating_sub(1)), area.y)
    }
}

impl Widget for PasswordLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let line = Line::from(Span::styled(
            self.text(),
            Style::default().fg(Color::Yellow),
        ));
        buf.set_line(area.x, area.y, &line, area.width);
    }
}
