//! The WebSocket URL the client connects to, derived from the page's location: the
//! same host, `ws:` for `http:` pages and `wss:` for `https:` ones, and the server's
//! WebSocket path [`WS_PATH`]. A `server` query parameter may name another server, for
//! example `http://127.0.0.1:8080/?server=ws://127.0.0.1:9000/ws` (a full `ws://`/`wss://`
//! URL, an `http://`/`https://` base, or a bare `host:port`), but only one the page's
//! server allows ([`choose_server`]): it lists them in
//! `<meta name="tuitalk-servers" content="URL URL">` (its `web.servers`), and a page
//! never talks to a server its operator did not name.

/// The server's WebSocket endpoint (docs/protocol.md, "Transport").
pub const WS_PATH: &str = "/ws";

/// The name of the page's `<meta>` listing the other servers it may use.
pub const SERVERS_META: &str = "tuitalk-servers";

/// The server a page connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The WebSocket URL to connect to.
    pub url: String,
    /// A `?server=` URL that was ignored because the page's server does not allow it.
    pub ignored: Option<String>,
}

/// The page's own server: `ws[s]://host/ws` for a page at `protocol` (`"https:"`) and
/// `host` (`"chat.example:8443"`).
pub fn own_url(protocol: &str, host: &str) -> String {
    format!("{}://{host}{WS_PATH}", default_scheme(protocol))
}

/// The WebSocket URL for a page at `protocol`, `host` with the query string `search`
/// (`"?server=…"` or `""`), before any allow-list: the `server` parameter or the own
/// server.
pub fn ws_url(protocol: &str, host: &str, search: &str) -> String {
    if let Some(server) = query_param(search, "server").filter(|s| !s.trim().is_empty()) {
        return from_override(server.trim(), protocol);
    }
    own_url(protocol, host)
}

/// Where a page at `protocol`, `host` with the query `search` connects, given the other
/// servers its server allows (`allowed`, as [`parse_servers`] reads them): a `?server=`
/// that is this server or one of `allowed`, else this server (and the refused URL in
/// [`Choice::ignored`]).
pub fn choose_server(protocol: &str, host: &str, search: &str, allowed: &[String]) -> Choice {
    let own = own_url(protocol, host);
    let wanted = ws_url(protocol, host, search);
    let normal = normalize_ws(&wanted);
    let permitted = normal
        .as_ref()
        .is_some_and(|url| normalize_ws(&own).as_ref() == Some(url) || allowed.contains(url));
    match normal {
        Some(url) if permitted => Choice { url, ignored: None },
        _ if wanted == own => Choice {
            url: own,
            ignored: None,
        },
        _ => Choice {
            url: own,
            ignored: Some(wanted),
        },
    }
}

/// The servers listed in the page's `<meta name="tuitalk-servers">` content
/// (space-separated), normalised; what is not a `ws[s]://` URL is dropped.
pub fn parse_servers(content: &str) -> Vec<String> {
    content
        .split_whitespace()
        .filter_map(normalize_ws)
        .collect()
}

/// A `ws[s]://host[:port][/path]` URL in its normal form: lowercase scheme and host, no
/// default port, the path `/ws` when absent (as the server writes `web.servers`); `None`
/// for anything else (another scheme, user info, a query, a bad port).
pub fn normalize_ws(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "ws" => 80,
        "wss" => 443,
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, WS_PATH),
    };
    let valid_path =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '/' | '%');
    if !path.chars().all(valid_path) {
        return None;
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (inside, after) = inner.split_once(']')?;
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return None;
        }
        (format!("[{inside}]"), after)
    } else {
        let (host, after) = authority.split_at(authority.find(':').unwrap_or(authority.len()));
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if host.is_empty() || !host.chars().all(valid) {
            return None;
        }
        (host.to_owned(), after)
    };
    let port: u16 = match port {
        "" => default_port,
        port => {
            let digits = port.strip_prefix(':')?;
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()?
        }
    };
    let port = if port == default_port {
        String::new()
    } else {
        format!(":{port}")
    };
    Some(format!(
        "{scheme}://{}{port}{path}",
        host.to_ascii_lowercase()
    ))
}

/// The origin (`ws[s]://host[:port]`, normalised) of a WebSocket URL: what a session is
/// kept under ([`crate::saved`]).
pub fn ws_origin(url: &str) -> Option<String> {
    let normal = normalize_ws(url)?;
    let (scheme, rest) = normal.split_once("://")?;
    let authority = rest.split('/').next()?;
    Some(format!("{scheme}://{authority}"))
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
    fn only_allowed_servers_are_chosen() {
        let allowed = parse_servers(" ws://127.0.0.1:9000/ws  WSS://B.example:443 not-a-url ");
        assert_eq!(allowed, ["ws://127.0.0.1:9000/ws", "wss://b.example/ws"]);
        let choose = |search| choose_server("http:", "127.0.0.1:8080", search, &allowed);
        let own = "ws://127.0.0.1:8080/ws".to_owned();
        assert_eq!(
            choose(""),
            Choice {
                url: own.clone(),
                ignored: None
            }
        );
        assert_eq!(
            choose("?server=127.0.0.1:9000"),
            Choice {
                url: "ws://127.0.0.1:9000/ws".to_owned(),
                ignored: None
            }
        );
        assert_eq!(
            choose("?server=wss://b.example/ws"),
            Choice {
                url: "wss://b.example/ws".to_owned(),
                ignored: None
            }
        );
        assert_eq!(
            choose("?server=ws://evil.example:9000/ws"),
            Choice {
                url: own.clone(),
                ignored: Some("ws://evil.example:9000/ws".to_owned())
            }
        );
        assert_eq!(
            choose("?server=ws://127.0.0.1:9000/other"),
            Choice {
                url: own.clone(),
                ignored: Some("ws://127.0.0.1:9000/other".to_owned())
            },
            "another path is another server"
        );
        assert_eq!(
            choose("?server=ws://127.0.0.1:8080/ws"),
            Choice {
                url: own.clone(),
                ignored: None
            },
            "naming the own server is fine"
        );
        assert_eq!(
            choose_server("http:", "h:1", "?server=ws://127.0.0.1:9000/ws", &[]).ignored,
            Some("ws://127.0.0.1:9000/ws".to_owned()),
            "no list: the own server only"
        );
    }

    #[test]
    fn normal_forms_and_origins() {
        assert_eq!(
            normalize_ws("WS://Host:80").as_deref(),
            Some("ws://host/ws")
        );
        assert_eq!(
            normalize_ws("wss://[::1]:9/x").as_deref(),
            Some("wss://[::1]:9/x")
        );
        for bad in [
            "http://h/ws",
            "ws://u@h/ws",
            "ws://h:x/ws",
            "ws://h/ws?token=1",
            "ws:///ws",
        ] {
            assert_eq!(normalize_ws(bad), None, "{bad}");
        }
        assert_eq!(
            ws_origin("ws://127.0.0.1:9000/ws").as_deref(),
            Some("ws://127.0.0.1:9000")
        );
        assert_eq!(
            ws_origin("wss://Chat.Example:443/a/b").as_deref(),
            Some("wss://chat.example")
        );
        assert_eq!(ws_origin("nonsense"), None);
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
