//! Validation rules for rooms, names, ids and texts.

use tuitalk_protocol::ErrorCode;
use tuitalk_protocol::name::{
    validate_display_name, validate_post_id, validate_room, validate_text,
};

#[test]
fn rooms() {
    for ok in ["42", "lobby", "rust-lang", "a_b.c", "Café", &"r".repeat(64)] {
        assert_eq!(validate_room(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "two words",
        "a/b",
        "x\u{1b}[31m",
        &"r".repeat(65),
        "#general",
    ] {
        assert_eq!(validate_room(bad), Err(ErrorCode::InvalidRoom), "{bad:?}");
    }
}

#[test]
fn display_names() {
    assert_eq!(validate_display_name("Ada Lovelace", 32), Ok(()));
    for bad in [
        "",
        " ada",
        "ada ",
        "a\u{7}b",
        "evil\u{1b}[2J",
        "x\u{202e}y",
        "z\u{200b}",
        "a\nb",
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
