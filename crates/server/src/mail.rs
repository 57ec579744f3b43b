//! Mail: password reset and email verification codes, sent over SMTP (`lettre`) when
//! an `smtp` section is configured (docs/operations.md, "Mail").
//!
//! Requests never wait for the mail server: a mail is queued (at most `smtp.queue`; more
//! are dropped and counted) and one task delivers the queue in order, each delivery
//! bounded by `smtp.timeout_ms`. A failed delivery is logged and counted
//! (`tuitalk_mail_total{outcome}`), never retried: the person asks again.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::SmtpConfig;
use crate::metrics::Metrics;

/// What a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A password reset code.
    Reset,
    /// An email verification code.
    Verify,
}

/// One mail to send.
#[derive(Debug)]
struct Outgoing {
    to: Mailbox,
    subject: String,
    body: String,
}

/// Queues mails for delivery.
#[derive(Debug, Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Outgoing>,
    public_url: Option<String>,
    metrics: Arc<Metrics>,
}

impl Mailer {
    /// The mailer of `config` and its delivery task, or `None` without `smtp.host`.
    /// Error: the settings cannot make a transport (for example TLS to a bad host name).
    pub fn start(
        config: &SmtpConfig,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<Option<(Self, JoinHandle<()>)>, String> {
        let Some(host) = &config.host else {
            return Ok(None);
        };
        let builder = match config.tls.as_str() {
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            "tls" => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| e.to_string())?
            }
            _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| e.to_string())?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(Duration::from_millis(config.timeout_ms)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let transport = builder.build();
        let from: Mailbox = config.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
        let (queue, mut receiver) = mpsc::channel::<Outgoing>(config.queue.max(1));
        let task_metrics = metrics.clone();
        let task = tokio::spawn(async move {
            loop {
                let outgoing = tokio::select! {
                    () = shutdown.cancelled() => return,
                    next = receiver.recv() => match next {
                        Some(outgoing) => outgoing,
                        None => return,
                    },
                };
                deliver(&transport, &from, outgoing, &task_metrics).await;
            }
        });
        tracing::info!(host, port = config.port, tls = %config.tls, "mail: SMTP configured");
        Ok(Some((
            Self {
                queue,
                public_url: config.public_url.clone(),
                metrics,
            },
            task,
        )))
    }

    /// Queues a mail of `kind` with `code` to `to` (a normalised address). Never waits:
    /// with a full queue the mail is dropped and counted.
    pub fn send_code(&self, kind: MailKind, to: &str, name: &str, code: &str, valid_minutes: u64) {
        let Ok(address) = to.parse() else {
            tracing::warn!("mail: cannot address a stored email");
            self.metrics.mail("failed");
            return;
        };
        let to = Mailbox::new(Some(name.to_owned()), address);
        let (subject, body) = compose(kind, name, code, valid_minutes, self.public_url.as_deref());
        if self.queue.try_send(Outgoing { to, subject, body }).is_err() {
            tracing::warn!("mail: queue full, mail dropped");
            self.metrics.mail("dropped");
        }
    }
}

/// The subject and plain-text body of a mail.
fn compose(
    kind: MailKind,
    name: &str,
    code: &str,
    valid_minutes: u64,
    public_url: Option<&str>,
) -> (String, String) {
    let (subject, what, fragment) = match kind {
        MailKind::Reset => (
            "Your TuiTalk password reset code",
            "Someone (hopefully you) asked to reset the password of your TuiTalk account.",
            "reset",
        ),
        MailKind::Verify => (
            "Confirm your email address for TuiTalk",
            "Please confirm that this address belongs to your new TuiTalk account.",
            "verify",
        ),
    };
    let link = public_url.map_or_else(String::new, |url| {
        format!(
            "\nOr open: {}/#{fragment}={}\n",
            url.trim_end_matches('/'),
            code.replace('-', "")
        )
    });
    let body = format!(
        "Hello {name},\n\n{what}\n\nYour code: {code}\n{link}\nIt works once, for {valid_minutes} minutes. If this was not you, ignore this mail.\n"
    );
    (subject.to_owned(), body)
}

async fn deliver(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
    outgoing: Outgoing,
    metrics: &Metrics,
) {
    let message = Message::builder()
        .from(from.clone())
        .to(outgoing.to)
        .subject(outgoing.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(outgoing.body);
    let message = match message {
        Ok(message) => message,
        Err(err) => {
            tracing::warn!(error = %err, "mail: cannot build the message");
            metrics.mail("failed");
            return;
        }
    };
    match transport.send(message).await {
        Ok(_) => metrics.mail("sent"),
        Err(err) => {
            tracing::warn!(error = %err, "mail: delivery failed");
            metrics.mail("failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mails_carry_the_code_and_a_link_when_configured() {
        let (subject, body) = compose(MailKind::Reset, "Ada", "ABCDE-FGHIJ", 30, None);
        assert!(subject.contains("reset"));
        assert!(body.contains("Your code: ABCDE-FGHIJ") && body.contains("30 minutes"));
        assert!(!body.contains("open:"));
        let (_, body) = compose(
            MailKind::Verify,
            "Ada",
            "ABCDE-FGHIJ",
            60,
            Some("https://chat.example/"),
        );
        assert!(
            body.contains("https://chat.example/#verify=ABCDEFGHIJ"),
            "{body}"
        );
    }
}
