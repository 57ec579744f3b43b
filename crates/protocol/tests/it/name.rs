//! Validation rules for rooms, names, ids and texts.

use tuitalk_protocol::ErrorCode;
use tuitalk_protocol::name::{
    validate_display_name, validate_post_id, validate_room, validate_text,
};

#[test]
fn rooms() {
    for ok in [
        "42",
        "lobby",
        "rust-lang",
        "a_b.c",
        "Lobby",
        &"r".repeat(64),
    ] {
        assert_eq!(validate_room(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "two words",
        "a/b",
        "x\u{1b}[31m",
        &"r".repeat(65),
        "#general",
        "Café",
        "l\u{43e}bby",
        "日本",
        "\u{661}\u{662}",
        "lobby\u{200b}",
    ] {
        assert_eq!(validate_room(bad), Err(ErrorCode::InvalidRoom), "{bad:?}");
    }
}

#[test]
fn display_names() {
    for ok in [
        "Ada Lovelace",
        "Jürgen",
        "山田 太郎",
        "山田\u{3000}太郎",
        "🐱 cat",
        "I \u{2764}\u{FE0F} Rust",
        "e\u{301}mile",
        "Ωmega",
    ] {
        assert_eq!(validate_display_name(ok, 32), Ok(()), "{ok:?}");
    }
    for bad in [
        "",
        " ada",
        "ada ",
        "a\u{7}b",
        "evil\u{1b}[2J",
        "x\u{202e}y",
        "z\u{200b}",
        "a\nb",
        "\u{3164}",
        "\u{115F}",
        "\u{2800}",
        "\u{FFF9}",
        "\u{E0041}\u{E0042}",
        "\u{2028}",
        "\u{200B}\u{200B}",
        "ada\u{3164}",
        "a\u{2800}b",
        "\u{FE0F}",
        "\u{301}ada",
        "dev \u{1F469}\u{200D}\u{1F4BB}",
        "ada\u{E000}",
        "ada\u{0378}",
        "ada\u{2029}",
    ] {
        assert_eq!(
            validate_display_name(bad, 32),
            Err(ErrorCode::InvalidName),
            "{bad:?}"
        );
    }
    assert_eq!(validate_display_name(&"n".repeat(32), 32), Ok(()));
    assert_eq!(
        validate_display_name(&"n".repeat(33), 32),
        Err(ErrorCode::InvalidName)
    );
}

#[test]
fn post_ids() {
    assert_eq!(
        validate_post_id("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
        Ok(())
    );
    for bad in ["", "with space", "ümlaut", &"i".repeat(65)] {
        assert_eq!(validate_post_id(bad), Err(ErrorCode::InvalidId), "{bad:?}");
    }
}

#[test]
fn texts() {
    assert_eq!(validate_text("hi\nthere", 10), Ok(()));
    assert_eq!(validate_text("   ", 10), Err(ErrorCode::InvalidText));
    assert_eq!(validate_text("a\0b", 10), Err(ErrorCode::InvalidText));
    assert_eq!(
        validate_text("ééééééééééé", 10),
        Err(ErrorCode::TextTooLong)
    );
    assert_eq!(validate_text("éééééééééé", 10), Ok(()));
}

#[test]
fn invisible_texts_are_refused() {
    for bad in [
        "\u{200B}",
        "\u{202E}",
        "\u{3164}",
        "\u{3164}\u{115F}\u{2800}",
        "\u{FFF9}\u{FFFA}\u{FFFB}",
        "\u{E0041}",
        "\u{2028}\u{2029}",
        " \u{200B}\n\u{FEFF}\t",
        "\u{202E}\u{202C}",
    ] {
        assert_eq!(
            validate_text(bad, 100),
            Err(ErrorCode::InvalidText),
            "{bad:?}"
        );
    }
}

#[test]
fn unbalanced_bidi_in_texts_is_refused() {
    for bad in [
        "abc\u{202E}fed",
        "x\u{2067}y",
        "a\u{202C}",
        "\u{202E}a\nb\u{202C}",
    ] {
        assert_eq!(
            validate_text(bad, 100),
            Err(ErrorCode::InvalidText),
            "{bad:?}"
        );
    }
    for ok in [
        "abc\u{202E}fed\u{202C}",
        "\u{2067}שלום\u{2069} ok",
        "a\u{200F}b",
    ] {
        assert_eq!(validate_text(ok, 100), Ok(()), "{ok:?}");
    }
}

#[test]
fn visible_texts_stay_valid() {
    for ok in [
        "family: \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
        "line one\nline two",
        "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
        "\u{3164}x",
        "日本語",
        "\u{2764}\u{FE0F}",
    ] {
        assert_eq!(validate_text(ok, 100), Ok(()), "{ok:?}");
    }
}
