//! The wasm entry point: finds the page's elements, derives the WebSocket URL from the
//! page's location and the servers the page may use ([`crate::address`]; a refused
//! `?server=` is said in the page's notice), and wires every event handler to the
//! running [`App`].

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::{Event, EventTarget, KeyboardEvent};

use crate::address::{SERVERS_META, choose_server, parse_servers};
use crate::api::accounts_reachable;
use crate::app::{App, Tab, install, with_app};
use crate::dom::{Ui, text};

/// How often the clock ticks (reconnect countdown, post retries), in milliseconds.
const TICK_MS: i32 = 250;

/// Runs when the module is loaded.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("tuitalk: {info}").into());
    }));
    let ui = match Ui::find() {
        Ok(ui) => ui,
        Err(error) => {
            web_sys::console::error_1(&format!("tuitalk: {error}").into());
            return;
        }
    };
    let location = ui.window.location();
    let allowed = ui
        .document
        .query_selector(&format!("meta[name=\"{SERVERS_META}\"]"))
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"))
        .map(|content| parse_servers(&content))
        .unwrap_or_default();
    let choice = choose_server(
        &location.protocol().unwrap_or_default(),
        &location.host().unwrap_or_default(),
        &location.search().unwrap_or_default(),
        &allowed,
    );
    if let Some(ignored) = &choice.ignored {
        text(
            &ui.notice,
            &format!(
                "This page may not connect to {ignored} (?server=): its server does not \
                 list it in web.servers. Connected to this page's own server instead."
            ),
        );
        ui.notice.set_hidden(false);
    }
    let url = choice.url;
    let accounts = accounts_reachable(
        &url,
        &location.protocol().unwrap_or_default(),
        &location.host().unwrap_or_default(),
    );
    text(&ui.login_error, "");
    let seed = seed(&ui);
    wire(&ui);
    install(App::new(ui, url, accounts, seed));
    with_app(App::resume_saved);
}

/// A seed for post ids and jitter from the browser's cryptographic generator (the clock
/// as a fallback).
fn seed(ui: &Ui) -> u64 {
    let mut bytes = [0u8; 8];
    match ui.window.crypto() {
        Ok(crypto) if crypto.get_random_values_with_u8_array(&mut bytes).is_ok() => {
            u64::from_le_bytes(bytes)
        }
        _ => (js_sys::Date::now() * 1000.0) as u64 ^ (js_sys::Math::random() * 1e15) as u64,
    }
}

/// Calls `handler` for every `kind` event on `target`, for the page's lifetime.
fn listen(target: &EventTarget, kind: &str, handler: impl FnMut(Event) + 'static) {
    let closure = Closure::<dyn FnMut(Event)>::new(handler);
    let _ = target.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
    // The page owns its handlers until it goes away.
    closure.forget();
}

/// A form's submit runs `action` instead of navigating.
fn on_submit(form: &EventTarget, action: fn(&mut App)) {
    listen(form, "submit", move |event| {
        event.prevent_default();
        with_app(action);
    });
}

fn on_click(target: &EventTarget, action: impl Fn(&mut App) + 'static) {
    listen(target, "click", move |_| with_app(&action));
}

/// The start screen's panels and the account menu.
fn wire_auth(ui: &Ui) {
    let auth = &ui.auth;
    on_click(&auth.tab_signin, |app| app.choose_tab(Tab::SignIn));
    on_click(&auth.tab_register, |app| app.choose_tab(Tab::Register));
    on_click(&auth.tab_guest, |app| app.choose_tab(Tab::Guest));
    on_click(&auth.forgot, App::show_reset);
    on_click(&auth.reset_back, |app| app.choose_tab(Tab::SignIn));
    on_click(&auth.reset_have_code, App::show_reset_confirm);
    on_submit(&auth.signin_form, App::sign_in);
    on_submit(&auth.register_form, App::register);
    on_click(&auth.register_cancel, App::cancel_upgrade);
    on_submit(&auth.reset_request_form, App::request_reset);
    on_submit(&auth.reset_confirm_form, App::confirm_reset);
    listen(&ui.me, "toggle", |_| with_app(App::menu_toggled));
    on_submit(&auth.verify_form, App::verify);
    on_click(&auth.verify_resend, App::resend_verification);
    on_click(&auth.upgrade, App::open_upgrade);
    on_submit(&auth.password_form, App::change_password);
    on_click(&auth.sign_out, App::sign_out);
    on_click(&auth.sign_out_all, App::sign_out_everywhere);
    // The session list is redrawn: one handler for its buttons and one for its forms.
    listen(&auth.session_list, "click", |event| {
        let button = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .and_then(|element| element.closest("button[data-action]").ok().flatten());
        if let Some(button) = button
            && let (Some(action), Some(id)) = (
                button.get_attribute("data-action"),
                button.get_attribute("data-id"),
            )
        {
            with_app(|app| app.session_action(&action, &id));
        }
    });
    listen(&auth.session_list, "submit", |event| {
        event.prevent_default();
        let form = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok());
        if let Some((id, label, error)) = form.as_ref().and_then(crate::app::rename_submitted) {
            with_app(|app| app.rename_session(&id, &label, &error));
        }
    });
}

/// Typing in a field marked invalid clears its mark and its error line: the person is
/// fixing it.
fn clear_fixed_fields(ui: &Ui) {
    let document = ui.document.clone();
    listen(&ui.document, "input", move |event| {
        let Some(input) = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        if input.get_attribute("aria-invalid").is_none() {
            return;
        }
        let _ = input.remove_attribute("aria-invalid");
        if let Some(error) = document.get_element_by_id(&format!("{}-error", input.id())) {
            error.set_text_content(None);
        }
    });
}

fn wire(ui: &Ui) {
    wire_auth(ui);
    clear_fixed_fields(ui);
    on_submit(&ui.login_form, App::login);
    on_submit(&ui.composer, App::submit_composer);
    on_submit(&ui.join_form, App::join_from_form);
    on_submit(&ui.rename_form, App::rename_from_form);
    on_click(&ui.leave, App::leave);
    on_click(&ui.older, App::fetch_older);
    on_click(&ui.banner_retry, App::reconnect_now);
    on_click(&ui.people_toggle, App::toggle_people);
    listen(&ui.log_wrap, "scroll", |_| with_app(App::scrolled));
    // One handler for every room button, present and future.
    listen(&ui.room_list, "click", |event| {
        let room = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .and_then(|element| element.closest("button[data-room]").ok().flatten())
            .and_then(|button| button.get_attribute("data-room"));
        if let Some(room) = room {
            with_app(|app| {
                app.switch_to(&room);
                let _ = app.ui().composer_input.focus();
            });
        }
    });
    listen(&ui.composer_input, "keydown", |event| {
        let Some(key) = event.dyn_ref::<KeyboardEvent>() else {
            return;
        };
        let plain = !(key.shift_key() || key.alt_key() || key.ctrl_key() || key.meta_key());
        let handled = match (key.key().as_str(), key.alt_key()) {
            // Enter sends (not while an input method composes); Shift+Enter is a new line.
            ("Enter", _) if plain && !key.is_composing() => {
                with_app(App::submit_composer);
                true
            }
            ("ArrowUp", true) => {
                with_app(|app| app.switch_by(-1));
                true
            }
            ("ArrowDown", true) => {
                with_app(|app| app.switch_by(1));
                true
            }
            ("PageUp", _) => {
                with_app(|app| app.scroll_pages(-1.0));
                true
            }
            ("PageDown", _) => {
                with_app(|app| app.scroll_pages(1.0));
                true
            }
            _ => false,
        };
        if handled {
            event.prevent_default();
        }
    });
    listen(&ui.document, "keydown", |event| {
        if event
            .dyn_ref::<KeyboardEvent>()
            .is_some_and(|key| key.key() == "Escape")
        {
            with_app(App::escape);
        }
    });
    // Back online (a phone leaving a tunnel): try now rather than when the backoff says.
    listen(&ui.window, "online", |_| with_app(App::reconnect_now));
    let tick = Closure::<dyn FnMut()>::new(|| with_app(App::tick));
    let _ = ui
        .window
        .set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            TICK_MS,
        );
    tick.forget();
}
