//! The page's elements (`static/index.html` gives them their ids) and small DOM helpers.
//! Every piece of text goes in with `textContent` ([`text`]); nothing is ever parsed as
//! HTML. The start screen's and the account menu's forms are in [`Auth`].

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement, Window};

/// An input with the line under it that says what is wrong with it.
#[derive(Debug, Clone)]
pub struct Input {
    pub input: HtmlInputElement,
    pub error: Element,
}

impl Input {
    fn find(document: &Document, id: &str) -> Result<Self, String> {
        Ok(Self {
            input: by_id(document, id)?,
            error: by_id(document, &format!("{id}-error"))?,
        })
    }

    /// The value typed.
    pub fn value(&self) -> String {
        self.input.value()
    }

    /// Shows `message` under the input (and marks it invalid), or clears both.
    pub fn show(&self, message: Option<&str>) {
        text(&self.error, message.unwrap_or(""));
        attr(&self.input, "aria-invalid", message.map(|_| "true"));
    }
}

/// The start screen's panels and the account menu.
#[derive(Debug, Clone)]
pub struct Auth {
    pub title: Element,
    pub notice: HtmlElement,
    pub tabs: HtmlElement,
    pub tab_signin: HtmlElement,
    pub tab_register: HtmlElement,
    pub tab_guest: HtmlElement,
    pub guest_form: HtmlElement,
    pub signin_form: HtmlElement,
    pub signin_email: Input,
    pub signin_password: Input,
    pub signin_error: Element,
    pub forgot: HtmlElement,
    pub register_form: HtmlElement,
    pub register_hint: Element,
    pub register_email: Input,
    pub register_handle: Input,
    pub register_name: Input,
    pub register_password: Input,
    pub register_error: Element,
    pub register_cancel: HtmlElement,
    pub reset: HtmlElement,
    pub reset_request_form: HtmlElement,
    pub reset_email: Input,
    pub reset_request_error: Element,
    pub reset_sent: HtmlElement,
    pub reset_confirm_form: HtmlElement,
    pub reset_code: Input,
    pub reset_password: Input,
    pub reset_confirm_error: Element,
    pub reset_have_code: HtmlElement,
    pub reset_back: HtmlElement,
    // The account menu.
    pub me_handle: HtmlElement,
    pub me_guest: HtmlElement,
    pub me_unverified: HtmlElement,
    pub account_email: HtmlElement,
    pub account_status: Element,
    pub verify_form: HtmlElement,
    pub verify_code: Input,
    pub verify_resend: HtmlElement,
    pub guest_actions: HtmlElement,
    pub upgrade: HtmlElement,
    pub sessions: HtmlElement,
    pub session_list: Element,
    pub sessions_error: Element,
    pub password_section: HtmlElement,
    pub password_form: HtmlElement,
    pub password_current: Input,
    pub password_new: Input,
    pub password_error: Element,
    pub sign_out: HtmlElement,
    pub sign_out_all: HtmlElement,
}

impl Auth {
    fn find(d: &Document) -> Result<Self, String> {
        Ok(Self {
            title: by_id(d, "login-title")?,
            notice: by_id(d, "start-notice")?,
            tabs: by_id(d, "start-tabs")?,
            tab_signin: by_id(d, "tab-signin")?,
            tab_register: by_id(d, "tab-register")?,
            tab_guest: by_id(d, "tab-guest")?,
            guest_form: by_id(d, "login-form")?,
            signin_form: by_id(d, "signin-form")?,
            signin_email: Input::find(d, "signin-email")?,
            signin_password: Input::find(d, "signin-password")?,
            signin_error: by_id(d, "signin-error")?,
            forgot: by_id(d, "forgot")?,
            register_form: by_id(d, "register-form")?,
            register_hint: by_id(d, "register-hint")?,
            register_email: Input::find(d, "register-email")?,
            register_handle: Input::find(d, "register-handle")?,
            register_name: Input::find(d, "register-name")?,
            register_password: Input::find(d, "register-password")?,
            register_error: by_id(d, "register-error")?,
            register_cancel: by_id(d, "register-cancel")?,
            reset: by_id(d, "reset")?,
            reset_request_form: by_id(d, "reset-request-form")?,
            reset_email: Input::find(d, "reset-email")?,
            reset_request_error: by_id(d, "reset-request-error")?,
            reset_sent: by_id(d, "reset-sent")?,
            reset_confirm_form: by_id(d, "reset-confirm-form")?,
            reset_code: Input::find(d, "reset-code")?,
            reset_password: Input::find(d, "reset-password")?,
            reset_confirm_error: by_id(d, "reset-confirm-error")?,
            reset_have_code: by_id(d, "reset-have-code")?,
            reset_back: by_id(d, "reset-back")?,
            me_handle: by_id(d, "me-handle")?,
            me_guest: by_id(d, "me-guest")?,
            me_unverified: by_id(d, "me-unverified")?,
            account_email: by_id(d, "account-email")?,
            account_status: by_id(d, "account-status")?,
            verify_form: by_id(d, "verify-form")?,
            verify_code: Input::find(d, "verify-code")?,
            verify_resend: by_id(d, "verify-resend")?,
            guest_actions: by_id(d, "guest-actions")?,
            upgrade: by_id(d, "upgrade")?,
            sessions: by_id(d, "sessions")?,
            session_list: by_id(d, "session-list")?,
            sessions_error: by_id(d, "sessions-error")?,
            password_section: by_id(d, "password-section")?,
            password_form: by_id(d, "password-form")?,
            password_current: Input::find(d, "password-current")?,
            password_new: Input::find(d, "password-new")?,
            password_error: by_id(d, "password-error")?,
            sign_out: by_id(d, "sign-out")?,
            sign_out_all: by_id(d, "sign-out-all")?,
        })
    }
}

/// Handles to the page's elements.
#[derive(Debug, Clone)]
pub struct Ui {
    pub window: Window,
    pub document: Document,
    pub auth: Auth,
    pub login: HtmlElement,
    pub login_form: Element,
    pub login_name: HtmlInputElement,
    pub login_room: HtmlInputElement,
    pub login_error: Element,
    pub banner: HtmlElement,
    pub banner_text: Element,
    pub banner_retry: HtmlElement,
    pub notice: HtmlElement,
    pub me: HtmlElement,
    pub me_name: Element,
    pub rename_form: Element,
    pub rename_input: HtmlInputElement,
    pub chat: HtmlElement,
    pub room_list: Element,
    pub join_form: Element,
    pub join_input: HtmlInputElement,
    pub room_title: Element,
    pub people_toggle: HtmlElement,
    pub leave: HtmlElement,
    pub log_wrap: HtmlElement,
    pub older: HtmlElement,
    pub log: Element,
    pub composer: Element,
    pub composer_input: HtmlTextAreaElement,
    pub people_title: Element,
    pub member_list: Element,
}

/// The element with `id`, as `T`, or an error naming the id.
fn by_id<T: JsCast>(document: &Document, id: &str) -> Result<T, String> {
    document
        .get_element_by_id(id)
        .ok_or_else(|| format!("the page has no #{id}"))?
        .dyn_into::<T>()
        .map_err(|_| format!("#{id} is not the expected kind of element"))
}

impl Ui {
    /// Finds every element of the page.
    pub fn find() -> Result<Self, String> {
        let window = web_sys::window().ok_or("no window")?;
        let document = window.document().ok_or("no document")?;
        let d = &document;
        Ok(Self {
            auth: Auth::find(d)?,
            login: by_id(d, "login")?,
            login_form: by_id(d, "login-form")?,
            login_name: by_id(d, "login-name")?,
            login_room: by_id(d, "login-room")?,
            login_error: by_id(d, "login-error")?,
            banner: by_id(d, "banner")?,
            banner_text: by_id(d, "banner-text")?,
            banner_retry: by_id(d, "banner-retry")?,
            notice: by_id(d, "notice")?,
            me: by_id(d, "me")?,
            me_name: by_id(d, "me-name")?,
            rename_form: by_id(d, "rename-form")?,
            rename_input: by_id(d, "rename-input")?,
            chat: by_id(d, "chat")?,
            room_list: by_id(d, "room-list")?,
            join_form: by_id(d, "join-form")?,
            join_input: by_id(d, "join-input")?,
            room_title: by_id(d, "room-title")?,
            people_toggle: by_id(d, "people-toggle")?,
            leave: by_id(d, "leave")?,
            log_wrap: by_id(d, "log-wrap")?,
            older: by_id(d, "older")?,
            log: by_id(d, "log")?,
            composer: by_id(d, "composer")?,
            composer_input: by_id(d, "composer-input")?,
            people_title: by_id(d, "people-title")?,
            member_list: by_id(d, "member-list")?,
            document,
            window,
        })
    }

    /// A new element `<tag class="class">`.
    pub fn element(&self, tag: &str, class: &str) -> Element {
        let element = self
            .document
            .create_element(tag)
            .unwrap_or_else(|_| panic!("create <{tag}>"));
        if !class.is_empty() {
            element.set_class_name(class);
        }
        element
    }

    /// A new element holding `content` as text.
    pub fn text_element(&self, tag: &str, class: &str, content: &str) -> Element {
        let element = self.element(tag, class);
        text(&element, content);
        element
    }

    /// The wall clock: milliseconds since the Unix epoch (for dates from the server).
    pub fn epoch_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    /// The browser's time zone offset now (minutes behind UTC).
    pub fn zone_offset(&self) -> i32 {
        js_sys::Date::new_0().get_timezone_offset() as i32
    }

    /// Milliseconds on the page's monotonic clock.
    pub fn now_ms(&self) -> u64 {
        self.window
            .performance()
            .map_or_else(js_sys::Date::now, |performance| performance.now()) as u64
    }
}

/// Sets an element's content to `content`, as text.
pub fn text(element: &Element, content: &str) {
    element.set_text_content(Some(content));
}

/// Sets or removes an attribute (errors only come from invalid attribute names, which
/// are constants here).
pub fn attr(element: &Element, name: &str, value: Option<&str>) {
    let _ = match value {
        Some(value) => element.set_attribute(name, value),
        None => element.remove_attribute(name),
    };
}
