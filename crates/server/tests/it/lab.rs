//! Where the tests find the real PostgreSQL and Redis Cluster: the environment variables
//! `TUITALK_TEST_DATABASE_URL` and `TUITALK_TEST_REDIS_NODES`, which `scripts/test.sh` sets
//! from `lab/lab env` after `lab/lab infra`.
//!
//! Without them a test that needs the lab says so on stderr and returns; with
//! `TUITALK_TEST_REQUIRE_LAB` set (as the test command does) it fails instead, so CI can
//! never pass by skipping.

/// The variable that turns a missing lab into a failure.
const REQUIRE: &str = "TUITALK_TEST_REQUIRE_LAB";

fn lab_var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                std::env::var_os(REQUIRE).is_none(),
                "{name} is not set but {REQUIRE} is: start the lab (lab/lab infra) and export it"
            );
            eprintln!("skipped: {name} is not set (run lab/lab infra, or scripts/test.sh)");
            None
        }
    }
}

/// The URL of the lab's PostgreSQL database; its role may create databases.
pub fn database_url() -> Option<String> {
    lab_var("TUITALK_TEST_DATABASE_URL")
}

/// The Redis Cluster's seed nodes, comma-separated `redis://:password@host:port` URLs.
pub fn redis_nodes() -> Option<String> {
    lab_var("TUITALK_TEST_REDIS_NODES")
}

/// A test that needs something of the machine (root, `mount`) that is missing: fails
/// when `TUITALK_TEST_REQUIRE_LAB` is set, else says so on stderr (the test then returns).
pub fn missing(what: &str) {
    assert!(
        std::env::var_os(REQUIRE).is_none(),
        "{what}, but {REQUIRE} is set: run the tests as root on a machine that can mount"
    );
    eprintln!("skipped: {what}");
}
