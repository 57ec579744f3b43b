//! Integration tests: most start the real server (`spawn_app`) on 127.0.0.1:0 with a
//! fresh data directory and talk to it over WebSocket; `store` runs the `Store` contract
//! directly on both implementations (SQLite and the lab's PostgreSQL). `TEST_LOG=debug`
//! shows logs.

mod accounts;
mod attack;
mod auth;
mod backends;
mod bad_input;
mod chat;
mod cluster;
mod failover;
mod helpers;
mod history;
mod http;
mod idempotency;
#[allow(dead_code, reason = "database_url is for the PostgreSQL tests")]
mod lab;
mod limits;
mod metrics;
mod nginx;
mod pg;
mod pg_outage;
mod pg_server;
mod rest;
mod resume;
mod retention;
mod shutdown;
mod store;
mod web;
