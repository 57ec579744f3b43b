//! Draws a [`View`] into the page. The timeline is keyed: an entry whose content did not
//! change keeps its node, so a new message costs one node, not a redraw of the room.
//! The scroll position follows the reader: at the bottom it stays at the bottom, and a
//! page of older messages added above keeps what they were reading in place.

use std::collections::HashMap;

use tuitalk_client::NoticeKind;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

use crate::account::user_label;
use crate::clock::local_hh_mm;
use crate::dom::{Ui, attr, text};
use crate::view::{Banner, BannerState, Item, Older, Person, RoomEntry, View};

/// Within this many pixels of the bottom counts as "at the bottom".
const BOTTOM_SLACK_PX: i32 = 48;

/// What was drawn last, to change only what differs.
#[derive(Debug, Default)]
pub struct Renderer {
    banner: Option<Option<Banner>>,
    me: Option<Option<Person>>,
    rooms: Option<Vec<RoomEntry>>,
    room: Option<Option<String>>,
    members: Option<(Option<String>, Vec<Person>)>,
    older: Option<Older>,
    title: String,
    timeline: Vec<(String, Item, Element)>,
}

impl Renderer {
    /// Brings the page up to date with `view`.
    pub fn render(&mut self, ui: &Ui, view: &View) {
        self.banner(ui, &view.banner);
        self.me(ui, &view.me);
        self.rooms(ui, &view.rooms);
        let room_changed = self.room.as_ref() != Some(&view.room);
        if room_changed {
            room_header(ui, view.room.as_deref());
            self.room = Some(view.room.clone());
        }
        if self.older != Some(view.older) {
            older(ui, view.older);
            self.older = Some(view.older);
        }
        self.timeline(ui, &view.timeline, room_changed);
        self.members(ui, view);
        let title = match (view.unread, view.room.as_deref()) {
            (0, Some(room)) => format!("#{room} · TuiTalk"),
            (n, Some(room)) => format!("({n}) #{room} · TuiTalk"),
            (_, None) => "TuiTalk".to_owned(),
        };
        if title != self.title {
            ui.document.set_title(&title);
            self.title = title;
        }
    }

    /// Whether the banner of `view` differs from the one shown (the countdown ticks).
    pub fn banner_differs(&self, banner: &Option<Banner>) -> bool {
        self.banner.as_ref() != Some(banner)
    }

    fn banner(&mut self, ui: &Ui, banner: &Option<Banner>) {
        if !self.banner_differs(banner) {
            return;
        }
        match banner {
            None => ui.banner.set_hidden(true),
            Some(banner) => {
                text(&ui.banner_text, &banner.text);
                ui.banner_retry.set_hidden(!banner.can_retry);
                let class = match banner.state {
                    BannerState::Connecting => "banner connecting",
                    BannerState::Reconnecting => "banner reconnecting",
                    BannerState::Offline => "banner offline",
                };
                ui.banner.set_class_name(class);
                ui.banner.set_hidden(false);
            }
        }
        self.banner = Some(banner.clone());
    }

    fn me(&mut self, ui: &Ui, me: &Option<Person>) {
        if self.me.as_ref() == Some(me) {
            return;
        }
        match me {
            Some(person) => {
                text(&ui.me_name, &person.name);
                ui.me_name.set_class_name(&person.colour);
                attr(
                    &ui.me,
                    "title",
                    Some(&user_label(&person.name, person.handle.as_deref())),
                );
                ui.me.set_hidden(false);
            }
            None => ui.me.set_hidden(true),
        }
        self.me = Some(me.clone());
    }

    fn rooms(&mut self, ui: &Ui, rooms: &[RoomEntry]) {
        if self.rooms.as_deref() == Some(rooms) {
            return;
        }
        // Keep the keyboard focus on the room it was on.
        let focused = ui
            .document
            .active_element()
            .and_then(|active| active.get_attribute("data-room"));
        ui.room_list.replace_children_with_node_0();
        for room in rooms {
            let item = ui.element("li", "");
            let button = ui.element("button", "");
            attr(&button, "type", Some("button"));
            attr(&button, "data-room", Some(&room.name));
            attr(&button, "aria-current", room.current.then_some("true"));
            let name = ui.text_element("span", "room-name", &format!("#{}", room.name));
            let _ = button.append_child(&name);
            if room.unread > 0 {
                let badge = ui.text_element("span", "badge", &room.unread.to_string());
                let _ = badge.set_attribute("aria-label", &format!("{} unread", room.unread));
                let _ = button.append_child(&badge);
            }
            let _ = item.append_child(&button);
            let _ = ui.room_list.append_child(&item);
            if focused.as_deref() == Some(room.name.as_str())
                && let Ok(button) = button.dyn_into::<HtmlElement>()
            {
                let _ = button.focus();
            }
        }
        self.rooms = Some(rooms.to_vec());
    }

    fn members(&mut self, ui: &Ui, view: &View) {
        if self
            .members
            .as_ref()
            .is_some_and(|(room, members)| *room == view.room && *members == view.members)
        {
            return;
        }
        let heading = match &view.room {
            Some(room) => format!("In #{room} ({})", view.members.len()),
            None => "People".to_owned(),
        };
        text(&ui.people_title, &heading);
        text(
            &ui.people_toggle,
            &format!("People ({})", view.members.len()),
        );
        ui.member_list.replace_children_with_node_0();
        for person in &view.members {
            let item = ui.element("li", "");
            let _ = item.append_child(&ui.text_element("span", &person.colour, &person.name));
            let _ = item.append_child(&identity_mark(ui, person.handle.as_deref()));
            if person.me {
                let _ = item.append_child(&ui.text_element("span", "you", "(you)"));
            }
            let _ = ui.member_list.append_child(&item);
        }
        self.members = Some((view.room.clone(), view.members.clone()));
    }

    /// The first entry visible in the scrolled list and its distance from the top of the
    /// view (the list is the offset parent of its entries).
    fn anchor(&self, wrap: &HtmlElement) -> Option<(String, i32)> {
        let top = wrap.scroll_top();
        let bottom_of = |index: usize| {
            self.timeline[index]
                .2
                .dyn_ref::<HtmlElement>()
                .map_or(0, |node| node.offset_top() + node.offset_height())
        };
        // Entries are in document order, so their bottoms increase: binary search.
        let (mut low, mut high) = (0, self.timeline.len());
        while low < high {
            let middle = (low + high) / 2;
            if bottom_of(middle) <= top {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        // Prefer a message: system lines near the top may sit above the messages that
        // a history page brings in.
        let (key, _, node) = self.timeline[low..]
            .iter()
            .take(20)
            .find(|(_, item, _)| matches!(item, Item::Message { .. }))
            .or_else(|| self.timeline.get(low))?;
        let node = node.dyn_ref::<HtmlElement>()?;
        Some((key.clone(), node.offset_top() - top))
    }

    fn timeline(&mut self, ui: &Ui, items: &[Item], room_changed: bool) {
        let wrap = &ui.log_wrap;
        let at_bottom =
            wrap.scroll_height() - wrap.scroll_top() - wrap.client_height() <= BOTTOM_SLACK_PX;
        let anchor = self.anchor(wrap);

        // The nodes in the list are exactly those of `self.timeline`, in its order.
        let old = std::mem::take(&mut self.timeline);
        let mut position: HashMap<String, usize> = old
            .iter()
            .enumerate()
            .map(|(index, (key, ..))| (key.clone(), index))
            .collect();
        let mut old: Vec<Option<(Item, Element)>> = old
            .into_iter()
            .map(|(_, item, node)| Some((item, node)))
            .collect();
        let mut next = Vec::with_capacity(items.len());
        // How many leading entries are the very nodes already in place.
        let mut kept_prefix = 0;
        for (index, item) in items.iter().enumerate() {
            let key = item.key();
            let found = position.remove(&key).and_then(|at| {
                let (old_item, node) = old[at].take()?;
                (&old_item == item).then_some((at, node))
            });
            let node = match found {
                Some((at, node)) => {
                    if at == index && kept_prefix == index {
                        kept_prefix += 1;
                    }
                    node
                }
                None => item_node(ui, item),
            };
            next.push((key, item.clone(), node));
        }
        // Remove what follows the intact prefix, then append the rest in order
        // (appending a node already in the list moves it).
        while ui.log.child_element_count() as usize > kept_prefix {
            match ui.log.last_element_child() {
                Some(last) => last.remove(),
                None => break,
            }
        }
        for (_, _, node) in &next[kept_prefix..] {
            let _ = ui.log.append_child(node);
        }
        self.timeline = next;

        if room_changed || at_bottom {
            wrap.set_scroll_top(wrap.scroll_height());
        } else if let Some((key, offset)) = anchor
            && let Some((.., node)) = self.timeline.iter().find(|(k, ..)| *k == key)
            && let Some(node) = node.dyn_ref::<HtmlElement>()
        {
            // Keep the entry that was at the top of the view where it was (older
            // messages came in above it, or entries above it went away).
            wrap.set_scroll_top(node.offset_top() - offset);
        }
    }
}

fn room_header(ui: &Ui, room: Option<&str>) {
    match room {
        Some(room) => {
            text(&ui.room_title, &format!("#{room}"));
            attr(
                &ui.log_wrap,
                "aria-label",
                Some(&format!("Messages in #{room}")),
            );
            attr(
                &ui.composer_input,
                "placeholder",
                Some(&format!("Message #{room}")),
            );
            ui.leave.set_hidden(false);
            attr(&ui.leave, "aria-label", Some(&format!("Leave #{room}")));
        }
        None => {
            text(&ui.room_title, "No room: join one");
            attr(&ui.log_wrap, "aria-label", Some("Messages"));
            attr(
                &ui.composer_input,
                "placeholder",
                Some("/room NAME joins a room"),
            );
            ui.leave.set_hidden(true);
        }
    }
}

fn older(ui: &Ui, older: Older) {
    match older {
        Older::None => ui.older.set_hidden(true),
        Older::Available => {
            text(&ui.older, "Load older messages");
            attr(&ui.older, "aria-busy", None);
            ui.older.set_hidden(false);
        }
        Older::Loading => {
            text(&ui.older, "Loading older messages…");
            attr(&ui.older, "aria-busy", Some("true"));
            ui.older.set_hidden(false);
        }
    }
}

/// The node of one timeline entry; every user-provided string goes in as text.
fn item_node(ui: &Ui, item: &Item) -> Element {
    match item {
        Item::Message {
            seq,
            author_id,
            author,
            handle,
            colour,
            text: body,
            ts,
            mine,
        } => {
            let node = ui.element("li", if *mine { "msg mine" } else { "msg" });
            attr(&node, "data-seq", Some(&seq.to_string()));
            attr(&node, "data-author-id", Some(author_id));
            let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(*ts as f64));
            let offset = date.get_timezone_offset() as i32;
            let time = ui.text_element("time", "time", &local_hh_mm(*ts, offset));
            if date.get_time().is_finite() {
                attr(
                    &time,
                    "datetime",
                    date.to_iso_string().as_string().as_deref(),
                );
                let long = date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED);
                attr(&time, "title", long.as_string().as_deref());
            }
            let _ = node.append_child(&time);
            let _ = node.append_child(&message_body(ui, author, handle.as_deref(), colour, body));
            node
        }
        Item::Pending {
            author,
            handle,
            colour,
            text: body,
            retrying,
            ..
        } => {
            let node = ui.element("li", "msg mine pending");
            let _ = node.append_child(&ui.text_element("span", "time", "…"));
            let content = message_body(ui, author, handle.as_deref(), colour, body);
            let mark = if *retrying { "retrying" } else { "pending" };
            let _ = content.append_child(&ui.text_element("span", "mark", mark));
            let _ = node.append_child(&content);
            node
        }
        Item::System {
            kind,
            subject,
            text: body,
            ..
        } => {
            let class = match kind {
                NoticeKind::Info => "sys info",
                NoticeKind::Presence => "sys presence",
                NoticeKind::Error => "sys error",
            };
            let Some(who) = subject else {
                return ui.text_element("li", class, body);
            };
            // "Ada @ada joined #lobby": the subject styled, then the words.
            let node = ui.element("li", class);
            attr(&node, "data-user-id", Some(&who.user_id));
            let _ = node.append_child(&ui.text_element(
                "span",
                &format!("subject {}", who.colour),
                &who.name,
            ));
            let _ = node.append_child(&identity_mark(ui, who.handle.as_deref()));
            let _ = node.append_child(&ui.document.create_text_node(&format!(" {body}")));
            node
        }
    }
}

/// After a name: `@handle` for an account, a "guest" badge for a guest (a space
/// first, so the words stay apart for screen readers and copied text).
fn identity_mark(ui: &Ui, handle: Option<&str>) -> web_sys::DocumentFragment {
    let fragment = ui.document.create_document_fragment();
    let _ = fragment.append_child(&ui.document.create_text_node(" "));
    let mark = match handle {
        Some(handle) => ui.text_element("span", "handle", &format!("@{handle}")),
        None => ui.text_element("span", "guest-badge", "guest"),
    };
    let _ = fragment.append_child(&mark);
    fragment
}

fn message_body(ui: &Ui, author: &str, handle: Option<&str>, colour: &str, body: &str) -> Element {
    let content = ui.element("div", "body");
    let _ = content.append_child(&ui.text_element("span", &format!("author {colour}"), author));
    let _ = content.append_child(&identity_mark(ui, handle));
    let _ = content.append_child(&ui.text_element("span", "visually-hidden", ": "));
    let _ = content.append_child(&ui.text_element("span", "text", body));
    content
}
