//! The server's configuration: one typed [`Config`] with a documented default for every
//! field, layered as built-in defaults → TOML file → environment (`TUITALK__SECTION__KEY`).
//!
//! Each section is declared with the `section!` macro so that a field's doc comment is
//! both its rustdoc and the comment `print-default-config` writes above it: the two cannot
//! drift apart.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment variable prefix: `TUITALK__SERVER__LISTEN` sets `server.listen`.
pub const ENV_PREFIX: &str = "TUITALK";

/// A secret string (the token signing key, the database URL with its password). Its
/// `Debug` and `Display` print
/// `[redacted]`, so it never lands in a log line; serialising it writes `[redacted]` too.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// One documented setting, as `print-default-config` shows it.
#[derive(Debug, Clone)]
pub struct FieldDoc {
    /// The key inside its section.
    pub name: &'static str,
    /// The doc comment lines.
    pub doc: &'static [&'static str],
    /// The value as TOML; `None` for an unset optional setting.
    pub value: Option<toml::Value>,
}

/// Declares a config section: the struct with serde defaults and unknown keys refused,
/// its `Default`, and the field documentation for `print-default-config`.
macro_rules! section {
    (
        $(#[doc = $sdoc:literal])*
        $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl $name {
            /// The section's documentation lines.
            pub const DOC: &'static [&'static str] = &[$($sdoc),*];

            /// Every field with its documentation and current value.
            pub fn fields(&self) -> Vec<FieldDoc> {
                vec![$(
                    FieldDoc {
                        name: stringify!($field),
                        doc: &[$($doc),*],
                        value: toml::Value::try_from(&self.$field).ok(),
                    },
                )*]
            }
        }
    };
}

section! {
    /// The network side: where to listen and how to shut down.
    ServerConfig {
        /// Address and port to listen on (HTTP and WebSocket at `/ws`).
        listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080)),
        /// On SIGTERM/SIGINT, how long to wait (milliseconds) for connections to close and
        /// in-flight posts to be acknowledged before exiting anyway.
        shutdown_timeout_ms: u64 = 10_000,
    }
}

section! {
    /// The message store (embedded SQLite by default, PostgreSQL when `database_url` is
    /// set) and its group commit.
    StoreConfig {
        /// PostgreSQL connection URL (`postgres://user:password@host:port/database`); every
        /// backend of a cluster uses the same database. Unset: the embedded SQLite store.
        /// It holds a password, so it is never printed or logged.
        database_url: Option<Secret> = None,
        /// Most connections this backend keeps open to PostgreSQL (the group committer
        /// uses one at a time; the others serve joins, history and resumes).
        pool_size: u32 = 16,
        /// How long (milliseconds) a store operation waits for a PostgreSQL connection,
        /// including reconnecting, before it fails: while PostgreSQL is down, posts are
        /// refused with `unavailable` after about this long instead of hanging.
        acquire_timeout_ms: u64 = 2000,
        /// The longest (milliseconds) one PostgreSQL statement may run (PostgreSQL's
        /// `statement_timeout` for the store's sessions; migrations are exempt): a batch
        /// stuck behind a lock or a stalled disk fails after this long, and its posts are
        /// refused with `unavailable` and sent again by their clients.
        statement_timeout_ms: u64 = 5000,
        /// Directory for the server's files (the SQLite database and the generated token
        /// secret); created when missing.
        data_dir: PathBuf = PathBuf::from("./data"),
        /// The SQLite database file; unset means `<data_dir>/tuitalk.db`.
        sqlite_path: Option<PathBuf> = None,
        /// How many posts may wait for the committer before posting connections wait
        /// (the bounded queue in front of group commit).
        commit_queue: usize = 4096,
        /// The most posts stored in one transaction (group commit).
        max_batch: usize = 256,
    }
}

section! {
    /// Session tokens.
    AuthConfig {
        /// Key that signs session tokens (HMAC-SHA256); every backend of a cluster needs the
        /// same one. Unset: a random key is generated once and kept in
        /// `<data_dir>/token-secret` (mode 0600).
        secret: Option<Secret> = None,
    }
}

section! {
    /// Limits: every bound the server enforces. The first six are announced to clients in
    /// `welcome.limits`.
    LimitsConfig {
        /// Longest message text, in characters (Unicode scalar values).
        max_text_chars: u32 = 4000,
        /// Longest display name, in characters.
        max_name_chars: u32 = 32,
        /// Largest text frame accepted, in bytes; larger ones get `frame_too_large`. Frames
        /// above 4 times this (the transport's hard cap) close the connection with 1009.
        max_frame_bytes: u32 = 16_384,
        /// Largest history page (and catch-up page read from the store).
        history_page_max: u32 = 200,
        /// Most rooms one connection may have joined at once.
        max_rooms: u32 = 50,
        /// Posts per second one connection may sustain; bursts up to the same number.
        posts_per_second: u32 = 20,
        /// Outbound frames queued per connection (at least `store.max_batch`, since one
        /// stored batch may go to one room at once). A reader that lets it overflow is
        /// closed with 4000 (slow consumer) and resumes after reconnecting.
        send_queue: usize = 1024,
        /// Most WebSocket connections at once; more are closed with 1013 right after the
        /// upgrade.
        max_connections: usize = 10_000,
        /// New WebSocket connections this backend accepts per second (bursts up to the same
        /// number). More are refused before the upgrade with HTTP 503 and `Retry-After: 1`,
        /// and clients retry after their backoff: a crowd reconnecting after another
        /// backend failed is admitted at a pace the store keeps up with (admission control).
        accepts_per_second: u32 = 500,
        /// Time (milliseconds) a new connection has to send `hello` before it is closed
        /// with 4002.
        hello_timeout_ms: u64 = 10_000,
        /// Interval (milliseconds) between the server's WebSocket pings.
        ping_interval_ms: u64 = 20_000,
        /// A connection from which nothing (no frame, no pong) arrived for this long
        /// (milliseconds) is closed with 4003.
        idle_timeout_ms: u64 = 60_000,
        /// Protocol violations (undecodable or oversized frames, commands before `hello`)
        /// tolerated per connection per minute; one more closes it with 1008.
        max_errors_per_minute: u32 = 60,
        /// Initial size (bytes) of each WebSocket's read buffer; it grows for larger frames.
        /// Small keeps idle connections cheap.
        ws_read_buffer_bytes: usize = 512,
        /// Bytes of queued outgoing frames a WebSocket gathers before writing them to the
        /// socket; whatever is gathered is written once the send queue runs empty.
        ws_write_buffer_bytes: usize = 8192,
        /// Most users the REST API's post rate limiter (`posts_per_second` per user) tracks
        /// at once; users idle for a second are forgotten first. When this many posted
        /// within the last second, further REST posts get `rate_limited` (HTTP 429).
        rest_max_posters: usize = 10_000,
    }
}

section! {
    /// The broker between backends. Without `redis_nodes`, the in-process broker of a
    /// single server; with it, the Redis Cluster broker, the room watcher and presence in
    /// Redis (docs/architecture.md).
    BrokerConfig {
        /// Comma-separated seed URLs of the Redis Cluster, with the password, e.g.
        /// `redis://:PASSWORD@10.0.0.1:6379,redis://:PASSWORD@10.0.0.2:6379` (a secret:
        /// never printed). Unset: the in-process broker (one server only).
        redis_nodes: Option<Secret> = None,
        /// Bound (milliseconds) of every Redis connect and command. A command that takes
        /// longer counts as a failure and makes the broker degraded.
        redis_timeout_ms: u64 = 1000,
        /// While the broker is connected: interval (milliseconds) between the room
        /// watcher's checks of the head sequences of all subscribed rooms (one store
        /// query), which delivers messages the broker lost.
        watch_interval_ms: u64 = 1000,
        /// While the broker is degraded (Redis unreachable): the room watcher's interval
        /// (milliseconds). Messages of other backends then arrive through the store
        /// within about this time.
        degraded_watch_interval_ms: u64 = 150,
        /// The most missed messages the room watcher hands to local connections per room
        /// and check (the newest ones; sessions fetch older missing ones from the store),
        /// and the most messages it holds back per room while waiting for a missing
        /// predecessor. At most `limits.send_queue`.
        watch_max_dispatch: u32 = 64,
        /// How long (milliseconds) a message that arrived before its predecessor is held
        /// back for it before the room watcher reads the missing messages from the store.
        reorder_wait_ms: u64 = 50,
        /// Interval (milliseconds) at which each backend refreshes its presence entries
        /// in Redis and removes expired users of its rooms (announcing `user_left`).
        presence_refresh_ms: u64 = 5000,
        /// Lifetime (milliseconds) of a presence entry that is not refreshed: the users of
        /// a backend that died disappear within this time. Above `presence_refresh_ms`.
        presence_expiry_ms: u64 = 15_000,
        /// First delay (milliseconds) before resubscribing after Redis failed; it doubles
        /// (with jitter) on each failed attempt.
        resubscribe_min_backoff_ms: u64 = 100,
        /// Longest delay (milliseconds) between resubscription attempts: how long a
        /// returning Redis may wait to be noticed.
        resubscribe_max_backoff_ms: u64 = 2000,
        /// Events waiting to be published to Redis; when full, further events are not
        /// published (other backends' watchers find the messages in the store).
        publish_queue: usize = 8192,
        /// Events received from Redis waiting to be handed to local connections; when
        /// full, further ones are dropped (and repaired from the store).
        receive_queue: usize = 8192,
        /// How many recent event ids each backend remembers to drop events Redis
        /// delivers twice.
        dedup_window: usize = 4096,
    }
}

section! {
    /// Logging.
    LogConfig {
        /// Log filter (tracing `EnvFilter` syntax, e.g. `info` or
        /// `tuitalk_server=debug,info`); the `RUST_LOG` environment variable overrides it.
        filter: String = "info".to_owned(),
    }
}

section! {
    /// The web client served at `/`.
    WebConfig {
        /// Directory of a built web client (`index.html`, `tuitalk_web.js`,
        /// `tuitalk_web_bg.wasm`, ...; `scripts/build-web.sh` writes one to
        /// `crates/web/dist`), read once at startup. Unset: the files embedded into the
        /// binary when it was built (present when the web client was built first), or
        /// else a page at `/` that tells how to build them.
        assets_dir: Option<PathBuf> = None,
    }
}

/// The whole configuration. Every field has a default, so an empty file (or none) is a
/// valid configuration: the embedded single-process server on 127.0.0.1:8080.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Network and shutdown.
    pub server: ServerConfig,
    /// The store.
    pub store: StoreConfig,
    /// Session tokens.
    pub auth: AuthConfig,
    /// Every bound the server enforces.
    pub limits: LimitsConfig,
    /// The broker between backends.
    pub broker: BrokerConfig,
    /// Logging.
    pub log: LogConfig,
    /// The web client.
    pub web: WebConfig,
}

impl BrokerConfig {
    /// The seed URLs of `redis_nodes` (empty when unset).
    pub fn redis_node_list(&self) -> Vec<Secret> {
        self.redis_nodes
            .as_ref()
            .map(|nodes| {
                nodes
                    .expose()
                    .split(',')
                    .map(str::trim)
                    .filter(|node| !node.is_empty())
                    .map(Secret::new)
                    .collect()
            })
            .unwrap_or_default()
    }

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

/// Why a configuration could not be loaded; the message names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read, a value has the wrong type, or a key is unknown.
    #[error("{0}")]
    Load(#[from] config::ConfigError),
    /// A value is out of range.
    #[error("invalid value for `{key}`: {reason}")]
    Invalid {
        /// The dotted key, for example `limits.send_queue`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl Config {
    /// Loads the configuration: defaults, then the TOML file at `file` (if any), then the
    /// environment variables `TUITALK__SECTION__KEY`. Validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, None)
    }

    /// Like [`Config::load`], with the environment taken from `env` instead of the process
    /// (for tests); `None` reads the process environment.
    pub fn load_from(
        file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(env);
        builder = builder.add_source(environment);
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

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
        positive("limits.rest_max_posters", l.rest_max_posters as u64)?;
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

    /// The SQLite database file: `store.sqlite_path`, or `tuitalk.db` in the data directory.
    pub fn sqlite_path(&self) -> PathBuf {
        self.store
            .sqlite_path
            .clone()
            .unwrap_or_else(|| self.store.data_dir.join("tuitalk.db"))
    }

    /// A configuration for tests and tools: the defaults with the data directory at
    /// `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::default();
        config.store.data_dir = data_dir.into();
        config
    }

    /// The limits announced to clients in `welcome`.
    pub fn protocol_limits(&self) -> tuitalk_protocol::event::Limits {
        let l = &self.limits;
        tuitalk_protocol::event::Limits {
            max_text_chars: l.max_text_chars,
            max_name_chars: l.max_name_chars,
            max_frame_bytes: l.max_frame_bytes,
            history_page_max: l.history_page_max,
            max_rooms: l.max_rooms,
            posts_per_second: l.posts_per_second,
        }
    }

    /// The configuration as commented TOML: every setting with its documentation.
    /// Unset optional settings are written commented out.
    pub fn to_documented_toml(&self) -> String {
        let mut out = String::from(
            "# TuiTalk server configuration.\n\
             # Every setting is optional; shown here with its value. Environment variables\n\
             # override the file: TUITALK__SECTION__KEY, e.g. TUITALK__SERVER__LISTEN.\n",
        );
        let sections: [(&str, &[&str], Vec<FieldDoc>); 7] = [
            ("server", ServerConfig::DOC, self.server.fields()),
            ("store", StoreConfig::DOC, self.store.fields()),
            ("auth", AuthConfig::DOC, self.auth.fields()),
            ("limits", LimitsConfig::DOC, self.limits.fields()),
            ("broker", BrokerConfig::DOC, self.broker.fields()),
            ("log", LogConfig::DOC, self.log.fields()),
            ("web", WebConfig::DOC, self.web.fields()),
        ];
        for (name, doc, fields) in sections {
            out.push('\n');
            for line in doc {
                out.push_str(&format!("#{line}\n"));
            }
            out.push_str(&format!("[{name}]\n"));
            for field in fields {
                out.push('\n');
                for line in field.doc {
                    out.push_str(&format!("#{line}\n"));
                }
                match field.value {
                    Some(value) => out.push_str(&format!("{} = {value}\n", field.name)),
                    None => out.push_str(&format!("# {} = \"\"\n", field.name)),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn printed_default_parses_back_and_lists_every_field() {
        let text = Config::default().to_documented_toml();
        let parsed: Config = toml::from_str(&text).expect("printed default parses");
        assert_eq!(parsed, Config::default());
        let all = [
            ("server", Config::default().server.fields()),
            ("store", Config::default().store.fields()),
            ("auth", Config::default().auth.fields()),
            ("limits", Config::default().limits.fields()),
            ("broker", Config::default().broker.fields()),
            ("log", Config::default().log.fields()),
            ("web", Config::default().web.fields()),
        ];
        for (section, fields) in all {
            assert!(text.contains(&format!("[{section}]")), "{section}");
            for field in fields {
                assert!(
                    !field.doc.is_empty(),
                    "{section}.{} undocumented",
                    field.name
                );
                let set = format!("\n{} = ", field.name);
                let unset = format!("\n# {} = ", field.name);
                assert!(
                    text.contains(&set) || text.contains(&unset),
                    "{section}.{} missing",
                    field.name
                );
            }
        }
    }

    #[test]
    fn empty_configuration_is_the_default() {
        let config = Config::load_from(None, env(&[])).expect("loads");
        assert_eq!(config, Config::default());
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.sqlite_path(), PathBuf::from("./data/tuitalk.db"));
    }

    #[test]
    fn file_then_environment_override() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"0.0.0.0:9000\"\n[limits]\nmax_rooms = 7\nsend_queue = 300\n",
        )
        .expect("write");
        let config = Config::load_from(
            Some(&file),
            env(&[
                ("TUITALK__LIMITS__SEND_QUEUE", "333"),
                ("TUITALK__AUTH__SECRET", "0123456789abcdef0123"),
            ]),
        )
        .expect("loads");
        assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.limits.max_rooms, 7);
        assert_eq!(config.limits.send_queue, 333);
        assert_eq!(
            config.auth.secret.as_ref().map(Secret::expose),
            Some("0123456789abcdef0123")
        );
        assert_eq!(config.limits.max_text_chars, 4000);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[limits]\nmax_romz = 7\n").expect("write");
        let err = Config::load_from(Some(&file), env(&[])).expect_err("unknown key");
        assert!(err.to_string().contains("max_romz"), "{err}");

        std::fs::write(&file, "[limits]\nsend_queue = 0\n").expect("write");
        let err = Config::load_from(Some(&file), env(&[])).expect_err("zero");
        assert!(err.to_string().contains("limits.send_queue"), "{err}");

        std::fs::write(&file, "[server]\nlisten = \"nowhere\"\n").expect("write");
        let err = Config::load_from(Some(&file), env(&[])).expect_err("bad address");
        assert!(err.to_string().contains("listen"), "{err}");

        let err = Config::load_from(None, env(&[("TUITALK__LIMITS__MAX_ROOMS", "many")]))
            .expect_err("not a number");
        assert!(err.to_string().contains("max_rooms"), "{err}");
    }

    #[test]
    fn broker_settings_are_checked_without_printing_the_password() {
        let config = Config::load_from(
            None,
            env(&[(
                "TUITALK__BROKER__REDIS_NODES",
                "redis://:pw-123@10.0.0.1:6379, redis://:pw-123@10.0.0.2:6379",
            )]),
        )
        .expect("loads");
        let nodes = config.broker.redis_node_list();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1].expose(), "redis://:pw-123@10.0.0.2:6379");
        assert!(!format!("{config:?}").contains("pw-123"));

        let err = Config::load_from(
            None,
            env(&[("TUITALK__BROKER__REDIS_NODES", "http://:pw-123@x")]),
        )
        .expect_err("not a redis URL");
        assert!(err.to_string().contains("broker.redis_nodes"), "{err}");
        assert!(!err.to_string().contains("pw-123"), "{err}");

        let err = Config::load_from(
            None,
            env(&[
                ("TUITALK__BROKER__PRESENCE_REFRESH_MS", "5000"),
                ("TUITALK__BROKER__PRESENCE_EXPIRY_MS", "5000"),
            ]),
        )
        .expect_err("expiry must exceed refresh");
        assert!(
            err.to_string().contains("broker.presence_expiry_ms"),
            "{err}"
        );

        let err = Config::load_from(
            None,
            env(&[("TUITALK__BROKER__WATCH_MAX_DISPATCH", "9999")]),
        )
        .expect_err("above send_queue");
        assert!(
            err.to_string().contains("broker.watch_max_dispatch"),
            "{err}"
        );
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("hunter2hunter2hunter2");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let mut config = Config::default();
        config.auth.secret = Some(secret);
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!config.to_documented_toml().contains("hunter2"));
    }

    #[test]
    fn database_url_is_a_secret_and_checked() {
        let url = "postgres://tuitalk:pw-s3cret@127.0.0.1:5432/tuitalk";
        let config = Config::load_from(
            None,
            env(&[
                ("TUITALK__STORE__DATABASE_URL", url),
                ("TUITALK__STORE__POOL_SIZE", "4"),
                ("TUITALK__STORE__ACQUIRE_TIMEOUT_MS", "500"),
            ]),
        )
        .expect("loads");
        assert_eq!(
            config.store.database_url.as_ref().map(Secret::expose),
            Some(url)
        );
        assert_eq!(config.store.pool_size, 4);
        assert_eq!(config.store.acquire_timeout_ms, 500);
        assert!(!format!("{config:?}").contains("pw-s3cret"));
        assert!(!config.to_documented_toml().contains("pw-s3cret"));

        let bad = "postgres://tuitalk:pw-s3cret@host:notaport/db";
        let err = Config::load_from(None, env(&[("TUITALK__STORE__DATABASE_URL", bad)]))
            .expect_err("bad url");
        assert!(err.to_string().contains("store.database_url"), "{err}");
        assert!(!err.to_string().contains("pw-s3cret"), "{err}");
        let err = Config::load_from(None, env(&[("TUITALK__STORE__POOL_SIZE", "0")]))
            .expect_err("empty pool");
        assert!(err.to_string().contains("store.pool_size"), "{err}");
    }
}
