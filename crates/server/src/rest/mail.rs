//! Mailed codes: `POST /api/password-resets` (ask for a reset code: 202 whatever the
//! address), `POST /api/password-resets/confirm` (code and new password: every session
//! revoked), `POST /api/email-verifications` (a verification code) and
//! `POST /api/me/verification-mail` (a new verification code). Without an `smtp`
//! section they answer 501 `not_configured`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use tuitalk_protocol::{ErrorCode, account};

use super::users::send_code;
use super::{ApiError, Rest, authenticate, limit_key, parse_body};
use crate::AppState;
use crate::auth::codes;
use crate::edge::ClientAddr;
use crate::error::Refusal;
use crate::store::accounts::CodePurpose;

/// `not_configured` unless the server sends mail.
fn mail_configured(app: &AppState) -> Result<(), ApiError> {
    if app.mail.is_some() {
        Ok(())
    } else {
        Err(Refusal::new(
            ErrorCode::NotConfigured,
            "this server sends no mail: ask its operator (tuitalk-server user reset-password)",
        )
        .into())
    }
}

/// `POST /api/password-resets` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetRequest {
    email: String,
}

/// `POST /api/password-resets`: mails a reset code when the address names an enabled
/// account; 202 either way.
pub(super) async fn request_reset(
    State(rest): State<Arc<Rest>>,
    client: Option<Extension<ClientAddr>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let app = &rest.app;
    mail_configured(app)?;
    let ResetRequest { email } = parse_body(body)?;
    app.throttles.mails.check(&limit_key(client))?;
    let email = account::normalize_email(&email).unwrap_or_else(|_| email.trim().to_lowercase());
    app.throttles.mails_by_account.check(&email)?;
    if let Some(profile) = app.store.profile_by_login(&email).await?
        && !profile.disabled
        && profile.email.as_deref() == Some(email.as_str())
    {
        send_code(
            app,
            CodePurpose::Reset,
            &profile.user.user_id,
            &email,
            &profile.user.name,
        )
        .await;
        tracing::info!(user_id = %profile.user.user_id, "password reset code mailed");
    }
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/password-resets/confirm` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetConfirm {
    code: String,
    new_password: String,
}

/// `POST /api/password-resets/confirm`: uses up the code, stores the new password and
/// revokes every session of the account; 204.
pub(super) async fn confirm_reset(
    State(rest): State<Arc<Rest>>,
    client: Option<Extension<ClientAddr>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let app = &rest.app;
    mail_configured(app)?;
    let ResetConfirm { code, new_password } = parse_body(body)?;
    // Codes are guessed no faster than logins.
    app.throttles.logins.check(&limit_key(client))?;
    app.auth.passwords.check_strength(&new_password, &[])?;
    let hash = app.auth.passwords.hash(&new_password).await?;
    let now = app.auth.clock.now_ms();
    let Some(user_id) = app
        .store
        .use_code(&codes::code_hash(&code), CodePurpose::Reset, now)
        .await?
    else {
        return Err(invalid_code());
    };
    app.store.set_password(&user_id, &hash).await?;
    // Whoever could read the mail may sign in; nobody else stays signed in.
    app.store.revoke_sessions(&user_id, None, now).await?;
    app.store.set_email_verified(&user_id, now).await?;
    tracing::info!(user_id, "password reset by mailed code");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/email-verifications` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Verification {
    code: String,
}

/// `POST /api/email-verifications`: marks the code's account verified; 204.
pub(super) async fn verify_email(
    State(rest): State<Arc<Rest>>,
    client: Option<Extension<ClientAddr>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let app = &rest.app;
    mail_configured(app)?;
    let Verification { code } = parse_body(body)?;
    app.throttles.logins.check(&limit_key(client))?;
    let now = app.auth.clock.now_ms();
    let Some(user_id) = app
        .store
        .use_code(&codes::code_hash(&code), CodePurpose::Verify, now)
        .await?
    else {
        return Err(invalid_code());
    };
    app.store.set_email_verified(&user_id, now).await?;
    tracing::info!(user_id, "email verified");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/me/verification-mail`: a new verification code to the signed-in account's
/// address; 202.
pub(super) async fn send_verification(
    State(rest): State<Arc<Rest>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let app = &rest.app;
    mail_configured(app)?;
    let me = authenticate(app, &headers).await?;
    let Some(email) = me.profile.email.clone() else {
        return Err(Refusal::new(
            ErrorCode::NotAuthenticated,
            "a guest has no email address: register first",
        )
        .into());
    };
    app.throttles.mails.check(&limit_key(client))?;
    app.throttles.mails_by_account.check(&email)?;
    if !me.profile.email_verified {
        send_code(
            app,
            CodePurpose::Verify,
            &me.profile.user.user_id,
            &email,
            &me.profile.user.name,
        )
        .await;
    }
    Ok(StatusCode::ACCEPTED)
}

fn invalid_code() -> ApiError {
    Refusal::new(
        ErrorCode::InvalidCode,
        "the code is unknown, used or expired: ask for a new one",
    )
    .into()
}
