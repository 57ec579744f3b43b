//! End to end, accounts: a real `tuitalk-server` and real `tuitalk` binaries in tmux
//! (see [`crate::e2e`] for the lab). A guest registers in the TUI and the status line
//! shows its handle; `/logout` continues as a new guest; `tuitalk login
//! --password-stdin` saves a session that the next `tuitalk` resumes; saved token
//! files are private (0600 in a 0700 directory); `tuitalk logout` forgets it; a session
//! revoked on another device (close 4004) signs out to a new guest.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use tuitalk_tui::api::{self, ApiCall, ApiOk};
use tuitalk_tui::http::Server;
use tuitalk_tui::secret::Secret;
use tuitalk_tui::tokens::{SavedSession, TokenStore};

use crate::e2e::{Lab, nanos};

/// A password the server's guessability check accepts.
const PASSWORD: &str = "plum-Orbit-47-kettle-Quasar";

/// The session saved in a client's configuration directory for the lab's server.
fn saved(lab: &Lab, config: &str) -> Option<SavedSession> {
    let store = TokenStore::new(lab.config_home(config).join("tuitalk"));
    let server = Server::parse(&lab.url()).expect("lab url");
    store.load(server.key()).expect("readable sessions file")
}

#[cfg(unix)]
fn assert_private(lab: &Lab, config: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = lab.config_home(config).join("tuitalk");
    assert_eq!(mode(&dir.join("sessions.json")), 0o600, "token file mode");
    assert_eq!(mode(&dir), 0o700, "token directory mode");
}

#[cfg(not(unix))]
fn assert_private(_lab: &Lab, _config: &str) {}

/// Runs `tuitalk ARGS` (not in tmux) with a client's configuration directory, feeding
/// `stdin`.
fn tuitalk(lab: &Lab, config: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuitalk"))
        .args(args)
        .env("XDG_CONFIG_HOME", lab.config_home(config))
        .env_remove("TUITALK_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tuitalk");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("tuitalk output")
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Registers an account over the REST API (as a new user, not from a guest).
fn register(lab: &Lab, email: &str, handle: &str, name: &str) {
    let server = Server::parse(&lab.url()).expect("lab url");
    let call = ApiCall::Register {
        email: email.into(),
        handle: handle.into(),
        name: name.into(),
        password: Secret::new(PASSWORD),
        guest_token: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match runtime.block_on(api::execute(&server, call)) {
        Ok(ApiOk::Granted(_)) => {}
        other => panic!(
            "register failed: {other:?}\n--- server log ---\n{}",
            lab.server_log()
        ),
    }
}

#[test]
fn a_guest_registers_in_the_tui_and_logs_out() {
    let mut lab = Lab::start();
    let ada = lab.client("ada");
    lab.wait_for(&ada, "connected as a guest", |s| {
        s.contains("you: ada (guest)")
    });
    let guest = saved(&lab, "ada").expect("the guest's session is saved");
    assert_eq!(guest.handle, None);
    assert_private(&lab, "ada");

    let email = format!("ada-{}@example.org", nanos() % 1_000_000);
    lab.type_line(&ada, &format!("/register {email} ada Ada"));
    lab.wait_for(&ada, "the password prompt", |s| {
        s.contains("password for the new account")
    });
    lab.type_line(&ada, PASSWORD);
    lab.wait_for(&ada, "the second prompt", |s| {
        s.contains("the same password again")
    });
    lab.type_line(&ada, PASSWORD);
    lab.wait_for(&ada, "the handle in the status line", |s| {
        s.contains("you: Ada @ada")
    });
    let screen = lab.capture(&ada);
    assert!(
        !screen.contains(PASSWORD),
        "the password is never shown:\n{screen}"
    );
    let account = saved(&lab, "ada").expect("the account's session is saved");
    assert_eq!(account.handle.as_deref(), Some("ada"));
    assert_eq!(
        account.user_id, guest.user_id,
        "the guest was upgraded in place"
    );
    assert_private(&lab, "ada");

    lab.type_line(&ada, "/room 42");
    lab.wait_for(&ada, "room 42", |s| s.contains("#42"));
    lab.type_line(&ada, "hello as an account");
    lab.wait_for(&ada, "own line with the handle", |s| {
        s.contains("Ada @ada: hello as an account") && !s.contains("(pending)")
    });

    lab.type_line(&ada, "/logout");
    lab.wait_for(&ada, "a new guest", |s| {
        s.contains("signed out; continuing as a new guest") && s.contains("you: Ada (guest)")
    });
    let after = saved(&lab, "ada").expect("the new guest's session is saved");
    assert_eq!(after.handle, None);
    assert_ne!(
        after.user_id, account.user_id,
        "a new guest, not the account"
    );
    lab.type_line(&ada, "/quit");
}

#[test]
fn tuitalk_login_saves_a_session_the_tui_resumes() {
    let mut lab = Lab::start();
    let email = format!("bob-{}@example.org", nanos() % 1_000_000);
    register(&lab, &email, "bob", "Bob");
    let url = lab.url();

    let wrong = tuitalk(
        &lab,
        "bob",
        &[
            "login",
            "--email",
            &email,
            "--password-stdin",
            "--server",
            &url,
        ],
        "not the password\n",
    );
    assert!(!wrong.status.success(), "{}", text(&wrong));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("wrong email or password"),
        "{}",
        text(&wrong)
    );
    assert!(
        saved(&lab, "bob").is_none(),
        "nothing saved after a failure"
    );

    let login = tuitalk(
        &lab,
        "bob",
        &[
            "login",
            "--email",
            &email,
            "--password-stdin",
            "--server",
            &url,
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(login.status.success(), "{}", text(&login));
    assert!(
        String::from_utf8_lossy(&login.stdout).contains("as Bob @bob"),
        "{}",
        text(&login)
    );
    let session = saved(&lab, "bob").expect("saved by tuitalk login");
    assert_eq!(session.handle.as_deref(), Some("bob"));
    assert_private(&lab, "bob");

    let bob = lab.client_with("bob", "bob", "");
    lab.wait_for(&bob, "the account resumed", |s| {
        s.contains("connected as Bob @bob") && s.contains("you: Bob @bob")
    });
    lab.type_line(&bob, "/sessions");
    // The registration's session and the login's.
    let this = format!("* {} (this one)", &session.session_id[..8]);
    lab.wait_for(&bob, "the session list", |s| {
        s.contains("2 session(s) of Bob @bob") && s.contains(&this)
    });
    lab.type_line(&bob, "/quit");

    let logout = tuitalk(&lab, "bob", &["logout", "--server", &url], "");
    assert!(logout.status.success(), "{}", text(&logout));
    assert!(saved(&lab, "bob").is_none(), "forgotten by tuitalk logout");

    // A start with --guest neither uses nor saves a session.
    let guest = lab.client_with("guest", "bob", "--guest --name carol");
    lab.wait_for(&guest, "a throwaway guest", |s| {
        s.contains("you: carol (guest)")
    });
    assert!(saved(&lab, "bob").is_none(), "--guest saves nothing");
    lab.type_line(&guest, "/quit");
}

#[test]
fn a_session_revoked_elsewhere_signs_out_to_a_new_guest() {
    let mut lab = Lab::start();
    let email = format!("cy-{}@example.org", nanos() % 1_000_000);
    register(&lab, &email, "cyd", "Cy");
    let url = lab.url();
    for device in ["desk", "phone"] {
        let login = tuitalk(
            &lab,
            device,
            &[
                "login",
                "--email",
                &email,
                "--password-stdin",
                "--server",
                &url,
                "--label",
                device,
            ],
            &format!("{PASSWORD}\n"),
        );
        assert!(login.status.success(), "{}", text(&login));
    }
    let desk_session = saved(&lab, "desk").expect("desk session").session_id;
    let desk = lab.client_with("desk", "desk", "");
    let phone = lab.client_with("phone", "phone", "");
    for session in [&desk, &phone] {
        lab.wait_for(session, "signed in", |s| s.contains("you: Cy @cyd"));
    }
    lab.type_line(&phone, &format!("/sessions revoke {}", &desk_session[..8]));
    lab.wait_for(&phone, "the revocation", |s| {
        s.contains(&format!("session {} revoked", &desk_session[..8]))
    });
    lab.wait_for(&desk, "signed out by the server", |s| {
        s.contains("signed out: session revoked; continuing as a new guest")
            && s.contains("you: Cy (guest)")
    });
    let after = saved(&lab, "desk").expect("the new guest is saved");
    assert_eq!(after.handle, None, "the revoked token is gone");
    assert_ne!(after.session_id, desk_session);
    lab.wait_for(&phone, "still signed in", |s| s.contains("you: Cy @cyd"));
    lab.type_line(&desk, "/quit");
    lab.type_line(&phone, "/quit");
}
