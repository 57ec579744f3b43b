//! The outbox: pending posts, acks, re-sends with the same ids, retryable errors.

use tuitalk_client::{NoticeKind, PostState};
use tuitalk_protocol::{ClientCommand, CloseCode, ErrorCode, ServerEvent};

use crate::support::*;

fn post_error(id: &str, code: ErrorCode, retry_after_ms: Option<u64>) -> ServerEvent {
    ServerEvent::Error {
        code,
        message: code.as_str().into(),
        command: Some("post".into()),
        room: Some("r".into()),
        id: Some(id.into()),
        retry_after_ms,
    }
}

fn ack(id: &str, seq: u64) -> ServerEvent {
    ServerEvent::Ack {
        room: "r".into(),
        id: id.into(),
        seq,
        ts: 1_763_800_000_000,
    }
}

fn pending_ids(client: &tuitalk_client::Client) -> Vec<String> {
    client.outbox().iter().map(|p| p.id.clone()).collect()
}

#[test]
fn post_is_sent_with_a_uuid_and_pending_until_ack() {
    let mut client = in_room("r", 0);
    let sent = posts(&client.post(5, "hello"));
    assert_eq!(sent.len(), 1);
    let (id, text) = &sent[0];
    assert_eq!(text, "hello");
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert_eq!(client.outbox().len(), 1);
    assert_eq!(
        client.outbox().get(id).map(|p| p.state),
        Some(PostState::Sent)
    );
    assert_eq!(client.outbox().get(id).map(|p| p.created_ms), Some(5));
    client.frame(6, ack(id, 1));
    assert!(client.outbox().is_empty());
    // The acknowledged post shows in the room at its sequence...
    assert_eq!(texts(&client, "r"), ["hello"]);
    assert_eq!(client.room("r").map(|r| r.last_seq()), Some(0));
    // ...and the live message with that sequence replaces it without duplication.
    client.frame(7, ServerEvent::Message(msg("r", 1, ME, id, "hello")));
    assert_eq!(texts(&client, "r"), ["hello"]);
    assert_eq!(client.room("r").map(|r| r.last_seq()), Some(1));
    assert_eq!(client.room("r").map(|r| r.unread()), Some(0));
}

#[test]
fn own_message_before_ack_clears_pending() {
    let mut client = in_room("r", 0);
    let (id, _) = posts(&client.post(0, "hello")).remove(0);
    client.frame(0, ServerEvent::Message(msg("r", 1, ME, &id, "hello")));
    assert!(client.outbox().is_empty());
    client.frame(0, ack(&id, 1));
    assert_eq!(texts(&client, "r"), ["hello"]);
}

#[test]
fn ids_are_unique() {
    let mut client = in_room("r", 0);
    let mut ids: Vec<String> = (0..200)
        .flat_map(|i| posts(&client.post(0, &format!("m{i}"))))
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
}

#[test]
fn outbox_is_resent_with_the_same_ids_in_order_after_reconnect() {
    let mut client = in_room("r", 0);
    let first: Vec<String> = ["one", "two", "three"]
        .iter()
        .flat_map(|t| posts(&client.post(0, t)))
        .map(|(id, _)| id)
        .collect();
    client.frame(0, ack(&first[0], 1));
    client.disconnected(0, Some(CloseCode::SERVICE_RESTART), "");
    // Written while disconnected: queued, not sent.
    assert!(posts(&client.post(0, "four")).is_empty());
    assert_eq!(client.outbox().len(), 3);
    client.tick(u64::MAX / 2);
    client.connected(0);
    let after_welcome = client.frame(0, welcome(&["r"]));
    // Joins come first; posts wait for the room's `joined`.
    assert!(posts(&after_welcome).is_empty());
    assert_eq!(
        sends(&after_welcome),
        [ClientCommand::Join {
            room: "r".into(),
            since: Some(0)
        }]
    );
    let resent = posts(&client.frame(0, joined("r", 1)));
    let ids: Vec<String> = resent.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids[..2], first[1..]);
    assert_eq!(
        resent.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        ["two", "three", "four"]
    );
    assert_eq!(pending_ids(&client), ids);
    // The server answers a lost ack with the original sequence: pending clears.
    client.frame(0, ack(&ids[0], 2));
    assert_eq!(client.outbox().len(), 2);
}

#[test]
fn posts_written_before_the_first_join_are_sent_after_it() {
    let mut client = connected();
    client.join("r");
    assert!(posts(&client.post(0, "early")).is_empty());
    let sent = posts(&client.frame(0, joined("r", 0)));
    assert_eq!(sent.len(), 1);
}

#[test]
fn rate_limited_post_waits_and_is_resent_with_the_same_id() {
    let mut client = in_room("r", 0);
    let (id, _) = posts(&client.post(1_000, "hello")).remove(0);
    let actions = client.frame(1_000, post_error(&id, ErrorCode::RateLimited, Some(250)));
    assert!(notices(&actions, NoticeKind::Error).is_empty());
    assert_eq!(
        client.outbox().get(&id).map(|p| p.state),
        Some(PostState::Waiting { until_ms: 1_250 })
    );
    // A later post must not overtake it.
    assert!(posts(&client.post(1_100, "later")).is_empty());
    assert!(posts(&client.tick(1_249)).is_empty());
    let resent = posts(&client.tick(1_250));
    assert_eq!(resent[0], (id.clone(), "hello".to_string()));
    assert_eq!(resent[1].1, "later");
    assert!(posts(&client.tick(1_300)).is_empty(), "sent once per retry");
}

#[test]
fn unavailable_keeps_the_post_with_a_notice_and_backs_off() {
    let mut client = in_room("r", 0);
    let (id, _) = posts(&client.post(0, "hello")).remove(0);
    let actions = client.frame(0, post_error(&id, ErrorCode::Unavailable, None));
    assert_eq!(notices(&actions, NoticeKind::Error).len(), 1);
    let Some(PostState::Waiting { until_ms }) = client.outbox().get(&id).map(|p| p.state) else {
        panic!("not waiting");
    };
    assert!((100..=1_000).contains(&until_ms), "{until_ms}");
    let resent = posts(&client.tick(until_ms));
    assert_eq!(resent[0].0, id);
    // A second refusal does not repeat the notice.
    let again = client.frame(until_ms, post_error(&id, ErrorCode::Unavailable, None));
    assert!(notices(&again, NoticeKind::Error).is_empty());
    assert_eq!(client.outbox().get(&id).map(|p| p.retries), Some(2));
}

#[test]
fn non_retryable_error_drops_the_post_with_a_notice() {
    for code in [
        ErrorCode::TextTooLong,
        ErrorCode::IdConflict,
        ErrorCode::InvalidText,
    ] {
        let mut client = in_room("r", 0);
        let (id, _) = posts(&client.post(0, "hello")).remove(0);
        let actions = client.frame(0, post_error(&id, code, None));
        assert!(client.outbox().is_empty(), "{code:?}");
        let errors = notices(&actions, NoticeKind::Error);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains(code.as_str()), "{}", errors[0]);
    }
}

#[test]
fn not_joined_rejoins_and_resends() {
    let mut client = in_room("r", 3);
    let (id, _) = posts(&client.post(0, "hello")).remove(0);
    let actions = client.frame(0, post_error(&id, ErrorCode::NotJoined, None));
    assert_eq!(
        sends(&actions),
        [ClientCommand::Join {
            room: "r".into(),
            since: Some(3)
        }]
    );
    let resent = posts(&client.frame(0, joined("r", 3)));
    assert_eq!(resent[0].0, id);
}

#[test]
fn invalid_text_is_refused_locally() {
    let mut client = in_room("r", 0);
    let actions = client.post(0, "   ");
    assert!(posts(&actions).is_empty());
    assert_eq!(notices(&actions, NoticeKind::Error).len(), 1);
    let long = "x".repeat(limits().max_text_chars as usize + 1);
    assert_eq!(notices(&client.post(0, &long), NoticeKind::Error).len(), 1);
    assert!(client.outbox().is_empty());
}

#[test]
fn post_without_a_room_is_refused() {
    let mut client = connected();
    let actions = client.post(0, "hello");
    assert_eq!(notices(&actions, NoticeKind::Error).len(), 1);
    assert!(client.outbox().is_empty());
}

#[test]
fn leaving_drops_the_rooms_pending_posts() {
    let mut client = in_room("r", 0);
    client.post(0, "hello");
    let actions = client.leave();
    assert!(client.outbox().is_empty());
    assert_eq!(notices(&actions, NoticeKind::Error).len(), 1);
    assert!(sends(&actions).contains(&ClientCommand::Leave { room: "r".into() }));
}
