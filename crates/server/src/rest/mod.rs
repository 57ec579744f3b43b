//! The REST API under `/api/` for slim clients, bots and the clients' account screens
//! (docs/protocol.md, "REST API"; the OpenAPI document at `/api/openapi.json`):
//!
//! - [`users`]: `POST /api/users` (register, or upgrade a guest), `GET`/`PATCH /api/me`,
//!   `POST /api/me/password`;
//! - [`sessions`]: `POST /api/sessions` (log in, or a new guest), `GET`, `PATCH` and
//!   `DELETE` of this identity's sessions;
//! - [`mail`]: password reset and email verification by mailed codes;
//! - [`messages`]: `GET`/`POST /api/rooms/{room}/messages`, history pages and posts;
//! - [`openapi`]: the OpenAPI 3.1 document.
//!
//! It is a second door to the same commands as the WebSocket ([`crate::commands`]: guests,
//! renames, history pages, post validation and submission to the group committer): the
//! same validation, limits, error codes and post rate, and a REST post reaches the room's
//! WebSocket clients live exactly like a WebSocket one. Errors are JSON
//! `{"code","message"}` with the protocol's error codes and a fitting HTTP status (and
//! two of the HTTP layer, `forbidden_origin` and `unsupported_media_type`, from
//! [`crate::origin`]); request bodies are bounded by `limits.max_frame_bytes`.

mod mail;
mod messages;
mod openapi;
mod sessions;
mod users;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tuitalk_protocol::{ErrorCode, name};

use crate::auth::Resolved;
use crate::edge::ClientAddr;
use crate::error::Refusal;
use crate::store::StoreError;
use crate::{AppState, origin};

/// The REST API's state: the server's.
struct Rest {
    app: AppState,
}

/// The `/api/` routes, to be nested under `/api`. Unknown paths answer 404 and wrong
/// methods 405, both with the code `unknown_type`; bodies above `limits.max_frame_bytes`
/// answer 413 `frame_too_large`. Before any of it, [`origin::rest_guard`] refuses writes
/// from foreign origins (403 `forbidden_origin`) and bodies that are not JSON (415
/// `unsupported_media_type`); CORS only for `web.cors_origins` ([`origin::cors_layer`]).
pub fn router<S: Clone + Send + Sync + 'static>(app: AppState) -> Router<S> {
    let limits = &app.config.limits;
    let body_limit = limits.max_frame_bytes as usize;
    let guard = axum::middleware::from_fn_with_state(app.clone(), origin::rest_guard);
    let cors = origin::cors_layer(&app.config.web);
    let rest = Arc::new(Rest { app });
    let router = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/users", post(users::register))
        .route("/me", get(users::me).patch(users::rename))
        .route("/me/password", post(users::change_password))
        .route("/me/verification-mail", post(mail::send_verification))
        .route("/email-verifications", post(mail::verify_email))
        .route("/password-resets", post(mail::request_reset))
        .route("/password-resets/confirm", post(mail::confirm_reset))
        .route(
            "/sessions",
            post(sessions::create)
                .get(sessions::list)
                .delete(sessions::revoke_all),
        )
        .route(
            "/sessions/{id}",
            patch(sessions::relabel).delete(sessions::revoke),
        )
        .route(
            "/rooms/{room}/messages",
            get(messages::history).post(messages::post_message),
        )
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(rest)
        .layer(guard);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// A refused request: the HTTP status and the protocol refusal in the body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    refusal: Refusal,
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        Self {
            status: status_of(refusal.code),
            refusal,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Refusal::from(err).into()
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Refusal::from(code).into()
    }
}

/// The HTTP status that answers an error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NotAuthenticated | ErrorCode::InvalidToken | ErrorCode::InvalidCredentials => {
            StatusCode::UNAUTHORIZED
        }
        ErrorCode::AccountDisabled => StatusCode::FORBIDDEN,
        ErrorCode::UnknownType | ErrorCode::UnknownSession => StatusCode::NOT_FOUND,
        ErrorCode::IdConflict
        | ErrorCode::NameTaken
        | ErrorCode::EmailTaken
        | ErrorCode::HandleTaken
        | ErrorCode::AlreadyRegistered => StatusCode::CONFLICT,
        ErrorCode::NotConfigured => StatusCode::NOT_IMPLEMENTED,
        ErrorCode::FrameTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The JSON body of an error.
#[derive(Serialize)]
struct ErrorBody {
    code: ErrorCode,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Refusal {
            code,
            message,
            retry_after_ms,
        } = self.refusal;
        tracing::debug!(%code, status = self.status.as_u16(), "REST request refused");
        let mut response = (
            self.status,
            Json(ErrorBody {
                code,
                message,
                retry_after_ms,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(ms) = retry_after_ms {
            // Retry-After counts whole seconds; round up so a client never comes early.
            headers.insert(header::RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000)));
        }
        response
    }
}

/// Decodes a JSON request body: `frame_too_large` (413) above the body limit,
/// `malformed_json` when it is not JSON, `invalid_command` when fields are missing,
/// unknown or of the wrong type.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::new(
                ErrorCode::FrameTooLarge,
                "request body exceeds limits.max_frame_bytes",
            )
        } else {
            Refusal::new(ErrorCode::InvalidCommand, "cannot read the request body")
        }
    })?;
    serde_json::from_slice(&body).map_err(|err| {
        let code = match err.classify() {
            serde_json::error::Category::Data => ErrorCode::InvalidCommand,
            _ => ErrorCode::MalformedJson,
        };
        Refusal::new(code, err.to_string()).into()
    })
}

/// The bearer token of the `Authorization` header, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        // The scheme name is case-insensitive (RFC 9110, section 11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// The live session named by the `Authorization: Bearer TOKEN` header:
/// `not_authenticated` (401) without one, `invalid_token` (401) for a bad, revoked or
/// expired one.
async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<Resolved, ApiError> {
    let Some(token) = bearer(headers) else {
        return Err(Refusal::new(
            ErrorCode::NotAuthenticated,
            "send Authorization: Bearer TOKEN (a token from POST /api/sessions)",
        )
        .into());
    };
    Ok(app.auth.resolve(&*app.store, token, false).await?)
}

/// The label a new session gets: the one asked for, else the client's `User-Agent`.
fn session_label(asked: Option<&str>, headers: &HeaderMap) -> String {
    asked
        .or_else(|| {
            headers
                .get(header::USER_AGENT)
                .and_then(|value| value.to_str().ok())
        })
        .unwrap_or("device")
        .to_owned()
}

/// The room of the path, validated (`invalid_room`).
fn room_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Ok(Path(room)) = path else {
        return Err(ErrorCode::InvalidRoom.into());
    };
    name::validate_room(&room)?;
    Ok(room)
}

/// The client's address as the per-address limits count it; one address for all when the
/// router is served without the edge.
fn limit_key(client: Option<Extension<ClientAddr>>) -> IpAddr {
    client.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(client)| {
        client.limit_key()
    })
}

/// Any other path under `/api/`: 404 `unknown_type`.
async fn unknown_path() -> ApiError {
    Refusal::new(ErrorCode::UnknownType, "no such endpoint under /api/").into()
}

/// A known path with a method it does not serve: 405 `unknown_type`.
async fn wrong_method() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        refusal: Refusal::new(ErrorCode::UnknownType, "method not allowed here"),
    }
}
