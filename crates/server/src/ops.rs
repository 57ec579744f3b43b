//! The chat operations the WebSocket connection ([`crate::connection`]) and the REST API
//! ([`crate::rest`]) share, so both apply the same validation, limits and error codes:
//! resolving a session token, creating a guest, checking a post, the rate-limit refusal,
//! and reading a history page.

use governor::NotUntil;
use governor::clock::{Clock, DefaultClock};
use tuitalk_protocol::{ChatMessage, ErrorCode, Seq, name};

use crate::AppState;
use crate::error::Refusal;
use crate::store::User;

/// The user a session token names. Errors: `invalid_token` (malformed, forged, or no such
/// user), `unavailable` (the store could not be asked).
pub async fn user_of_token(state: &AppState, token: &str) -> Result<User, Refusal> {
    let Ok(user_id) = state.tokens.verify(token) else {
        return Err(invalid_token());
    };
    match state.store.user(&user_id).await? {
        Some(user) => Ok(user),
        None => Err(invalid_token()),
    }
}

fn invalid_token() -> Refusal {
    Refusal::new(ErrorCode::InvalidToken, "the token is not valid here")
}

/// Creates a guest identity named `wanted` (validated against `limits.max_name_chars`),
/// or `guest-xxxx` when no name is given. Errors: `invalid_name`, `unavailable`.
pub async fn create_guest(state: &AppState, wanted: Option<String>) -> Result<User, Refusal> {
    let max = state.config.limits.max_name_chars as usize;
    let display = match wanted {
        Some(wanted) => {
            name::validate_display_name(&wanted, max)?;
            wanted
        }
        None => format!("guest-{}", &uuid::Uuid::new_v4().simple().to_string()[..4]),
    };
    Ok(state.store.create_guest(&display).await?)
}

/// Checks a post's room, id and text against the protocol's rules and the configured
/// `limits.max_text_chars`. Errors: `invalid_room`, `invalid_id`, `invalid_text`,
/// `text_too_long`.
pub fn validate_post(state: &AppState, room: &str, id: &str, text: &str) -> Result<(), Refusal> {
    name::validate_room(room)?;
    name::validate_post_id(id)?;
    name::validate_text(text, state.config.limits.max_text_chars as usize)?;
    Ok(())
}

/// The `rate_limited` refusal for a rate limiter's answer, with how long to wait.
pub fn rate_limited(not_until: &NotUntil<<DefaultClock as Clock>::Instant>) -> Refusal {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let mut refusal = Refusal::new(ErrorCode::RateLimited, "too many posts; slow down");
    refusal.retry_after_ms = Some((wait.as_millis() as u64).max(1));
    refusal
}

/// A history page of `room`: the newest `limit` messages below `before`, oldest first,
/// and whether older ones exist; `limit` is capped at `limits.history_page_max`.
/// Errors: `invalid_room`, `invalid_limit` (0), `unavailable`.
pub async fn history_page(
    state: &AppState,
    room: &str,
    before: Option<Seq>,
    limit: u32,
) -> Result<(Vec<ChatMessage>, bool), Refusal> {
    name::validate_room(room)?;
    if limit == 0 {
        return Err(ErrorCode::InvalidLimit.into());
    }
    let limit = limit.min(state.config.limits.history_page_max);
    Ok(state.store.history(room, before, limit).await?)
}
