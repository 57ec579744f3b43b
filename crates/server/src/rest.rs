//! The REST API under `/api/` for slim clients and bots (docs/protocol.md, "REST API"):
//!
//! - `POST /api/sessions` `{"name"}`: a new guest identity and its session token;
//! - `GET /api/rooms/{room}/messages?before=&limit=`: a history page;
//! - `POST /api/rooms/{room}/messages` `{"id","text"}`: a post, answered after commit.
//!
//! It is a second door to the same commands as the WebSocket ([`crate::commands`]: token
//! resolution and guests, history pages, post validation and submission to the group
//! committer): the same validation, limits, error codes and post rate
//! (`limits.posts_per_second`, here per user), and a REST post reaches the room's
//! WebSocket clients live exactly like a WebSocket one. Errors are JSON
//! `{"code","message"}` with the protocol's error codes and a fitting HTTP status (and
//! two of the HTTP layer, `forbidden_origin` and `unsupported_media_type`, from
//! [`crate::origin`]); request bodies are bounded by `limits.max_frame_bytes`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tuitalk_protocol::{ChatMessage, ErrorCode, Seq, name};

use crate::commands::{history, identity, posts, rooms};
use crate::edge::ClientAddr;
use crate::error::Refusal;
use crate::store::{StoreError, User, now_ms};
use crate::{AppState, origin};

/// The REST API's state: the server's.
struct Rest {
    app: AppState,
}

/// The `/api/` routes, to be nested under `/api`. Unknown paths answer 404 and wrong
/// methods 405, both with the code `unknown_type`; bodies above `limits.max_frame_bytes`
/// answer 413 `frame_too_large`. Before any of it, [`origin::rest_guard`] refuses POSTs
/// from foreign origins (403 `forbidden_origin`) and without a JSON body (415
/// `unsupported_media_type`); CORS only for `web.cors_origins` ([`origin::cors_layer`]).
pub fn router<S: Clone + Send + Sync + 'static>(app: AppState) -> Router<S> {
    let limits = &app.config.limits;
    let body_limit = limits.max_frame_bytes as usize;
    let guard = axum::middleware::from_fn_with_state(app.clone(), origin::rest_guard);
    let cors = origin::cors_layer(&app.config.web);
    let rest = Arc::new(Rest { app });
    let router = Router::new()
        .route("/sessions", post(create_session))
        .route("/rooms/{room}/messages", get(history).post(post_message))
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
        ErrorCode::NotAuthenticated | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::UnknownType => StatusCode::NOT_FOUND,
        ErrorCode::IdConflict => StatusCode::CONFLICT,
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

/// The user named by the `Authorization: Bearer TOKEN` header: `not_authenticated` (401)
/// without one, `invalid_token` (401) for a bad one.
async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<User, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(Refusal::new(
            ErrorCode::NotAuthenticated,
            "send Authorization: Bearer TOKEN (a token from POST /api/sessions)",
        )
        .into());
    };
    Ok(identity::user_of_token(app, token).await?)
}

/// The room of the path, validated (`invalid_room`).
fn room_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Ok(Path(room)) = path else {
        return Err(ErrorCode::InvalidRoom.into());
    };
    name::validate_room(&room)?;
    Ok(room)
}

/// `POST /api/sessions` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    /// The display name; absent: `guest-xxxx`.
    name: Option<String>,
}

/// `POST /api/sessions` answer.
#[derive(Serialize)]
struct SessionCreated {
    user_id: String,
    name: String,
    token: String,
}

/// `POST /api/sessions`: a new guest identity (like `hello` without a token); 201.
async fn create_session(
    State(rest): State<Arc<Rest>>,
    client: Option<Extension<ClientAddr>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    let request: SessionRequest = parse_body(body)?;
    let address = limit_key(client);
    let throttles = &rest.app.throttles;
    throttles.sessions.check(&address)?;
    throttles.guests.check(&address)?;
    let user = identity::create_guest(&rest.app, request.name).await?;
    tracing::info!(user_id = %user.user_id, name = %user.name, "REST session created");
    let token = rest.app.tokens.sign(&user.user_id, now_ms());
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            user_id: user.user_id,
            name: user.name,
            token,
        }),
    ))
}

/// `GET /api/rooms/{room}/messages` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    /// Only messages with `seq < before`; absent: the newest.
    before: Option<Seq>,
    /// Page size; absent: `limits.history_page_max`.
    limit: Option<u32>,
}

/// `GET /api/rooms/{room}/messages` answer (the WebSocket `history` event's fields).
#[derive(Serialize)]
struct HistoryPage {
    room: String,
    messages: Vec<ChatMessage>,
    has_more: bool,
}

/// `GET /api/rooms/{room}/messages`: a history page. Any identity may read any room (rooms
/// are open, as over the WebSocket, where any identity may join any room).
async fn history(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let app = &rest.app;
    let user = authenticate(app, &headers).await?;
    app.throttles.history.check(&user.user_id)?;
    let room = room_of(path)?;
    let Query(query) =
        query.map_err(|err| Refusal::new(ErrorCode::InvalidCommand, err.body_text()))?;
    let limit = query.limit.unwrap_or(app.config.limits.history_page_max);
    let (messages, has_more) = history::page(app, &room, query.before, limit).await?;
    Ok(Json(HistoryPage {
        room,
        messages,
        has_more,
    }))
}

/// `POST /api/rooms/{room}/messages` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostRequest {
    id: String,
    text: String,
}

/// `POST /api/rooms/{room}/messages` answer (the WebSocket `ack` event's fields).
#[derive(Serialize)]
struct Posted {
    room: String,
    id: String,
    seq: Seq,
    ts: i64,
}

/// `POST /api/rooms/{room}/messages`: stores a post through the group committer and
/// answers after the commit: 201 when stored now, 200 when the same id was stored before
/// (idempotent resend: the original sequence, not delivered again). The author becomes a
/// member of the room first if not yet one.
async fn post_message(
    State(rest): State<Arc<Rest>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Posted>), ApiError> {
    let result = store_post(&rest, limit_key(client), headers, path, body).await;
    if let Err(err) = &result {
        rest.app.metrics.post_refused(err.refusal.code);
    }
    result
}

/// The work of [`post_message`]; its refusals are counted there.
async fn store_post(
    rest: &Rest,
    address: IpAddr,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Posted>), ApiError> {
    let app = &rest.app;
    let user = authenticate(app, &headers).await?;
    let room = room_of(path)?;
    let PostRequest { id, text } = parse_body(body)?;
    posts::validate(app, &room, &id, &text)?;
    app.throttles.post(&user.user_id, address)?;
    if !app.store.rooms_of(&user.user_id).await?.contains(&room) {
        rooms::admit_member(app, &user.user_id, &room).await?;
        app.store.join(&user.user_id, &room).await?;
    }
    let post = posts::new_post(room, id.clone(), text, user.user_id);
    let appended = posts::submit(app, post).await?.outcome().await?;
    let status = if appended.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let message = appended.message;
    Ok((
        status,
        Json(Posted {
            room: message.room,
            id,
            seq: message.seq,
            ts: message.ts,
        }),
    ))
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
