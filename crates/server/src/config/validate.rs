//! Range and consistency checks of a loaded [`Config`]: [`Config::validate`] and the
//! broker's own checks. Every error names the offending key and never repeats a secret.

use super::{BrokerConfig, Config, ConfigError, WebConfig};
use crate::origin::{parse_origin, parse_ws_url};

impl Config {
    /// Checks value ranges; the error names the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn positive(key: &'static str, value: u64) -> Result<(), ConfigError> {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be at least 1".to_owned(),
                });
            }
            Ok(())
        }
        let l = &self.limits;
        positive("store.commit_queue", self.store.commit_queue as u64)?;
        positive("store.max_batch", self.store.max_batch as u64)?;
        positive("store.pool_size", self.store.pool_size.into())?;
        positive("store.acquire_timeout_ms", self.store.acquire_timeout_ms)?;
        positive(
            "store.statement_timeout_ms",
            self.store.statement_timeout_ms,
        )?;
        positive(
            "store.retention_interval_ms",
            self.store.retention_interval_ms,
        )?;
        positive("store.retention_batch", self.store.retention_batch.into())?;
        positive(
            "store.retention_max_per_pass",
            self.store.retention_max_per_pass,
        )?;
        positive("store.size_interval_ms", self.store.size_interval_ms)?;
        if let Some(url) = &self.store.database_url
            && url
                .expose()
                .parse::<sqlx::postgres::PgConnectOptions>()
                .is_err()
        {
            // The reason never repeats the URL: it holds a password.
            return Err(ConfigError::Invalid {
                key: "store.database_url",
                reason: "not a valid postgres:// URL".to_owned(),
            });
        }
        positive("limits.max_text_chars", l.max_text_chars.into())?;
        positive("limits.max_name_chars", l.max_name_chars.into())?;
        positive("limits.history_page_max", l.history_page_max.into())?;
        positive("limits.max_rooms", l.max_rooms.into())?;
        positive("limits.posts_per_second", l.posts_per_second.into())?;
        positive("limits.send_queue", l.send_queue as u64)?;
        positive("limits.max_connections", l.max_connections as u64)?;
        positive("limits.accepts_per_second", l.accepts_per_second.into())?;
        positive("limits.hello_timeout_ms", l.hello_timeout_ms)?;
        positive("limits.ping_interval_ms", l.ping_interval_ms)?;
        positive("limits.idle_timeout_ms", l.idle_timeout_ms)?;
        positive(
            "limits.max_errors_per_minute",
            l.max_errors_per_minute.into(),
        )?;
        positive("limits.ws_read_buffer_bytes", l.ws_read_buffer_bytes as u64)?;
        positive("limits.max_rate_keys", l.max_rate_keys as u64)?;
        for (key, value) in [
            (
                "limits.posts_per_second_per_address",
                l.posts_per_second_per_address,
            ),
            (
                "limits.sessions_per_minute_per_address",
                l.sessions_per_minute_per_address,
            ),
            (
                "limits.guests_per_hour_per_address",
                l.guests_per_hour_per_address,
            ),
            ("limits.history_per_second", l.history_per_second),
            ("limits.presence_per_second", l.presence_per_second),
            ("limits.renames_per_minute", l.renames_per_minute),
            ("limits.joins_per_minute", l.joins_per_minute),
            (
                "limits.logins_per_minute_per_address",
                l.logins_per_minute_per_address,
            ),
            (
                "limits.logins_per_hour_per_account",
                l.logins_per_hour_per_account,
            ),
            (
                "limits.registrations_per_hour_per_address",
                l.registrations_per_hour_per_address,
            ),
            (
                "limits.mails_per_hour_per_address",
                l.mails_per_hour_per_address,
            ),
            (
                "limits.mails_per_hour_per_account",
                l.mails_per_hour_per_account,
            ),
            ("limits.rooms_created_per_hour", l.rooms_created_per_hour),
            ("limits.max_memberships", l.max_memberships),
        ] {
            positive(key, value.into())?;
        }
        positive(
            "limits.accepts_per_second_per_address",
            l.accepts_per_second_per_address.into(),
        )?;
        positive(
            "limits.max_connections_per_address",
            l.max_connections_per_address as u64,
        )?;
        positive(
            "limits.max_connections_per_identity",
            l.max_connections_per_identity as u64,
        )?;
        let s = &self.server;
        positive("server.header_timeout_ms", s.header_timeout_ms)?;
        positive("server.body_timeout_ms", s.body_timeout_ms)?;
        positive("server.request_timeout_ms", s.request_timeout_ms)?;
        positive("server.write_timeout_ms", s.write_timeout_ms)?;
        if let Err(reason) = crate::edge::TrustedProxies::parse(&s.trusted_proxies) {
            return Err(ConfigError::Invalid {
                key: "server.trusted_proxies",
                reason,
            });
        }
        positive(
            "server.shutdown_timeout_ms",
            self.server.shutdown_timeout_ms,
        )?;
        if l.max_frame_bytes < 1024 {
            return Err(ConfigError::Invalid {
                key: "limits.max_frame_bytes",
                reason: "must be at least 1024 (a hello or a short post must fit)".to_owned(),
            });
        }
        if l.send_queue < self.store.max_batch {
            return Err(ConfigError::Invalid {
                key: "limits.send_queue",
                reason: format!(
                    "must be at least store.max_batch ({}): one batch may all go to one room",
                    self.store.max_batch
                ),
            });
        }
        if l.idle_timeout_ms <= l.ping_interval_ms {
            return Err(ConfigError::Invalid {
                key: "limits.idle_timeout_ms",
                reason: "must be above limits.ping_interval_ms, or every client times out"
                    .to_owned(),
            });
        }
        self.broker.validate(l.send_queue)?;
        if let Some(secret) = &self.auth.secret
            && secret.expose().len() < 16
        {
            return Err(ConfigError::Invalid {
                key: "auth.secret",
                reason: "must be at least 16 characters".to_owned(),
            });
        }
        self.auth.validate()?;
        self.smtp.validate()?;
        self.web.validate()?;
        if let Some(token) = &self.metrics.bearer_token
            && (token.expose().len() < 16 || token.expose().chars().any(|c| !c.is_ascii_graphic()))
        {
            return Err(ConfigError::Invalid {
                key: "metrics.bearer_token",
                reason: "must be at least 16 printable ASCII characters without spaces".to_owned(),
            });
        }
        if self
            .log
            .filter
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return Err(ConfigError::Invalid {
                key: "log.filter",
                reason: format!("`{}` is not a valid tracing filter", self.log.filter),
            });
        }
        Ok(())
    }
}

impl BrokerConfig {
    /// Checks the broker settings; `send_queue` is `limits.send_queue`, the bound of
    /// `watch_max_dispatch`.
    fn validate(&self, send_queue: usize) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, reason: &str) -> ConfigError {
            ConfigError::Invalid {
                key,
                reason: reason.to_owned(),
            }
        }
        for (key, value) in [
            ("broker.redis_timeout_ms", self.redis_timeout_ms),
            ("broker.watch_interval_ms", self.watch_interval_ms),
            (
                "broker.degraded_watch_interval_ms",
                self.degraded_watch_interval_ms,
            ),
            ("broker.watch_max_dispatch", self.watch_max_dispatch.into()),
            ("broker.reorder_wait_ms", self.reorder_wait_ms),
            ("broker.presence_refresh_ms", self.presence_refresh_ms),
            (
                "broker.resubscribe_min_backoff_ms",
                self.resubscribe_min_backoff_ms,
            ),
            ("broker.publish_queue", self.publish_queue as u64),
            ("broker.receive_queue", self.receive_queue as u64),
            ("broker.dedup_window", self.dedup_window as u64),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.watch_max_dispatch as usize > send_queue {
            return Err(invalid(
                "broker.watch_max_dispatch",
                "must be at most limits.send_queue",
            ));
        }
        if self.presence_expiry_ms <= self.presence_refresh_ms {
            return Err(invalid(
                "broker.presence_expiry_ms",
                "must be above broker.presence_refresh_ms, or live users expire",
            ));
        }
        if self.resubscribe_max_backoff_ms < self.resubscribe_min_backoff_ms {
            return Err(invalid(
                "broker.resubscribe_max_backoff_ms",
                "must be at least broker.resubscribe_min_backoff_ms",
            ));
        }
        if self.redis_nodes.is_some() {
            let nodes = self.redis_node_list();
            if nodes.is_empty() {
                return Err(invalid("broker.redis_nodes", "lists no node"));
            }
            for node in nodes {
                // The message must not repeat the URL: it may hold the password.
                if redis::IntoConnectionInfo::into_connection_info(node.expose()).is_err() {
                    return Err(invalid(
                        "broker.redis_nodes",
                        "a node is not a redis:// URL (host:port, optional :password@)",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Parses one entry of a list setting; the error says what is wrong with it.
type EntryCheck = fn(&str) -> Result<(), &'static str>;

impl WebConfig {
    /// Checks the origin and server lists: each entry parses (empty entries, as an empty
    /// environment variable gives, are ignored).
    fn validate(&self) -> Result<(), ConfigError> {
        let lists: [(&'static str, &[String], EntryCheck); 3] = [
            ("web.allowed_origins", &self.allowed_origins, |entry| {
                parse_origin(entry).map(drop)
            }),
            ("web.cors_origins", &self.cors_origins, |entry| {
                parse_origin(entry).map(drop)
            }),
            ("web.servers", &self.servers, |entry| {
                parse_ws_url(entry).map(drop)
            }),
        ];
        for (key, entries, parse) in lists {
            for entry in entries.iter().map(|entry| entry.trim()) {
                if entry.is_empty() {
                    continue;
                }
                parse(entry).map_err(|reason| ConfigError::Invalid {
                    key,
                    reason: format!("{entry:?}: {reason}"),
                })?;
            }
        }
        Ok(())
    }
}

impl super::AuthConfig {
    /// The key and session checks of [`Config::validate`].
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        for (id, secret) in &self.keys {
            let id_ok = !id.is_empty()
                && id.len() <= 32
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !id_ok || id == "0" {
                return invalid(
                    "auth.keys",
                    "key ids are 1 to 32 of letters, digits, - and _ (and not 0, which is auth.secret)",
                );
            }
            if secret.expose().len() < 16 {
                return invalid("auth.keys", "every key must be at least 16 characters");
            }
        }
        if self.signing_key != "0" && !self.keys.contains_key(&self.signing_key) {
            return invalid(
                "auth.signing_key",
                "must be 0 (auth.secret) or an id in auth.keys",
            );
        }
        if self.session_idle_seconds == 0 || self.session_max_seconds == 0 {
            return invalid(
                "auth.session_idle_seconds",
                "session lifetimes must be positive",
            );
        }
        if !(50..=60_000).contains(&self.revocation_check_ms) {
            return invalid(
                "auth.revocation_check_ms",
                "must be between 50 and 60000 milliseconds",
            );
        }
        if !(8..=256).contains(&self.password_min_chars) {
            return invalid("auth.password_min_chars", "must be between 8 and 256");
        }
        if argon2::Params::new(self.argon2_memory_kib, self.argon2_iterations, 1, None).is_err() {
            return invalid(
                "auth.argon2_memory_kib",
                "argon2 refuses these costs (memory at least 8 KiB, iterations at least 1)",
            );
        }
        if self.max_concurrent_hashes == 0 {
            return invalid("auth.max_concurrent_hashes", "must be at least 1");
        }
        if self.reset_code_ttl_seconds == 0 || self.verify_code_ttl_seconds == 0 {
            return invalid(
                "auth.reset_code_ttl_seconds",
                "code lifetimes must be positive",
            );
        }
        Ok(())
    }
}

impl super::SmtpConfig {
    /// The mail checks of [`Config::validate`].
    fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.tls.as_str(), "starttls" | "tls" | "none") {
            return Err(ConfigError::Invalid {
                key: "smtp.tls",
                reason: "must be starttls, tls or none".to_owned(),
            });
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::Invalid {
                key: "smtp.from",
                reason: "must be an address, optionally with a name: TuiTalk <chat@example.org>"
                    .to_owned(),
            });
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(ConfigError::Invalid {
                key: "smtp.username",
                reason: "set both smtp.username and smtp.password, or neither".to_owned(),
            });
        }
        Ok(())
    }
}
