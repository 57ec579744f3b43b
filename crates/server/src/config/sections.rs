//! The configuration's sections, one struct per `[section]` of the TOML file, declared
//! with the `section!` macro: a field's doc comment is both its rustdoc and the comment
//! `print-default-config` writes above it ([`FieldDoc`]), so the two cannot drift apart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

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
        /// Time (milliseconds) a client has to send a request's headers, and the longest
        /// an HTTP connection may sit idle between requests; then it is closed. Silent and
        /// trickling sockets (slow-loris) are closed after this long.
        header_timeout_ms: u64 = 10_000,
        /// Time (milliseconds) a client has to send a request's body once its headers
        /// arrived; a slower body is answered 408 and the connection closed.
        body_timeout_ms: u64 = 10_000,
        /// Longest (milliseconds) one HTTP request may take from its headers to its answer
        /// (REST posts wait for their commit); a slower one is answered 408. The WebSocket
        /// connection after an upgrade is not bounded by it.
        request_timeout_ms: u64 = 30_000,
        /// A write to a client (an HTTP answer or WebSocket frames) that makes no progress
        /// for this long (milliseconds) closes the connection: a peer that stopped reading
        /// cannot hold it forever.
        write_timeout_ms: u64 = 30_000,
        /// Addresses or networks (`10.0.0.5`, `10.0.0.0/24`, `::1`) of reverse proxies
        /// (nginx) whose `X-Real-IP` / `X-Forwarded-For` name the client. Requests from
        /// other peers are attributed to their socket address, whatever headers they send.
        /// Trusted proxies are exempt from the per-address connection cap (their clients
        /// are counted instead).
        trusted_proxies: Vec<String> = Vec::new(),
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
        /// Retention by age: messages older than this many days are deleted (the oldest
        /// of each room first). 0 keeps messages forever. Applies to every room alike;
        /// sequence numbers are never reused, and history and resume return what is
        /// left (docs/storage.md).
        retention_days: u32 = 0,
        /// Retention by count: each room keeps only its newest this many messages; older
        /// ones are deleted. 0 sets no cap. A post resent after its original was deleted
        /// is stored again, so keep far more than a reconnect's worth of messages.
        retention_messages: u64 = 0,
        /// Interval (milliseconds) between retention passes (each backend runs them;
        /// with PostgreSQL one backend at a time prunes). Unused while both retention
        /// settings are 0.
        retention_interval_ms: u64 = 60_000,
        /// The most messages one retention step deletes, in one short transaction; the
        /// group commit runs between steps, so a large backlog never holds a long lock.
        retention_batch: u32 = 1000,
        /// The most messages one retention pass deletes; the rest waits for the next pass.
        retention_max_per_pass: u64 = 100_000,
        /// Interval (milliseconds) between reads of the store's size
        /// (`tuitalk_store_size_bytes`; SQLite: the database file and its WAL;
        /// PostgreSQL: `pg_database_size`).
        size_interval_ms: u64 = 60_000,
        /// Size (bytes) of the store above which `tuitalk_store_size_alarm` is 1 and a
        /// warning is logged (posting goes on). 0 turns the alarm off.
        size_alarm_bytes: u64 = 0,
    }
}

section! {
    /// Accounts, sessions and their tokens (docs/protocol.md, "Sessions and tokens";
    /// docs/security.md, "Accounts and sessions").
    AuthConfig {
        /// Key with id `0` that signs and verifies session tokens (HMAC-SHA256); every
        /// backend of a cluster needs the same keys. Unset: a random key is generated once
        /// and kept in `<data_dir>/token-secret` (mode 0600). Protocol 1 tokens are checked
        /// with this key only.
        secret: Option<Secret> = None,
        /// More keys by id (letters, digits, `-`, `_`; at least 16 characters each), for
        /// rotation: add the new key here on every backend, then point `signing_key` at it;
        /// tokens signed with any listed key (or `secret`) stay valid until their sessions
        /// end. A TOML table (`[auth.keys]` `k2 = "..."`; in the environment
        /// `TUITALK__AUTH__KEYS__K2`). Secrets: never printed.
        keys: BTreeMap<String, Secret> = BTreeMap::new(),
        /// The id of the key that signs new tokens: `0` (`secret`) or one of `keys`.
        signing_key: String = "0".to_owned(),
        /// A session unused this long (seconds) ends; every request and a live WebSocket
        /// count as use (30 days).
        session_idle_seconds: u64 = 30 * 24 * 3600,
        /// A session ends this long (seconds) after it began, however much it is used
        /// (90 days).
        session_max_seconds: u64 = 90 * 24 * 3600,
        /// How often (milliseconds) each backend asks the store which sessions were revoked
        /// and closes their live WebSockets (with 4004), and closes those past their
        /// absolute end: a revocation reaches every backend within about this long.
        revocation_check_ms: u64 = 500,
        /// The shortest password accepted, in characters.
        password_min_chars: usize = 8,
        /// Argon2id memory cost in KiB (OWASP's minimum: 19456 = 19 MiB).
        argon2_memory_kib: u32 = 19_456,
        /// Argon2id iterations.
        argon2_iterations: u32 = 2,
        /// Password hashes computed at once (each takes `argon2_memory_kib` of memory and
        /// one core for tens of milliseconds); more wait, up to `hash_queue`.
        max_concurrent_hashes: usize = 2,
        /// Password checks waiting for a hashing slot; more are refused at once with
        /// `unavailable` (503), so a login flood cannot queue unbounded work.
        hash_queue: usize = 64,
        /// How long (seconds) a mailed password reset code works.
        reset_code_ttl_seconds: u64 = 1800,
        /// How long (seconds) a mailed email verification code works.
        verify_code_ttl_seconds: u64 = 7 * 24 * 3600,
    }
}

section! {
    /// Mail for password resets and email verification (docs/operations.md, "Mail").
    /// Unset `host`: no mail; resets are done with `tuitalk-server user reset-password`
    /// and new accounts count as verified.
    SmtpConfig {
        /// The SMTP server's host name or address.
        host: Option<String> = None,
        /// Its port.
        port: u16 = 587,
        /// `starttls` (upgrade after connecting; the usual for port 587), `tls` (TLS from
        /// the start; port 465) or `none` (plain text: only to a relay on this host or a
        /// trusted network).
        tls: String = "starttls".to_owned(),
        /// The login name, if the server wants one.
        username: Option<String> = None,
        /// The password for `username` (a secret: never printed).
        password: Option<Secret> = None,
        /// The sender, `Name <address>`.
        from: String = "TuiTalk <tuitalk@localhost>".to_owned(),
        /// The address people open the web client at (`https://chat.example.org`): mails
        /// then carry a link besides the code. Unset: the code only.
        public_url: Option<String> = None,
        /// Bound (milliseconds) of one delivery, connect to QUIT.
        timeout_ms: u64 = 10_000,
        /// Mails waiting to be sent; more are dropped (counted in
        /// `tuitalk_mail_total{outcome="dropped"}`) and the request still answers as usual.
        queue: usize = 100,
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
        /// Posts per second one identity may sustain, over all its connections and the
        /// REST API together; bursts up to the same number.
        posts_per_second: u32 = 20,
        /// Posts per second from one client address (IPv6: one /64), all identities
        /// together; bursts up to the same number.
        posts_per_second_per_address: u32 = 100,
        /// `hello`s and REST sessions (`POST /api/sessions`) per minute from one client
        /// address; bursts up to the same number. More get `rate_limited`.
        sessions_per_minute_per_address: u32 = 120,
        /// New guest identities per hour from one client address (by `hello` without a
        /// token or `POST /api/sessions`); bursts up to the same number.
        guests_per_hour_per_address: u32 = 60,
        /// History pages (`history`, REST `GET .../messages`) per second per identity;
        /// bursts up to the same number.
        history_per_second: u32 = 10,
        /// Presence requests (`who`) per second per identity; bursts up to the same number.
        presence_per_second: u32 = 5,
        /// Renames (`name`) per minute per identity; bursts up to the same number.
        renames_per_minute: u32 = 10,
        /// Login attempts (`POST /api/sessions` with a password) per minute per client
        /// address; bursts up to the same number.
        logins_per_minute_per_address: u32 = 30,
        /// Login attempts per hour per email address, known or not (so the answer tells
        /// nothing); bursts up to the same number. Guessing one account's password is
        /// slowed to this pace from any number of addresses.
        logins_per_hour_per_account: u32 = 20,
        /// Accounts registered per hour per client address; bursts up to the same number.
        registrations_per_hour_per_address: u32 = 10,
        /// Mails asked for (resets, verification) per hour per client address.
        mails_per_hour_per_address: u32 = 10,
        /// Mails per hour to one email address.
        mails_per_hour_per_account: u32 = 3,
        /// Joins of rooms not yet joined on the connection, per minute per identity;
        /// bursts up to the same number (a reconnecting client rejoins all its rooms).
        joins_per_minute: u32 = 300,
        /// Rooms one identity may create (join first) per hour; bursts up to the same
        /// number.
        rooms_created_per_hour: u32 = 30,
        /// Most rooms one identity may be a member of (its stored memberships, kept across
        /// reconnects until it leaves); a join of one more gets `too_many_rooms`.
        max_memberships: u32 = 200,
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
        /// The share of `accepts_per_second` one client address may take: new WebSocket
        /// connections per second from one address (IPv6: one /64), bursts up to the same
        /// number. More get HTTP 503 with `Retry-After: 1`, before they count against the
        /// global rate, so one address flooding upgrades does not lock others out.
        accepts_per_second_per_address: u32 = 20,
        /// Most connections one client address (IPv6: one /64) may hold at once: TCP
        /// connections from a peer that is not a trusted proxy (more are closed at once),
        /// and WebSocket connections by client address (more are closed with 1013 after the
        /// upgrade). Raise it for many users behind one NAT.
        max_connections_per_address: usize = 100,
        /// Most WebSocket connections one identity may have open at once (its devices and
        /// tabs); a `hello` beyond it is answered by a close with 1013.
        max_connections_per_identity: usize = 20,
        /// File descriptors kept free for the store, the broker, logs and the connections
        /// of loopback peers and trusted proxies (health checks): other TCP connections
        /// beyond the process's descriptor limit (`RLIMIT_NOFILE`, raised to its hard
        /// limit at start) minus this many are closed at once.
        reserved_fds: u64 = 128,
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
        /// Most keys (addresses or identities) each per-address and per-identity rate
        /// limit tracks at once; keys back to a full budget are forgotten first. While a
        /// limiter is still full, new keys get `rate_limited`: memory stays bounded.
        max_rate_keys: usize = 100_000,
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
    /// The web client served at `/`, and which browser pages may use this server
    /// (docs/security.md, "Browsers, origins and tokens"). The lists are TOML arrays; in
    /// the environment, comma-separated (`TUITALK__WEB__SERVERS=wss://a/ws,wss://b/ws`).
    WebConfig {
        /// Directory of a built web client (`index.html`, `tuitalk_web.js`,
        /// `tuitalk_web_bg.wasm`, ...; `scripts/build-web.sh` writes one to
        /// `crates/web/dist`), read once at startup. Unset: the files embedded into the
        /// binary when it was built (present when the web client was built first), or
        /// else a page at `/` that tells how to build them.
        assets_dir: Option<PathBuf> = None,
        /// Further browser origins (`scheme://host[:port]`, e.g. `https://chat.example.org`)
        /// whose pages may open `/ws` and make REST POSTs. Browsers name the page in the
        /// `Origin` header: this server's own pages (the `Origin`'s host and port are the
        /// request's `Host`) and requests without `Origin` (the terminal client, bots,
        /// tuitalk-load) always pass; any other origin is refused with HTTP 403. List here
        /// the servers whose web client may connect to this one (their `web.servers`).
        allowed_origins: Vec<String> = Vec::new(),
        /// Origins (`scheme://host[:port]`) whose pages' scripts may call the REST API
        /// `/api/` (CORS): preflights are answered and responses carry
        /// `Access-Control-Allow-Origin` for these origins only, and their REST POSTs pass
        /// like those of `allowed_origins`. Empty: no CORS headers at all.
        cors_origins: Vec<String> = Vec::new(),
        /// Other WebSocket servers (`ws://` or `wss://` URLs, e.g. `wss://eu.chat.example/ws`)
        /// the web client served here may talk to when its page is opened with
        /// `?server=URL`. The page's Content-Security-Policy allows connections to this
        /// server and these only. Empty: the page talks to this server only; a `?server=`
        /// naming another one is ignored (the page connects here and says so). Each
        /// server listed must allow this server's origin in its `web.allowed_origins`.
        servers: Vec<String> = Vec::new(),
    }
}

section! {
    /// The metrics endpoint `/metrics` (docs/security.md, "Metrics endpoint").
    MetricsConfig {
        /// The token scrapers send as `Authorization: Bearer TOKEN` (at least 16
        /// characters; a secret: never printed). Set: every request to `/metrics` must
        /// carry it (401 otherwise). Unset: `/metrics` answers only peers on the loopback
        /// interface (a Prometheus or an SSH tunnel on the same host), others get 403; the
        /// same with or without Redis.
        bearer_token: Option<Secret> = None,
    }
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
}
