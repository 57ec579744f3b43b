//! `GET /`: for now a small page telling how to connect with the `tuitalk` terminal
//! client; the web client will be served from here.

use axum::response::Html;

/// The page's HTML (static, no user input in it).
const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>TuiTalk</title></head>
<body>
<h1>TuiTalk</h1>
<p>This is a TuiTalk chat server. Connect with the terminal client:</p>
<pre>tuitalk --server ws://HOST:PORT/ws</pre>
<p>The WebSocket endpoint is <code>/ws</code> (protocol: <code>docs/protocol.md</code>);
health checks are <code>/healthz</code> and <code>/readyz</code>. A web client will be served here.</p>
</body>
</html>
"#;

/// `GET /`: the index page.
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}
