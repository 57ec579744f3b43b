//! The account forms' checks and messages: what the page checks before sending (with the
//! protocol crate's rules, `tuitalk_protocol::account` and `name`), and which field a
//! server's refusal belongs to, in words a person can act on. The page shows each
//! [`FieldError`] next to its field.

use tuitalk_protocol::ErrorCode;
use tuitalk_protocol::account::{
    MAX_HANDLE_CHARS, MIN_HANDLE_CHARS, normalize_email, normalize_handle, validate_password_length,
};
use tuitalk_protocol::name::validate_display_name;

use crate::api::{ApiError, Registration};

/// The shortest password the page accepts: the server's default
/// `auth.password_min_chars`. The server has the last word (`weak_password`).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest display name before the server's `welcome` tells its own limit.
pub const MAX_NAME_CHARS: usize = 32;
/// The longest session label (docs/protocol.md, `PATCH /api/sessions/{id}`).
pub const MAX_LABEL_CHARS: usize = 64;

/// A field of the account forms (each has an error line of its own on the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// An email address.
    Email,
    /// The handle.
    Handle,
    /// The display name.
    Name,
    /// A new password (registration, reset, change).
    Password,
    /// The current password (change).
    CurrentPassword,
    /// A mailed code (reset, verification).
    Code,
    /// A session label.
    Label,
    /// The form as a whole (its error line above the submit button).
    Form,
}

/// What is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field it belongs to.
    pub field: Field,
    /// What to tell the person.
    pub message: String,
}

impl FieldError {
    fn new(field: Field, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Which form an answer is for: the same code can mean different things
/// (`invalid_credentials` is the sign-in's email and password, the password change's
/// current password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Signing in.
    SignIn,
    /// Registering, or a guest creating its account.
    Register,
    /// Asking for a password reset code.
    ResetRequest,
    /// Setting a new password with the code.
    ResetConfirm,
    /// Verifying the email with a code (or asking for a new one).
    Verify,
    /// Changing the password.
    ChangePassword,
    /// Renaming a session.
    RenameSession,
    /// Anything else of the account menu (listing, revoking, signing out).
    Menu,
}

const EMAIL_RULE: &str = "Enter an email address like name@example.org.";
const HANDLE_RULE: &str =
    "3 to 20 characters: a to z, 0 to 9 and _, starting with a letter (a few are reserved).";
const NAME_RULE: &str = "1 to 32 characters, no control characters or surrounding spaces.";
const WEAK_PASSWORD: &str =
    "Too short or too easy to guess: use at least 8 characters, a phrase of a few words works.";

/// Checks a registration; on success its normalised fields.
pub fn check_register(
    email: &str,
    handle: &str,
    name: &str,
    password: &str,
) -> Result<Registration, Vec<FieldError>> {
    let mut errors = Vec::new();
    let email = check_email(email).map_err(|error| errors.push(error)).ok();
    let handle = match handle.trim() {
        "" => {
            errors.push(FieldError::new(Field::Handle, "Pick a handle."));
            None
        }
        given => normalize_handle(given)
            .map_err(|_| errors.push(FieldError::new(Field::Handle, handle_problem(given))))
            .ok(),
    };
    let name = name.trim();
    if name.is_empty() {
        errors.push(FieldError::new(Field::Name, "Pick a display name."));
    } else if validate_display_name(name, MAX_NAME_CHARS).is_err() {
        errors.push(FieldError::new(Field::Name, NAME_RULE));
    }
    if let Err(error) = check_new_password(password) {
        errors.push(error);
    }
    match (email, handle) {
        (Some(email), Some(handle)) if errors.is_empty() => Ok(Registration {
            email,
            handle,
            name: name.to_owned(),
            password: password.to_owned(),
        }),
        _ => Err(errors),
    }
}

/// Why a handle is refused, as precisely as the rules allow.
fn handle_problem(handle: &str) -> String {
    let bare = handle.strip_prefix('@').unwrap_or(handle);
    let count = bare.chars().count();
    if !(MIN_HANDLE_CHARS..=MAX_HANDLE_CHARS).contains(&count) {
        format!("{MIN_HANDLE_CHARS} to {MAX_HANDLE_CHARS} characters.")
    } else if !bare.starts_with(|c: char| c.is_ascii_alphabetic()) {
        "Start with a letter.".to_owned()
    } else if !bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        "Only a to z, 0 to 9 and _.".to_owned()
    } else {
        format!("@{} is reserved; pick another.", bare.to_ascii_lowercase())
    }
}

/// Checks a new password (registration, reset, change).
pub fn check_new_password(password: &str) -> Result<(), FieldError> {
    if password.trim().is_empty() || validate_password_length(password, MIN_PASSWORD_CHARS).is_err()
    {
        Err(FieldError::new(Field::Password, WEAK_PASSWORD))
    } else {
        Ok(())
    }
}

/// Checks a sign-in; on success the normalised email.
pub fn check_sign_in(email: &str, password: &str) -> Result<String, Vec<FieldError>> {
    let mut errors = Vec::new();
    let email = check_email(email).map_err(|error| errors.push(error)).ok();
    if password.is_empty() {
        errors.push(FieldError::new(Field::Password, "Enter your password."));
    }
    match email {
        Some(email) if errors.is_empty() => Ok(email),
        _ => Err(errors),
    }
}

/// Checks the email of a reset request; on success the normalised email.
pub fn check_email(email: &str) -> Result<String, FieldError> {
    if email.trim().is_empty() {
        return Err(FieldError::new(Field::Email, "Enter your email address."));
    }
    normalize_email(email).map_err(|_| FieldError::new(Field::Email, EMAIL_RULE))
}

/// Checks a mailed code; on success the code without surrounding spaces.
pub fn check_code(code: &str) -> Result<String, FieldError> {
    match code.trim() {
        "" => Err(FieldError::new(
            Field::Code,
            "Enter the code from the mail.",
        )),
        code => Ok(code.to_owned()),
    }
}

/// Checks a session label; on success the label without surrounding spaces.
pub fn check_label(label: &str) -> Result<String, FieldError> {
    let label = label.trim();
    validate_display_name(label, MAX_LABEL_CHARS)
        .map(|()| label.to_owned())
        .map_err(|_| FieldError::new(Field::Label, "1 to 64 characters, no control characters."))
}

/// Checks a guest's display name.
pub fn check_guest_name(name: &str) -> Result<(), FieldError> {
    validate_display_name(name, MAX_NAME_CHARS).map_err(|_| {
        FieldError::new(
            Field::Name,
            "Pick a name of 1 to 32 characters, without control characters.",
        )
    })
}

/// A wait in words: `30 s`, `2 min`.
pub fn wait_words(ms: u64) -> String {
    let seconds = ms.div_ceil(1000).max(1);
    if seconds < 120 {
        format!("{seconds} s")
    } else {
        format!("{} min", seconds.div_ceil(60))
    }
}

/// Where a server's refusal of `form` goes, and what it says.
pub fn server_error(form: Form, error: &ApiError) -> FieldError {
    use ErrorCode as C;
    let new_password = Field::Password;
    let (field, message) = match (error.error_code(), form) {
        (Some(C::EmailTaken), _) => (
            Field::Email,
            "An account with this email exists: sign in instead.".to_owned(),
        ),
        (Some(C::HandleTaken), _) => (
            Field::Handle,
            "This handle is taken; pick another.".to_owned(),
        ),
        (Some(C::WeakPassword), _) => (new_password, WEAK_PASSWORD.to_owned()),
        (Some(C::InvalidEmail), _) => (Field::Email, EMAIL_RULE.to_owned()),
        (Some(C::InvalidHandle), _) => (Field::Handle, HANDLE_RULE.to_owned()),
        (Some(C::InvalidName), Form::RenameSession) => (
            Field::Label,
            "1 to 64 characters, no control characters.".to_owned(),
        ),
        (Some(C::InvalidName), _) => (Field::Name, NAME_RULE.to_owned()),
        (Some(C::InvalidCode), _) => (
            Field::Code,
            "This code is unknown, used or expired: ask for a new one.".to_owned(),
        ),
        (Some(C::InvalidCredentials), Form::ChangePassword) => (
            Field::CurrentPassword,
            "This is not your current password.".to_owned(),
        ),
        (Some(C::InvalidCredentials), _) => (Field::Form, "Wrong email or password.".to_owned()),
        (Some(C::AccountDisabled), _) => (
            Field::Form,
            "This account is disabled: ask the operator.".to_owned(),
        ),
        (Some(C::AlreadyRegistered), _) => (
            Field::Form,
            "You already have an account: this session is signed in to it.".to_owned(),
        ),
        (Some(C::NotConfigured), Form::ResetRequest | Form::ResetConfirm) => (
            Field::Form,
            "This server sends no mail: ask the operator to reset your password.".to_owned(),
        ),
        (Some(C::NotConfigured), _) => (
            Field::Form,
            "This server sends no mail, so there is no code to enter.".to_owned(),
        ),
        (Some(C::RateLimited), _) => {
            let wait = error
                .retry_after_ms
                .map_or_else(|| "a moment".to_owned(), wait_words);
            (
                Field::Form,
                format!("Too many attempts: try again in {wait}."),
            )
        }
        (Some(C::UnknownSession), _) => (Field::Form, "That session has already ended.".to_owned()),
        (Some(C::InvalidToken | C::NotAuthenticated), _) => (
            Field::Form,
            "Your session has ended: sign in again.".to_owned(),
        ),
        (Some(C::Unavailable | C::Internal), _) => (
            Field::Form,
            "The server could not do it just now; try again.".to_owned(),
        ),
        _ if error.status == 0 => (
            Field::Form,
            format!("Could not reach the server ({}).", error.message),
        ),
        _ if error.message.is_empty() => {
            (Field::Form, format!("The server refused ({}).", error.code))
        }
        _ => (
            Field::Form,
            format!("The server refused: {} ({}).", error.message, error.code),
        ),
    };
    FieldError::new(field, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: &str) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            message: "text".to_owned(),
            retry_after_ms: None,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<Field> {
        errors.iter().map(|error| error.field).collect()
    }

    #[test]
    fn a_good_registration_is_normalised() {
        let form =
            check_register(" Ada@Example.ORG ", "@Ada_1", " Ada ", "correct horse").expect("valid");
        assert_eq!(
            form,
            Registration {
                email: "ada@example.org".into(),
                handle: "ada_1".into(),
                name: "Ada".into(),
                password: "correct horse".into(),
            }
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = check_register("ada", "9lives", "", "short").expect_err("invalid");
        assert_eq!(
            fields(&errors),
            [Field::Email, Field::Handle, Field::Name, Field::Password]
        );
        assert_eq!(errors[1].message, "Start with a letter.");
        let problem = |handle| {
            check_register("a@b.cd", handle, "n", "long enough pw").expect_err("bad handle")[0]
                .message
                .clone()
        };
        assert_eq!(problem("ab"), "3 to 20 characters.");
        assert_eq!(problem("ada-l"), "Only a to z, 0 to 9 and _.");
        assert_eq!(problem("Admin"), "@admin is reserved; pick another.");
        assert_eq!(problem(" "), "Pick a handle.");
        assert!(check_new_password("        ").is_err(), "spaces only");
        assert!(check_new_password("eight ch").is_ok());
    }

    #[test]
    fn sign_in_and_small_forms() {
        assert_eq!(check_sign_in("A@B.cd", "x"), Ok("a@b.cd".to_owned()));
        assert_eq!(
            fields(&check_sign_in("nope", "").expect_err("invalid")),
            [Field::Email, Field::Password]
        );
        assert_eq!(check_code(" 123 456 "), Ok("123 456".to_owned()));
        assert_eq!(check_code("  ").expect_err("empty").field, Field::Code);
        assert_eq!(check_label(" laptop "), Ok("laptop".to_owned()));
        assert!(check_label(&"x".repeat(65)).is_err());
        assert!(check_guest_name("bob").is_ok());
        assert!(check_guest_name(" bob").is_err());
        assert_eq!(check_email("x@y.zz"), Ok("x@y.zz".to_owned()));
        let empty = check_register(" ", "ada", " ", "long enough pw").expect_err("empty");
        assert_eq!(
            empty.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["Enter your email address.", "Pick a display name."]
        );
    }

    #[test]
    fn server_errors_go_next_to_their_field() {
        let at = |form, status, code| server_error(form, &refused(status, code)).field;
        assert_eq!(at(Form::Register, 409, "email_taken"), Field::Email);
        assert_eq!(at(Form::Register, 409, "handle_taken"), Field::Handle);
        assert_eq!(at(Form::Register, 400, "weak_password"), Field::Password);
        assert_eq!(at(Form::Register, 400, "invalid_email"), Field::Email);
        assert_eq!(at(Form::Register, 400, "invalid_handle"), Field::Handle);
        assert_eq!(at(Form::Register, 400, "invalid_name"), Field::Name);
        assert_eq!(at(Form::RenameSession, 400, "invalid_name"), Field::Label);
        assert_eq!(at(Form::SignIn, 401, "invalid_credentials"), Field::Form);
        assert_eq!(
            at(Form::ChangePassword, 401, "invalid_credentials"),
            Field::CurrentPassword
        );
        assert_eq!(at(Form::ResetConfirm, 400, "invalid_code"), Field::Code);
        assert_eq!(
            at(Form::ResetConfirm, 400, "weak_password"),
            Field::Password
        );
    }

    #[test]
    fn rate_limits_say_how_long_and_mail_less_servers_say_whom_to_ask() {
        let mut limited = refused(429, "rate_limited");
        limited.retry_after_ms = Some(42_100);
        let shown = server_error(Form::Register, &limited);
        assert_eq!(
            (shown.field, shown.message.as_str()),
            (Field::Form, "Too many attempts: try again in 43 s.")
        );
        limited.retry_after_ms = Some(3_600_000);
        assert!(
            server_error(Form::SignIn, &limited)
                .message
                .ends_with("in 60 min.")
        );
        let reset = server_error(Form::ResetRequest, &refused(501, "not_configured"));
        assert!(
            reset
                .message
                .contains("ask the operator to reset your password")
        );
        let offline = server_error(Form::SignIn, &ApiError::network("Failed to fetch"));
        assert_eq!(
            offline.message,
            "Could not reach the server (Failed to fetch)."
        );
        let odd = server_error(Form::Menu, &refused(418, "teapot"));
        assert_eq!(odd.message, "The server refused: text (teapot).");
    }
}
