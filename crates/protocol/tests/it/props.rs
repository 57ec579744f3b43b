//! Property-based tests (proptest, 512 cases each): the decoder never panics and
//! classifies every failure; every command and event round-trips through the codec; the
//! validators never panic, and what they accept obeys the documented rules; the name
//! skeleton is idempotent.

use proptest::prelude::*;
use tuitalk_protocol::charclass::{is_blank, is_default_ignorable, is_refused_in_name};
use tuitalk_protocol::event::Limits;
use tuitalk_protocol::name::{
    MAX_ROOM_CHARS, validate_display_name, validate_post_id, validate_room, validate_text,
};
use tuitalk_protocol::skeleton::confusable_skeleton;
use tuitalk_protocol::{
    ChatMessage, ClientCommand, ErrorCode, Member, ServerEvent, decode_command, decode_event,
    encode_command, encode_event, name_skeleton,
};

const CASES: u32 = 512;

/// Strings that mix ASCII, JSON syntax, Latin, Cyrillic, CJK, emoji and the invisible
/// characters of the attacks (zero-width, bidi, fillers, tags, separators).
fn text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        4 => any::<char>().prop_map(String::from),
        3 => "[a-zA-Z0-9 _.-]{1,4}",
        2 => prop::sample::select(vec![
            "\u{200B}", "\u{200D}", "\u{202E}", "\u{202C}", "\u{2066}", "\u{2069}", "\u{3164}",
            "\u{115F}", "\u{2800}", "\u{FFF9}", "\u{E0041}", "\u{2028}", "\u{FEFF}", "\u{FE0F}",
            "\u{301}", "\n", "\t", "\0", " ", "\u{3000}",
        ])
        .prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "é", "Jürgen", "日本", "\u{430}", "\u{410}", "🐱", "\u{1F468}\u{200D}\u{1F469}", "{",
            "}", "\"", "\\", ":", ",", "[", "]", "\"type\"", "null", "1e999",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|parts| parts.concat())
}

fn small_string() -> impl Strategy<Value = String> {
    prop_oneof![text(), "[a-z0-9-]{0,12}"]
}

fn command() -> impl Strategy<Value = ClientCommand> {
    prop_oneof![
        (
            any::<u32>(),
            prop::option::of(small_string()),
            prop::option::of(small_string())
        )
            .prop_map(|(version, token, name)| ClientCommand::Hello {
                version,
                token,
                name
            }),
        (small_string(), prop::option::of(any::<u64>()))
            .prop_map(|(room, since)| ClientCommand::Join { room, since }),
        small_string().prop_map(|room| ClientCommand::Leave { room }),
        (small_string(), small_string(), text()).prop_map(|(room, id, text)| ClientCommand::Post {
            room,
            id,
            text
        }),
        small_string().prop_map(|name| ClientCommand::Name { name }),
        (small_string(), prop::option::of(any::<u64>()), any::<u32>()).prop_map(
            |(room, before, limit)| {
                ClientCommand::History {
                    room,
                    before,
                    limit,
                }
            }
        ),
        small_string().prop_map(|room| ClientCommand::Who { room }),
        prop::option::of(any::<u64>()).prop_map(|nonce| ClientCommand::Ping { nonce }),
    ]
}

fn message() -> impl Strategy<Value = ChatMessage> {
    (
        small_string(),
        any::<u64>(),
        small_string(),
        small_string(),
        small_string(),
        text(),
        any::<i64>(),
        prop::option::of(small_string()),
    )
        .prop_map(
            |(room, seq, id, author_id, author, text, ts, author_handle)| ChatMessage {
                room,
                seq,
                id,
                author_id,
                author,
                author_handle,
                text,
                ts,
            },
        )
}

fn member() -> impl Strategy<Value = Member> {
    (
        small_string(),
        small_string(),
        prop::option::of(small_string()),
    )
        .prop_map(|(user_id, name, handle)| Member {
            user_id,
            name,
            handle,
        })
}

fn event() -> impl Strategy<Value = ServerEvent> {
    let rooms = || prop::collection::vec(small_string(), 0..3);
    let limits = any::<[u32; 6]>().prop_map(|l| Limits {
        max_text_chars: l[0],
        max_name_chars: l[1],
        max_frame_bytes: l[2],
        history_page_max: l[3],
        max_rooms: l[4],
        posts_per_second: l[5],
    });
    prop_oneof![
        (
            any::<u32>(),
            small_string(),
            small_string(),
            small_string(),
            rooms(),
            limits,
            prop::option::of(small_string()),
        )
            .prop_map(|(version, user_id, name, token, rooms, limits, handle)| {
                ServerEvent::Welcome {
                    version,
                    user_id,
                    name,
                    guest: handle.is_none(),
                    email_verified: handle.as_ref().map(|_| true),
                    handle,
                    session_id: "s".into(),
                    token,
                    rooms,
                    limits,
                }
            }),
        (small_string(), any::<u64>()).prop_map(|(room, head)| ServerEvent::Joined { room, head }),
        small_string().prop_map(|room| ServerEvent::Left { room }),
        message().prop_map(ServerEvent::Message),
        (small_string(), member()).prop_map(|(room, m)| ServerEvent::UserJoined {
            room,
            user_id: m.user_id,
            name: m.name,
            handle: m.handle,
        }),
        (small_string(), member()).prop_map(|(room, m)| ServerEvent::UserLeft {
            room,
            user_id: m.user_id,
            name: m.name
        }),
        (small_string(), small_string(), small_string(), rooms()).prop_map(
            |(user_id, old_name, name, rooms)| ServerEvent::NameChanged {
                user_id,
                old_name,
                name,
                rooms
            }
        ),
        (
            small_string(),
            prop::collection::vec(message(), 0..3),
            any::<bool>()
        )
            .prop_map(|(room, messages, has_more)| ServerEvent::History {
                room,
                messages,
                has_more
            }),
        (small_string(), prop::collection::vec(member(), 0..3))
            .prop_map(|(room, members)| ServerEvent::Presence { room, members }),
        (small_string(), small_string(), any::<u64>(), any::<i64>())
            .prop_map(|(room, id, seq, ts)| ServerEvent::Ack { room, id, seq, ts }),
        (
            prop::sample::select(ErrorCode::ALL.to_vec()),
            text(),
            prop::option::of(small_string()),
            prop::option::of(small_string()),
            prop::option::of(small_string()),
            prop::option::of(any::<u64>())
        )
            .prop_map(|(code, message, command, room, id, retry_after_ms)| {
                ServerEvent::Error {
                    code,
                    message,
                    command,
                    room,
                    id,
                    retry_after_ms,
                }
            }),
        prop::option::of(any::<u64>()).prop_map(|nonce| ServerEvent::Pong { nonce }),
    ]
}

/// JSON-looking frames: objects with a known or unknown `type` and fields of any type.
fn frame() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        text().prop_map(|s| serde_json::Value::String(s).to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("-1".to_owned()),
        Just("1.5".to_owned()),
    ];
    let key = prop_oneof![
        prop::sample::select(vec![
            "type", "version", "token", "name", "room", "since", "id", "text", "before", "limit",
            "nonce"
        ])
        .prop_map(str::to_owned),
        text(),
    ];
    let kind = prop_oneof![
        prop::sample::select(ClientCommand::KINDS.to_vec()).prop_map(str::to_owned),
        text(),
    ];
    (kind, prop::collection::vec((key, value), 0..5)).prop_map(|(kind, fields)| {
        let mut out = format!("{{\"type\":{}", serde_json::Value::String(kind));
        for (key, value) in fields {
            out.push_str(&format!(",{}:{value}", serde_json::Value::String(key)));
        }
        out.push('}');
        out
    })
}

fn assert_classified(code: ErrorCode) {
    assert!(
        matches!(
            code,
            ErrorCode::MalformedJson | ErrorCode::UnknownType | ErrorCode::InvalidCommand
        ),
        "{code}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn decoding_any_string_gives_a_command_or_a_code(input in prop_oneof![text(), frame()]) {
        if let Err(err) = decode_command(&input) {
            assert_classified(err.code);
        }
        let _ = decode_event(&input);
    }

    #[test]
    fn decoding_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let input = String::from_utf8_lossy(&bytes);
        if let Err(err) = decode_command(&input) {
            assert_classified(err.code);
        }
        let _ = decode_event(&input);
    }

    #[test]
    fn every_command_round_trips(command in command()) {
        let decoded = decode_command(&encode_command(&command));
        prop_assert_eq!(decoded, Ok(command));
    }

    #[test]
    fn every_event_round_trips(event in event()) {
        let decoded = decode_event(&encode_event(&event));
        prop_assert_eq!(decoded, Ok(event));
    }

    #[test]
    fn validators_never_panic(input in text(), max in 0usize..40) {
        let _ = validate_room(&input);
        let _ = validate_display_name(&input, max);
        let _ = validate_text(&input, max);
        let _ = validate_post_id(&input);
    }

    #[test]
    fn accepted_names_are_visible_and_plain(name in text()) {
        if validate_display_name(&name, 32).is_ok() {
            let visible: String = name
                .chars()
                .filter(|&c| !is_blank(c) && !is_default_ignorable(c))
                .collect();
            prop_assert!(!visible.is_empty(), "{:?}", name);
            prop_assert!(!name.chars().any(is_refused_in_name), "{:?}", name);
            prop_assert!(!name.chars().any(|c| c.is_control()), "{:?}", name);
            prop_assert_eq!(name.trim(), name.as_str());
        }
    }

    #[test]
    fn accepted_texts_are_not_invisible(text in text()) {
        if validate_text(&text, 100).is_ok() {
            prop_assert!(!text.chars().all(is_blank), "{:?}", text);
            prop_assert!(!text.contains('\0'));
        }
    }

    #[test]
    fn accepted_rooms_are_plain_ascii(room in prop_oneof![text(), "[a-zA-Z0-9._-]{0,70}"]) {
        if validate_room(&room).is_ok() {
            prop_assert!(!room.is_empty() && room.len() <= MAX_ROOM_CHARS);
            prop_assert!(room
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')));
        }
    }

    #[test]
    fn skeletons_are_idempotent(name in text()) {
        let once = name_skeleton(&name);
        prop_assert_eq!(name_skeleton(&once), once);
        let once = confusable_skeleton(&name);
        prop_assert_eq!(confusable_skeleton(&once), once);
    }

    #[test]
    fn case_never_separates_names(name in "[a-zA-Z]{1,12}") {
        prop_assert_eq!(name_skeleton(&name), name_skeleton(&name.to_uppercase()));
    }
}
