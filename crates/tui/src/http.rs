//! A small HTTP/1.1 client for the server's REST API: which server a WebSocket URL
//! names ([`Server`]), and one JSON request at a time over a fresh connection
//! ([`request`]), with a timeout on the whole exchange and a bound on the answer's size.
//!
//! The terminal client speaks plain `ws://` (no TLS), so the API is reached over plain
//! `http://` on the same host and port: `ws://chat.example:8080/ws` →
//! `http://chat.example:8080/api/…`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::secret::Secret;

/// How long one request may take, from connecting to the last byte of the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer body read (a session list of a few hundred devices fits).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// What the client calls itself; the server labels new sessions with it.
pub const USER_AGENT_VALUE: &str = concat!("tuitalk/", env!("CARGO_PKG_VERSION"), " (terminal)");

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server URL is not one this client can talk to.
    #[error("{0}")]
    BadUrl(String),
    /// Nothing listens there.
    #[error("server unreachable")]
    Unreachable,
    /// The exchange took longer than [`REQUEST_TIMEOUT`].
    #[error("the server did not answer in time")]
    Timeout,
    /// The answer was larger than [`MAX_RESPONSE_BYTES`].
    #[error("the server's answer was too large")]
    TooLarge,
    /// The connection failed or the answer was not HTTP.
    #[error("connection failed: {0}")]
    Transport(String),
}

/// A TuiTalk server as named by its WebSocket URL: where to connect, and the key its
/// saved session is kept under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    host: String,
    port: u16,
    authority: String,
    key: String,
}

impl Server {
    /// The server of `url`: `ws://host[:port][/path]`, `http://host[:port]`, or a bare
    /// `host:port`. `wss://` and `https://` are refused: this build has no TLS.
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = |why: &str| HttpError::BadUrl(format!("{why}: {url:?}"));
        let url = url.trim();
        let with_scheme = if url.contains("://") {
            url.to_owned()
        } else {
            format!("ws://{url}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("ws" | "http") => {}
            Some("wss" | "https") => {
                return Err(bad("this build speaks no TLS; use a ws:// URL"));
            }
            _ => return Err(bad("not a ws:// or http:// URL")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user names in server URLs are not supported"));
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = authority.port_u16().unwrap_or(80);
        let shown = if port == 80 {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            key: format!("ws://{shown}"),
            authority: shown,
        })
    }

    /// The key the server's session is saved under: `ws://host[:port]`, lower case,
    /// without the default port or a path (as the web client keys its own).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The base of the REST API, for messages: `http://host[:port]`.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.authority)
    }
}

/// An answer: the status and the body (at most [`MAX_RESPONSE_BYTES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// Sends one request to `server` and reads the whole answer, within
/// [`REQUEST_TIMEOUT`]. `body` is sent as JSON; `bearer` as `Authorization: Bearer`.
/// Cancel-safe (dropping it drops the connection).
pub async fn request(
    server: &Server,
    method: Method,
    path: &str,
    bearer: Option<&Secret>,
    body: Option<serde_json::Value>,
) -> Result<Answer, HttpError> {
    tokio::time::timeout(
        REQUEST_TIMEOUT,
        exchange(server, method, path, bearer, body),
    )
    .await
    .unwrap_or(Err(HttpError::Timeout))
}

async fn exchange(
    server: &Server,
    method: Method,
    path: &str,
    bearer: Option<&Secret>,
    body: Option<serde_json::Value>,
) -> Result<Answer, HttpError> {
    let transport = |err: hyper::Error| HttpError::Transport(err.to_string());
    let stream = TcpStream::connect((server.host.as_str(), server.port))
        .await
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::ConnectionRefused => HttpError::Unreachable,
            _ => HttpError::Transport(err.to_string()),
        })?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(transport)?;
    // The connection is driven beside the request; it ends with this function.
    let driver = AbortOnDrop(tokio::spawn(connection));
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, server.authority.as_str())
        .header(USER_AGENT, USER_AGENT_VALUE);
    if let Some(token) = bearer {
        builder = builder.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
    }
    let payload = match body {
        Some(value) => {
            builder = builder.header(CONTENT_TYPE, "application/json");
            Bytes::from(value.to_string())
        }
        None => Bytes::new(),
    };
    let request = builder
        .body(Full::new(payload))
        .map_err(|err| HttpError::BadUrl(err.to_string()))?;
    let response = sender.send_request(request).await.map_err(transport)?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|err| {
            if err.is::<http_body_util::LengthLimitError>() {
                HttpError::TooLarge
            } else {
                HttpError::Transport(err.to_string())
            }
        })?
        .to_bytes();
    drop(driver);
    Ok(Answer { status, body })
}

/// Aborts a task when dropped (also when the request is cancelled by its timeout).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_keyed_by_origin() {
        let key = |url: &str| Server::parse(url).map(|s| s.key().to_owned());
        assert_eq!(
            key("ws://127.0.0.1:8080/ws").ok().as_deref(),
            Some("ws://127.0.0.1:8080")
        );
        assert_eq!(
            key("WS://Chat.Example:80/ws").ok().as_deref(),
            Some("ws://chat.example")
        );
        assert_eq!(
            key("http://127.0.0.1:8080").ok().as_deref(),
            Some("ws://127.0.0.1:8080")
        );
        assert_eq!(
            key("127.0.0.1:8080").ok().as_deref(),
            Some("ws://127.0.0.1:8080")
        );
        assert_eq!(
            key("ws://[::1]:9000/ws").ok().as_deref(),
            Some("ws://[::1]:9000")
        );
        for bad in [
            "wss://chat.example/ws",
            "https://x",
            "ftp://x",
            "ws://u@x/ws",
            "",
            "ws://",
        ] {
            assert!(key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_api_is_on_the_same_host_and_port() {
        let server = Server::parse("ws://[::1]:9000/ws").expect("server");
        assert_eq!(server.http_base(), "http://[::1]:9000");
        assert_eq!(server.host, "::1");
        assert_eq!(server.port, 9000);
    }

    #[tokio::test]
    async fn a_request_reads_the_answer_and_bounds_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let serve = tokio::spawn(async move {
            let mut seen = Vec::new();
            for body in [
                "{\"ok\":true}".to_owned(),
                "x".repeat(MAX_RESPONSE_BYTES + 1),
            ] {
                let (mut socket, _) = listener.accept().await.expect("accept");
                let mut buf = vec![0; 4096];
                let n = socket.read(&mut buf).await.expect("read");
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let answer = format!(
                    "HTTP/1.1 201 Created\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
            seen
        });
        let server = Server::parse(&format!("ws://{addr}/ws")).expect("server");
        let token = Secret::new("tok");
        let answer = request(
            &server,
            Method::POST,
            "/api/sessions",
            Some(&token),
            Some(serde_json::json!({"name": "bot"})),
        )
        .await
        .expect("answer");
        assert_eq!(answer.status, 201);
        assert_eq!(answer.body.as_ref(), b"{\"ok\":true}");
        let too_large = request(&server, Method::GET, "/api/sessions", None, None).await;
        assert!(
            matches!(too_large, Err(HttpError::TooLarge)),
            "{too_large:?}"
        );
        let seen = serve.await.expect("server task");
        let first = seen[0].to_ascii_lowercase();
        assert!(first.starts_with("post /api/sessions http/1.1"), "{first}");
        assert!(first.contains("authorization: bearer tok"), "{first}");
        assert!(first.contains("content-type: application/json"), "{first}");
        assert!(first.contains(&format!("host: {addr}")), "{first}");
        assert!(first.contains("user-agent: tuitalk/"), "{first}");
    }

    #[tokio::test]
    async fn nothing_listening_reads_as_unreachable() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let server = Server::parse(&format!("ws://{addr}/ws")).expect("server");
        let result = request(&server, Method::GET, "/api/me", None, None).await;
        assert!(matches!(result, Err(HttpError::Unreachable)), "{result:?}");
    }
}
