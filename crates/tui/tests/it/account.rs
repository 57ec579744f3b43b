//! Accounts in the terminal: the account commands, the password prompt (never echoed,
//! never kept), the API's answers, handles and guest marks on screen, ended sessions.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tuitalk_client::Identity;
use tuitalk_protocol::{ChatMessage, ClientCommand, Member, ServerEvent};
use tuitalk_tui::account::Step;
use tuitalk_tui::api::{ApiCall, ApiError, ApiOk, Granted, SessionInfo};
use tuitalk_tui::model::Model;
use tuitalk_tui::net::{NetCommand, NetEvent};
use tuitalk_tui::secret::Secret;
use tuitalk_tui::update::{self, Effect, Msg};

use crate::support::*;

const PASSWORD: &str = "correct horse battery";

fn api_calls(effects: &[Effect]) -> Vec<(Step, ApiCall)> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Api { step, call } => Some((step.clone(), call.clone())),
            _ => None,
        })
        .collect()
}

fn answer(model: &mut Model, step: Step, result: Result<ApiOk, ApiError>) -> Vec<Effect> {
    update::update(model, Msg::Api { step, result }, 0)
}

fn granted(session_id: &str, token: &str, verified: Option<bool>) -> ApiOk {
    ApiOk::Granted(Granted {
        user_id: ME.into(),
        name: "Ada".into(),
        handle: Some("ada".into()),
        email_verified: verified,
        token: Secret::new(token),
        session_id: session_id.into(),
    })
}

fn refused(status: u16, code: &str) -> ApiError {
    ApiError::Refused {
        status,
        code: code.into(),
        message: format!("server says {code}"),
        retry_after_ms: None,
    }
}

/// A model welcomed as the account Ada @ada (session `s-acct`, token `acct-tok`).
fn account_model(verified: bool) -> Model {
    let mut model = new_model();
    update::start(&mut model, 0);
    net(&mut model, NetEvent::Connected);
    frame(
        &mut model,
        ServerEvent::Welcome {
            guest: false,
            handle: Some("ada".into()),
            email_verified: Some(verified),
            session_id: "s-acct".into(),
            version: 1,
            user_id: ME.into(),
            name: "Ada".into(),
            token: "acct-tok".into(),
            rooms: vec![],
            limits: tuitalk_client::default_limits(),
        },
    );
    model
}

fn status_line(model: &mut Model) -> String {
    let lines = screen(model, 100, 10);
    lines[8].clone()
}

fn type_secret(model: &mut Model, text: &str) {
    for c in text.chars() {
        key(model, KeyCode::Char(c));
    }
}

fn everything_shown(model: &mut Model) -> String {
    let system: Vec<String> = model
        .system
        .values()
        .flatten()
        .map(|line| line.text.clone())
        .collect();
    format!("{}\n{}", screen_text(model), system.join("\n"))
}

#[test]
fn login_asks_for_the_password_without_echo() {
    let mut model = model_in_room("42");
    assert!(type_line(&mut model, "/login Ada@Example.org").is_empty());
    let prompt = model.prompt.as_ref().expect("a password prompt");
    assert_eq!(prompt.label, "password for ada@example.org");
    type_secret(&mut model, PASSWORD);
    assert_eq!(model.input.text(), "", "the input line stays empty");
    let shown = everything_shown(&mut model);
    assert!(
        shown.contains("password for ada@example.org (hidden"),
        "{shown}"
    );
    assert!(!shown.contains("horse"), "{shown}");
    let lines = screen(&mut model, 80, 16);
    assert_eq!(
        lines[15].trim_end(),
        "password for ada@example.org (hidden; Enter sends, Esc cancels):",
        "not even its length"
    );
    assert!(
        !format!("{model:?}").contains("horse"),
        "Debug of the model"
    );
    let effects = key(&mut model, KeyCode::Enter);
    assert!(model.prompt.is_none());
    let calls = api_calls(&effects);
    assert_eq!(calls.len(), 1, "{effects:?}");
    let (
        step,
        ApiCall::Login {
            email, password, ..
        },
    ) = &calls[0]
    else {
        panic!("not a login: {calls:?}");
    };
    assert_eq!(step, &Step::Login);
    assert_eq!(email, "ada@example.org");
    assert_eq!(password.expose(), PASSWORD);
    assert!(
        !format!("{effects:?}").contains("horse"),
        "Debug of the effect"
    );
    let shown = everything_shown(&mut model);
    assert!(!shown.contains("horse"), "{shown}");
    assert!(shown.contains("signing in as ada@example.org"), "{shown}");
}

#[test]
fn escape_cancels_and_typing_goes_back_to_the_input_line() {
    let mut model = model_in_room("42");
    type_line(&mut model, "/login ada@example.org");
    type_secret(&mut model, "secret-ish");
    assert!(key(&mut model, KeyCode::Esc).is_empty());
    assert!(model.prompt.is_none());
    assert!(!everything_shown(&mut model).contains("secret-ish"));
    assert!(everything_shown(&mut model).contains("cancelled"));
    type_secret(&mut model, "hi");
    assert_eq!(model.input.text(), "hi");
}

#[test]
fn pasted_passwords_and_editing_keys_stay_in_the_prompt() {
    let mut model = model_in_room("42");
    type_line(&mut model, "/login ada@example.org");
    update::update(&mut model, Msg::Paste("pasted-pw\nrest".into()), 0);
    key(&mut model, KeyCode::Backspace);
    type_secret(&mut model, "W");
    let effects = key(&mut model, KeyCode::Enter);
    let calls = api_calls(&effects);
    let ApiCall::Login { password, .. } = &calls[0].1 else {
        panic!("not a login");
    };
    assert_eq!(password.expose(), "pasted-pW");
    assert_eq!(model.input.text(), "");
}

#[test]
fn an_empty_password_is_asked_again() {
    let mut model = model_in_room("42");
    type_line(&mut model, "/login ada@example.org");
    assert!(key(&mut model, KeyCode::Enter).is_empty());
    assert!(model.prompt.is_some());
}

#[test]
fn ctrl_c_in_the_prompt_quits() {
    let mut model = model_in_room("42");
    type_line(&mut model, "/login ada@example.org");
    let effects = update::update(
        &mut model,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        0,
    );
    assert!(effects.contains(&Effect::Quit));
}

#[test]
fn register_from_a_guest_upgrades_it_with_its_token() {
    let mut model = model_in_room("42");
    type_line(&mut model, "/register ada@example.org Ada");
    type_secret(&mut model, PASSWORD);
    assert!(
        key(&mut model, KeyCode::Enter).is_empty(),
        "asks again first"
    );
    assert_eq!(
        model.prompt.as_ref().map(|p| p.label.as_str()),
        Some("the same password again")
    );
    type_secret(&mut model, PASSWORD);
    let effects = key(&mut model, KeyCode::Enter);
    let calls = api_calls(&effects);
    let (
        Step::Register,
        ApiCall::Register {
            email,
            handle,
            name,
            password,
            guest_token,
        },
    ) = &calls[0]
    else {
        panic!("not a register: {calls:?}");
    };
    assert_eq!(
        (email.as_str(), handle.as_str(), name.as_str()),
        ("ada@example.org", "ada", "ada")
    );
    assert_eq!(password.expose(), PASSWORD);
    assert_eq!(guest_token.as_ref().map(Secret::expose), Some("tok"));
    assert!(!everything_shown(&mut model).contains("horse"));

    // The answer: the session says hello again, now as the account.
    let effects = answer(
        &mut model,
        Step::Register,
        Ok(granted("s-guest", "tok", Some(true))),
    );
    assert!(
        effects.contains(&Effect::Net(NetCommand::Close)),
        "{effects:?}"
    );
    assert_eq!(
        net(
            &mut model,
            NetEvent::Disconnected {
                code: Some(1000),
                reason: "closed by the client".into()
            }
        ),
        [Effect::Net(NetCommand::Connect)]
    );
    assert_eq!(
        sent(&net(&mut model, NetEvent::Connected)),
        [ClientCommand::Hello {
            version: 1,
            token: Some("tok".into()),
            name: None
        }]
    );
    let shown = everything_shown(&mut model);
    assert!(shown.contains("registered: you are Ada @ada"), "{shown}");
    assert!(status_line(&mut model).contains("you: Ada @ada"));
}

#[test]
fn different_passwords_send_nothing() {
    let mut model = model_in_room("42");
    type_line(&mut model, "/register ada@example.org ada Ada Lovelace");
    type_secret(&mut model, PASSWORD);
    key(&mut model, KeyCode::Enter);
    type_secret(&mut model, "something else");
    assert!(key(&mut model, KeyCode::Enter).is_empty());
    assert!(model.prompt.is_none());
    assert!(everything_shown(&mut model).contains("the two passwords differ"));
}

#[test]
fn an_account_does_not_register_again() {
    let mut model = account_model(true);
    type_line(&mut model, "/register other@example.org other");
    assert!(model.prompt.is_none());
    assert!(everything_shown(&mut model).contains("already signed in as @ada"));
}

#[test]
fn login_takes_on_the_account_and_ends_the_guest_session() {
    // A guest with a session id (as a server with sessions sends).
    let mut model = {
        let mut model = new_model();
        update::start(&mut model, 0);
        net(&mut model, NetEvent::Connected);
        frame(
            &mut model,
            ServerEvent::Welcome {
                guest: true,
                handle: None,
                email_verified: None,
                session_id: "s-guest".into(),
                version: 1,
                user_id: "u-guest".into(),
                name: "ada".into(),
                token: "guest-tok".into(),
                rooms: vec![],
                limits: tuitalk_client::default_limits(),
            },
        );
        model
    };
    let effects = answer(
        &mut model,
        Step::Login,
        Ok(granted("s-new", "new-tok", None)),
    );
    assert!(effects.contains(&Effect::Net(NetCommand::Close)));
    assert_eq!(
        api_calls(&effects),
        [(
            Step::Replaced,
            ApiCall::RevokeSession {
                token: Secret::new("guest-tok"),
                id: "s-guest".into()
            }
        )]
    );
    assert_eq!(
        model.client.identity().map(|i| i.token.as_str()),
        Some("new-tok")
    );
    assert!(everything_shown(&mut model).contains("signed in as Ada @ada"));
    // Its answer is not worth a line.
    assert!(
        answer(
            &mut model,
            Step::Replaced,
            Err(refused(401, "invalid_token"))
        )
        .is_empty()
    );
}

#[test]
fn login_errors_read_as_plain_words() {
    let mut model = model_in_room("42");
    for (code, words) in [
        (
            "invalid_credentials",
            "could not sign in: wrong email or password",
        ),
        ("rate_limited", "could not sign in: too many attempts"),
        (
            "account_disabled",
            "could not sign in: this account is disabled",
        ),
    ] {
        answer(&mut model, Step::Login, Err(refused(401, code)));
        let shown = everything_shown(&mut model);
        assert!(shown.contains(words), "{code}: {shown}");
    }
    for (code, words) in [
        (
            "email_taken",
            "could not register: an account with this email exists",
        ),
        ("handle_taken", "could not register: this handle is taken"),
        ("weak_password", "could not register: password refused"),
    ] {
        answer(&mut model, Step::Register, Err(refused(409, code)));
        let shown = everything_shown(&mut model);
        assert!(shown.contains(words), "{code}: {shown}");
    }
    answer(
        &mut model,
        Step::Login,
        Err(ApiError::Failed("server unreachable".into())),
    );
    assert!(everything_shown(&mut model).contains("could not sign in: server unreachable"));
    assert!(model.client.identity().is_some_and(Identity::is_guest));
}

#[test]
fn logout_revokes_this_session_and_continues_as_a_guest() {
    let mut model = account_model(true);
    let effects = type_line(&mut model, "/logout");
    assert_eq!(
        api_calls(&effects),
        [(
            Step::Logout("s-acct".into()),
            ApiCall::RevokeSession {
                token: Secret::new("acct-tok"),
                id: "s-acct".into()
            }
        )]
    );
    let effects = answer(&mut model, Step::Logout("s-acct".into()), Ok(ApiOk::Done));
    assert!(effects.contains(&Effect::Net(NetCommand::Close)));
    assert!(model.client.identity().is_none(), "the token is dropped");
    assert!(everything_shown(&mut model).contains("signed out; continuing as a new guest"));
    // The server's 4004 for the old session may race the close: a new guest either way.
    assert_eq!(
        net(
            &mut model,
            NetEvent::Disconnected {
                code: Some(4004),
                reason: "session_revoked".into()
            }
        ),
        [Effect::Net(NetCommand::Connect)]
    );
    assert_eq!(
        sent(&net(&mut model, NetEvent::Connected)),
        [ClientCommand::Hello {
            version: 1,
            token: None,
            name: Some("Ada".into())
        }]
    );
}

#[test]
fn a_late_logout_answer_does_not_sign_out_the_next_guest() {
    let mut model = account_model(true);
    // The server's 4004 came first: the client is already a new guest.
    net(
        &mut model,
        NetEvent::Disconnected {
            code: Some(4004),
            reason: "session_revoked".into(),
        },
    );
    assert!(everything_shown(&mut model).contains("signed out: session revoked"));
    assert!(model.client.identity().is_none());
    let effects = answer(&mut model, Step::Logout("s-acct".into()), Ok(ApiOk::Done));
    assert!(effects.is_empty(), "{effects:?}");
}

fn sessions() -> Vec<SessionInfo> {
    vec![
        SessionInfo {
            id: "c0de1234-aaaa".into(),
            label: "laptop".into(),
            created_at: 1_763_800_000_000,
            last_seen_at: 1_763_800_100_000,
            current: true,
        },
        SessionInfo {
            id: "9b2e5678-bbbb".into(),
            label: "phone \x1b[31mred".into(),
            created_at: 1_763_700_000_000,
            last_seen_at: 1_763_790_000_000,
            current: false,
        },
        SessionInfo {
            id: "9b2f0000-cccc".into(),
            label: String::new(),
            created_at: 1_763_600_000_000,
            last_seen_at: 1_763_600_000_000,
            current: false,
        },
    ]
}

#[test]
fn sessions_are_listed_with_the_current_one_marked() {
    let mut model = account_model(true);
    let effects = type_line(&mut model, "/sessions");
    assert_eq!(
        api_calls(&effects),
        [(
            Step::List,
            ApiCall::ListSessions {
                token: Secret::new("acct-tok")
            }
        )]
    );
    answer(&mut model, Step::List, Ok(ApiOk::Sessions(sessions())));
    let lines = screen(&mut model, 120, 16);
    let text = lines.join("\n");
    assert!(text.contains("3 session(s) of Ada @ada"), "{text}");
    let current = lines
        .iter()
        .find(|line| line.contains("c0de1234"))
        .expect("current session");
    assert!(
        current.contains("* c0de1234 (this one)  laptop  created "),
        "{current}"
    );
    assert!(!text.contains("c0de1234-aaaa"), "only a prefix: {text}");
    assert!(text.contains("9b2e5678  phone red"), "sanitised: {text}");
    assert!(!text.contains('\x1b'));
}

#[test]
fn revoke_and_label_find_the_session_by_prefix() {
    let mut model = account_model(true);
    let effects = type_line(&mut model, "/sessions revoke 9B2E");
    let (step, _) = &api_calls(&effects)[0];
    let effects = answer(&mut model, step.clone(), Ok(ApiOk::Sessions(sessions())));
    assert_eq!(
        api_calls(&effects),
        [(
            Step::Revoked("9b2e5678".into()),
            ApiCall::RevokeSession {
                token: Secret::new("acct-tok"),
                id: "9b2e5678-bbbb".into()
            }
        )]
    );
    answer(
        &mut model,
        Step::Revoked("9b2e5678".into()),
        Ok(ApiOk::Done),
    );
    assert!(everything_shown(&mut model).contains("session 9b2e5678 revoked"));

    // Ambiguous and unknown prefixes say so and call nothing.
    for (prefix, words) in [
        ("9b2", "2 sessions start with"),
        ("ffff", "no session starts with"),
    ] {
        let effects = answer(
            &mut model,
            Step::FindToRevoke(prefix.into()),
            Ok(ApiOk::Sessions(sessions())),
        );
        assert!(api_calls(&effects).is_empty());
        assert!(everything_shown(&mut model).contains(words), "{prefix}");
    }

    // Revoking the current session is a logout.
    let effects = answer(
        &mut model,
        Step::FindToRevoke("c0de".into()),
        Ok(ApiOk::Sessions(sessions())),
    );
    assert_eq!(
        api_calls(&effects)[0].0,
        Step::Logout("c0de1234-aaaa".into())
    );

    let effects = answer(
        &mut model,
        Step::FindToLabel("9b2f".into(), "old desktop".into()),
        Ok(ApiOk::Sessions(sessions())),
    );
    assert_eq!(
        api_calls(&effects),
        [(
            Step::Labelled,
            ApiCall::LabelSession {
                token: Secret::new("acct-tok"),
                id: "9b2f0000-cccc".into(),
                label: "old desktop".into()
            }
        )]
    );
}

#[test]
fn sign_out_everywhere_continues_as_a_guest() {
    let mut model = account_model(true);
    let effects = type_line(&mut model, "/signout-all");
    assert_eq!(
        api_calls(&effects),
        [(
            Step::SignOutAll("s-acct".into()),
            ApiCall::RevokeAll {
                token: Secret::new("acct-tok")
            }
        )]
    );
    let effects = answer(
        &mut model,
        Step::SignOutAll("s-acct".into()),
        Ok(ApiOk::Done),
    );
    assert!(effects.contains(&Effect::Net(NetCommand::Close)));
    assert!(model.client.identity().is_none());
    assert!(everything_shown(&mut model).contains("signed out everywhere"));
}

#[test]
fn account_commands_before_the_welcome_wait() {
    let mut model = new_model();
    update::start(&mut model, 0);
    assert!(type_line(&mut model, "/sessions").is_empty());
    assert!(everything_shown(&mut model).contains("not connected yet"));
}

#[test]
fn the_status_line_shows_who_you_are() {
    let mut model = account_model(true);
    let status = status_line(&mut model);
    assert!(status.contains("you: Ada @ada"), "{status}");
    assert!(
        !status.contains("unverified") && !status.contains("guest"),
        "{status}"
    );
    let mut model = account_model(false);
    let status = status_line(&mut model);
    assert!(status.contains("you: Ada @ada (unverified)"), "{status}");
    let mut model = connected_model();
    let status = status_line(&mut model);
    assert!(status.contains("you: ada (guest)"), "{status}");
}

#[test]
fn messages_members_and_notices_show_handles_and_mark_guests() {
    let mut model = model_in_room("42");
    frame(
        &mut model,
        ServerEvent::Presence {
            room: "42".into(),
            members: vec![
                Member {
                    user_id: "u-grace".into(),
                    name: "Grace".into(),
                    handle: Some("grace".into()),
                },
                Member {
                    user_id: "u-bob".into(),
                    name: "bob".into(),
                    handle: None,
                },
            ],
        },
    );
    frame(
        &mut model,
        ServerEvent::Message(ChatMessage {
            room: "42".into(),
            seq: 1,
            id: "g-1".into(),
            author_id: "u-grace".into(),
            author: "Grace".into(),
            author_handle: Some("grace".into()),
            text: "hello".into(),
            ts: 1_763_800_000_000,
        }),
    );
    frame(&mut model, message("42", 2, "u-bob", "bob", "hi"));
    frame(
        &mut model,
        ServerEvent::UserJoined {
            room: "42".into(),
            user_id: "u-lin".into(),
            name: "Lin".into(),
            handle: Some("lin".into()),
        },
    );
    frame(
        &mut model,
        ServerEvent::NameChanged {
            user_id: "u-grace".into(),
            old_name: "Grace".into(),
            name: "Grace H".into(),
            rooms: vec!["42".into()],
        },
    );
    let lines = screen(&mut model, 100, 16);
    let text = lines.join("\n");
    assert!(lines[0].contains("Grace H @grace"), "{}", lines[0]);
    assert!(lines[0].contains("bob (guest)"), "{}", lines[0]);
    assert!(lines[0].contains("Lin @lin"), "{}", lines[0]);
    assert!(text.contains("Grace @grace: hello"), "{text}");
    assert!(text.contains("bob (guest): hi"), "{text}");
    assert!(text.contains("* Lin @lin joined #42"), "{text}");
    assert!(
        text.contains("* Grace @grace is now known as Grace H"),
        "{text}"
    );
}

#[test]
fn a_refused_token_signs_out_with_a_notice() {
    let mut model = account_model(true);
    net(
        &mut model,
        NetEvent::Disconnected {
            code: None,
            reason: "connection reset".into(),
        },
    );
    update::update(&mut model, Msg::Tick, u64::MAX / 2);
    net(&mut model, NetEvent::Connected);
    frame(
        &mut model,
        ServerEvent::error(
            tuitalk_protocol::ErrorCode::InvalidToken,
            "unknown session",
            Some("hello"),
        ),
    );
    net(
        &mut model,
        NetEvent::Disconnected {
            code: Some(4001),
            reason: "invalid_token".into(),
        },
    );
    assert!(model.client.identity().is_none());
    let shown = everything_shown(&mut model);
    assert!(
        shown.contains("signed out: the server no longer accepts this session"),
        "{shown}"
    );
}
