//! Colours and formatting shared by the components: stable author colours, local times,
//! how a user is named (`Ada @ada`, `bob (guest)`).

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use tuitalk_client::GUEST_MARK;

use crate::sanitize::sanitize_line;

/// The style of the guest mark: dim, so that it does not compete with the name.
pub fn guest_style() -> Style {
    Style::default()
        .fg(Color::DarkGray)
        .add_modifier(Modifier::DIM)
}

/// A user as shown in the timeline and the status line: the name (already labelled with
/// a look-alike tag where needed) in `style`, then ` @handle` for an account or a dim
/// ` (guest)` for a guest. Everything is sanitised.
pub fn user_spans(name: &str, handle: Option<&str>, style: Style) -> Vec<Span<'static>> {
    let mut spans = vec![Span::styled(sanitize_line(name), style)];
    match handle {
        Some(handle) => spans.push(Span::styled(
            format!(" @{}", sanitize_line(handle)),
            style.remove_modifier(Modifier::BOLD),
        )),
        None => spans.push(Span::styled(format!(" {GUEST_MARK}"), guest_style())),
    }
    spans
}

/// The colours authors are drawn in (readable on dark and light backgrounds).
pub const PALETTE: [Color; 10] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Red,
    Color::LightCyan,
    Color::LightGreen,
    Color::LightBlue,
    Color::LightMagenta,
];

/// The colour of an author: the same user id always gets the same colour (FNV-1a hash,
/// stable across runs and platforms).
pub fn author_color(user_id: &str) -> Color {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let index = usize::try_from(hash % PALETTE.len() as u64).unwrap_or(0);
    PALETTE[index]
}

/// A server timestamp (milliseconds since the Unix epoch) as local `HH:MM`.
pub fn local_time(ts_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ts_ms).map_or_else(
        || "--:--".to_owned(),
        |utc| {
            utc.with_timezone(&chrono::Local)
                .format("%H:%M")
                .to_string()
        },
    )
}

/// A server timestamp as local `YYYY-MM-DD HH:MM`.
pub fn local_date_time(ts_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ts_ms).map_or_else(
        || "----------".to_owned(),
        |utc| {
            utc.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_colour_is_stable_and_spread() {
        assert_eq!(author_color("u-1"), author_color("u-1"));
        let colours: std::collections::HashSet<String> = (0..100)
            .map(|i| format!("{:?}", author_color(&format!("user-{i}"))))
            .collect();
        assert!(colours.len() >= 6, "{colours:?}");
    }

    #[test]
    fn local_time_is_hh_mm() {
        let shown = local_time(1_763_800_000_123);
        assert_eq!(shown.len(), 5);
        assert_eq!(&shown[2..3], ":");
        assert_eq!(local_time(i64::MAX), "--:--");
    }
}
