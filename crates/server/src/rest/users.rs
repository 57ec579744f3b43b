//! `POST /api/users` (register; with a guest's token, upgrade that guest in place),
//! `GET`/`PATCH /api/me` (the profile; rename) and `POST /api/me/password`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tuitalk_protocol::{ErrorCode, Member, ServerEvent, account, name};

use super::{ApiError, Rest, authenticate, bearer, limit_key, parse_body, session_label};
use crate::AppState;
use crate::auth::codes;
use crate::commands::identity;
use crate::edge::ClientAddr;
use crate::error::Refusal;
use crate::mail::MailKind;
use crate::store::accounts::{CodePurpose, NewAccount, Profile, RegisterError, Role};

/// An identity as `GET /api/me` shows it.
#[derive(Serialize)]
pub(super) struct ProfileView {
    user_id: String,
    name: String,
    guest: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    handle: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    role: Role,
    created_at: i64,
}

impl From<Profile> for ProfileView {
    fn from(profile: Profile) -> Self {
        let guest = profile.is_guest();
        Self {
            guest,
            user_id: profile.user.user_id,
            name: profile.user.name,
            handle: profile.user.handle,
            email: profile.email,
            email_verified: (!guest).then_some(profile.email_verified),
            role: profile.role,
            created_at: profile.created_at,
        }
    }
}

/// `POST /api/users` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterRequest {
    email: String,
    password: String,
    name: String,
    handle: String,
    label: Option<String>,
}

/// `POST /api/users` answer: the profile, the session and its token.
#[derive(Serialize)]
pub(super) struct Registered {
    #[serde(flatten)]
    profile: ProfileView,
    token: String,
    session_id: String,
}

/// `POST /api/users`: a new account with its first session, or (with a guest's bearer
/// token) that guest made an account, same id and session; 201.
pub(super) async fn register(
    State(rest): State<Arc<Rest>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let request: RegisterRequest = parse_body(body)?;
    let app = &rest.app;
    app.throttles.registrations.check(&limit_key(client))?;
    let email = account::normalize_email(&request.email)
        .map_err(|code| Refusal::new(code, "not an email address (local@domain.tld)"))?;
    let handle = account::normalize_handle(&request.handle).map_err(|code| {
        Refusal::new(
            code,
            "a handle has 3 to 20 of a-z, 0-9 and _, starts with a letter, and is not reserved",
        )
    })?;
    name::validate_display_name(&request.name, app.config.limits.max_name_chars as usize)?;
    app.auth
        .passwords
        .check_strength(&request.password, &[&email, &handle, &request.name])?;
    // With a bearer token: the guest to upgrade.
    let upgrading = match bearer(&headers) {
        Some(_) => {
            let me = authenticate(app, &headers).await?;
            if !me.profile.is_guest() {
                return Err(Refusal::new(
                    ErrorCode::AlreadyRegistered,
                    "this identity is an account already",
                )
                .into());
            }
            Some(me)
        }
        None => None,
    };
    let password_hash = app.auth.passwords.hash(&request.password).await?;
    let new = NewAccount {
        email: email.clone(),
        handle,
        name: request.name,
        password_hash,
        email_verified: app.mail.is_none(),
        now: app.auth.clock.now_ms(),
    };
    let upgrade = upgrading.as_ref().map(|me| me.profile.user.user_id.clone());
    let user = app
        .store
        .register(upgrade.as_deref(), &new)
        .await
        .map_err(refusal_of)?;
    let (session_id, token) = match upgrading {
        Some(me) => {
            announce_upgrade(app, &me.profile, &user).await;
            (me.session.session_id, me.token)
        }
        None => {
            let label = session_label(request.label.as_deref(), &headers);
            let (session, token) = app
                .auth
                .start_session(&*app.store, &user.user_id, &label)
                .await?;
            (session.session_id, token)
        }
    };
    tracing::info!(user_id = %user.user_id, handle = ?user.handle, upgraded = upgrade.is_some(), "account registered");
    if app.mail.is_some() {
        send_code(app, CodePurpose::Verify, &user.user_id, &email, &user.name).await;
    }
    let Some(profile) = app.store.profile(&user.user_id).await? else {
        return Err(Refusal::internal().into());
    };
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            profile: profile.into(),
            token,
            session_id,
        }),
    ))
}

/// Tells the rooms of an upgraded guest its new name and handle: its presence entries
/// now carry the handle, every room where it is present hears `user_joined` with the
/// handle (clients that list it already update the entry, without a notice), and a new
/// name is announced by `name_changed`.
async fn announce_upgrade(app: &AppState, before: &Profile, user: &crate::store::User) {
    let member = Member {
        user_id: user.user_id.clone(),
        name: user.name.clone(),
        handle: user.handle.clone(),
    };
    app.broker.presence_rename(&member).await;
    let rooms = app.store.rooms_of(&user.user_id).await.unwrap_or_default();
    for room in &rooms {
        let present = app.broker.presence(room).await;
        if present.iter().any(|m| m.user_id == user.user_id) {
            app.broker.publish(ServerEvent::UserJoined {
                room: room.clone(),
                user_id: user.user_id.clone(),
                name: user.name.clone(),
                handle: user.handle.clone(),
            });
        }
    }
    if before.user.name != user.name {
        app.broker.publish(ServerEvent::NameChanged {
            user_id: user.user_id.clone(),
            old_name: before.user.name.clone(),
            name: user.name.clone(),
            rooms,
        });
    }
}

/// The refusal of a registration the store turned down.
fn refusal_of(err: RegisterError) -> ApiError {
    let refusal = match err {
        RegisterError::EmailTaken => Refusal::new(
            ErrorCode::EmailTaken,
            "an account with this email exists: log in, or reset its password",
        ),
        RegisterError::HandleTaken => Refusal::new(
            ErrorCode::HandleTaken,
            "this handle is taken: choose another",
        ),
        RegisterError::AlreadyRegistered => Refusal::new(
            ErrorCode::AlreadyRegistered,
            "this identity is an account already",
        ),
        RegisterError::NoSuchUser => crate::auth::invalid_token(),
        RegisterError::Store(err) => Refusal::from(err),
    };
    refusal.into()
}

/// Makes a code of `purpose` for the user, stores its hash and mails it (the request
/// never waits for the mail). A failure is logged: the person asks again.
pub(super) async fn send_code(
    app: &AppState,
    purpose: CodePurpose,
    user_id: &str,
    email: &str,
    name: &str,
) {
    let Some(mail) = &app.mail else {
        return;
    };
    let (ttl_seconds, kind) = match purpose {
        CodePurpose::Reset => (app.config.auth.reset_code_ttl_seconds, MailKind::Reset),
        CodePurpose::Verify => (app.config.auth.verify_code_ttl_seconds, MailKind::Verify),
    };
    let code = codes::new_code();
    let now = app.auth.clock.now_ms();
    let expires =
        now.saturating_add(i64::try_from(ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX));
    if let Err(err) = app
        .store
        .create_code(&codes::code_hash(&code), user_id, purpose, now, expires)
        .await
    {
        tracing::warn!(error = %err, "cannot store a mailed code");
        return;
    }
    mail.send_code(kind, email, name, &code, ttl_seconds.div_ceil(60));
}

/// `GET /api/me`: the signed-in identity.
pub(super) async fn me(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
) -> Result<Json<ProfileView>, ApiError> {
    let me = authenticate(&rest.app, &headers).await?;
    Ok(Json(me.profile.into()))
}

/// `PATCH /api/me` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfilePatch {
    name: String,
}

/// `PATCH /api/me`: a new display name (the `name` command's rules and look-alike
/// check); the profile.
pub(super) async fn rename(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ProfileView>, ApiError> {
    let app = &rest.app;
    let me = authenticate(app, &headers).await?;
    let ProfilePatch { name } = parse_body(body)?;
    name::validate_display_name(&name, app.config.limits.max_name_chars as usize)?;
    app.throttles.renames.check(&me.profile.user.user_id)?;
    let name = identity::rename_user(app, &me.profile.user, Vec::new(), name).await?;
    let mut profile = me.profile;
    profile.user.name = name;
    Ok(Json(profile.into()))
}

/// `POST /api/me/password` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChange {
    current_password: String,
    new_password: String,
    sign_out_others: Option<bool>,
}

/// `POST /api/me/password`: checks the current password, stores the new one, and
/// (unless `sign_out_others` is `false`) revokes every other session; 204.
pub(super) async fn change_password(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let app = &rest.app;
    let me = authenticate(app, &headers).await?;
    let change: PasswordChange = parse_body(body)?;
    let user = &me.profile.user;
    let email = me.profile.email.clone().unwrap_or_default();
    app.throttles.logins_by_account.check(&email)?;
    let hash = app.store.password_hash(&user.user_id).await?;
    if !app
        .auth
        .passwords
        .verify(hash, &change.current_password)
        .await?
    {
        return Err(Refusal::new(
            ErrorCode::InvalidCredentials,
            "the current password is wrong (a guest has none: register instead)",
        )
        .into());
    }
    let handle = user.handle.as_deref().unwrap_or_default();
    app.auth
        .passwords
        .check_strength(&change.new_password, &[&email, handle, &user.name])?;
    let hash = app.auth.passwords.hash(&change.new_password).await?;
    app.store.set_password(&user.user_id, &hash).await?;
    if change.sign_out_others.unwrap_or(true) {
        let now = app.auth.clock.now_ms();
        app.store
            .revoke_sessions(&user.user_id, Some(&me.session.session_id), now)
            .await?;
    }
    tracing::info!(user_id = %user.user_id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}
