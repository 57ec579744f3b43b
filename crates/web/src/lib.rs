//! TuiTalk's web client: WebAssembly built with wasm-bindgen and web-sys on the shared,
//! I/O-free client core (`tuitalk-client`), so it has the TUI's guarantees: reconnect
//! with backoff and full jitter, resume every room from its last sequence, an outbox
//! re-sent with the same post ids, duplicates dropped by sequence.
//!
//! The crate splits into pure logic, built and unit-tested on the host, and a thin
//! browser layer compiled only for `wasm32` (the DOM, the WebSocket, timers). Text from
//! other users reaches the page only as text nodes (`textContent`), never as HTML.
//!
//! # Layout
//! Pure (host and browser):
//! - [`model`]: the UI state around the client core: system lines, the history fetch in
//!   flight, and the inputs (connection, frames, ticks, user intents) → [`model::Effect`]s.
//! - [`view`]: the view model the page shows, computed from the [`model::Model`].
//! - [`command`]: the composer's slash commands (`/room`, `/name`, …).
//! - [`api`]: the REST calls of accounts and sessions, as requests and typed answers;
//!   [`forms`]: the account forms' checks, and which field a server's refusal belongs
//!   to; [`account`]: what the account menu shows (profile, sessions).
//! - [`colour`]: stable author colours; [`clock`]: local `HH:MM` times;
//!   [`address`]: the WebSocket URL derived from the page's location, and which servers
//!   the page may use; [`saved`]: the session kept per server origin.
//!
//! Browser only (`wasm32`):
//! - `app`: the running client (state, entry points of the event handlers); its
//!   `auth` part: the start screen and the account menu (forms, REST calls).
//! - `dom`: the page's elements and small DOM helpers.
//! - `render`: draws a [`view::View`] into the page (keyed, incremental).
//! - `net`: the WebSocket transport; `http`: `fetch` for the REST calls.
//! - `start`: the wasm entry point wiring it all together.

pub mod account;
pub mod address;
pub mod api;
pub mod clock;
pub mod colour;
pub mod command;
pub mod forms;
pub mod model;
pub mod saved;
pub mod view;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(target_arch = "wasm32")]
mod render;
#[cfg(target_arch = "wasm32")]
mod start;

/// The page and the code agree: every element `dom` looks up is in `static/index.html`
/// (a missing one stops the client at startup).
#[cfg(test)]
mod page_ids {
    const DOM: &str = include_str!("dom.rs");
    const PAGE: &str = include_str!("../static/index.html");

    /// The string literals after each `marker` in `source`.
    fn literals<'a>(source: &'a str, marker: &str) -> Vec<&'a str> {
        source
            .split(marker)
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[test]
    fn every_element_the_client_finds_is_in_the_page() {
        let ids = literals(DOM, "by_id(d, \"");
        let inputs = literals(DOM, "Input::find(d, \"");
        assert!(
            ids.len() > 40 && inputs.len() > 10,
            "{} {}",
            ids.len(),
            inputs.len()
        );
        let wanted = ids.iter().map(|id| (*id).to_owned()).chain(
            inputs
                .iter()
                .flat_map(|id| [(*id).to_owned(), format!("{id}-error")]),
        );
        for id in wanted {
            assert!(
                PAGE.contains(&format!("id=\"{id}\"")),
                "static/index.html has no #{id}"
            );
        }
    }
}
