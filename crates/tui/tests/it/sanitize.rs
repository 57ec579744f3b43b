//! The sanitiser through the public API.

use tuitalk_tui::sanitize::{sanitize_line, sanitize_text};

#[test]
fn strips_escape_sequences_and_controls() {
    let cases = [
        ("\x1b[1;31mbold red\x1b[0m", "bold red"),
        ("\x1b]52;c;ZXZpbA==\x07copy", "copy"),
        ("\x1b]2;title\x1b\\x", "x"),
        ("\x1bP1$r\x1b\\y", "y"),
        ("bell\x07", "bell"),
        ("back\x08\x08space", "backspace"),
        ("cr\roverwrite", "croverwrite"),
        ("\u{9b}2Jclear", "clear"),
        ("\u{9d}8;;u\u{9c}link", "link"),
        ("\u{85}nel", "nel"),
        ("rtl\u{202E}olleh", "rtlolleh"),
        ("iso\u{2067}late\u{2069}", "isolate"),
    ];
    for (input, expected) in cases {
        assert_eq!(sanitize_line(input), expected, "{input:?}");
    }
}

#[test]
fn keeps_ordinary_unicode() {
    for text in [
        "naïve café",
        "Ελληνικά",
        "中文 テキスト",
        "👍🏽 ok",
        "ﬁ ligature",
        "a\u{0301}",
    ] {
        assert_eq!(sanitize_line(text), text);
        assert_eq!(sanitize_text(text), text);
    }
}

#[test]
fn newlines_only_in_message_texts() {
    assert_eq!(sanitize_text("a\nb\u{2028}c"), "a\nb\nc");
    assert_eq!(sanitize_line("a\nb"), "a b");
}
