//! The REST transport: carries an [`api::Request`] to the page's own server with the
//! browser's `fetch` and hands back the status and body for [`crate::api`] to read. It
//! decides nothing. No cookies are involved (`credentials: omit`): the API takes bearer
//! tokens.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestCredentials, RequestInit, Response};

use crate::api::{self, ApiError};

/// Sends `request`; `Ok((status, body))` for any answer, an error when none came.
pub async fn send(request: &api::Request) -> Result<(u16, String), ApiError> {
    let failed = |error: JsValue| {
        ApiError::network(
            error
                .dyn_ref::<js_sys::Error>()
                .map(|error| String::from(error.message()))
                .or_else(|| error.as_string())
                .unwrap_or_else(|| "no answer".to_owned()),
        )
    };
    let window = web_sys::window().ok_or_else(|| ApiError::network("no window"))?;
    let headers = Headers::new().map_err(failed)?;
    if let Some(token) = &request.token {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(failed)?;
    }
    let init = RequestInit::new();
    init.set_method(request.method.as_str());
    init.set_credentials(RequestCredentials::Omit);
    if let Some(body) = &request.body {
        headers
            .set("Content-Type", "application/json")
            .map_err(failed)?;
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers);
    let answer = JsFuture::from(window.fetch_with_str_and_init(&request.path, &init))
        .await
        .map_err(failed)?;
    let response: Response = answer.dyn_into().map_err(failed)?;
    let status = response.status();
    let body = JsFuture::from(response.text().map_err(failed)?)
        .await
        .map_err(failed)?
        .as_string()
        .unwrap_or_default();
    Ok((status, body))
}
