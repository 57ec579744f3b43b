//! `GET /api/openapi.json`: the OpenAPI 3.1 document of this API (`openapi.json` beside
//! this file, embedded at build time). It is checked against the running server in CI by
//! an OpenAPI-driven tester (`scripts/test-api.sh`, schemathesis); the tests here check
//! that it documents every route of the router, and the error codes of each status as
//! [`super::status_of`] maps them.

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
    use serde_json::Value;
    use tuitalk_protocol::ErrorCode;

    use super::*;
    use crate::origin;
    use crate::rest::status_of;

    /// Every route of [`super::super::router`]: path (as mounted under `/api`) and method.
    const ROUTES: [(&str, &str); 16] = [
        ("/api/openapi.json", "get"),
        ("/api/users", "post"),
        ("/api/me", "get"),
        ("/api/me", "patch"),
        ("/api/me/password", "post"),
        ("/api/me/verification-mail", "post"),
        ("/api/email-verifications", "post"),
        ("/api/password-resets", "post"),
        ("/api/password-resets/confirm", "post"),
        ("/api/sessions", "post"),
        ("/api/sessions", "get"),
        ("/api/sessions", "delete"),
        ("/api/sessions/{id}", "patch"),
        ("/api/sessions/{id}", "delete"),
        ("/api/rooms/{room}/messages", "get"),
        ("/api/rooms/{room}/messages", "post"),
    ];
    /// The operation keys of an OpenAPI path item.
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
    }

    /// The object a `#/components/...` reference points at.
    fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str() {
            Some(pointer) => doc
                .pointer(pointer.strip_prefix('#').expect("a local reference"))
                .unwrap_or_else(|| panic!("{pointer} is not in the document")),
            None => value,
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_json() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc = document();
        for (path, method) in ROUTES {
            let operation = &doc["paths"][path][method];
            assert!(
                operation.is_object(),
                "{method} {path} is not in openapi.json"
            );
            for field in ["operationId", "summary", "description", "responses"] {
                assert!(
                    !operation[field].is_null(),
                    "{method} {path} has no {field}"
                );
            }
        }
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                if METHODS.contains(&method.as_str()) {
                    assert!(
                        ROUTES.contains(&(path.as_str(), method.as_str())),
                        "openapi.json documents {method} {path}, which the router lacks"
                    );
                }
            }
        }
    }

    #[test]
    fn the_route_list_matches_the_router() {
        // Every path the router mounts (mod.rs) is in ROUTES, so a new route without
        // documentation fails here.
        let source = include_str!("mod.rs");
        let mounted: Vec<&str> = source
            .split(".route(")
            .skip(1)
            .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
            .collect();
        assert!(!mounted.is_empty(), "no .route( calls found in mod.rs");
        for path in &mounted {
            let path = format!("/api{path}");
            assert!(
                ROUTES.iter().any(|(route, _)| *route == path),
                "{path} is mounted but not in ROUTES"
            );
        }
        for (route, _) in ROUTES {
            assert!(
                mounted.iter().any(|path| format!("/api{path}") == route),
                "{route} is in ROUTES but not mounted"
            );
        }
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(doc: &Value, value: &Value) {
            match value {
                Value::Object(map) => {
                    if map.contains_key("$ref") {
                        resolve(doc, value);
                    }
                    map.values().for_each(|v| walk(doc, v));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(doc, v)),
                _ => {}
            }
        }
        let doc = document();
        walk(&doc, &doc);
    }

    #[test]
    fn the_error_codes_are_the_protocols() {
        let doc = document();
        let listed: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut expected: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        expected.extend([origin::FORBIDDEN_ORIGIN, origin::UNSUPPORTED_MEDIA_TYPE]);
        assert_eq!(listed, expected);
    }

    #[test]
    fn each_status_lists_the_codes_status_of_maps_to_it() {
        let doc = document();
        let responses = &doc["components"]["responses"];
        // The shared error answers, by status.
        let by_status: Vec<(u16, Vec<&str>)> = responses
            .as_object()
            .expect("responses")
            .values()
            .filter_map(|response| {
                let schema = &response["content"]["application/json"]["schema"];
                let codes = schema["properties"]["code"]["enum"].as_array()?;
                let codes: Vec<&str> = codes.iter().filter_map(Value::as_str).collect();
                let code = codes.first()?;
                let status = match *code {
                    origin::FORBIDDEN_ORIGIN => 403,
                    origin::UNSUPPORTED_MEDIA_TYPE => 415,
                    code => {
                        let code: ErrorCode =
                            serde_json::from_value(Value::from(code)).expect("a code");
                        status_of(code).as_u16()
                    }
                };
                Some((status, codes))
            })
            .collect();
        for code in ErrorCode::ALL {
            let status = status_of(code).as_u16();
            let listed = by_status
                .iter()
                .any(|(s, codes)| *s == status && codes.contains(&code.as_str()));
            assert!(
                listed,
                "{code} ({status}) is in no {status} response of openapi.json"
            );
        }
        for (status, codes) in &by_status {
            for code in codes {
                if let Ok(code) = serde_json::from_value::<ErrorCode>(Value::from(*code)) {
                    assert_eq!(
                        status_of(code).as_u16(),
                        *status,
                        "{code} listed under {status}"
                    );
                }
            }
        }
        // Each operation's error answers point at the response of their own status.
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let Some(answers) = operation["responses"].as_object() else {
                    continue;
                };
                for (status, answer) in answers {
                    let answer = resolve(&doc, answer);
                    let codes = &answer["content"]["application/json"]["schema"]["properties"]["code"]
                        ["enum"];
                    let Some(first) = codes.get(0).and_then(Value::as_str) else {
                        continue;
                    };
                    let expected = by_status
                        .iter()
                        .find(|(_, codes)| codes.first() == Some(&first))
                        .map(|(s, _)| s.to_string());
                    assert_eq!(
                        expected.as_deref(),
                        Some(status.as_str()),
                        "{method} {path}: {status}"
                    );
                }
            }
        }
    }
}
