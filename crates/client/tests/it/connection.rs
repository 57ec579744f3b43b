//! Connection lifecycle: hello, backoff with jitter, close codes, resume.

use tuitalk_client::{Action, BackoffConfig, Client, Config, ConnState, NoticeKind};
use tuitalk_protocol::{ClientCommand, CloseCode};

use crate::support::*;

#[test]
fn fresh_start_says_hello_with_the_desired_name() {
    let mut client = Client::new(
        Config {
            name: Some("ada".into()),
            ..Config::default()
        },
        1,
    );
    assert_eq!(client.state(), &ConnState::Offline { reason: None });
    assert_eq!(client.start(0), [Action::Connect]);
    assert_eq!(client.state(), &ConnState::Connecting);
    assert_eq!(
        sends(&client.connected(0)),
        [ClientCommand::Hello {
            version: 1,
            token: None,
            name: Some("ada".into()),
        }]
    );
    let actions = client.frame(0, welcome(&[]));
    assert!(client.state().is_connected());
    assert_eq!(client.identity().map(|i| i.user_id.as_str()), Some(ME));
    assert_eq!(
        notices(&actions, NoticeKind::Info),
        ["connected as ada (guest)"]
    );
}

#[test]
fn reconnect_says_hello_with_the_token() {
    let mut client = connected();
    client.disconnected(0, None, "reset");
    client.tick(u64::MAX / 2);
    assert_eq!(
        sends(&client.connected(0)),
        [ClientCommand::Hello {
            version: 1,
            token: Some("tok".into()),
            name: None,
        }]
    );
}

#[test]
fn a_kept_identity_is_resumed_by_the_first_hello() {
    let mut client = Client::new(Config::default(), 1);
    client.resume_identity(tuitalk_client::Identity {
        handle: None,
        email_verified: false,
        session_id: String::new(),
        user_id: ME.into(),
        name: "ada".into(),
        token: "kept".into(),
    });
    assert_eq!(client.start(0), [Action::Connect]);
    assert_eq!(
        sends(&client.connected(0)),
        [ClientCommand::Hello {
            version: 1,
            token: Some("kept".into()),
            name: None,
        }]
    );
    // The server's rooms of the identity are joined.
    let actions = client.frame(0, welcome(&["42"]));
    assert!(sends(&actions).contains(&ClientCommand::Join {
        room: "42".into(),
        since: None
    }));
    // Once started, a second identity is ignored.
    client.resume_identity(tuitalk_client::Identity {
        handle: None,
        email_verified: false,
        session_id: String::new(),
        user_id: "u-other".into(),
        name: "eve".into(),
        token: "other".into(),
    });
    assert_eq!(client.identity().map(|i| i.token.as_str()), Some("tok"));
}

#[test]
fn lost_connection_backs_off_exponentially_with_full_jitter() {
    let config = BackoffConfig {
        base_ms: 500,
        cap_ms: 30_000,
    };
    let mut client = connected();
    let mut now = 1_000;
    client.disconnected(now, None, "connection reset");
    for attempt in 0..12u32 {
        let ConnState::Reconnecting { at_ms, attempt: a } = *client.state() else {
            panic!("not reconnecting: {:?}", client.state());
        };
        assert_eq!(a, attempt);
        let delay = at_ms - now;
        assert!(
            delay <= config.ceiling_ms(attempt),
            "attempt {attempt}: {delay}"
        );
        // Not due yet one millisecond before, due at at_ms.
        if at_ms > now {
            assert!(client.tick(at_ms - 1).is_empty());
        }
        assert_eq!(client.tick(at_ms), [Action::Connect]);
        assert_eq!(client.state(), &ConnState::Connecting);
        now = at_ms;
        client.disconnected(now, None, "connection refused");
    }
}

#[test]
fn jitter_differs_between_seeds_and_repeats_for_a_seed() {
    let delays = |seed| {
        let mut client = Client::new(Config::default(), seed);
        client.start(0);
        let mut out = Vec::new();
        for _ in 0..6 {
            client.disconnected(0, None, "refused");
            let ConnState::Reconnecting { at_ms, .. } = *client.state() else {
                panic!("not reconnecting");
            };
            out.push(at_ms);
            client.tick(at_ms);
        }
        out
    };
    assert_eq!(delays(3), delays(3));
    assert_ne!(delays(3), delays(4));
}

#[test]
fn welcome_resets_the_backoff() {
    let mut client = connected();
    for _ in 0..5 {
        client.disconnected(0, None, "refused");
        client.tick(u64::MAX / 2);
    }
    client.connected(0);
    client.frame(0, welcome(&[]));
    client.disconnected(0, None, "reset");
    assert!(
        matches!(client.state(), ConnState::Reconnecting { attempt: 0, at_ms } if *at_ms <= 500)
    );
}

#[test]
fn normal_close_and_refused_hello_go_offline_with_a_reason() {
    for code in [CloseCode::NORMAL, CloseCode::HELLO_FAILED] {
        let mut client = connected();
        let actions = client.disconnected(0, Some(code), "unsupported_version");
        let ConnState::Offline {
            reason: Some(reason),
        } = client.state()
        else {
            panic!("not offline: {:?}", client.state());
        };
        assert!(reason.contains(&code.to_string()), "{reason}");
        assert_eq!(notices(&actions, NoticeKind::Error).len(), 1);
        assert!(
            client.tick(u64::MAX).is_empty(),
            "offline must not reconnect"
        );
    }
}

#[test]
fn restart_and_slow_consumer_reconnect_promptly() {
    for code in [CloseCode::SERVICE_RESTART, CloseCode::SLOW_CONSUMER] {
        let mut client = connected();
        // Even after several failures, these codes retry within the base delay.
        for _ in 0..6 {
            client.disconnected(0, None, "refused");
            client.tick(u64::MAX / 2);
        }
        client.connected(0);
        client.disconnected(10_000, Some(code), "");
        let ConnState::Reconnecting { at_ms, attempt } = *client.state() else {
            panic!("not reconnecting");
        };
        assert_eq!(attempt, 0);
        assert!(at_ms <= 10_500, "{at_ms}");
    }
}

#[test]
fn other_close_codes_reconnect() {
    for code in [1001, 1008, 1013, 4002, 4003] {
        let mut client = connected();
        client.disconnected(0, Some(code), "");
        assert!(
            matches!(client.state(), ConnState::Reconnecting { .. }),
            "{code}"
        );
    }
}

#[test]
fn invalid_token_continues_as_a_new_guest_with_the_same_name() {
    let mut client = connected();
    client.disconnected(0, None, "reset");
    client.tick(u64::MAX / 2);
    client.connected(0);
    client.frame(
        0,
        tuitalk_protocol::ServerEvent::error(
            tuitalk_protocol::ErrorCode::InvalidToken,
            "bad token",
            Some("hello"),
        ),
    );
    client.disconnected(0, Some(CloseCode::HELLO_FAILED), "invalid_token");
    assert!(matches!(client.state(), ConnState::Reconnecting { .. }));
    client.tick(u64::MAX / 2);
    assert_eq!(
        sends(&client.connected(0)),
        [ClientCommand::Hello {
            version: 1,
            token: None,
            name: Some("ada".into()),
        }]
    );
}

#[test]
fn refused_token_tells_the_user_they_are_signed_out() {
    let mut client = connected();
    client.disconnected(0, None, "reset");
    client.tick(u64::MAX / 2);
    client.connected(0);
    let actions = client.disconnected(0, Some(CloseCode::HELLO_FAILED), "invalid_token");
    assert_eq!(
        notices(&actions, NoticeKind::Error),
        ["signed out: the server no longer accepts this session; continuing as a new guest"]
    );
    assert!(client.identity().is_none());
}

#[test]
fn ended_session_continues_as_a_new_guest_at_once() {
    for (reason, why) in [
        ("session_revoked", "session revoked"),
        ("session_expired", "session expired"),
        ("", "session ended"),
    ] {
        let mut client = connected();
        // Even after failures, a new guest is made within the base delay.
        for _ in 0..6 {
            client.disconnected(0, None, "refused");
            client.tick(u64::MAX / 2);
        }
        client.connected(0);
        client.frame(0, welcome(&[]));
        let actions = client.disconnected(10_000, Some(CloseCode::SESSION_ENDED), reason);
        assert_eq!(
            notices(&actions, NoticeKind::Error),
            [format!("signed out: {why}; continuing as a new guest")]
        );
        assert!(client.identity().is_none(), "the token is dropped");
        let ConnState::Reconnecting { at_ms, attempt } = *client.state() else {
            panic!("not reconnecting: {:?}", client.state());
        };
        assert_eq!(attempt, 0);
        assert!(at_ms <= 10_500, "{at_ms}");
        client.tick(u64::MAX / 2);
        assert_eq!(
            sends(&client.connected(0)),
            [ClientCommand::Hello {
                version: 1,
                token: None,
                name: Some("ada".into()),
            }]
        );
    }
}

fn account(token: &str) -> tuitalk_client::Identity {
    tuitalk_client::Identity {
        user_id: ME.into(),
        name: "Ada".into(),
        handle: Some("ada".into()),
        email_verified: true,
        session_id: "s-2".into(),
        token: token.into(),
    }
}

#[test]
fn sign_in_closes_and_says_hello_with_the_new_token() {
    let mut client = in_room("r", 3);
    assert_eq!(client.sign_in(5, account("tok-2")), [Action::Close]);
    assert_eq!(client.identity().map(|i| i.token.as_str()), Some("tok-2"));
    // The close (or a 4004 of the old session racing it) reconnects at once, quietly.
    for (code, reason) in [
        (Some(1000), "closed by the client"),
        (Some(4004), "session_revoked"),
    ] {
        let mut client = client.clone();
        let actions = client.disconnected(6, code, reason);
        assert_eq!(actions, [Action::Connect], "{code:?}");
        assert_eq!(
            sends(&client.connected(7)),
            [ClientCommand::Hello {
                version: 1,
                token: Some("tok-2".into()),
                name: None,
            }]
        );
        let resumed = client.frame(7, welcome(&[]));
        assert!(
            sends(&resumed).contains(&ClientCommand::Join {
                room: "r".into(),
                since: Some(3),
            }),
            "rooms are kept: {resumed:?}"
        );
    }
}

#[test]
fn sign_in_while_waiting_to_reconnect_connects_now() {
    let mut client = connected();
    client.disconnected(0, None, "reset");
    assert_eq!(client.sign_in(1, account("tok-2")), [Action::Connect]);
    assert_eq!(client.state(), &ConnState::Connecting);
}

#[test]
fn sign_out_makes_a_new_guest_with_the_same_name() {
    let mut client = connected();
    client.sign_in(0, account("tok-2"));
    client.disconnected(0, Some(1000), "closed by the client");
    client.connected(0);
    assert_eq!(client.sign_out(1), [Action::Close]);
    assert!(client.identity().is_none());
    assert_eq!(client.disconnected(2, Some(1000), ""), [Action::Connect]);
    assert_eq!(
        sends(&client.connected(3)),
        [ClientCommand::Hello {
            version: 1,
            token: None,
            name: Some("Ada".into()),
        }]
    );
}

#[test]
fn quit_closes_and_stays_offline() {
    let mut client = connected();
    assert_eq!(client.quit(), [Action::Close]);
    assert!(client.disconnected(0, Some(1000), "").is_empty());
    assert!(matches!(client.state(), ConnState::Offline { .. }));
    assert!(client.tick(u64::MAX).is_empty());
    assert_eq!(client.reconnect_now(0), [Action::Connect]);
}

#[test]
fn connected_after_quit_closes_the_new_socket() {
    let mut client = Client::new(Config::default(), 1);
    client.start(0);
    client.quit();
    assert_eq!(client.connected(0), [Action::Close]);
}

#[test]
fn disconnect_notice_only_when_a_session_was_lost() {
    let mut client = connected();
    let first = client.disconnected(0, None, "reset");
    assert_eq!(notices(&first, NoticeKind::Error).len(), 1);
    client.tick(u64::MAX / 2);
    let again = client.disconnected(0, None, "refused");
    assert!(notices(&again, NoticeKind::Error).is_empty());
}

#[test]
fn resume_joins_every_room_with_since_and_welcome_rooms_without() {
    let mut client = in_room("a", 0);
    client.frame(0, other("a", 1));
    client.frame(0, other("a", 2));
    client.join("b");
    client.frame(0, joined("b", 7));
    client.disconnected(0, Some(CloseCode::SERVICE_RESTART), "");
    client.tick(u64::MAX / 2);
    client.connected(0);
    let actions = client.frame(0, welcome(&["a", "b", "c"]));
    assert_eq!(
        sends(&actions),
        [
            ClientCommand::Join {
                room: "a".into(),
                since: Some(2)
            },
            ClientCommand::Join {
                room: "b".into(),
                since: Some(7)
            },
            ClientCommand::Join {
                room: "c".into(),
                since: None
            },
        ]
    );
    // Missed messages follow the joined; unread counts them in rooms not shown.
    client.frame(0, joined("a", 4));
    client.frame(0, other("a", 3));
    client.frame(0, other("a", 4));
    assert_eq!(seqs(&client, "a"), [1, 2, 3, 4]);
    assert_eq!(client.room("a").map(|r| r.unread()), Some(2));
}

#[test]
fn rooms_are_not_joined_while_disconnected() {
    let mut client = in_room("a", 0);
    assert!(client.room("a").is_some_and(|r| r.is_joined()));
    client.disconnected(0, None, "reset");
    assert!(client.room("a").is_some_and(|r| !r.is_joined()));
}

#[test]
fn rename_while_offline_is_sent_after_welcome() {
    let mut client = connected();
    client.disconnected(0, None, "reset");
    let actions = client.rename("grace");
    assert!(sends(&actions).is_empty());
    client.tick(u64::MAX / 2);
    client.connected(0);
    let actions = client.frame(0, welcome(&[]));
    assert!(sends(&actions).contains(&ClientCommand::Name {
        name: "grace".into()
    }));
}
