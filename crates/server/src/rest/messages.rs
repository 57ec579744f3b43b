//! `GET /api/rooms/{room}/messages` (a history page) and `POST
//! /api/rooms/{room}/messages` (a post, answered after the commit).

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tuitalk_protocol::{ChatMessage, ErrorCode, Seq};

use super::{ApiError, Rest, authenticate, limit_key, parse_body, room_of};
use crate::commands::{history, posts, rooms};
use crate::edge::ClientAddr;
use crate::error::Refusal;

/// `GET /api/rooms/{room}/messages` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    /// Only messages with `seq < before`; absent: the newest.
    before: Option<Seq>,
    /// Page size; absent: `limits.history_page_max`.
    limit: Option<u32>,
}

/// `GET /api/rooms/{room}/messages` answer (the WebSocket `history` event's fields).
#[derive(Serialize)]
pub(super) struct HistoryPage {
    room: String,
    messages: Vec<ChatMessage>,
    has_more: bool,
}

/// `GET /api/rooms/{room}/messages`: a history page. Any identity may read any room (rooms
/// are open, as over the WebSocket, where any identity may join any room).
pub(super) async fn history(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let app = &rest.app;
    let user = authenticate(app, &headers).await?.profile.user;
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
pub(super) struct PostRequest {
    id: String,
    text: String,
}

/// `POST /api/rooms/{room}/messages` answer (the WebSocket `ack` event's fields).
#[derive(Serialize)]
pub(super) struct Posted {
    room: String,
    id: String,
    seq: Seq,
    ts: i64,
}

/// `POST /api/rooms/{room}/messages`: stores a post through the group committer and
/// answers after the commit: 201 when stored now, 200 when the same id was stored before
/// (idempotent resend: the original sequence, not delivered again). The author becomes a
/// member of the room first if not yet one.
pub(super) async fn post_message(
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
    let user = authenticate(app, &headers).await?.profile.user;
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
