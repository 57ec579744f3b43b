//! The WebSocket URL the client connects to, derived from the page's location: the
//! same host, `ws:` for `http:` pages and `wss:` for `https:` ones, and the server's
//! WebSocket path [`WS_PATH`]. A `server` query parameter overrides it, for example
//! `http://127.0.0.1:8080/?server=ws://127.0.0.1:9000/ws` (a full `ws://`/`wss://` URL,
//! an `http://`/`https://` base, or a bare `host:port`).

/// The server's WebSocket endpoint (docs/protocol.md, "Transport").
pub const WS_PATH: &str = "/ws";

/// The WebSocket URL for a page at `protocol` (`"https:"`), `host` (`"chat.example:8443"`)
/// with the query string `search` (`"?server=…"` or `""`).
pub fn ws_url(protocol: &str, host: &str, search: &str) -> String {
    if let Some(server) = query_param(search, "server").filter(|s| !s.trim().is_empty()) {
        return from_override(server.trim(), protocol);
    }
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    format!("{scheme}://{host}{WS_PATH}")
}

/// Turns a `server=` value into a WebSocket URL.
fn from_override(server: &str, page_protocol: &str) -> String {
    let (scheme, rest) = match server.split_once("://") {
        Some(("ws" | "http", rest)) => ("ws", rest),
        Some(("wss" | "https", rest)) => ("wss", rest),
        Some((_, rest)) => (default_scheme(page_protocol), rest),
        None => (default_scheme(page_protocol), server),
    };
    if rest.contains('/') {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{rest}{WS_PATH}")
    }
}

fn default_scheme(page_protocol: &str) -> &'static str {
    if page_protocol == "https:" {
        "wss"
    } else {
        "ws"
    }
}

/// The first value of `name` in a query string (`?a=1&b=2`), percent-decoded.
pub fn query_param(search: &str, name: &str) -> Option<String> {
    search
        .trim_start_matches('?')
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| percent_decode(key) == name)
        .map(|(_, value)| percent_decode(value))
}

/// Decodes `%XX` escapes and `+` (a space in query strings); invalid escapes and bytes
/// that are not UTF-8 are kept or replaced rather than refused.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_from_the_page() {
        assert_eq!(
            ws_url("http:", "127.0.0.1:8080", ""),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            ws_url("https:", "chat.example", ""),
            "wss://chat.example/ws"
        );
        assert_eq!(
            ws_url("https:", "chat.example:8443", "?other=1"),
            "wss://chat.example:8443/ws"
        );
    }

    #[test]
    fn server_parameter_overrides() {
        let url = |search| ws_url("http:", "page:1", search);
        assert_eq!(
            url("?server=ws://127.0.0.1:9000/ws"),
            "ws://127.0.0.1:9000/ws"
        );
        assert_eq!(
            url("?server=ws%3A%2F%2F127.0.0.1%3A9000%2Fws"),
            "ws://127.0.0.1:9000/ws"
        );
        assert_eq!(url("?a=b&server=example.org:81"), "ws://example.org:81/ws");
        assert_eq!(url("?server=https://example.org"), "wss://example.org/ws");
        assert_eq!(url("?server=http://h:1/custom"), "ws://h:1/custom");
        assert_eq!(url("?server="), "ws://page:1/ws");
        assert_eq!(
            ws_url("https:", "page", "?server=h:2"),
            "wss://h:2/ws",
            "a bare host keeps the page's security"
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a+b%20c"), "a b c");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(query_param("?x&y=2", "x"), Some(String::new()));
        assert_eq!(query_param("?x=1", "y"), None);
    }
}
