//! `tuitalk-server user …`, the real binary, against both stores: create, list, promote,
//! disable (live sessions closed, login refused), enable, reset-password — with a server
//! running on the same store, which notices the CLI's revocations by itself.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use tuitalk_server::Config;
use tuitalk_server::config::Secret;

use super::{PASSWORD, login_raw, token};
use crate::helpers::{Client, spawn_app};
use crate::pg::TestDb;
use crate::rest::request;

/// Runs `tuitalk-server user ARGS` with `env`, feeding `stdin`; its exit status success,
/// standard output and standard error.
fn user(env: &[(&str, String)], args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuitalk-server"))
        .arg("user")
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("TUITALK__LOG__FILTER", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tuitalk-server user");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The whole operator story on the store `env` names, with a server (`tweak`) on it.
async fn operator_story(env: Vec<(&'static str, String)>, tweak: impl FnOnce(&mut Config)) {
    let (ok, out, err) = user(
        &env,
        &[
            "create",
            "--email",
            "Chief@Example.org",
            "--handle",
            "Chief",
            "--name",
            "The Chief",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "create: {out} {err}");
    assert!(out.contains("created @chief (chief@example.org)"), "{out}");
    let (ok, _, err) = user(
        &env,
        &[
            "create",
            "--email",
            "r2@example.org",
            "--handle",
            "chief",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(!ok && err.contains("handle is taken"), "{err}");
    let (ok, _, err) = user(
        &env,
        &[
            "create",
            "--email",
            "weak@example.org",
            "--handle",
            "weak",
            "--password-stdin",
        ],
        "password\n",
    );
    assert!(!ok && err.contains("too easy to guess"), "{err}");
    let (ok, out, _) = user(&env, &["promote", "@chief"], "");
    assert!(ok && out.contains("@chief is now admin"), "{out}");
    let (ok, out, _) = user(&env, &["list"], "");
    assert!(ok, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("@chief"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("chief@example.org") && row.contains("admin") && row.contains("active"),
        "{row}"
    );

    let app = spawn_app(tweak).await;
    let login = login_raw(app.addr, "chief@example.org", PASSWORD).await;
    assert_eq!(login.status, 201, "{login:?}");
    let session = login.json();
    let me = request(app.addr, "GET", "/api/me", Some(&token(&session)), None)
        .await
        .json();
    assert_eq!(
        (me["role"].as_str(), me["handle"].as_str()),
        (Some("admin"), Some("chief"))
    );

    // Disabling from the shell ends the live connection on the running server.
    let mut live = Client::connect(&app).await;
    live.hello(None, Some(&token(&session))).await;
    let (ok, out, err) = user(&env, &["disable", "chief@example.org"], "");
    assert!(
        ok && out.contains("disabled @chief; 1 session(s) revoked"),
        "{out} {err}"
    );
    let (code, reason) = tokio::time::timeout(Duration::from_secs(5), live.expect_close())
        .await
        .expect("closed in time");
    assert_eq!((code, reason.as_str()), (4004, "session_revoked"));
    login_raw(app.addr, "chief@example.org", PASSWORD)
        .await
        .assert_error(403, "account_disabled");
    let (ok, out, _) = user(&env, &["list"], "");
    assert!(ok && out.contains("disabled"), "{out}");

    let (ok, _, _) = user(&env, &["enable", "@chief"], "");
    assert!(ok);
    let (ok, out, _) = user(
        &env,
        &["reset-password", "@CHIEF", "--password-stdin"],
        "an operator chose this one\n",
    );
    assert!(ok && out.contains("new password set for @chief"), "{out}");
    login_raw(app.addr, "chief@example.org", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(
        login_raw(app.addr, "chief@example.org", "an operator chose this one")
            .await
            .status,
        201
    );
    let (ok, out, _) = user(&env, &["demote", "@chief"], "");
    assert!(ok && out.contains("@chief is now member"), "{out}");
    let (ok, _, err) = user(&env, &["promote", "@nobody"], "");
    assert!(!ok && err.contains("no account @nobody"), "{err}");
}

#[tokio::test]
async fn the_user_cli_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_owned();
    let env = vec![("TUITALK__STORE__DATA_DIR", data_dir.display().to_string())];
    operator_story(env, move |config| config.store.data_dir = data_dir).await;
}

#[tokio::test]
async fn the_user_cli_on_postgres() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![
        ("TUITALK__STORE__DATA_DIR", dir.path().display().to_string()),
        ("TUITALK__STORE__DATABASE_URL", db.url.clone()),
    ];
    let url = db.url.clone();
    operator_story(env, move |config| {
        config.store.database_url = Some(Secret::new(url));
    })
    .await;
}
