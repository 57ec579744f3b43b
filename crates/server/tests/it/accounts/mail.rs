//! Password reset and email verification through a real SMTP server: Debian's aiosmtpd
//! (`python3 -m aiosmtpd`, its Debugging handler printing every mail it receives), which
//! the test starts on a free loopback port and stops by PID.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use super::{PASSWORD, login_raw, register, token};
use crate::backends::free_port;
use crate::helpers::{Client, spawn_app};
use crate::rest::request;

/// A running aiosmtpd and the mails it printed, one string each.
struct SmtpServer {
    child: Child,
    port: u16,
    mails: mpsc::Receiver<String>,
}

impl SmtpServer {
    /// Starts aiosmtpd; `None` (the test skips) only when Debian's python3-aiosmtpd is
    /// missing and the lab is not required.
    fn start() -> Option<Self> {
        let port = free_port(false);
        let spawned = Command::new("/usr/bin/python3")
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                assert!(
                    std::env::var_os("TUITALK_TEST_REQUIRE_LAB").is_none(),
                    "cannot start aiosmtpd: {err}"
                );
                return None;
            }
        };
        let stdout = child.stdout.take().expect("stdout");
        let (tx, mails) = mpsc::channel();
        std::thread::spawn(move || {
            let mut mail = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("END MESSAGE") {
                    let _ = tx.send(std::mem::take(&mut mail));
                } else {
                    mail.push_str(&line);
                    mail.push('\n');
                }
            }
        });
        // Wait until it listens.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Self { child, port, mails });
            }
            if let Ok(Some(status)) = child.try_wait() {
                assert!(
                    std::env::var_os("TUITALK_TEST_REQUIRE_LAB").is_none(),
                    "aiosmtpd exited at once ({status}): is python3-aiosmtpd installed?"
                );
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("aiosmtpd does not listen on port {port}");
    }

    /// The next mail within `wait`, if any. Polls, so the server under test keeps
    /// running on the test's runtime meanwhile.
    async fn mail_within(&self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Ok(mail) = self.mails.try_recv() {
                return Some(mail);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next mail, within 10 s.
    async fn next_mail(&self) -> String {
        self.mail_within(Duration::from_secs(10))
            .await
            .expect("a mail arrives")
    }

    /// Asserts no mail arrives within `wait`.
    async fn no_mail(&self, wait: Duration) {
        if let Some(mail) = self.mail_within(wait).await {
            panic!("unexpected mail: {mail}");
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The code in a mail (the line `Your code: …`).
fn code_in(mail: &str) -> String {
    mail.lines()
        .find_map(|line| line.strip_prefix("Your code: "))
        .unwrap_or_else(|| panic!("no code in {mail}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn verification_and_password_reset_by_mail() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let port = smtp.port;
    let app = spawn_app(move |config| {
        config.smtp.host = Some("127.0.0.1".into());
        config.smtp.port = port;
        config.smtp.tls = "none".into();
        config.smtp.from = "TuiTalk <chat@example.org>".into();
    })
    .await;

    // Registration mails a verification code; the account is unverified until it is used.
    let ada = register(app.addr, "ada").await;
    assert_eq!(ada["email_verified"], false);
    let mail = smtp.next_mail().await;
    assert!(mail.contains("To: ada <ada@example.org>"), "{mail}");
    assert!(mail.contains("From: TuiTalk <chat@example.org>"), "{mail}");
    let code = code_in(&mail);
    let body = json!({"code": code.to_lowercase()}).to_string();
    let verified = request(
        app.addr,
        "POST",
        "/api/email-verifications",
        None,
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(verified.status, 204, "{verified:?}");
    let me = request(app.addr, "GET", "/api/me", Some(&token(&ada)), None)
        .await
        .json();
    assert_eq!(me["email_verified"], true);
    request(
        app.addr,
        "POST",
        "/api/email-verifications",
        None,
        Some(body.as_bytes()),
    )
    .await
    .assert_error(400, "invalid_code");

    // A reset for an unknown address answers the same and sends nothing.
    let unknown = json!({"email": "nobody@example.org"}).to_string();
    let answer = request(
        app.addr,
        "POST",
        "/api/password-resets",
        None,
        Some(unknown.as_bytes()),
    )
    .await;
    assert_eq!(answer.status, 202, "{answer:?}");
    smtp.no_mail(Duration::from_millis(800)).await;

    let mut live = Client::connect(&app).await;
    live.hello(None, Some(&token(&ada))).await;
    let known = json!({"email": "ADA@example.org"}).to_string();
    let answer = request(
        app.addr,
        "POST",
        "/api/password-resets",
        None,
        Some(known.as_bytes()),
    )
    .await;
    assert_eq!(answer.status, 202, "{answer:?}");
    let mail = smtp.next_mail().await;
    assert!(mail.contains("reset"), "{mail}");
    let code = code_in(&mail);

    let wrong = json!({"code": "AAAAA-AAAAA-AAAAA-AAAAA-AAAAAA", "new_password": "a fresh and long passphrase"}).to_string();
    request(
        app.addr,
        "POST",
        "/api/password-resets/confirm",
        None,
        Some(wrong.as_bytes()),
    )
    .await
    .assert_error(400, "invalid_code");
    let confirm = json!({"code": code, "new_password": "a fresh and long passphrase"}).to_string();
    let done = request(
        app.addr,
        "POST",
        "/api/password-resets/confirm",
        None,
        Some(confirm.as_bytes()),
    )
    .await;
    assert_eq!(done.status, 204, "{done:?}");
    // Every session ended, the live one too; the old password is gone, the new one works.
    assert_eq!(
        live.expect_close().await,
        (4004, "session_revoked".to_owned())
    );
    request(app.addr, "GET", "/api/me", Some(&token(&ada)), None)
        .await
        .assert_error(401, "invalid_token");
    login_raw(app.addr, "ada@example.org", PASSWORD)
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(
        login_raw(app.addr, "ada@example.org", "a fresh and long passphrase")
            .await
            .status,
        201
    );
    // The code worked once.
    request(
        app.addr,
        "POST",
        "/api/password-resets/confirm",
        None,
        Some(confirm.as_bytes()),
    )
    .await
    .assert_error(400, "invalid_code");
}

#[tokio::test]
async fn without_smtp_mail_endpoints_say_not_configured() {
    let app = spawn_app(|_| {}).await;
    let body = json!({"email": "ada@example.org"}).to_string();
    request(
        app.addr,
        "POST",
        "/api/password-resets",
        None,
        Some(body.as_bytes()),
    )
    .await
    .assert_error(501, "not_configured");
}
