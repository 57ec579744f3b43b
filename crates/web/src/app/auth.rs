//! The start screen and the account menu of the running client: signing in,
//! registering (a guest keeps its user, rooms and history), resetting a password,
//! verifying the email, the sessions list (rename, revoke), changing the password,
//! signing out here or everywhere. The checks and messages are [`crate::forms`], the
//! requests and answers [`crate::api`], what the menu shows [`crate::account`]; this
//! part only moves values between them, the page and `fetch`.

use serde::de::DeserializeOwned;
use tuitalk_client::Identity;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlInputElement};

use super::{App, EMAIL_KEY, NAME_KEY, with_app};
use crate::account::{MenuView, Sessions, SessionsView};
use crate::api::{self, ApiError, Profile, SessionInfo, SessionList, SignedIn};
use crate::dom::{Input, attr, text};
use crate::forms::{
    self, Field, FieldError, Form, check_code, check_email, check_label, check_new_password,
    check_register, check_sign_in, server_error,
};
use crate::http;
use crate::model::Model;
use crate::saved::Place;

/// A panel of the start screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Email and password.
    SignIn,
    /// A new account (or, for a guest in the chat, its account).
    Register,
    /// A name and a room, no account.
    Guest,
    /// Forgot the password: a mailed code.
    Reset,
}

/// The room a new account starts in.
const FIRST_ROOM: &str = "lobby";

impl App {
    // ----- plumbing -----

    /// Sends `request`; `done` gets its answer read as `T`, unless the session ended
    /// meanwhile (then the answer is dropped).
    fn call<T: DeserializeOwned + 'static>(
        &mut self,
        request: api::Request,
        done: impl FnOnce(&mut App, Result<T, ApiError>) + 'static,
    ) {
        let generation = self.api_generation;
        wasm_bindgen_futures::spawn_local(async move {
            let answer = http::send(&request)
                .await
                .and_then(|(status, body)| api::read::<T>(status, &body));
            with_app(|app| {
                if app.api_generation == generation {
                    done(app, answer);
                }
            });
        });
    }

    /// Like [`App::call`], for answers without a body that matters.
    fn call_empty(
        &mut self,
        request: api::Request,
        done: impl FnOnce(&mut App, Result<(), ApiError>) + 'static,
    ) {
        let generation = self.api_generation;
        wasm_bindgen_futures::spawn_local(async move {
            let answer = http::send(&request)
                .await
                .and_then(|(status, body)| api::read_empty(status, &body));
            with_app(|app| {
                if app.api_generation == generation {
                    done(app, answer);
                }
            });
        });
    }

    /// Marks `form` busy; false when it already was (a second submit).
    fn start_busy(&mut self, form: Form) -> bool {
        if self.busy.contains(&form) {
            return false;
        }
        self.busy.push(form);
        true
    }

    fn end_busy(&mut self, form: Form) {
        self.busy.retain(|busy| *busy != form);
    }

    fn token(&self) -> Option<String> {
        self.model
            .as_ref()
            .and_then(|model| model.client.identity())
            .map(|identity| identity.token.clone())
    }

    fn identity(&self) -> Option<&Identity> {
        self.model
            .as_ref()
            .and_then(|model| model.client.identity())
    }

    fn remembered(&self, key: &str) -> Option<String> {
        self.storage(Place::Browser)?.get_item(key).ok().flatten()
    }

    // ----- the start screen -----

    /// Shows the start screen, with `notice` (why it is shown) and on panel `tab` (by
    /// default: sign in for a browser that signed in before, else the guest's).
    pub(super) fn show_start(&mut self, notice: Option<&str>, tab: Option<Tab>) {
        let auth = &self.ui.auth;
        self.ui.chat.set_hidden(true);
        self.ui.login.set_hidden(false);
        text(&auth.title, "Join the chat");
        auth.register_cancel.set_hidden(true);
        text(
            &auth.register_hint,
            "An account keeps your name, rooms and messages, on every device.",
        );
        auth.tabs.set_hidden(!self.accounts);
        match notice {
            Some(notice) => {
                text(&auth.notice, notice);
                auth.notice.set_hidden(false);
            }
            None => auth.notice.set_hidden(true),
        }
        if let Some(email) = self.remembered(EMAIL_KEY)
            && auth.signin_email.value().is_empty()
        {
            auth.signin_email.input.set_value(&email);
        }
        if let Some(name) = self.remembered(NAME_KEY)
            && self.ui.login_name.value().is_empty()
        {
            self.ui.login_name.set_value(&name);
        }
        let tab = match tab {
            _ if !self.accounts => Tab::Guest,
            Some(tab) => tab,
            None if self.remembered(EMAIL_KEY).is_some() => Tab::SignIn,
            None => Tab::Guest,
        };
        // The guest panel is the page's first: its name field has the focus already.
        self.select_tab(tab, tab != Tab::Guest || notice.is_some());
    }

    /// Shows panel `tab` of the start screen; `focus`: moves the focus to its first field.
    pub fn select_tab(&mut self, tab: Tab, focus: bool) {
        let auth = &self.ui.auth;
        for (button, panel, shown) in [
            (&auth.tab_signin, &auth.signin_form, Tab::SignIn),
            (&auth.tab_register, &auth.register_form, Tab::Register),
            (&auth.tab_guest, &auth.guest_form, Tab::Guest),
        ] {
            let on = tab == shown || (tab == Tab::Reset && shown == Tab::SignIn);
            attr(
                button,
                "aria-pressed",
                Some(if on { "true" } else { "false" }),
            );
            panel.set_hidden(tab != shown);
        }
        auth.reset.set_hidden(tab != Tab::Reset);
        if !focus {
            return;
        }
        let first: &HtmlInputElement = match tab {
            Tab::SignIn if !auth.signin_email.value().is_empty() => &auth.signin_password.input,
            Tab::SignIn => &auth.signin_email.input,
            Tab::Register => &auth.register_email.input,
            Tab::Guest => &self.ui.login_name,
            Tab::Reset if auth.reset_confirm_form.hidden() => &auth.reset_email.input,
            Tab::Reset => &auth.reset_code.input,
        };
        let _ = first.focus();
    }

    /// A panel chosen by the person: the notice of why the start screen is shown has
    /// been read.
    pub fn choose_tab(&mut self, tab: Tab) {
        self.ui.auth.notice.set_hidden(true);
        self.select_tab(tab, true);
    }

    /// "Forgot your password?": the reset panel, with the email typed so far.
    pub fn show_reset(&mut self) {
        let auth = &self.ui.auth;
        auth.notice.set_hidden(true);
        if auth.reset_email.value().is_empty() {
            auth.reset_email.input.set_value(&auth.signin_email.value());
        }
        self.select_tab(Tab::Reset, true);
    }

    /// "I have a code": the second step of a reset without asking for a mail again.
    pub fn show_reset_confirm(&mut self) {
        self.ui.auth.reset_confirm_form.set_hidden(false);
        let _ = self.ui.auth.reset_code.input.focus();
    }

    /// Shows each error next to its field (and clears the other fields' lines); the
    /// focus goes to the first field in error.
    fn show_errors(&self, fields: &[(Field, &Input)], form_line: &Element, errors: &[FieldError]) {
        let mut first: Option<&HtmlInputElement> = None;
        for (field, input) in fields {
            let found = errors.iter().find(|error| error.field == *field);
            input.show(found.map(|error| error.message.as_str()));
            if found.is_some() && first.is_none() {
                first = Some(&input.input);
            }
        }
        let general: Vec<&str> = errors
            .iter()
            .filter(|error| !fields.iter().any(|(field, _)| *field == error.field))
            .map(|error| error.message.as_str())
            .collect();
        text(form_line, &general.join(" "));
        if let Some(input) = first {
            let _ = input.focus();
        }
    }

    /// The sign-in form was submitted.
    pub fn sign_in(&mut self) {
        let auth = self.ui.auth.clone();
        let fields = [
            (Field::Email, &auth.signin_email),
            (Field::Password, &auth.signin_password),
        ];
        let email = match check_sign_in(&auth.signin_email.value(), &auth.signin_password.value()) {
            Ok(email) => email,
            Err(errors) => return self.show_errors(&fields, &auth.signin_error, &errors),
        };
        self.show_errors(&fields, &auth.signin_error, &[]);
        if self.model.is_some() || !self.start_busy(Form::SignIn) {
            return;
        }
        text(&auth.signin_error, "");
        let request = api::sign_in(&email, &auth.signin_password.value());
        self.call(request, move |app, answer: Result<SignedIn, ApiError>| {
            app.end_busy(Form::SignIn);
            let auth = app.ui.auth.clone();
            match answer {
                Ok(signed) => {
                    auth.signin_password.input.set_value("");
                    if let Some(storage) = app.storage(Place::Browser) {
                        let _ = storage.set_item(EMAIL_KEY, &email);
                    }
                    app.menu.email = Some(email);
                    app.signed_in(&signed);
                }
                Err(error) => {
                    let fields = [
                        (Field::Email, &auth.signin_email),
                        (Field::Password, &auth.signin_password),
                    ];
                    let shown = server_error(Form::SignIn, &error);
                    app.show_errors(&fields, &auth.signin_error, &[shown]);
                    let _ = auth.signin_password.input.focus();
                }
            }
        });
    }

    /// Starts the chat as the identity a sign-in or a registration returned.
    fn signed_in(&mut self, signed: &SignedIn) {
        if self.model.is_some() {
            return;
        }
        let identity = signed.identity();
        self.keep_identity(&identity);
        text(&self.ui.auth.notice, "");
        let model = Model::signed_in(identity, self.seed, FIRST_ROOM);
        self.begin(model, None);
    }

    /// The registration form was submitted (on the start screen, or by a guest in the
    /// chat creating its account).
    pub fn register(&mut self) {
        let auth = self.ui.auth.clone();
        let fields = [
            (Field::Email, &auth.register_email),
            (Field::Handle, &auth.register_handle),
            (Field::Name, &auth.register_name),
            (Field::Password, &auth.register_password),
        ];
        let form = match check_register(
            &auth.register_email.value(),
            &auth.register_handle.value(),
            &auth.register_name.value(),
            &auth.register_password.value(),
        ) {
            Ok(form) => form,
            Err(errors) => return self.show_errors(&fields, &auth.register_error, &errors),
        };
        self.show_errors(&fields, &auth.register_error, &[]);
        // A guest in the chat registers with its own token: it keeps its user id,
        // rooms and history.
        let guest_token = match (&self.model, self.upgrading) {
            (Some(_), true) => match self.identity() {
                Some(identity) if identity.is_guest() => Some(identity.token.clone()),
                _ => return,
            },
            (Some(_), false) => return,
            (None, _) => None,
        };
        if !self.start_busy(Form::Register) {
            return;
        }
        let request = api::register(&form, guest_token.as_deref());
        let email = form.email.clone();
        self.call(request, move |app, answer: Result<SignedIn, ApiError>| {
            app.end_busy(Form::Register);
            let auth = app.ui.auth.clone();
            match answer {
                Ok(signed) => {
                    auth.register_password.input.set_value("");
                    if let Some(storage) = app.storage(Place::Browser) {
                        let _ = storage.set_item(EMAIL_KEY, &email);
                    }
                    app.menu.email = signed.email.clone().or(Some(email));
                    if guest_token.is_some() {
                        app.upgraded(&signed);
                    } else {
                        app.signed_in(&signed);
                    }
                }
                Err(error) if error.session_ended() && guest_token.is_some() => {
                    app.end_session(
                        "You were signed out: the server no longer knows this session.",
                    );
                }
                Err(error) => {
                    let fields = [
                        (Field::Email, &auth.register_email),
                        (Field::Handle, &auth.register_handle),
                        (Field::Name, &auth.register_name),
                        (Field::Password, &auth.register_password),
                    ];
                    let shown = server_error(Form::Register, &error);
                    app.show_errors(&fields, &auth.register_error, &[shown]);
                }
            }
        });
    }

    /// The guest of this page is an account now: keep it as one, and say `hello` again
    /// so the `welcome` brings the handle (same session, same token).
    fn upgraded(&mut self, signed: &SignedIn) {
        let identity = signed.identity();
        self.keep_identity(&identity);
        self.upgrading = false;
        self.ui.login.set_hidden(true);
        self.ui.chat.set_hidden(false);
        let now = self.ui.now_ms();
        if let Some(model) = self.model.as_mut() {
            let effects = model.switch_identity(now, identity.clone());
            model.info(format!(
                "your account @{} is ready: your rooms and messages stay with it",
                identity.handle.as_deref().unwrap_or("")
            ));
            self.run(effects);
        }
        self.menu.status = Some("Account created.".to_owned());
        let _ = self.ui.composer_input.focus();
    }

    /// "Create an account" in a guest's menu: the registration form over the chat.
    pub fn open_upgrade(&mut self) {
        let Some(identity) = self.identity().cloned() else {
            return;
        };
        if !identity.is_guest() || !self.accounts {
            return;
        }
        self.close_menu();
        self.upgrading = true;
        let auth = &self.ui.auth;
        text(&auth.title, "Create your account");
        text(
            &auth.register_hint,
            "You keep your user, your rooms and your messages: the guest becomes the account.",
        );
        auth.tabs.set_hidden(true);
        auth.notice.set_hidden(true);
        auth.register_cancel.set_hidden(false);
        if auth.register_name.value().is_empty() {
            auth.register_name.input.set_value(&identity.name);
        }
        self.ui.chat.set_hidden(true);
        self.ui.login.set_hidden(false);
        self.select_tab(Tab::Register, true);
    }

    /// "Back to the chat" (or Escape) on a guest's registration form.
    pub fn cancel_upgrade(&mut self) {
        if !self.upgrading {
            return;
        }
        self.upgrading = false;
        self.ui.login.set_hidden(true);
        self.ui.chat.set_hidden(false);
        let _ = self.ui.composer_input.focus();
    }

    /// The reset form's first step: mail a code.
    pub fn request_reset(&mut self) {
        let auth = self.ui.auth.clone();
        let fields = [(Field::Email, &auth.reset_email)];
        let email = match check_email(&auth.reset_email.value()) {
            Ok(email) => email,
            Err(error) => return self.show_errors(&fields, &auth.reset_request_error, &[error]),
        };
        self.show_errors(&fields, &auth.reset_request_error, &[]);
        if !self.start_busy(Form::ResetRequest) {
            return;
        }
        self.call_empty(api::request_reset(&email), move |app, answer| {
            app.end_busy(Form::ResetRequest);
            let auth = app.ui.auth.clone();
            match answer {
                Ok(()) => {
                    text(
                        &auth.reset_sent,
                        &format!(
                            "If {email} is an account here, a code is on its way. Enter it below."
                        ),
                    );
                    auth.reset_sent.set_hidden(false);
                    app.show_reset_confirm();
                }
                Err(error) => {
                    let shown = server_error(Form::ResetRequest, &error);
                    app.show_errors(
                        &[(Field::Email, &auth.reset_email)],
                        &auth.reset_request_error,
                        &[shown],
                    );
                }
            }
        });
    }

    /// The reset form's second step: the code and the new password.
    pub fn confirm_reset(&mut self) {
        let auth = self.ui.auth.clone();
        let fields = [
            (Field::Code, &auth.reset_code),
            (Field::Password, &auth.reset_password),
        ];
        let code = check_code(&auth.reset_code.value());
        let password = check_new_password(&auth.reset_password.value());
        let errors: Vec<FieldError> = [code.clone().err(), password.err()]
            .into_iter()
            .flatten()
            .collect();
        self.show_errors(&fields, &auth.reset_confirm_error, &errors);
        let Ok(code) = code else {
            return;
        };
        if !errors.is_empty() || !self.start_busy(Form::ResetConfirm) {
            return;
        }
        let request = api::confirm_reset(&code, &auth.reset_password.value());
        self.call_empty(request, move |app, answer| {
            app.end_busy(Form::ResetConfirm);
            let auth = app.ui.auth.clone();
            match answer {
                Ok(()) => {
                    auth.reset_code.input.set_value("");
                    auth.reset_password.input.set_value("");
                    auth.reset_confirm_form.set_hidden(true);
                    auth.reset_sent.set_hidden(true);
                    if auth.signin_email.value().is_empty() {
                        auth.signin_email.input.set_value(&auth.reset_email.value());
                    }
                    text(&auth.notice, "Your password is changed: sign in with it.");
                    auth.notice.set_hidden(false);
                    app.select_tab(Tab::SignIn, true);
                }
                Err(error) => {
                    let fields = [
                        (Field::Code, &auth.reset_code),
                        (Field::Password, &auth.reset_password),
                    ];
                    let shown = server_error(Form::ResetConfirm, &error);
                    app.show_errors(&fields, &auth.reset_confirm_error, &[shown]);
                }
            }
        });
    }

    // ----- the account menu -----

    /// The account menu opened or closed: opening loads the profile and the sessions.
    pub fn menu_toggled(&mut self) {
        let open = self
            .ui
            .me
            .dyn_ref::<web_sys::HtmlDetailsElement>()
            .is_some_and(web_sys::HtmlDetailsElement::open);
        if !open {
            self.menu.status = None;
            return;
        }
        self.menu.status = None;
        self.refresh_menu();
        self.render_menu();
    }

    /// Loads the profile and the session list of an account.
    fn refresh_menu(&mut self) {
        let Some(identity) = self.identity().cloned() else {
            return;
        };
        if identity.is_guest() || !self.accounts {
            return;
        }
        if self.menu.sessions != Sessions::Loading {
            self.menu.sessions = Sessions::Loading;
            self.call(
                api::sessions(&identity.token),
                |app, answer: Result<SessionList, ApiError>| {
                    match answer {
                        Ok(list) => app.menu.sessions = Sessions::Loaded(list.sessions),
                        Err(error) if error.session_ended() => return app.session_refused(),
                        Err(error) => {
                            app.menu.sessions =
                                Sessions::Failed(server_error(Form::Menu, &error).message);
                        }
                    }
                    app.render_menu();
                },
            );
        }
        if self.menu.email.is_none() {
            self.call(
                api::me(&identity.token),
                |app, answer: Result<Profile, ApiError>| {
                    if let Ok(profile) = answer {
                        app.menu.set_profile(&profile);
                        app.render_menu();
                    }
                },
            );
        }
    }

    /// A REST call said the token is no good: the session is over.
    fn session_refused(&mut self) {
        self.end_session("You were signed out: this session has ended.");
    }

    /// A menu action's refusal: said in the menu's status line (or the end of the
    /// session).
    fn menu_failed(&mut self, form: Form, error: &ApiError) {
        if error.session_ended() {
            return self.session_refused();
        }
        self.menu.status = Some(server_error(form, error).message);
        self.render_menu();
    }

    /// Draws the account menu (and the header's handle and marks) when what it shows
    /// changed.
    pub(super) fn render_menu(&mut self) {
        let Some(model) = self.model.as_ref() else {
            return;
        };
        let Some(identity) = model.client.identity() else {
            return;
        };
        let view = self.menu.view(
            identity,
            model.unverified(),
            self.ui.epoch_ms(),
            self.ui.zone_offset(),
        );
        if self.menu_drawn.as_ref() == Some(&view) {
            return;
        }
        draw_menu(self, &view);
        self.menu_drawn = Some(view);
    }

    /// The verification form was submitted.
    pub fn verify(&mut self) {
        let auth = self.ui.auth.clone();
        let code = match check_code(&auth.verify_code.value()) {
            Ok(code) => code,
            Err(error) => return auth.verify_code.show(Some(&error.message)),
        };
        auth.verify_code.show(None);
        let Some(token) = self.token() else {
            return;
        };
        if !self.start_busy(Form::Verify) {
            return;
        }
        self.call_empty(api::verify_email(&token, &code), |app, answer| {
            app.end_busy(Form::Verify);
            let auth = app.ui.auth.clone();
            match answer {
                Ok(()) => {
                    auth.verify_code.input.set_value("");
                    if let Some(model) = app.model.as_mut() {
                        model.mark_verified();
                    }
                    app.save_identity();
                    app.menu.status = Some("Your email address is verified.".to_owned());
                    app.schedule_render();
                }
                Err(error) if error.session_ended() => app.session_refused(),
                Err(error) => {
                    let shown = server_error(Form::Verify, &error);
                    auth.verify_code.show(Some(&shown.message));
                }
            }
        });
    }

    /// "Send a new code".
    pub fn resend_verification(&mut self) {
        let Some(token) = self.token() else {
            return;
        };
        if !self.start_busy(Form::Verify) {
            return;
        }
        self.call_empty(api::resend_verification(&token), |app, answer| {
            app.end_busy(Form::Verify);
            match answer {
                Ok(()) => {
                    app.menu.status = Some("A new code is on its way.".to_owned());
                    app.render_menu();
                }
                Err(error) => app.menu_failed(Form::Verify, &error),
            }
        });
    }

    /// The change-password form was submitted.
    pub fn change_password(&mut self) {
        let auth = self.ui.auth.clone();
        let fields = [
            (Field::CurrentPassword, &auth.password_current),
            (Field::Password, &auth.password_new),
        ];
        let mut errors = Vec::new();
        if auth.password_current.value().is_empty() {
            errors.push(FieldError {
                field: Field::CurrentPassword,
                message: "Enter your current password.".to_owned(),
            });
        }
        if let Err(error) = check_new_password(&auth.password_new.value()) {
            errors.push(error);
        }
        self.show_errors(&fields, &auth.password_error, &errors);
        let Some(token) = self.token() else {
            return;
        };
        if !errors.is_empty() || !self.start_busy(Form::ChangePassword) {
            return;
        }
        let request = api::change_password(
            &token,
            &auth.password_current.value(),
            &auth.password_new.value(),
        );
        self.call_empty(request, |app, answer| {
            app.end_busy(Form::ChangePassword);
            let auth = app.ui.auth.clone();
            match answer {
                Ok(()) => {
                    auth.password_current.input.set_value("");
                    auth.password_new.input.set_value("");
                    if let Ok(section) = auth
                        .password_section
                        .clone()
                        .dyn_into::<web_sys::HtmlDetailsElement>()
                    {
                        section.set_open(false);
                    }
                    app.menu.status =
                        Some("Password changed; your other devices are signed out.".to_owned());
                    app.menu.sessions = Sessions::NotLoaded;
                    app.refresh_menu();
                    app.render_menu();
                }
                Err(error) if error.session_ended() => app.session_refused(),
                Err(error) => {
                    let fields = [
                        (Field::CurrentPassword, &auth.password_current),
                        (Field::Password, &auth.password_new),
                    ];
                    let shown = server_error(Form::ChangePassword, &error);
                    app.show_errors(&fields, &auth.password_error, &[shown]);
                }
            }
        });
    }

    /// "Sign out": revokes this session, then back to the start screen.
    pub fn sign_out(&mut self) {
        let Some(identity) = self.identity().cloned() else {
            return;
        };
        if identity.session_id.is_empty() || !self.accounts {
            // A guest of an older server (no sessions), or one without the REST API
            // here: nothing to revoke.
            return self.end_session("Signed out.");
        }
        if !self.start_busy(Form::Menu) {
            return;
        }
        let request = api::revoke_session(&identity.token, &identity.session_id);
        self.call_empty(request, |app, answer| {
            app.end_busy(Form::Menu);
            match answer {
                // Revoked now, or ended before: either way it is over.
                Ok(()) => app.end_session("Signed out."),
                Err(error) if error.session_ended() || error.status == 404 => {
                    app.end_session("Signed out.");
                }
                Err(error) => app.menu_failed(Form::Menu, &error),
            }
        });
    }

    /// "Sign out everywhere": revokes every session of the account, this one included.
    pub fn sign_out_everywhere(&mut self) {
        let Some(token) = self.token() else {
            return;
        };
        if !self.start_busy(Form::Menu) {
            return;
        }
        self.call_empty(api::revoke_all(&token), |app, answer| {
            app.end_busy(Form::Menu);
            match answer {
                Ok(()) => app.end_session("Signed out on every device."),
                Err(error) if error.session_ended() => app.end_session("Signed out."),
                Err(error) => app.menu_failed(Form::Menu, &error),
            }
        });
    }

    /// A button of the session list: `action` (`rename`, `revoke`, `cancel`) on the
    /// session `id`.
    pub fn session_action(&mut self, action: &str, id: &str) {
        match action {
            "rename" => {
                self.menu.editing = Some(id.to_owned());
                self.render_menu();
                if let Ok(Some(input)) = self
                    .ui
                    .auth
                    .session_list
                    .query_selector("input[name=\"label\"]")
                    && let Ok(input) = input.dyn_into::<HtmlInputElement>()
                {
                    let _ = input.focus();
                    input.select();
                }
            }
            "cancel" => {
                self.menu.editing = None;
                self.render_menu();
            }
            "revoke" if self.identity().is_some_and(|me| me.session_id == id) => {
                self.sign_out();
            }
            "revoke" => {
                let Some(token) = self.token() else {
                    return;
                };
                let id = id.to_owned();
                self.call_empty(
                    api::revoke_session(&token, &id),
                    move |app, answer| match answer {
                        Ok(()) => {
                            app.menu.remove_session(&id);
                            app.menu.status = Some("That device is signed out.".to_owned());
                            app.render_menu();
                        }
                        Err(error) if error.status == 404 && !error.session_ended() => {
                            app.menu.remove_session(&id);
                            app.render_menu();
                        }
                        Err(error) => app.menu_failed(Form::Menu, &error),
                    },
                );
            }
            _ => {}
        }
    }

    /// A session's rename form was submitted with `label`.
    pub fn rename_session(&mut self, id: &str, label: &str, error_line: &Element) {
        let label = match check_label(label) {
            Ok(label) => label,
            Err(error) => return text(error_line, &error.message),
        };
        let Some(token) = self.token() else {
            return;
        };
        if !self.start_busy(Form::RenameSession) {
            return;
        }
        let error_line = error_line.clone();
        self.call(
            api::rename_session(&token, id, &label),
            move |app, answer: Result<SessionInfo, ApiError>| {
                app.end_busy(Form::RenameSession);
                match answer {
                    Ok(session) => {
                        app.menu.update_session(session);
                        app.render_menu();
                    }
                    Err(error) if error.session_ended() => app.session_refused(),
                    Err(error) => {
                        text(
                            &error_line,
                            &server_error(Form::RenameSession, &error).message,
                        );
                    }
                }
            },
        );
    }
}

/// Draws the account menu and the header's marks from `view`.
fn draw_menu(app: &App, view: &MenuView) {
    let auth = &app.ui.auth;
    let ui = &app.ui;
    let guest = view.handle.is_none();
    match &view.handle {
        Some(handle) => text(&auth.me_handle, &format!("@{handle}")),
        None => text(&auth.me_handle, ""),
    }
    auth.me_handle.set_hidden(guest);
    auth.me_guest.set_hidden(!guest);
    auth.me_unverified.set_hidden(!view.unverified);
    match &view.email {
        Some(email) => {
            text(&auth.account_email, email);
            auth.account_email.set_hidden(false);
        }
        None => auth.account_email.set_hidden(true),
    }
    text(&auth.account_status, view.status.as_deref().unwrap_or(""));
    auth.verify_form.set_hidden(!view.unverified);
    auth.guest_actions.set_hidden(!guest || !app.accounts);
    auth.sessions.set_hidden(guest);
    auth.password_section.set_hidden(guest);
    auth.sign_out_all.set_hidden(guest);
    text(
        &auth.sign_out,
        if guest {
            "Leave (forget this guest)"
        } else {
            "Sign out"
        },
    );
    text(&auth.sessions_error, "");
    auth.session_list.replace_children_with_node_0();
    match &view.sessions {
        SessionsView::None => {}
        SessionsView::Loading => {
            let _ = auth.session_list.append_child(&ui.text_element(
                "li",
                "session-note",
                "Loading sessions…",
            ));
        }
        SessionsView::Failed(why) => text(&auth.sessions_error, why),
        SessionsView::Rows(rows) => {
            for row in rows {
                let item = ui.element(
                    "li",
                    if row.current {
                        "session current"
                    } else {
                        "session"
                    },
                );
                attr(&item, "data-id", Some(&row.id));
                let head = ui.element("div", "session-head");
                let label = ui.text_element("span", "session-label", &row.label);
                attr(&label, "title", Some(&row.label));
                let _ = head.append_child(&label);
                if row.current {
                    let _ =
                        head.append_child(&ui.text_element("span", "this-device", "this device"));
                }
                let _ = item.append_child(&head);
                let _ = item.append_child(&ui.text_element(
                    "p",
                    "session-dates",
                    &format!("{} · {}", row.created, row.last_seen),
                ));
                if row.editing {
                    let _ = item.append_child(&rename_form(app, &row.id, &row.label));
                } else {
                    let actions = ui.element("div", "session-actions");
                    let rename = button(app, "Rename", "rename", &row.id);
                    attr(
                        &rename,
                        "aria-label",
                        Some(&format!("Rename {}", row.label)),
                    );
                    let (word, class) = if row.current {
                        ("Sign out", "revoke")
                    } else {
                        ("Revoke", "revoke")
                    };
                    let revoke = button(app, word, class, &row.id);
                    attr(
                        &revoke,
                        "aria-label",
                        Some(&format!("{word} {}", row.label)),
                    );
                    let _ = actions.append_child(&rename);
                    let _ = actions.append_child(&revoke);
                    let _ = item.append_child(&actions);
                }
                let _ = auth.session_list.append_child(&item);
            }
        }
    }
}

/// A button of the session list; its clicks reach [`App::session_action`].
fn button(app: &App, label: &str, action: &str, id: &str) -> Element {
    let element = app.ui.text_element("button", "", label);
    attr(&element, "type", Some("button"));
    attr(&element, "data-action", Some(action));
    attr(&element, "data-id", Some(id));
    element
}

/// The inline form that renames a session.
fn rename_form(app: &App, id: &str, label: &str) -> Element {
    let ui = &app.ui;
    let form = ui.element("form", "session-rename");
    attr(&form, "data-id", Some(id));
    attr(&form, "novalidate", Some(""));
    let input_id = "session-label-input";
    let caption = ui.text_element("label", "visually-hidden", "New name of this session");
    attr(&caption, "for", Some(input_id));
    let input = ui.element("input", "");
    attr(&input, "id", Some(input_id));
    attr(&input, "name", Some("label"));
    attr(
        &input,
        "maxlength",
        Some(&forms::MAX_LABEL_CHARS.to_string()),
    );
    attr(&input, "autocomplete", Some("off"));
    if let Some(input) = input.dyn_ref::<HtmlInputElement>() {
        input.set_value(label);
    }
    let save = ui.text_element("button", "", "Save");
    attr(&save, "type", Some("submit"));
    let cancel = button(app, "Cancel", "cancel", id);
    let error = ui.element("p", "field-error");
    for child in [&caption, &input, &save, &cancel, &error] {
        let _ = form.append_child(child);
    }
    form
}

/// The session id and label of a submitted rename form, with its error line.
pub fn rename_submitted(form: &Element) -> Option<(String, String, Element)> {
    let id = form.get_attribute("data-id")?;
    let input = form
        .query_selector("input[name=\"label\"]")
        .ok()
        .flatten()?
        .dyn_into::<HtmlInputElement>()
        .ok()?;
    let error = form.query_selector(".field-error").ok().flatten()?;
    Some((id, input.value(), error))
}
