//! Which browser pages may use this server (docs/security.md, "Browsers, origins and
//! tokens"). A browser names the page behind a WebSocket or a request in the `Origin`
//! header: a page of another site must neither open `/ws` (and act as its visitor) nor
//! change state over REST.
//!
//! - [`OriginPolicy`]: the allow-list. The server's own origin (the `Origin`'s host and
//!   port are the request's `Host`) always passes, then `web.allowed_origins`, and for
//!   REST also `web.cors_origins`. A request without `Origin` is not a browser page's
//!   (the terminal client, bots, tuitalk-load) and passes.
//! - [`rest_guard`]: a REST `POST` from a foreign origin gets 403 `forbidden_origin`, one
//!   whose body is not declared `application/json` gets 415 `unsupported_media_type` (a
//!   cross-site HTML form or a "simple" `fetch` can only send form and `text/plain`
//!   bodies, so it never reaches a handler).
//! - [`cors_layer`]: CORS for `/api/`, for `web.cors_origins` only; none by default.
//! - [`parse_origin`], [`parse_ws_url`]: the forms the settings take (normalised:
//!   lowercase, default port dropped), also used by `check-config`.

use std::fmt;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::WebConfig;

/// The code of a REST refusal for a foreign `Origin` (HTTP 403).
pub const FORBIDDEN_ORIGIN: &str = "forbidden_origin";
/// The code of a REST `POST` whose `Content-Type` is not `application/json` (HTTP 415).
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
/// How long browsers may cache a CORS preflight answer, in seconds.
const CORS_MAX_AGE_SECS: u64 = 600;

/// A web origin: `http` or `https`, a host (lowercase; IPv6 in brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    secure: bool,
    host: String,
    port: u16,
}

impl Origin {
    fn default_port(&self) -> u16 {
        if self.secure { 443 } else { 80 }
    }
}

impl fmt::Display for Origin {
    /// `scheme://host[:port]`, the port only when it is not the scheme's default.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.host)?;
        if self.port != self.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// Splits `host[:port]` (`[v6]:port` for IPv6), lowercasing the host; the port is
/// `default_port` when absent. `None` for anything else (a path, user info, spaces).
fn parse_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return None;
        }
        (format!("[{inside}]"), after)
    } else {
        let (host, port) = authority.split_at(authority.find(':').unwrap_or(authority.len()));
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if host.is_empty() || !host.chars().all(valid) {
            return None;
        }
        (host.to_owned(), port)
    };
    let port = match port {
        "" => default_port,
        port => {
            let digits = port.strip_prefix(':')?;
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()?
        }
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Parses `scheme://host[:port]` with the scheme `http` or `https` (one trailing `/` is
/// tolerated, nothing else after the port). The error says what is wrong.
pub fn parse_origin(text: &str) -> Result<Origin, &'static str> {
    let (scheme, rest) = text.split_once("://").ok_or("not scheme://host[:port]")?;
    let secure = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        _ => return Err("the scheme must be http or https"),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = parse_authority(authority, if secure { 443 } else { 80 })
        .ok_or("not scheme://host[:port] (no path, no user, a numeric port)")?;
    Ok(Origin { secure, host, port })
}

/// Parses a WebSocket URL `ws[s]://host[:port][/path]` into its normalised form
/// (lowercase scheme and host, no default port, the path `/ws` when absent). Paths are
/// letters, digits and `-._~/%` only: no query, no fragment, nothing that could break
/// out of the Content-Security-Policy or the page's `<meta>` it is written into.
pub fn parse_ws_url(text: &str) -> Result<String, &'static str> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or("not ws[s]://host[:port][/path]")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "ws" => 80,
        "wss" => 443,
        _ => return Err("the scheme must be ws or wss"),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/ws"),
    };
    let (host, port) = parse_authority(authority, default_port)
        .ok_or("not ws[s]://host[:port][/path] (no user, a numeric port)")?;
    let valid =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '/' | '%');
    if !path.chars().all(valid) {
        return Err("the path may hold only letters, digits and -._~/%");
    }
    let port = if port == default_port {
        String::new()
    } else {
        format!(":{port}")
    };
    Ok(format!("{scheme}://{host}{port}{path}"))
}

/// Why a request's `Origin` was refused (logged, and told to the client in words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForbiddenOrigin(String);

impl fmt::Display for ForbiddenOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The browser origins allowed besides the server's own, by surface.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// `/ws`: `web.allowed_origins`.
    ws: Vec<Origin>,
    /// REST `POST`s: `web.allowed_origins` and `web.cors_origins`.
    rest: Vec<Origin>,
}

/// The host the request was sent to: its `Host` header, else the URI's authority.
fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| uri.authority().map(|authority| authority.as_str()))
}

impl OriginPolicy {
    /// The policy of a configuration (entries that do not parse are skipped:
    /// `check-config` refuses them before the server starts).
    pub fn from_config(web: &WebConfig) -> Self {
        let parse = |list: &[String]| -> Vec<Origin> {
            list.iter()
                .filter(|entry| !entry.trim().is_empty())
                .filter_map(|entry| parse_origin(entry.trim()).ok())
                .collect()
        };
        let ws = parse(&web.allowed_origins);
        let mut rest = ws.clone();
        rest.extend(parse(&web.cors_origins));
        Self { ws, rest }
    }

    /// Whether a WebSocket upgrade with these headers may proceed.
    pub fn check_ws(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), ForbiddenOrigin> {
        check(&self.ws, headers, uri)
    }

    /// Whether a state-changing REST request with these headers may proceed.
    pub fn check_rest(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), ForbiddenOrigin> {
        check(&self.rest, headers, uri)
    }
}

/// The rule: no `Origin`, the request's own host, or a listed origin.
fn check(allowed: &[Origin], headers: &HeaderMap, uri: &Uri) -> Result<(), ForbiddenOrigin> {
    let mut values = headers.get_all(header::ORIGIN).iter();
    let Some(value) = values.next() else {
        return Ok(());
    };
    if values.next().is_some() {
        return Err(ForbiddenOrigin("more than one Origin header".to_owned()));
    }
    let shown = String::from_utf8_lossy(value.as_bytes())
        .chars()
        .take(100)
        .collect::<String>();
    let refused = || ForbiddenOrigin(format!("origin {shown:?} is not allowed here"));
    let origin = value
        .to_str()
        .ok()
        .and_then(|text| parse_origin(text).ok())
        .ok_or_else(refused)?;
    let own = request_host(headers, uri)
        .and_then(|host| parse_authority(host, origin.default_port()))
        .is_some_and(|(host, port)| host == origin.host && port == origin.port);
    if own || allowed.contains(&origin) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// The JSON body of a refusal made before the REST handlers (same shape as theirs).
#[derive(Serialize)]
struct GuardError {
    code: &'static str,
    message: String,
}

/// Middleware of `/api/`: every `POST`, `PATCH` and `DELETE` must come from an allowed
/// origin (or none), and `POST` and `PATCH` must declare a JSON body, before any handler
/// runs.
pub async fn rest_guard(
    State(state): State<crate::AppState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return next.run(request).await;
    }
    if let Err(refused) = state.origins.check_rest(request.headers(), request.uri()) {
        state.metrics.forbidden_origins.inc();
        tracing::info!(reason = %refused, "REST POST refused: foreign origin");
        let body = GuardError {
            code: FORBIDDEN_ORIGIN,
            message: format!("{refused}: this server takes REST posts from its own pages only"),
        };
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    let has_body = method == Method::POST || method == Method::PATCH;
    if has_body && !is_json(request.headers().get(header::CONTENT_TYPE)) {
        let body = GuardError {
            code: UNSUPPORTED_MEDIA_TYPE,
            message: "send the body with Content-Type: application/json".to_owned(),
        };
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Json(body)).into_response();
    }
    next.run(request).await
}

/// Whether a `Content-Type` is `application/json` (any parameters, any case).
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// CORS for `/api/` when `web.cors_origins` lists origins: preflights answered and
/// `Access-Control-Allow-Origin` for those origins only (methods `GET`, `POST`; headers
/// `Authorization`, `Content-Type`; no credentials: the API takes bearer tokens, never
/// cookies). `None` when the list is empty: no CORS headers at all.
pub fn cors_layer(web: &WebConfig) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = web
        .cors_origins
        .iter()
        .filter_map(|entry| parse_origin(entry.trim()).ok())
        .filter_map(|origin| HeaderValue::from_str(&origin.to_string()).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(std::time::Duration::from_secs(CORS_MAX_AGE_SECS)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    #[test]
    fn origins_parse_and_normalise() {
        let shown = |text| parse_origin(text).map(|origin| origin.to_string());
        assert_eq!(
            shown("https://Chat.Example"),
            Ok("https://chat.example".to_owned())
        );
        assert_eq!(
            shown("https://chat.example:443/"),
            Ok("https://chat.example".to_owned())
        );
        assert_eq!(
            shown("http://127.0.0.1:8080"),
            Ok("http://127.0.0.1:8080".to_owned())
        );
        assert_eq!(
            shown("http://[::1]:9000"),
            Ok("http://[::1]:9000".to_owned())
        );
        for bad in [
            "null",
            "chat.example",
            "ftp://chat.example",
            "https://chat.example/path",
            "https://user@chat.example",
            "https://chat.example:port",
            "https://chat.example:99999",
            "https://",
            "https://a b",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ws_urls_parse_and_normalise() {
        assert_eq!(parse_ws_url("WS://Host:80"), Ok("ws://host/ws".to_owned()));
        assert_eq!(
            parse_ws_url("wss://h:8443/chat/ws"),
            Ok("wss://h:8443/chat/ws".to_owned())
        );
        for bad in [
            "http://h/ws",
            "ws://h/ws?x=1",
            "ws://h/ws'",
            "ws://h/a b",
            "ws://h;x",
            "h:1",
        ] {
            assert!(parse_ws_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_own_origin_and_none_pass_others_do_not() {
        let policy = OriginPolicy::default();
        let uri = Uri::from_static("/ws");
        let ok = |pairs: &[(&'static str, &str)]| policy.check_ws(&headers(pairs), &uri).is_ok();
        assert!(
            ok(&[("host", "127.0.0.1:8080")]),
            "no Origin: not a browser"
        );
        assert!(ok(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ]));
        assert!(ok(&[
            ("host", "Chat.Example"),
            ("origin", "https://chat.example")
        ]));
        assert!(ok(&[
            ("host", "chat.example:443"),
            ("origin", "https://chat.example")
        ]));
        assert!(!ok(&[
            ("host", "chat.example"),
            ("origin", "https://evil.example")
        ]));
        assert!(!ok(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:9000")
        ]));
        assert!(!ok(&[
            ("host", "chat.example:80"),
            ("origin", "https://chat.example")
        ]));
        assert!(!ok(&[("host", "chat.example"), ("origin", "null")]));
        assert!(
            !ok(&[("origin", "http://chat.example")]),
            "no Host: only the list"
        );
        assert!(!ok(&[
            ("host", "a"),
            ("origin", "http://a"),
            ("origin", "http://b")
        ]));
    }

    #[test]
    fn listed_origins_pass_on_their_surface() {
        let web = WebConfig {
            allowed_origins: vec!["https://app.example".to_owned()],
            cors_origins: vec![" https://tools.example ".to_owned()],
            ..WebConfig::default()
        };
        let policy = OriginPolicy::from_config(&web);
        let uri = Uri::from_static("/");
        let from = |origin| headers(&[("host", "chat.example"), ("origin", origin)]);
        assert!(policy.check_ws(&from("https://app.example"), &uri).is_ok());
        assert!(
            policy
                .check_rest(&from("https://app.example"), &uri)
                .is_ok()
        );
        assert!(
            policy
                .check_ws(&from("https://tools.example"), &uri)
                .is_err()
        );
        assert!(
            policy
                .check_rest(&from("https://tools.example"), &uri)
                .is_ok()
        );
        assert!(
            policy
                .check_rest(&from("http://app.example"), &uri)
                .is_err()
        );
    }

    #[test]
    fn json_content_types() {
        let json = |value: &str| is_json(Some(&HeaderValue::from_str(value).expect("value")));
        assert!(json("application/json"));
        assert!(json("Application/JSON; charset=utf-8"));
        assert!(!json("text/plain"));
        assert!(!json("application/x-www-form-urlencoded"));
        assert!(!json("application/jsonx"));
        assert!(!is_json(None));
    }

    #[test]
    fn no_cors_unless_listed() {
        assert!(cors_layer(&WebConfig::default()).is_none());
        let web = WebConfig {
            cors_origins: vec!["https://tools.example".to_owned()],
            ..WebConfig::default()
        };
        assert!(cors_layer(&web).is_some());
    }
}
