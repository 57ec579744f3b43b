//! Group-commit throughput of the PostgreSQL store, measured directly (no WebSocket, no
//! broker): `backends` stores, each with one committer loop as in the server, append
//! batches of `batch` posts spread over `rooms` rooms for `seconds`, then the sequences
//! are checked (1..N per room, no hole) and one JSON line is printed.
//!
//! It creates a fresh database next to the one in the URL and drops it afterwards:
//!
//! ```text
//! cargo run --release -p tuitalk-server --example pg_group_commit -- \
//!     --database-url postgres://tuitalk:tuitalk-lab-pg@127.0.10.1:5432/tuitalk
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use clap::Parser;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tuitalk_server::store::postgres::PgStore;
use tuitalk_server::store::{NewPost, Store};

/// Group-commit throughput of the PostgreSQL store.
#[derive(Debug, Parser)]
struct Args {
    /// A PostgreSQL URL whose role may create databases (env TUITALK_TEST_DATABASE_URL).
    #[arg(long, env = "TUITALK_TEST_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Stores appending at once (as backends, one committer each).
    #[arg(long, default_value_t = 3)]
    backends: usize,
    /// Posts per batch (the server's `store.max_batch`).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Rooms the posts are spread over.
    #[arg(long, default_value_t = 20)]
    rooms: usize,
    /// How long to append.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    match query {
        Some(query) => format!("{prefix}/{database}?{query}"),
        None => format!("{prefix}/{database}"),
    }
}

async fn admin(url: &str, sql: String) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Appends batches until `until`; returns how many posts were stored.
async fn committer(
    store: Arc<PgStore>,
    author: String,
    backend: usize,
    args: Arc<Args>,
    until: Instant,
) -> anyhow::Result<(u64, Vec<Duration>)> {
    let mut stored = 0u64;
    let mut latencies = Vec::new();
    let mut n = 0usize;
    while Instant::now() < until {
        let posts: Vec<NewPost> = (0..args.batch)
            .map(|i| {
                n += 1;
                NewPost {
                    room: format!("room-{}", (n + i) % args.rooms),
                    post_id: format!("b{backend}-{n}"),
                    author_id: author.clone(),
                    text: "a message of moderate length, like people type".to_owned(),
                    ts: tuitalk_server::store::now_ms(),
                }
            })
            .collect();
        let started = Instant::now();
        let outcomes = store.append_batch(posts).await?;
        latencies.push(started.elapsed());
        for outcome in outcomes {
            ensure!(outcome.is_ok_and(|a| !a.duplicate), "a post was not stored");
            stored += 1;
        }
    }
    Ok((stored, latencies))
}

async fn bench(args: Arc<Args>, url: &str) -> anyhow::Result<()> {
    let mut stores = Vec::new();
    for _ in 0..args.backends {
        stores.push(Arc::new(
            PgStore::connect(url, 4, Duration::from_secs(5), Duration::from_secs(30)).await?,
        ));
    }
    let author = stores[0].create_guest("bench").await?.user_id;
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(backend, store)| {
            tokio::spawn(committer(
                store.clone(),
                author.clone(),
                backend,
                args.clone(),
                until,
            ))
        })
        .collect();
    let mut total = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let (stored, mut lat) = task.await??;
        total += stored;
        latencies.append(&mut lat);
    }
    let elapsed = started.elapsed().as_secs_f64();

    // Every room holds 1..N without a hole, and the rooms add up to what was stored.
    let rooms: Vec<String> = (0..args.rooms).map(|r| format!("room-{r}")).collect();
    let heads = stores[0].heads(&rooms).await?;
    let mut sum = 0;
    for (room, head) in &heads {
        let stored = stores[0].messages_after(room, 0, *head, u32::MAX).await?;
        ensure!(
            stored.iter().map(|m| m.seq).eq(1..=*head),
            "room {room} has a hole"
        );
        sum += head;
    }
    ensure!(sum == total, "heads add up to {sum}, stored {total}");

    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{{\"backends\":{},\"batch\":{},\"rooms\":{},\"seconds\":{elapsed:.2},\"posts\":{total},\
         \"posts_per_s\":{:.0},\"batches\":{},\"batch_ms_p50\":{:.2},\"batch_ms_p99\":{:.2}}}",
        args.backends,
        args.batch,
        args.rooms,
        total as f64 / elapsed,
        latencies.len(),
        pct(0.5),
        pct(0.99),
    );
    for store in stores {
        store.close().await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    ensure!(
        args.backends > 0 && args.batch > 0 && args.rooms > 0,
        "sizes must be positive"
    );
    let name = format!("tuitalk_bench_{}", uuid::Uuid::new_v4().simple());
    admin(&args.database_url, format!("create database {name}")).await?;
    let result = bench(args.clone(), &with_database(&args.database_url, &name)).await;
    drop_database(&args.database_url, &name).await?;
    result
}

/// Drops the benchmark's database. A plain `drop database` also ends an autovacuum worker
/// busy in it (after a bulk load there often is one), which `with (force)` may not do for
/// a role that is not superuser; `force` ends our own connections still closing.
async fn drop_database(url: &str, name: &str) -> anyhow::Result<()> {
    let mut last = None;
    for attempt in 0..10 {
        let force = if attempt % 2 == 1 {
            " with (force)"
        } else {
            ""
        };
        match admin(url, format!("drop database if exists {name}{force}")).await {
            Ok(()) => return Ok(()),
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("drop database {name} failed")))
}
