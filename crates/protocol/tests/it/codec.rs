//! Decode errors are classified into the stable codes a server answers with.

use tuitalk_protocol::{ErrorCode, decode_command};

fn code_of(frame: &str) -> ErrorCode {
    decode_command(frame).expect_err("must not decode").code
}

#[test]
fn malformed_json() {
    assert_eq!(code_of("{not json"), ErrorCode::MalformedJson);
    assert_eq!(code_of(""), ErrorCode::MalformedJson);
    assert_eq!(code_of("[1,2]"), ErrorCode::MalformedJson);
    assert_eq!(code_of("\"hello\""), ErrorCode::MalformedJson);
}

#[test]
fn missing_or_unknown_type() {
    assert_eq!(code_of(r#"{"room":"42"}"#), ErrorCode::UnknownType);
    assert_eq!(code_of(r#"{"type":5}"#), ErrorCode::UnknownType);
    let err = decode_command(r#"{"type":"shout","text":"x"}"#).expect_err("unknown");
    assert_eq!(err.code, ErrorCode::UnknownType);
    assert!(err.message.contains("shout"), "{}", err.message);
    assert_eq!(err.command, None);
}

#[test]
fn wrong_field_types_name_the_command() {
    let err =
        decode_command(r#"{"type":"history","room":"42","limit":"many"}"#).expect_err("wrong type");
    assert_eq!(err.code, ErrorCode::InvalidCommand);
    assert_eq!(err.command.as_deref(), Some("history"));

    let err = decode_command(r#"{"type":"post","room":"42","text":"no id"}"#).expect_err("missing");
    assert_eq!(err.code, ErrorCode::InvalidCommand);
    assert!(err.message.contains("id"), "{}", err.message);

    let err = decode_command(r#"{"type":"join","room":"42","since":-1}"#).expect_err("negative");
    assert_eq!(err.code, ErrorCode::InvalidCommand);

    let err = decode_command(r#"{"type":"who","room":"42","extra":1}"#).expect_err("unknown field");
    assert_eq!(err.code, ErrorCode::InvalidCommand);
}

#[test]
fn very_long_unknown_type_is_truncated_in_the_message() {
    let frame = format!(r#"{{"type":"{}"}}"#, "x".repeat(10_000));
    let err = decode_command(&frame).expect_err("unknown");
    assert!(err.message.len() < 100, "{}", err.message.len());
}
