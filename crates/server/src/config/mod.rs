//! The server's configuration: one typed [`Config`] with a documented default for every
//! field, layered as built-in defaults → TOML file → environment (`TUITALK__SECTION__KEY`).
//!
//! Each section is declared with the `section!` macro so that a field's doc comment is
//! both its rustdoc and the comment `print-default-config` writes above it: the two cannot
//! drift apart.
//!
//! Layout:
//! - this file: [`Config`], its layering ([`Config::load`]), [`ConfigError`], the derived
//!   values ([`Config::sqlite_path`], [`Config::protocol_limits`]) and
//!   [`Config::to_documented_toml`] for `print-default-config`;
//! - `secret.rs`: [`Secret`], a setting that never prints;
//! - `sections.rs`: the `section!` macro, [`FieldDoc`] and the section structs;
//! - `validate.rs`: [`Config::validate`], the checks `check-config` runs;
//! - `tests.rs`: the tests.

mod secret;
mod sections;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use secret::Secret;
pub use sections::{
    AuthConfig, BrokerConfig, FieldDoc, LimitsConfig, LogConfig, MetricsConfig, ServerConfig,
    SmtpConfig, StoreConfig, WebConfig,
};

/// The environment variable prefix: `TUITALK__SERVER__LISTEN` sets `server.listen`.
pub const ENV_PREFIX: &str = "TUITALK";

/// The list settings: comma-separated in the environment (`TUITALK__WEB__SERVERS=a,b`).
const LIST_KEYS: [&str; 4] = [
    "server.trusted_proxies",
    "web.allowed_origins",
    "web.cors_origins",
    "web.servers",
];

/// The whole configuration. Every field has a default, so an empty file (or none) is a
/// valid configuration: the embedded single-process server on 127.0.0.1:8080.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Network and shutdown.
    pub server: ServerConfig,
    /// The store.
    pub store: StoreConfig,
    /// Accounts, sessions and tokens.
    pub auth: AuthConfig,
    /// Mail (password resets, email verification).
    pub smtp: SmtpConfig,
    /// Every bound the server enforces.
    pub limits: LimitsConfig,
    /// The broker between backends.
    pub broker: BrokerConfig,
    /// Logging.
    pub log: LogConfig,
    /// The web client and the browser origins allowed.
    pub web: WebConfig,
    /// The metrics endpoint.
    pub metrics: MetricsConfig,
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
            .list_separator(",")
            .source(env);
        let environment = LIST_KEYS
            .iter()
            .fold(environment, |env, key| env.with_list_parse_key(key));
        builder = builder.add_source(environment);
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
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
        let sections: [(&str, &[&str], Vec<FieldDoc>); 9] = [
            ("server", ServerConfig::DOC, self.server.fields()),
            ("store", StoreConfig::DOC, self.store.fields()),
            ("auth", AuthConfig::DOC, self.auth.fields()),
            ("smtp", SmtpConfig::DOC, self.smtp.fields()),
            ("limits", LimitsConfig::DOC, self.limits.fields()),
            ("broker", BrokerConfig::DOC, self.broker.fields()),
            ("log", LogConfig::DOC, self.log.fields()),
            ("web", WebConfig::DOC, self.web.fields()),
            ("metrics", MetricsConfig::DOC, self.metrics.fields()),
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
