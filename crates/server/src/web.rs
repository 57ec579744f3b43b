//! The web client: `GET /` serves its page and `GET /assets/{file}` its style sheet,
//! JavaScript glue and WebAssembly (built from `crates/web` by `scripts/build-web.sh`
//! into `crates/web/dist`).
//!
//! Where the files come from ([`WebAssets::load`]): the directory `web.assets_dir` when
//! it is set (read once at startup), else the files embedded into this binary at build
//! time (present when the web client was built before the server). With neither, `/`
//! answers a page that says how to build the client.
//!
//! Responses carry their content type (`application/wasm` for the module, which
//! browsers require to compile it while it downloads), an `ETag` with `no-cache` (the
//! browser revalidates and gets `304 Not Modified` while nothing changed), `nosniff`,
//! and on the page a Content-Security-Policy that allows only this origin's scripts and
//! styles (plus WebAssembly): even if other users' text were ever inserted as HTML by
//! mistake, no script in it would run.
//!
//! Which servers the page may talk to ([`WebAssets::load`]): this one, plus those of
//! `web.servers`. The page's `connect-src` names exactly these, and the page is told the
//! list in `<meta name="tuitalk-servers" content="URL URL">` (written into `index.html`
//! at startup), so the client ignores a `?server=` naming any other server instead of
//! sending it a session (docs/security.md, "Browsers, origins and tokens").

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::config::WebConfig;
use crate::origin::parse_ws_url;

// `EMBEDDED`: (file name, contents) of `crates/web/dist` when the server was built,
// written by build.rs; empty when the web client was not built.
include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The page of the web client.
const INDEX: &str = "index.html";

/// The page's Content-Security-Policy before `connect-src` (which [`csp`] adds);
/// `'wasm-unsafe-eval'` lets the module compile.
const CSP_BASE: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The name of the page's `<meta>` that lists the other servers it may use.
pub const SERVERS_META: &str = "tuitalk-servers";

/// The page's Content-Security-Policy: `connect-src` is this origin (`'self'` covers
/// its `ws:`/`wss:` too) and the `servers` (normalised `ws[s]://` URLs), nothing else.
pub fn csp(servers: &[String]) -> String {
    let mut connect = String::from("'self'");
    for server in servers {
        connect.push(' ');
        connect.push_str(server);
    }
    format!("{CSP_BASE}; connect-src {connect}")
}

/// The Content-Security-Policy of a page that talks to this server only.
fn own_csp() -> HeaderValue {
    HeaderValue::from_str(&csp(&[]))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// The page with `<meta name="tuitalk-servers">` listing `servers` added to its head
/// (or at its start when it has none).
fn with_servers_meta(page: &[u8], servers: &[String]) -> Bytes {
    let meta = format!(
        "<meta name=\"{SERVERS_META}\" content=\"{}\">\n",
        servers.join(" ")
    );
    // Before `</head>`; without one, after a leading `<!doctype …>` (a page must start
    // with it, or browsers render it in quirks mode), else at the start.
    let doctype_end = || {
        let starts = page.len() >= 9 && page[..9].eq_ignore_ascii_case(b"<!doctype");
        starts
            .then(|| page.iter().position(|&byte| byte == b'>'))
            .flatten()
            .map(|at| at + 1)
    };
    let at = page
        .windows(7)
        .position(|window| window.eq_ignore_ascii_case(b"</head>"))
        .or_else(doctype_end)
        .unwrap_or(0);
    let mut out = Vec::with_capacity(page.len() + meta.len());
    out.extend_from_slice(&page[..at]);
    out.extend_from_slice(meta.as_bytes());
    out.extend_from_slice(&page[at..]);
    Bytes::from(out)
}

/// Served at `/` when the web client was not built (static text, no user input).
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>TuiTalk: web client not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5">
<h1>TuiTalk</h1>
<p>This TuiTalk server is running, but its web client was not built, so there is nothing
to chat with here yet.</p>
<p>Build it, then rebuild and restart the server (the built files are embedded into the
server binary):</p>
<pre>./scripts/build-web.sh
cargo run --release --bin tuitalk-server</pre>
<p><code>./scripts/run.sh</code> does both. Or point the setting
<code>web.assets_dir</code> (environment <code>TUITALK__WEB__ASSETS_DIR</code>) at a directory
holding the built client (<code>crates/web/dist</code>). See <code>docs/web.md</code>.</p>
<p>The terminal client works without it: <code>tuitalk --url ws://HOST:PORT/ws</code>.
The WebSocket endpoint is <code>/ws</code>; health checks are <code>/healthz</code> and
<code>/readyz</code>.</p>
</body>
</html>
"#;

/// One file of the web client.
#[derive(Debug, Clone)]
pub struct Asset {
    body: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

/// Where the served files came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Embedded into the binary at build time.
    Embedded,
    /// Read from `web.assets_dir` at startup.
    Directory(PathBuf),
    /// Not built: `/` explains how to build the client.
    NotBuilt,
}

/// The web client's files, by name, and the page's Content-Security-Policy.
#[derive(Debug, Clone)]
pub struct WebAssets {
    files: HashMap<String, Asset>,
    source: Source,
    csp: HeaderValue,
}

/// Why the web client's files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WebAssetsError {
    /// The directory or a file in it could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The directory has no `index.html`: it is not a built web client.
    #[error("{0} has no index.html (build the web client with scripts/build-web.sh)")]
    NoIndex(PathBuf),
}

/// The content type of a file, by its extension.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl Asset {
    /// A file with its type (by `name`) and an ETag of its content.
    fn new(name: &str, body: Bytes) -> Self {
        let digest = Sha256::digest(&body);
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            content_type: content_type(name),
            etag: HeaderValue::from_str(&format!("\"{hex}\""))
                .unwrap_or(HeaderValue::from_static("\"0\"")),
            body,
        }
    }
}

impl WebAssets {
    /// The files to serve for `web`: from `web.assets_dir` when set (an error when it
    /// cannot be read or holds no `index.html`), else the embedded ones, else none; the
    /// page allowed to talk to this server and `web.servers` ([`WebAssets::with_servers`]).
    pub fn load(web: &WebConfig) -> Result<Self, WebAssetsError> {
        let servers: Vec<String> = web
            .servers
            .iter()
            .filter_map(|server| parse_ws_url(server.trim()).ok())
            .collect();
        Ok(Self::load_files(web.assets_dir.as_deref())?.with_servers(&servers))
    }

    /// The page may talk to this server and `servers` (normalised `ws[s]://` URLs): its
    /// Content-Security-Policy and its `<meta name="tuitalk-servers">` say so. Called
    /// once, on files fresh from [`WebAssets::from_files`] or [`WebAssets::from_dir`].
    pub fn with_servers(mut self, servers: &[String]) -> Self {
        self.csp = HeaderValue::from_str(&csp(servers))
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
        if let Some(page) = self.files.get(INDEX) {
            let body = with_servers_meta(&page.body, servers);
            self.files.insert(INDEX.to_owned(), Asset::new(INDEX, body));
        }
        self
    }

    /// The files: from `assets_dir`, else embedded, else none.
    fn load_files(assets_dir: Option<&Path>) -> Result<Self, WebAssetsError> {
        match assets_dir {
            Some(dir) => Self::from_dir(dir),
            None if EMBEDDED.iter().any(|(name, _)| *name == INDEX) => Ok(Self::from_files(
                EMBEDDED
                    .iter()
                    .map(|(name, body)| ((*name).to_owned(), Bytes::from_static(body))),
                Source::Embedded,
            )),
            None => Ok(Self::not_built()),
        }
    }

    /// No web client: `/` explains how to build it.
    pub fn not_built() -> Self {
        Self {
            files: HashMap::new(),
            source: Source::NotBuilt,
            csp: own_csp(),
        }
    }

    /// Reads every regular file directly in `dir` (not hidden ones).
    pub fn from_dir(dir: &Path) -> Result<Self, WebAssetsError> {
        let read_error = |path: &Path| {
            let path = path.to_owned();
            move |source| WebAssetsError::Read { path, source }
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
            let entry = entry.map_err(read_error(dir))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with('.') || !path.is_file() {
                continue;
            }
            let body = std::fs::read(&path).map_err(read_error(&path))?;
            files.push((name, Bytes::from(body)));
        }
        if !files.iter().any(|(name, _)| name == INDEX) {
            return Err(WebAssetsError::NoIndex(dir.to_owned()));
        }
        Ok(Self::from_files(files, Source::Directory(dir.to_owned())))
    }

    /// Serves these files (name, contents); the page may talk to this server only
    /// (and has no `<meta name="tuitalk-servers">`) until [`WebAssets::with_servers`].
    pub fn from_files(files: impl IntoIterator<Item = (String, Bytes)>, source: Source) -> Self {
        let files = files
            .into_iter()
            .map(|(name, body)| {
                let asset = Asset::new(&name, body);
                (name, asset)
            })
            .collect();
        Self {
            files,
            source,
            csp: own_csp(),
        }
    }

    /// Where the files came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The file called `name`, if served.
    pub fn get(&self, name: &str) -> Option<&Asset> {
        self.files.get(name)
    }
}

/// A file as a response: `304` when the browser's copy is current; a page (`csp`) with
/// its Content-Security-Policy.
fn respond(asset: &Asset, request: &HeaderMap, csp: Option<&HeaderValue>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, asset.etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(csp) = csp {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    let current = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == asset.etag || tag.trim() == "*");
    if current {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    (StatusCode::OK, headers, asset.body.clone()).into_response()
}

/// `GET /`: the web client's page, or how to build it.
pub async fn index(State(state): State<AppState>, request: HeaderMap) -> Response {
    match state.web.get(INDEX) {
        Some(asset) => respond(asset, &request, Some(&state.web.csp)),
        None => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            NOT_BUILT,
        )
            .into_response(),
    }
}

/// `GET /assets/{file}`: one file of the web client (names only, no paths).
pub async fn asset(
    State(state): State<AppState>,
    UrlPath(file): UrlPath<String>,
    request: HeaderMap,
) -> Response {
    match state.web.get(&file).filter(|_| file != INDEX) {
        Some(asset) => {
            let csp = file.ends_with(".html").then_some(&state.web.csp);
            respond(asset, &request, csp)
        }
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("tuitalk_web.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("tuitalk_web_bg.wasm"), "application/wasm");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("README"), "application/octet-stream");
    }

    #[test]
    fn a_directory_without_index_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.js"), "x").expect("write");
        assert!(matches!(
            WebAssets::from_dir(dir.path()),
            Err(WebAssetsError::NoIndex(_))
        ));
        assert!(matches!(
            WebAssets::from_dir(&dir.path().join("missing")),
            Err(WebAssetsError::Read { .. })
        ));
    }

    #[test]
    fn a_directory_is_read_without_hidden_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("index.html"), "<p>hi</p>").expect("write");
        std::fs::write(dir.path().join(".gitignore"), "*").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let assets = WebAssets::from_dir(dir.path()).expect("loads");
        assert!(assets.get("index.html").is_some());
        assert!(assets.get(".gitignore").is_none());
        assert!(assets.get("sub").is_none());
        assert_eq!(assets.source(), &Source::Directory(dir.path().to_owned()));
    }

    #[test]
    fn the_page_names_only_its_servers() {
        assert!(csp(&[]).ends_with("; connect-src 'self'"), "{}", csp(&[]));
        let servers = vec!["wss://b.example/ws".to_owned()];
        assert!(csp(&servers).contains("connect-src 'self' wss://b.example/ws"));
        let assets = WebAssets::from_files(
            [(
                INDEX.to_owned(),
                Bytes::from_static(b"<html><head><title>t</title></head></html>"),
            )],
            Source::NotBuilt,
        )
        .with_servers(&servers);
        let page = assets.get(INDEX).expect("page");
        assert_eq!(
            page.body,
            Bytes::from_static(
                b"<html><head><title>t</title><meta name=\"tuitalk-servers\" \
                  content=\"wss://b.example/ws\">\n</head></html>"
            )
        );
        assert_eq!(assets.csp.to_str().ok(), Some(csp(&servers).as_str()));
        let bare = with_servers_meta(b"<p>x</p>", &[]);
        assert_eq!(
            bare,
            Bytes::from_static(b"<meta name=\"tuitalk-servers\" content=\"\">\n<p>x</p>")
        );
        let headless = with_servers_meta(b"<!DOCTYPE html><p>x</p>", &[]);
        assert_eq!(
            headless,
            Bytes::from_static(
                b"<!DOCTYPE html><meta name=\"tuitalk-servers\" content=\"\">\n<p>x</p>"
            )
        );
    }

    #[test]
    fn etags_follow_the_content() {
        let assets = WebAssets::from_files(
            [
                ("a.js".to_owned(), Bytes::from_static(b"1")),
                ("b.js".to_owned(), Bytes::from_static(b"1")),
                ("c.js".to_owned(), Bytes::from_static(b"2")),
            ],
            Source::NotBuilt,
        );
        let tag = |name| assets.get(name).map(|asset| asset.etag.clone());
        assert_eq!(tag("a.js"), tag("b.js"));
        assert_ne!(tag("a.js"), tag("c.js"));
    }
}
