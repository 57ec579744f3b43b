//! `GET /api/openapi.json`: the OpenAPI 3.1 document of this API (`openapi.json` beside
//! this file, embedded at build time). It is checked against the running server in CI by
//! an OpenAPI-driven tester (schemathesis), and parsed by a test here.

use axum::http::header;
use axum::response::IntoResponse;

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /api/openapi.json`.
pub(super) async fn document() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DOCUMENT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_json() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
        assert!(doc["paths"]["/api/sessions"].is_object());
    }
}
