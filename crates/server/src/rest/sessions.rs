//! `/api/sessions`: log in (or make a guest), list this identity's sessions, relabel one,
//! revoke one or all ("sign out everywhere").
//!
//! A login answers the same `invalid_credentials` after the same work for an unknown
//! email and a wrong password: the password is verified against a dummy hash when the
//! email is unknown, and the per-account login budget is counted for unknown emails too.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tuitalk_protocol::{ErrorCode, account, name};

use super::{ApiError, Rest, authenticate, limit_key, parse_body, session_label};
use crate::auth::{MAX_LABEL_CHARS, Resolved};
use crate::commands::identity;
use crate::edge::ClientAddr;
use crate::error::Refusal;
use crate::store::accounts::SessionRecord;

/// `POST /api/sessions` body: `{email, password}` to log in, `{name?}` for a guest.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SessionRequest {
    email: Option<String>,
    password: Option<String>,
    name: Option<String>,
    label: Option<String>,
}

/// `POST /api/sessions` answer.
#[derive(Serialize)]
pub(super) struct SessionCreated {
    user_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    handle: Option<String>,
    guest: bool,
    token: String,
    session_id: String,
}

impl From<Resolved> for SessionCreated {
    fn from(resolved: Resolved) -> Self {
        Self {
            guest: resolved.profile.is_guest(),
            user_id: resolved.profile.user.user_id,
            name: resolved.profile.user.name,
            handle: resolved.profile.user.handle,
            token: resolved.token,
            session_id: resolved.session.session_id,
        }
    }
}

/// `POST /api/sessions`: a login with email and password, or a new guest; 201.
pub(super) async fn create(
    State(rest): State<Arc<Rest>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    let request: SessionRequest = parse_body(body)?;
    let app = &rest.app;
    let address = limit_key(client);
    let throttles = &app.throttles;
    throttles.sessions.check(&address)?;
    let label = session_label(request.label.as_deref(), &headers);
    let resolved = match (request.email, request.password) {
        (Some(email), Some(password)) => {
            if request.name.is_some() {
                return Err(Refusal::new(
                    ErrorCode::InvalidCommand,
                    "a login takes email and password, not a name",
                )
                .into());
            }
            login(&rest, address, &email, &password, &label).await?
        }
        (None, None) => {
            throttles.guests.check(&address)?;
            let resolved = identity::guest_session(app, request.name, &label).await?;
            tracing::info!(user_id = %resolved.profile.user.user_id, "REST guest session created");
            resolved
        }
        _ => {
            return Err(Refusal::new(
                ErrorCode::InvalidCommand,
                "a login needs both email and password",
            )
            .into());
        }
    };
    Ok((StatusCode::CREATED, Json(resolved.into())))
}

/// Checks the password of the account with `email` and starts a session.
async fn login(
    rest: &Rest,
    address: std::net::IpAddr,
    email: &str,
    password: &str,
    label: &str,
) -> Result<Resolved, ApiError> {
    let app = &rest.app;
    app.throttles.logins.check(&address)?;
    // A malformed address names no account: it gets the same answer after the same work.
    let email = account::normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
    app.throttles.logins_by_account.check(&email)?;
    let found = if password.len() > account::MAX_PASSWORD_BYTES {
        None
    } else {
        app.store.credentials(&email).await?
    };
    let (user_id, hash, disabled) = match found {
        Some((user_id, hash, disabled)) => (Some(user_id), Some(hash), disabled),
        None => (None, None, false),
    };
    let matches = app.auth.passwords.verify(hash, password).await?;
    let Some(user_id) = user_id.filter(|_| matches) else {
        app.metrics.login("invalid_credentials");
        tracing::info!("login refused: invalid credentials");
        return Err(Refusal::new(
            ErrorCode::InvalidCredentials,
            "the email or the password is wrong",
        )
        .into());
    };
    if disabled {
        app.metrics.login("disabled");
        return Err(Refusal::new(
            ErrorCode::AccountDisabled,
            "this account was disabled by an operator",
        )
        .into());
    }
    let (session, token) = app.auth.start_session(&*app.store, &user_id, label).await?;
    let Some(profile) = app.store.profile(&user_id).await? else {
        return Err(Refusal::internal().into());
    };
    app.metrics.login("ok");
    tracing::info!(user_id, session_id = %session.session_id, "logged in");
    Ok(Resolved {
        session,
        profile,
        token,
    })
}

/// One session in `GET /api/sessions`.
#[derive(Serialize)]
pub(super) struct SessionView {
    id: String,
    label: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    current: bool,
}

impl SessionView {
    fn of(session: SessionRecord, current: &str) -> Self {
        Self {
            current: session.session_id == current,
            id: session.session_id,
            label: session.label,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
        }
    }
}

/// `GET /api/sessions` answer.
#[derive(Serialize)]
pub(super) struct SessionList {
    sessions: Vec<SessionView>,
}

/// `GET /api/sessions`: this identity's live sessions, newest first.
pub(super) async fn list(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
) -> Result<Json<SessionList>, ApiError> {
    let app = &rest.app;
    let me = authenticate(app, &headers).await?;
    let now = app.auth.clock.now_ms();
    let sessions = app
        .store
        .sessions_of(&me.profile.user.user_id, now)
        .await?
        .into_iter()
        .filter(|session| app.auth.is_live(session, now))
        .map(|session| SessionView::of(session, &me.session.session_id))
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// `PATCH /api/sessions/{id}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Relabel {
    label: String,
}

/// `PATCH /api/sessions/{id}`: a new label (the display-name rules, at most 64
/// characters); the session.
pub(super) async fn relabel(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SessionView>, ApiError> {
    let app = &rest.app;
    let me = authenticate(app, &headers).await?;
    let id = session_id_of(path)?;
    let Relabel { label } = parse_body(body)?;
    name::validate_display_name(&label, MAX_LABEL_CHARS)?;
    let updated = app
        .store
        .label_session(&me.profile.user.user_id, &id, &label)
        .await?
        .filter(|session| app.auth.is_live(session, app.auth.clock.now_ms()))
        .ok_or_else(unknown_session)?;
    Ok(Json(SessionView::of(updated, &me.session.session_id)))
}

/// `DELETE /api/sessions/{id}`: revokes one of this identity's sessions; 204.
pub(super) async fn revoke(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let app = &rest.app;
    let me = authenticate(app, &headers).await?;
    let id = session_id_of(path)?;
    let now = app.auth.clock.now_ms();
    if !app
        .store
        .revoke_session(&me.profile.user.user_id, &id, now)
        .await?
    {
        return Err(unknown_session());
    }
    tracing::info!(user_id = %me.profile.user.user_id, session_id = %id, "session revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/sessions`: revokes every session of this identity, this one too; 204.
pub(super) async fn revoke_all(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let app = &rest.app;
    let me = authenticate(app, &headers).await?;
    let now = app.auth.clock.now_ms();
    let revoked = app
        .store
        .revoke_sessions(&me.profile.user.user_id, None, now)
        .await?;
    tracing::info!(user_id = %me.profile.user.user_id, revoked, "signed out everywhere");
    Ok(StatusCode::NO_CONTENT)
}

/// The session id of the path: 32 lower-case hex digits, else `unknown_session`.
fn session_id_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    match path {
        Ok(Path(id)) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(id),
        _ => Err(unknown_session()),
    }
}

fn unknown_session() -> ApiError {
    Refusal::new(
        ErrorCode::UnknownSession,
        "no such session of yours (it may have ended already)",
    )
    .into()
}
