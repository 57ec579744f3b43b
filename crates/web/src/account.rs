//! What the account menu shows: who this is (`Ada @ada`, or a guest), whether the email
//! still needs its code, and the sessions of the identity with their dates in local
//! time. [`Menu`] is the menu's state (filled by the REST answers), [`Menu::view`] what
//! the page draws from it — pure, so it is tested on the host.

use tuitalk_client::Identity;

use crate::api::{Profile, SessionInfo};
use crate::clock::local_when;

/// A user's name as one line of text: `Ada @ada` for an account, `bob (guest)` for a
/// guest (for accessible names and titles; the page styles the parts).
pub fn user_label(name: &str, handle: Option<&str>) -> String {
    match handle {
        Some(handle) => format!("{name} @{handle}"),
        None => format!("{name} (guest)"),
    }
}

/// The sessions as the menu knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sessions {
    /// Not asked for yet.
    #[default]
    NotLoaded,
    /// `GET /api/sessions` is on its way.
    Loading,
    /// The server's list, newest first.
    Loaded(Vec<SessionInfo>),
    /// The list could not be loaded: why.
    Failed(String),
}

/// The account menu's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Menu {
    /// The account's email address (`GET /api/me`, or the registration's answer).
    pub email: Option<String>,
    /// The sessions.
    pub sessions: Sessions,
    /// The session whose label is being edited.
    pub editing: Option<String>,
    /// The last thing done, said once ("Password changed.").
    pub status: Option<String>,
}

/// One session in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The session id.
    pub id: String,
    /// Its label.
    pub label: String,
    /// `created today 09:26`.
    pub created: String,
    /// `last seen yesterday 18:02`.
    pub last_seen: String,
    /// Whether it is this device's session.
    pub current: bool,
    /// Whether its label is being edited.
    pub editing: bool,
}

/// What the sessions part of the menu shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionsView {
    /// A guest has one session and no list.
    None,
    /// "Loading sessions…".
    Loading,
    /// The list, this device's first.
    Rows(Vec<SessionRow>),
    /// Why the list is missing.
    Failed(String),
}

/// What the account menu shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuView {
    /// The display name.
    pub name: String,
    /// The handle; `None` for a guest.
    pub handle: Option<String>,
    /// The account's email address, when known.
    pub email: Option<String>,
    /// Whether the email still needs its code ("(unverified)" and the code field).
    pub unverified: bool,
    /// The sessions.
    pub sessions: SessionsView,
    /// The last thing done.
    pub status: Option<String>,
}

impl Menu {
    /// Takes in the profile (`GET /api/me`).
    pub fn set_profile(&mut self, profile: &Profile) {
        self.email.clone_from(&profile.email);
    }

    /// Takes out a session that was revoked.
    pub fn remove_session(&mut self, id: &str) {
        if let Sessions::Loaded(list) = &mut self.sessions {
            list.retain(|session| session.id != id);
        }
        if self.editing.as_deref() == Some(id) {
            self.editing = None;
        }
    }

    /// Takes in a renamed session.
    pub fn update_session(&mut self, renamed: SessionInfo) {
        if let Sessions::Loaded(list) = &mut self.sessions
            && let Some(found) = list.iter_mut().find(|session| session.id == renamed.id)
        {
            *found = SessionInfo {
                // The answer is the session as the server has it; keep "this device"
                // as the list said if the answer does not say.
                current: renamed.current || found.current,
                ..renamed
            };
        }
        self.editing = None;
    }

    /// What the menu shows for `identity` at `now_ms` (the wall clock, milliseconds since
    /// the Unix epoch) in a zone `offset_minutes` behind UTC.
    pub fn view(
        &self,
        identity: &Identity,
        unverified: bool,
        now_ms: i64,
        offset_minutes: i32,
    ) -> MenuView {
        let sessions = if identity.is_guest() {
            SessionsView::None
        } else {
            match &self.sessions {
                Sessions::NotLoaded | Sessions::Loading => SessionsView::Loading,
                Sessions::Failed(why) => SessionsView::Failed(why.clone()),
                Sessions::Loaded(list) => {
                    let mut rows: Vec<SessionRow> = list
                        .iter()
                        .map(|session| SessionRow {
                            id: session.id.clone(),
                            label: session.label.clone(),
                            created: format!(
                                "created {}",
                                local_when(session.created_at, now_ms, offset_minutes)
                            ),
                            last_seen: format!(
                                "last seen {}",
                                local_when(session.last_seen_at, now_ms, offset_minutes)
                            ),
                            current: session.current || session.id == identity.session_id,
                            editing: self.editing.as_deref() == Some(session.id.as_str()),
                        })
                        .collect();
                    // This device first, the others as the server ordered them.
                    rows.sort_by_key(|row| !row.current);
                    SessionsView::Rows(rows)
                }
            }
        };
        MenuView {
            name: identity.name.clone(),
            handle: identity.handle.clone(),
            email: self.email.clone().filter(|_| !identity.is_guest()),
            unverified,
            sessions,
            status: self.status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_763_800_000_000;
    const DAY: i64 = 86_400_000;

    fn account() -> Identity {
        Identity {
            user_id: "u-1".into(),
            name: "Ada".into(),
            handle: Some("ada".into()),
            email_verified: true,
            session_id: "s-this".into(),
            token: "t".into(),
        }
    }

    fn session(id: &str, label: &str, created_at: i64, current: bool) -> SessionInfo {
        SessionInfo {
            id: id.into(),
            label: label.into(),
            created_at,
            last_seen_at: created_at + 1000,
            expires_at: None,
            current,
        }
    }

    #[test]
    fn labels_of_accounts_and_guests() {
        assert_eq!(user_label("Ada", Some("ada")), "Ada @ada");
        assert_eq!(user_label("bob", None), "bob (guest)");
    }

    #[test]
    fn sessions_this_device_first_with_local_dates() {
        let mut menu = Menu {
            sessions: Sessions::Loaded(vec![
                session("s-new", "phone", NOW - 60_000, false),
                session(
                    "s-this",
                    "Mozilla/5.0 (X11; Linux x86_64)",
                    NOW - 3 * DAY,
                    true,
                ),
            ]),
            ..Menu::default()
        };
        let view = menu.view(&account(), false, NOW, 0);
        let SessionsView::Rows(rows) = &view.sessions else {
            panic!("{view:?}");
        };
        assert_eq!(rows[0].id, "s-this");
        assert!(rows[0].current);
        assert_eq!(rows[0].created, "created 2025-11-19 08:26");
        assert_eq!(rows[1].created, "created today 08:25");
        assert_eq!(rows[1].last_seen, "last seen today 08:25");
        assert_eq!(
            (view.name.as_str(), view.handle.as_deref()),
            ("Ada", Some("ada"))
        );

        menu.editing = Some("s-new".into());
        menu.update_session(SessionInfo {
            label: "my phone".into(),
            ..session("s-new", "", NOW - 60_000, false)
        });
        menu.remove_session("s-this");
        let SessionsView::Rows(rows) = menu.view(&account(), false, NOW, 0).sessions else {
            panic!("rows");
        };
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].label, "my phone");
        assert!(!rows[0].editing, "a rename that came back ends the editing");
    }

    #[test]
    fn guests_have_no_list_and_no_email() {
        let guest = Identity {
            handle: None,
            ..account()
        };
        let menu = Menu {
            email: Some("x@y.zz".into()),
            ..Menu::default()
        };
        let view = menu.view(&guest, false, NOW, 0);
        assert_eq!(view.sessions, SessionsView::None);
        assert_eq!(view.email, None);
        assert_eq!(
            Menu::default().view(&account(), true, NOW, 0).sessions,
            SessionsView::Loading
        );
    }
}
