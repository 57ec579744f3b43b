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
        send_queue: usize = 256,
        /// Most WebSocket connections at once; more are closed with 1013 right after the
        /// upgrade.
        max_connections: usize = 10_000,
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
        ws_read_buffer_bytes: usize = 1024,
        /// Bytes of queued outgoing frames a WebSocket gathers before writing them to the
        /// socket; whatever is gathered is written once the send queue runs empty.
        ws_write_buffer_bytes: usize = 8192,
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
    /// Logging.
    pub log: LogConfig,
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
        positive("limits.hello_timeout_ms", l.hello_timeout_ms)?;
        positive("limits.ping_interval_ms", l.ping_interval_ms)?;
        positive("limits.idle_timeout_ms", l.idle_timeout_ms)?;
        positive(
            "limits.max_errors_per_minute",
            l.max_errors_per_minute.into(),
        )?;
        positive("limits.ws_read_buffer_bytes", l.ws_read_buffer_bytes as u64)?;
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
        let sections: [(&str, &[&str], Vec<FieldDoc>); 5] = [
            ("server", ServerConfig::DOC, self.server.fields()),
            ("store", StoreConfig::DOC, self.store.fields()),
            ("auth", AuthConfig::DOC, self.auth.fields()),
            ("limits", LimitsConfig::DOC, self.limits.fields()),
            ("log", LogConfig::DOC, self.log.fields()),
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
            ("log", Config::default().log.fields()),
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
