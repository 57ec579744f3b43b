//! How a user is named in notices: accounts as `Ada @ada` (display names may repeat,
//! handles never do), guests as `bob (guest)` (docs/protocol.md, "Identities: guests and
//! accounts"). The UIs style the same words in their member lists and timelines.

/// The words that mark a guest after its name.
pub const GUEST_MARK: &str = "(guest)";

/// `name @handle` for an account, `name (guest)` for a guest (`handle` is `None`). The
/// result is not sanitised.
pub fn user_label(name: &str, handle: Option<&str>) -> String {
    match handle {
        Some(handle) => format!("{name} @{handle}"),
        None => format!("{name} {GUEST_MARK}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_show_their_handle_and_guests_a_mark() {
        assert_eq!(user_label("Ada", Some("ada")), "Ada @ada");
        assert_eq!(user_label("bob", None), "bob (guest)");
    }
}
