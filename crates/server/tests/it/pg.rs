//! PostgreSQL for tests: a fresh database per test on the lab's server ([`TestDb`]), and a
//! private PostgreSQL instance that a test may stop and start ([`PrivatePostgres`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tuitalk_server::store::postgres::PgStore;

use crate::lab;

/// The acquire timeout the tests give their stores.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1000);

/// The statement timeout the tests give their stores (the server's default).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    match query {
        Some(query) => format!("{prefix}/{database}?{query}"),
        None => format!("{prefix}/{database}"),
    }
}

/// A database created for one test on the lab's PostgreSQL, dropped when this is dropped
/// (also when the test fails).
pub struct TestDb {
    admin_url: String,
    name: String,
    /// The URL of the test's database.
    pub url: String,
}

impl TestDb {
    /// Creates a fresh database; `None` (the test skips) when the lab is not configured.
    pub async fn create() -> Option<TestDb> {
        let admin_url = lab::database_url()?;
        let name = format!("tuitalk_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to the lab's PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.expect("close");
        let url = with_database(&admin_url, &name);
        Some(TestDb {
            admin_url,
            name,
            url,
        })
    }

    /// A store on this database (migrations applied), as one backend would open it.
    pub async fn store(&self) -> PgStore {
        self.store_with_statement_timeout(STATEMENT_TIMEOUT).await
    }

    /// A store whose statements fail after `timeout`.
    pub async fn store_with_statement_timeout(&self, timeout: Duration) -> PgStore {
        PgStore::connect(&self.url, 8, ACQUIRE_TIMEOUT, timeout)
            .await
            .expect("open the PostgreSQL store")
    }

    /// A plain connection to this database (for checks and for holding locks).
    pub async fn connection(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime: drop the database from a thread with its own.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            // A plain drop also ends an autovacuum worker busy in the database (which
            // `with (force)` refuses to signal for a role that is not superuser); `force`
            // ends the test's own connections that are still closing.
            runtime.block_on(async {
                let mut last = None;
                for attempt in 0..10 {
                    let force = if attempt % 2 == 1 {
                        " with (force)"
                    } else {
                        ""
                    };
                    let sql = format!("drop database if exists {name}{force}");
                    let result = async {
                        let mut admin = PgConnection::connect(&admin_url).await?;
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await?;
                        admin.close().await
                    };
                    match result.await {
                        Ok(()) => return Ok(()),
                        Err(err) => last = Some(err),
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(last.unwrap_or(sqlx::Error::PoolClosed))
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// The directory holding PostgreSQL's programs (`initdb`, `pg_ctl`), newest version.
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    dirs.sort_by_key(|dir| {
        dir.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().expect("a PostgreSQL bin directory")
}

/// Runs a command as the `postgres` user (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("runuser runs")
}

/// A PostgreSQL instance of the test's own: a temporary data directory, a free port on
/// 127.0.0.1, trust authentication. Stopped by PID (and its files removed) when dropped.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The port it listens on.
    pub port: u16,
}

impl PrivatePostgres {
    /// Initialises and starts a new instance. Needs root (it runs as `postgres`).
    pub fn start() -> PrivatePostgres {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("chown runs");
        assert!(status.success(), "chown the data directory to postgres");
        let bin = pg_bin();
        let data = dir.path().join("data");
        let out = as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb: {out:?}");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = PrivatePostgres { dir, bin, port };
        pg.start_again();
        pg
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) instance and waits until it accepts connections.
    pub fn start_again(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("postgres.log");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            path_str(self.dir.path())
        );
        let out = as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {out:?}; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// The postmaster's PID, from its PID file.
    fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Stops the instance by PID (SIGINT: fast shutdown, open connections are ended) and
    /// waits until the postmaster has exited.
    pub fn stop(&self) {
        let Some(pid) = self.pid() else { return };
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
        let pid_file = self.dir.path().join("data/postmaster.pid");
        for _ in 0..300 {
            // A clean shutdown removes the PID file; a zombie counts as gone.
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let gone = state.is_empty()
                || state
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z'));
            if gone || !pid_file.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
