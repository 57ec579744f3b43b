//! The page's elements (`static/index.html` gives them their ids) and small DOM helpers.
//! Every piece of text goes in with `textContent` ([`text`]); nothing is ever parsed as
//! HTML.

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement, Window};

/// Handles to the page's elements.
#[derive(Debug, Clone)]
pub struct Ui {
    pub window: Window,
    pub document: Document,
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
