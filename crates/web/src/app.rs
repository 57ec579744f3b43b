//! The running web client: the [`Model`], the page ([`Ui`], [`Renderer`]) and the
//! WebSocket ([`Socket`]), with one method per thing that can happen. The event
//! handlers wired in `start` reach the single instance through [`with_app`].
//!
//! Redraws are batched: inputs mark the page dirty and one redraw runs after the
//! current burst of events (a zero-delay timer), so a catch-up of hundreds of messages
//! costs one redraw.
//!
//! The start screen (sign in, register, reset a password, continue as a guest) and the
//! account menu are in [`auth`]; this part is the chat session and the identity kept
//! in the browser.

mod auth;

use std::cell::RefCell;

use tuitalk_client::Identity;
use tuitalk_protocol::name::validate_room;
use tuitalk_protocol::{decode_event, encode_command};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::Storage;

use crate::account::Menu;
use crate::command::DEFAULT_FETCH;
use crate::dom::{Ui, text};
use crate::forms::{Form, check_guest_name};
use crate::model::{Effect, Model};
use crate::net::{Socket, SocketEvent};
use crate::render::Renderer;
use crate::saved::{self, LEGACY_KEYS, Place, session_key};
use crate::view::banner;

pub use auth::{Tab, rename_submitted};

/// Where the chosen display name is remembered (a convenience: it prefills the form).
pub const NAME_KEY: &str = "tuitalk.name";
/// Where the email of the last sign-in is remembered (prefills the sign-in form, and
/// makes it the start screen's first panel).
pub const EMAIL_KEY: &str = "tuitalk.email";
/// Scrolling within this many pixels of the top loads older messages.
const TOP_SLACK_PX: i32 = 64;

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
}

/// Makes `app` the running instance.
pub fn install(app: App) {
    APP.with(|cell| *cell.borrow_mut() = Some(app));
}

/// Runs `f` on the running instance. Browser events are dispatched one at a time, so the
/// instance is never in use when a handler starts; if it were, the event is dropped
/// with a console message rather than a panic.
pub fn with_app(f: impl FnOnce(&mut App)) {
    APP.with(|cell| match cell.try_borrow_mut() {
        Ok(mut app) => {
            if let Some(app) = app.as_mut() {
                f(app);
            }
        }
        Err(_) => web_sys::console::warn_1(&"tuitalk: re-entrant event ignored".into()),
    });
}

/// The running web client.
pub struct App {
    ui: Ui,
    url: String,
    /// The key this server's identity is kept under (sessionStorage for a guest,
    /// localStorage for an account, [`saved`]): a reload resumes it, with its rooms,
    /// instead of asking again. `None`: nowhere.
    session_key: Option<String>,
    /// Whether the server is the page's own, so its REST API (accounts) is reachable.
    accounts: bool,
    seed: u64,
    model: Option<Model>,
    renderer: Renderer,
    socket: Option<Socket>,
    /// Sockets replaced while one of their own handlers ran; freed on the next tick.
    retired: Vec<Socket>,
    generation: u64,
    /// The identity last written to the browser's storage.
    saved: Option<Identity>,
    render_pending: bool,
    render_callback: Closure<dyn FnMut()>,
    /// The account menu's state.
    menu: Menu,
    /// What the account menu drew last.
    menu_drawn: Option<crate::account::MenuView>,
    /// Bumped when a session ends: answers to requests of the old one are dropped.
    api_generation: u64,
    /// Forms whose request is on its way (a second submit is ignored).
    busy: Vec<Form>,
    /// The start screen is shown over the chat for a guest creating its account.
    upgrading: bool,
}

impl App {
    /// A client for the page `ui` that will connect to `url`; `accounts`: whether that
    /// is the page's own server (whose REST API the page may call).
    pub fn new(ui: Ui, url: String, accounts: bool, seed: u64) -> Self {
        Self {
            ui,
            session_key: session_key(&url),
            accounts,
            url,
            seed,
            model: None,
            renderer: Renderer::default(),
            socket: None,
            retired: Vec::new(),
            generation: 0,
            saved: None,
            render_pending: false,
            render_callback: Closure::new(|| with_app(App::render)),
            menu: Menu::default(),
            menu_drawn: None,
            api_generation: 0,
            busy: Vec::new(),
            upgrading: false,
        }
    }

    /// The page.
    pub fn ui(&self) -> &Ui {
        &self.ui
    }

    // ----- user intents -----

    /// At page load: removes the unscoped identity of older versions, then resumes the
    /// identity kept for this server (this tab's guest, or this browser's account), if
    /// any; otherwise shows the start screen.
    pub fn resume_saved(&mut self) {
        for storage in [self.storage(Place::Tab), self.storage(Place::Browser)]
            .into_iter()
            .flatten()
        {
            for key in LEGACY_KEYS {
                let _ = storage.remove_item(key);
            }
        }
        if self.model.is_some() {
            return;
        }
        let Some(identity) = self.load_identity() else {
            self.show_start(None, None);
            return;
        };
        if !self.accounts && !identity.is_guest() {
            // Kept by an older page of this origin; without the REST API here it could
            // not be signed out. Not expected, but never resumed blindly.
            self.forget_identity();
            self.show_start(None, None);
            return;
        }
        self.saved = Some(identity.clone());
        let model = Model::resumed(identity, self.seed);
        self.begin(model, None);
    }

    /// The guest form was submitted: start the session as a new guest.
    pub fn login(&mut self) {
        if self.model.is_some() {
            return;
        }
        let name = self.ui.login_name.value().trim().to_owned();
        let room = self
            .ui
            .login_room
            .value()
            .trim()
            .trim_start_matches('#')
            .to_owned();
        let room = if room.is_empty() {
            "lobby".to_owned()
        } else {
            room
        };
        if let Err(error) = check_guest_name(&name) {
            text(&self.ui.login_error, &error.message);
            return;
        }
        if validate_room(&room).is_err() {
            text(
                &self.ui.login_error,
                "Room names use ASCII letters, digits, '-', '_' or '.' (at most 64).",
            );
            return;
        }
        text(&self.ui.login_error, "");
        if let Some(storage) = self.storage(Place::Browser) {
            let _ = storage.set_item(NAME_KEY, &name);
        }
        let model = Model::new(Some(name), self.seed);
        self.begin(model, Some(&room));
    }

    /// Shows the chat and starts `model`'s session (joining `room`, if given).
    fn begin(&mut self, mut model: Model, room: Option<&str>) {
        self.ui.login.set_hidden(true);
        self.ui.chat.set_hidden(false);
        let now = self.ui.now_ms();
        let effects = match room {
            Some(room) => model.start(now, room),
            None => model.start_resumed(now),
        };
        self.model = Some(model);
        self.run(effects);
        let _ = self.ui.composer_input.focus();
    }

    /// The session is over (signed out here or elsewhere, revoked, expired): forget it,
    /// close the connection, clear the chat, and show the start screen with `notice`.
    fn end_session(&mut self, notice: &str) {
        let was_account = self
            .model
            .as_ref()
            .and_then(|model| model.client.identity())
            .is_some_and(|identity| !identity.is_guest());
        self.forget_identity();
        self.model = None;
        self.retired.extend(self.socket.take());
        self.generation += 1;
        self.api_generation += 1;
        self.busy.clear();
        self.menu = Menu::default();
        self.menu_drawn = None;
        self.upgrading = false;
        self.renderer = Renderer::default();
        for list in [
            &self.ui.log,
            &self.ui.room_list,
            &self.ui.member_list,
            &self.ui.auth.session_list,
        ] {
            list.replace_children_with_node_0();
        }
        self.close_menu();
        self.ui.banner.set_hidden(true);
        self.ui.me.set_hidden(true);
        self.ui.document.set_title("TuiTalk");
        let tab = if was_account { Tab::SignIn } else { Tab::Guest };
        self.show_start(Some(notice), Some(tab));
    }

    /// The composer was submitted: post or run a slash command.
    pub fn submit_composer(&mut self) {
        let line = self.ui.composer_input.value();
        self.ui.composer_input.set_value("");
        self.update(|model, now| model.submit(now, &line));
    }

    /// The join form was submitted.
    pub fn join_from_form(&mut self) {
        let room = self.ui.join_input.value();
        self.ui.join_input.set_value("");
        self.update(|model, _| model.join(&room));
        let _ = self.ui.composer_input.focus();
    }

    /// A room of the room list was chosen.
    pub fn switch_to(&mut self, room: &str) {
        self.update(|model, _| {
            model.switch_to(room);
            Vec::new()
        });
    }

    /// Alt+Up / Alt+Down: the previous or next room.
    pub fn switch_by(&mut self, delta: isize) {
        self.update(|model, _| {
            model.switch_by(delta);
            Vec::new()
        });
    }

    /// The leave button; the keyboard focus moves on to the message box.
    pub fn leave(&mut self) {
        self.update(|model, _| model.leave());
        let _ = self.ui.composer_input.focus();
    }

    /// The rename form was submitted.
    pub fn rename_from_form(&mut self) {
        let name = self.ui.rename_input.value();
        self.ui.rename_input.set_value("");
        self.close_menu();
        self.update(|model, _| model.rename(&name));
    }

    /// Closes the account menu.
    fn close_menu(&self) {
        if let Ok(details) = self.ui.me.clone().dyn_into::<web_sys::HtmlDetailsElement>() {
            details.set_open(false);
        }
    }

    /// The "load older messages" button.
    pub fn fetch_older(&mut self) {
        self.update(|model, now| model.fetch_older(now, DEFAULT_FETCH));
    }

    /// The message list scrolled: near the top, load older messages.
    pub fn scrolled(&mut self) {
        if self.ui.log_wrap.scroll_top() <= TOP_SLACK_PX {
            self.update(|model, now| model.fetch_older_if_any(now));
        }
    }

    /// The banner's "reconnect now" button.
    pub fn reconnect_now(&mut self) {
        self.update(|model, now| model.reconnect_now(now));
    }

    /// The people button (narrow screens) shows or hides the people list.
    pub fn toggle_people(&mut self) {
        let open = self
            .ui
            .chat
            .class_list()
            .toggle("people-open")
            .unwrap_or(false);
        let _ = self
            .ui
            .people_toggle
            .set_attribute("aria-expanded", if open { "true" } else { "false" });
    }

    /// Escape closes the people panel and the account menu (or leaves the account
    /// form a guest opened), back to the composer.
    pub fn escape(&mut self) {
        let _ = self.ui.chat.class_list().remove_1("people-open");
        let _ = self
            .ui
            .people_toggle
            .set_attribute("aria-expanded", "false");
        self.close_menu();
        if self.upgrading {
            self.cancel_upgrade();
        }
        if !self.ui.chat.hidden() {
            let _ = self.ui.composer_input.focus();
        }
    }

    /// Scrolls the message list by `pages` screens (Page Up / Page Down in the composer).
    pub fn scroll_pages(&mut self, pages: f64) {
        let wrap = &self.ui.log_wrap;
        let by = (f64::from(wrap.client_height()) * 0.9 * pages) as i32;
        wrap.set_scroll_top(wrap.scroll_top() + by);
    }

    // ----- time, network, drawing -----

    /// The clock ticks: reconnects when due, retries posts, counts the banner down.
    pub fn tick(&mut self) {
        self.retired.clear();
        let now = self.ui.now_ms();
        let Some(model) = self.model.as_mut() else {
            return;
        };
        let effects = model.tick(now);
        let shown = banner(model.client.state(), now, model.client.outbox().len());
        let differs = self.renderer.banner_differs(&shown);
        if !effects.is_empty() {
            self.run(effects);
        } else if differs {
            self.schedule_render();
        }
    }

    /// Something happened to the socket of `generation` (events of replaced sockets
    /// are ignored).
    fn on_socket(&mut self, generation: u64, event: SocketEvent) {
        if generation != self.generation {
            return;
        }
        let effects = match event {
            SocketEvent::Open => self.with_model(|model, now| model.connected(now)),
            SocketEvent::Text(text) => match decode_event(&text) {
                Ok(event) => {
                    let effects = self.with_model(|model, now| model.frame(now, event));
                    self.save_identity();
                    effects
                }
                // Unknown event types from newer servers are ignored.
                Err(_) => Vec::new(),
            },
            SocketEvent::Closed { code, reason } => {
                self.retired.extend(self.socket.take());
                self.with_model(|model, now| model.disconnected(now, code, &reason))
            }
        };
        self.run(effects);
    }

    /// Draws the page from the model (the batched redraw).
    pub fn render(&mut self) {
        self.render_pending = false;
        let Some(model) = self.model.as_ref() else {
            return;
        };
        let view = model.view(self.ui.now_ms());
        self.renderer.render(&self.ui, &view);
        self.render_menu();
    }

    /// The browser store of `place`, if the browser lets the page have it.
    fn storage(&self, place: Place) -> Option<Storage> {
        match place {
            Place::Tab => self.ui.window.session_storage(),
            Place::Browser => self.ui.window.local_storage(),
        }
        .ok()
        .flatten()
    }

    /// The identity kept for this server: this tab's guest first, else this browser's
    /// account.
    fn load_identity(&self) -> Option<Identity> {
        let key = self.session_key.as_ref()?;
        [Place::Tab, Place::Browser].into_iter().find_map(|place| {
            let stored = self.storage(place)?.get_item(key).ok().flatten()?;
            saved::decode(&stored).filter(|identity| saved::place(identity) == place)
        })
    }

    /// Keeps `identity` under this server's key where it belongs (an account for the
    /// browser, a guest for the tab), and nowhere else.
    fn keep_identity(&mut self, identity: &Identity) {
        if self.saved.as_ref() == Some(identity) {
            return;
        }
        if let Some(key) = &self.session_key {
            let place = saved::place(identity);
            for other in [Place::Tab, Place::Browser] {
                if let Some(storage) = self.storage(other) {
                    let _ = if other == place {
                        storage.set_item(key, &saved::encode(identity))
                    } else {
                        storage.remove_item(key)
                    };
                }
            }
        }
        self.saved = Some(identity.clone());
    }

    /// Forgets this server's identity in both stores.
    fn forget_identity(&mut self) {
        if let Some(key) = &self.session_key {
            for place in [Place::Tab, Place::Browser] {
                if let Some(storage) = self.storage(place) {
                    let _ = storage.remove_item(key);
                }
            }
        }
        self.saved = None;
    }

    /// Keeps the identity (new, renamed, verified, or a new guest) under this server's
    /// key.
    fn save_identity(&mut self) {
        if let Some(identity) = self.model.as_ref().and_then(Model::kept_identity) {
            self.keep_identity(&identity);
        }
    }

    fn with_model(&mut self, f: impl FnOnce(&mut Model, u64) -> Vec<Effect>) -> Vec<Effect> {
        let now = self.ui.now_ms();
        self.model
            .as_mut()
            .map(|model| f(model, now))
            .unwrap_or_default()
    }

    /// Applies a user intent to the model and carries out its effects.
    fn update(&mut self, f: impl FnOnce(&mut Model, u64) -> Vec<Effect>) {
        let effects = self.with_model(f);
        self.run(effects);
    }

    /// Carries out effects, then schedules a redraw.
    fn run(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Connect => self.connect(),
                Effect::Send(command) => {
                    if let Some(socket) = &self.socket {
                        socket.send(&encode_command(&command));
                    }
                }
                Effect::Close => self.retired.extend(self.socket.take()),
                Effect::SignedOut(why) => {
                    self.end_session(why.notice());
                    return;
                }
            }
        }
        self.schedule_render();
    }

    fn connect(&mut self) {
        self.retired.extend(self.socket.take());
        self.generation += 1;
        let generation = self.generation;
        let report = move |event| with_app(|app| app.on_socket(generation, event));
        match Socket::open(&self.url, report) {
            Ok(socket) => self.socket = Some(socket),
            Err(reason) => {
                let effects = self.with_model(|model, now| model.disconnected(now, 1006, &reason));
                // Never `Connect` right away (the backoff schedules it), so this ends.
                self.run(effects);
            }
        }
    }

    fn schedule_render(&mut self) {
        if self.render_pending {
            return;
        }
        self.render_pending = true;
        let callback = self.render_callback.as_ref().unchecked_ref();
        if self
            .ui
            .window
            .set_timeout_with_callback_and_timeout_and_arguments_0(callback, 0)
            .is_err()
        {
            self.render();
        }
    }
}
