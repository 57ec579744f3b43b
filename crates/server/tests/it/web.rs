//! The web client's files at `/` and `/assets/`: from `web.assets_dir`, with their
//! content types, caching headers and the page's Content-Security-Policy; a missing
//! directory stops the server at startup; the default serves the embedded client or a
//! page telling how to build it.

use std::path::Path;

use tokio_util::sync::CancellationToken;
use tuitalk_server::{Config, ServerError};

use crate::helpers::{http_get_raw, spawn_app};

/// A made-up built client: enough files to check the serving.
pub fn fake_client(dir: &Path) {
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>TuiTalk</title>",
    )
    .expect("write index");
    std::fs::write(
        dir.join("tuitalk_web_bg.wasm"),
        b"\0asm\x01\0\0\0 module bytes",
    )
    .expect("write wasm");
    std::fs::write(dir.join("tuitalk_web.js"), "export default 1;").expect("write js");
    std::fs::write(dir.join("style.css"), "body{}").expect("write css");
}

#[tokio::test]
async fn serves_the_client_from_the_assets_directory() {
    let assets = tempfile::tempdir().expect("tempdir");
    fake_client(assets.path());
    let dir = assets.path().to_owned();
    let app = spawn_app(move |config| config.web.assets_dir = Some(dir)).await;

    let page = http_get_raw(app.addr, "/", &[]).await.expect("index");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").expect("csp");
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(csp.ends_with("connect-src 'self'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        page.body,
        b"<!doctype html><meta name=\"tuitalk-servers\" content=\"\">\n<title>TuiTalk</title>",
        "the page as built, told the servers it may use (none but its own)"
    );

    for (file, content_type) in [
        ("tuitalk_web_bg.wasm", "application/wasm"),
        ("tuitalk_web.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ] {
        let asset = http_get_raw(app.addr, &format!("/assets/{file}"), &[])
            .await
            .expect("asset");
        assert_eq!(asset.status, 200, "{file}");
        assert_eq!(asset.header("content-type"), Some(content_type), "{file}");
        assert_eq!(asset.header("cache-control"), Some("no-cache"), "{file}");
        assert_eq!(
            asset.body,
            std::fs::read(assets.path().join(file)).expect("read"),
            "{file}"
        );
        let etag = asset.header("etag").expect("etag").to_owned();
        let again = http_get_raw(
            app.addr,
            &format!("/assets/{file}"),
            &[&format!("If-None-Match: {etag}")],
        )
        .await
        .expect("revalidation");
        assert_eq!(again.status, 304, "{file} unchanged");
        assert!(again.body.is_empty());
    }

    for path in [
        "/assets/missing.js",
        "/assets/index.html",
        "/assets/..%2Fsecret",
        "/assets/",
        "/index.html",
    ] {
        let answer = http_get_raw(app.addr, path, &[]).await.expect("answer");
        assert_eq!(answer.status, 404, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_assets_directory_without_a_client_stops_the_startup() {
    let empty = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = Config::with_data_dir(data.path());
    config.web.assets_dir = Some(empty.path().to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let result = tuitalk_server::run(listener, config, CancellationToken::new()).await;
    match result {
        Err(error @ ServerError::WebAssets(_)) => {
            let text = error.to_string();
            assert!(text.contains("index.html"), "{text}");
            assert!(text.contains("build-web.sh"), "{text}");
        }
        other => panic!("expected a web client error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_default_serves_the_embedded_client_or_says_how_to_build_it() {
    let app = spawn_app(|_| {}).await;
    let page = http_get_raw(app.addr, "/", &[]).await.expect("index");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let body = String::from_utf8_lossy(&page.body);
    // Built before the server: the client; otherwise the instructions.
    assert!(
        body.contains("assets/boot.js") || body.contains("./scripts/build-web.sh"),
        "{body}"
    );
    if body.contains("assets/boot.js") {
        let module = http_get_raw(app.addr, "/assets/tuitalk_web_bg.wasm", &[])
            .await
            .expect("module");
        assert_eq!(module.header("content-type"), Some("application/wasm"));
        assert!(module.body.starts_with(b"\0asm"), "a WebAssembly module");
    }
    app.stop().await;
}
