//! The update side of accounts and sessions: the account commands, the password
//! prompt, and what the REST API's answers change (docs/protocol.md, "REST API").
//!
//! A command becomes an [`Effect::Api`] (after the password prompt for `/register` and
//! `/login`); the run loop sends it and hands the answer back as [`Msg::Api`] with the
//! same [`Step`], which says what to do with it. A new session (register, login) is
//! taken on with [`tuitalk_client::Client::sign_in`], an ended one (logout, sign out
//! everywhere) dropped with [`tuitalk_client::Client::sign_out`]; either way the
//! connection says `hello` again, and the run loop's [`crate::tokens::Keeper`] saves or
//! forgets the token as the identity changes.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tuitalk_protocol::account::MAX_PASSWORD_BYTES;
use tuitalk_protocol::name::validate_display_name;

use crate::api::{ApiCall, ApiError, ApiOk, SessionInfo};
use crate::command::Account;
use crate::model::{Model, Prompt, PromptFor};
use crate::secret::Secret;
use crate::update::{Effect, apply};
use crate::view::style::local_date_time;

/// How many characters of a session id `/sessions` shows (and a prefix needs at most).
pub const ID_PREFIX_CHARS: usize = 8;

/// What an API call is for: how its answer is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `/register`: take on the new account.
    Register,
    /// `/login`: take on the new session.
    Login,
    /// Revoking the session an earlier one replaced (after a login): quiet.
    Replaced,
    /// `/logout`: this session (by id) is revoked.
    Logout(String),
    /// `/sessions`: show the list.
    List,
    /// `/sessions revoke PREFIX`: the list, to find the session.
    FindToRevoke(String),
    /// `/sessions label PREFIX LABEL`: the list, to find the session.
    FindToLabel(String, String),
    /// The session with this id prefix was revoked.
    Revoked(String),
    /// A session was relabelled.
    Labelled,
    /// `/signout-all`: every session of the identity with this session id is revoked.
    SignOutAll(String),
}

/// Carries out an account command: asks for a password, or calls the API.
pub fn command(model: &mut Model, account: Account) -> Vec<Effect> {
    if model.server.is_none() {
        model.error("accounts need a ws:// server URL (--url)");
        return Vec::new();
    }
    let identity = model.client.identity().cloned();
    match account {
        Account::Register {
            email,
            handle,
            name,
        } => {
            if let Some(handle) = identity.as_ref().and_then(|i| i.handle.as_deref()) {
                model.error(format!(
                    "already signed in as @{handle}; /logout first to register another account"
                ));
                return Vec::new();
            }
            let name = name
                .or_else(|| identity.as_ref().map(|i| i.name.clone()))
                .unwrap_or_else(|| handle.clone());
            let max = model.client.limits().max_name_chars as usize;
            if validate_display_name(&name, max).is_err() {
                model.error(format!(
                    "invalid name: 1 to {max} characters, no control characters or surrounding spaces"
                ));
                return Vec::new();
            }
            let label = format!("password for the new account {email}");
            model.prompt = Some(Prompt::new(
                label,
                PromptFor::Register {
                    email,
                    handle,
                    name,
                    first: None,
                },
            ));
            Vec::new()
        }
        Account::Login { email } => {
            let label = format!("password for {email}");
            model.prompt = Some(Prompt::new(label, PromptFor::Login { email }));
            Vec::new()
        }
        other => {
            let Some(identity) = identity else {
                model.error("not connected yet; try again once connected");
                return Vec::new();
            };
            let token = Secret::new(identity.token.clone());
            let (step, call) = match other {
                Account::Logout => (
                    Step::Logout(identity.session_id.clone()),
                    ApiCall::RevokeSession {
                        token,
                        id: identity.session_id.clone(),
                    },
                ),
                Account::Sessions => (Step::List, ApiCall::ListSessions { token }),
                Account::Revoke(prefix) => {
                    (Step::FindToRevoke(prefix), ApiCall::ListSessions { token })
                }
                Account::Label { prefix, label } => (
                    Step::FindToLabel(prefix, label),
                    ApiCall::ListSessions { token },
                ),
                Account::SignOutAll => (
                    Step::SignOutAll(identity.session_id.clone()),
                    ApiCall::RevokeAll { token },
                ),
                Account::Register { .. } | Account::Login { .. } => return Vec::new(),
            };
            vec![Effect::Api { step, call }]
        }
    }
}

/// Handles a key while a password is being typed: Enter sends, Esc cancels, the rest
/// edits it. Nothing typed is echoed or kept elsewhere.
pub fn prompt_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let Some(prompt) = model.prompt.as_mut() else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Char('c' | 'd') if ctrl => {
            model.prompt = None;
            return crate::update::quit(model);
        }
        KeyCode::Char('u') if ctrl => prompt.secret.clear(),
        KeyCode::Char(c) if !ctrl => push_char(&mut prompt.secret, c),
        KeyCode::Backspace => prompt.secret.pop(),
        KeyCode::Esc => {
            model.prompt = None;
            model.info("cancelled");
        }
        KeyCode::Enter => return submit_password(model),
        _ => {}
    }
    Vec::new()
}

/// Text pasted while a password is asked for (a password manager): added to it; line
/// breaks end the paste.
pub fn prompt_paste(model: &mut Model, text: &str) {
    if let Some(prompt) = model.prompt.as_mut() {
        for c in text.chars().take_while(|c| *c != '\n' && *c != '\r') {
            push_char(&mut prompt.secret, c);
        }
    }
}

fn push_char(secret: &mut Secret, c: char) {
    if !c.is_control() && secret.expose().len() + c.len_utf8() <= MAX_PASSWORD_BYTES {
        secret.push(c);
    }
}

fn submit_password(model: &mut Model) -> Vec<Effect> {
    let Some(mut prompt) = model.prompt.take() else {
        return Vec::new();
    };
    let password = std::mem::take(&mut prompt.secret);
    if password.is_empty() {
        model.error("the password is empty; type it, or Esc to cancel");
        model.prompt = Some(prompt);
        return Vec::new();
    }
    match prompt.purpose {
        PromptFor::Login { email } => {
            model.info(format!("signing in as {email}…"));
            vec![Effect::Api {
                step: Step::Login,
                call: ApiCall::Login {
                    email,
                    password,
                    label: None,
                },
            }]
        }
        PromptFor::Register {
            email,
            handle,
            name,
            first: None,
        } => {
            model.prompt = Some(Prompt::new(
                "the same password again",
                PromptFor::Register {
                    email,
                    handle,
                    name,
                    first: Some(password),
                },
            ));
            Vec::new()
        }
        PromptFor::Register {
            email,
            handle,
            name,
            first: Some(first),
        } => {
            if first != password {
                model.error("the two passwords differ; nothing was sent (/register again)");
                return Vec::new();
            }
            let guest_token = model
                .client
                .identity()
                .filter(|identity| identity.is_guest())
                .map(|identity| Secret::new(identity.token.clone()));
            let what = if guest_token.is_some() {
                "making this guest an account"
            } else {
                "registering"
            };
            model.info(format!("{what}: {name} @{handle} <{email}>…"));
            vec![Effect::Api {
                step: Step::Register,
                call: ApiCall::Register {
                    email,
                    handle,
                    name,
                    password,
                    guest_token,
                },
            }]
        }
    }
}

/// Handles the answer to an API call made for `step`.
pub fn reply(
    model: &mut Model,
    step: Step,
    result: Result<ApiOk, ApiError>,
    now_ms: u64,
) -> Vec<Effect> {
    match (step, result) {
        (Step::Register, Ok(ApiOk::Granted(granted))) => {
            let identity = granted.identity();
            let mut text = format!(
                "registered: you are {} @{}",
                identity.name,
                identity.handle.as_deref().unwrap_or("?")
            );
            if !identity.email_verified {
                text.push_str(" (unverified: a code was mailed to your address)");
            }
            model.info(text);
            let actions = model.client.sign_in(now_ms, identity);
            apply(model, actions)
        }
        (Step::Login, Ok(ApiOk::Granted(granted))) => {
            let identity = granted.identity();
            let previous = model.client.identity().cloned();
            model.info(format!(
                "signed in as {}",
                tuitalk_client::user_label(&identity.name, identity.handle.as_deref())
            ));
            let actions = model.client.sign_in(now_ms, identity.clone());
            let mut effects = apply(model, actions);
            // The session this one replaces is no longer kept anywhere: end it.
            if let Some(previous) =
                previous.filter(|p| !p.session_id.is_empty() && p.session_id != identity.session_id)
            {
                effects.push(Effect::Api {
                    step: Step::Replaced,
                    call: ApiCall::RevokeSession {
                        token: Secret::new(previous.token),
                        id: previous.session_id,
                    },
                });
            }
            effects
        }
        (Step::Replaced, _) => Vec::new(),
        (Step::Logout(session_id), result) if ended(&result) => {
            signed_out(model, &session_id, "signed out", now_ms)
        }
        (Step::SignOutAll(session_id), result) if ended(&result) => {
            signed_out(model, &session_id, "signed out everywhere", now_ms)
        }
        (Step::List, Ok(ApiOk::Sessions(sessions))) => {
            show_sessions(model, &sessions);
            Vec::new()
        }
        (Step::FindToRevoke(prefix), Ok(ApiOk::Sessions(sessions))) => {
            let Some(found) = find(model, &sessions, &prefix) else {
                return Vec::new();
            };
            let Some(identity) = model.client.identity() else {
                return Vec::new();
            };
            let token = Secret::new(identity.token.clone());
            let step = if found.current {
                Step::Logout(found.id.clone())
            } else {
                Step::Revoked(short_id(&found.id).to_owned())
            };
            vec![Effect::Api {
                step,
                call: ApiCall::RevokeSession {
                    token,
                    id: found.id.clone(),
                },
            }]
        }
        (Step::FindToLabel(prefix, label), Ok(ApiOk::Sessions(sessions))) => {
            let Some(found) = find(model, &sessions, &prefix) else {
                return Vec::new();
            };
            let Some(identity) = model.client.identity() else {
                return Vec::new();
            };
            vec![Effect::Api {
                step: Step::Labelled,
                call: ApiCall::LabelSession {
                    token: Secret::new(identity.token.clone()),
                    id: found.id.clone(),
                    label,
                },
            }]
        }
        (Step::Revoked(id), Ok(_)) => {
            model.info(format!("session {id} revoked"));
            Vec::new()
        }
        (Step::Labelled, Ok(ApiOk::Session(session))) => {
            model.info(format!(
                "session {} is now labelled {:?}",
                short_id(&session.id),
                session.label
            ));
            Vec::new()
        }
        (step, Ok(other)) => {
            model.error(format!("unexpected answer to {step:?}: {other:?}"));
            Vec::new()
        }
        (step, Err(err)) => {
            let what = match step {
                Step::Register => "could not register",
                Step::Login => "could not sign in",
                Step::Logout(_) => "could not sign out",
                Step::SignOutAll(_) => "could not sign out everywhere",
                Step::Labelled | Step::FindToLabel(..) => "could not label the session",
                Step::Revoked(_) | Step::FindToRevoke(_) => "could not revoke the session",
                Step::List | Step::Replaced => "could not list the sessions",
            };
            model.error(format!("{what}: {}", err.describe()));
            Vec::new()
        }
    }
}

/// The session `session_id` was revoked: unless the client moved on already (the
/// server's 4004 came first), drop it and continue as a new guest.
fn signed_out(model: &mut Model, session_id: &str, what: &str, now_ms: u64) -> Vec<Effect> {
    let current = model
        .client
        .identity()
        .is_some_and(|identity| identity.session_id == session_id);
    if !current {
        model.info(what.to_owned());
        return Vec::new();
    }
    model.info(format!("{what}; continuing as a new guest"));
    let actions = model.client.sign_out(now_ms);
    apply(model, actions)
}

/// Whether a revocation of this session left it ended: done, or the server no longer
/// knows it anyway.
fn ended(result: &Result<ApiOk, ApiError>) -> bool {
    match result {
        Ok(_) => true,
        Err(err) => matches!(err.code(), Some("invalid_token" | "unknown_session")),
    }
}

/// The first characters of a session id, as `/sessions` shows them.
pub fn short_id(id: &str) -> &str {
    id.char_indices()
        .nth(ID_PREFIX_CHARS)
        .map_or(id, |(end, _)| &id[..end])
}

fn show_sessions(model: &mut Model, sessions: &[SessionInfo]) {
    let who = model
        .client
        .identity()
        .map_or_else(String::new, |identity| {
            format!(
                " of {}",
                tuitalk_client::user_label(&identity.name, identity.handle.as_deref())
            )
        });
    model.info(format!("{} session(s){who}:", sessions.len()));
    for session in sessions {
        let label = if session.label.is_empty() {
            "(no label)"
        } else {
            session.label.as_str()
        };
        let (mark, this) = if session.current {
            ("* ", " (this one)")
        } else {
            ("  ", "")
        };
        model.info(format!(
            "{mark}{}{this}  {label}  created {}, last seen {}",
            short_id(&session.id),
            local_date_time(session.created_at),
            local_date_time(session.last_seen_at),
        ));
    }
    model.info("/sessions revoke ID or /sessions label ID LABEL (the first characters of ID do)");
}

/// The one session whose id starts with `prefix`, or an error notice.
fn find<'a>(
    model: &mut Model,
    sessions: &'a [SessionInfo],
    prefix: &str,
) -> Option<&'a SessionInfo> {
    let prefix = prefix.to_ascii_lowercase();
    let matching: Vec<&SessionInfo> = sessions
        .iter()
        .filter(|session| session.id.to_ascii_lowercase().starts_with(&prefix))
        .collect();
    match matching.as_slice() {
        [one] => Some(one),
        [] => {
            model.error(format!(
                "no session starts with {prefix:?}; /sessions lists them"
            ));
            None
        }
        _ => {
            model.error(format!(
                "{} sessions start with {prefix:?}; give more of the id",
                matching.len()
            ));
            None
        }
    }
}
