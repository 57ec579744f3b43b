//! The `Store` contract on SQLite: each test opens its stores on a fresh file in a
//! temporary directory, several `SqliteStore`s on one file standing for several backends.

use std::sync::Arc;

use async_trait::async_trait;
use tuitalk_server::store::Store;
use tuitalk_server::store::sqlite::SqliteStore;

use super::TestDatabase;

/// A fresh SQLite file, removed with its directory when dropped.
pub struct SqliteDb {
    dir: tempfile::TempDir,
}

impl SqliteDb {
    /// A temporary directory for the file (the first store creates it).
    fn create() -> SqliteDb {
        SqliteDb {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
}

#[async_trait]
impl TestDatabase for SqliteDb {
    async fn open(&self) -> Arc<dyn Store> {
        let store = SqliteStore::open(&self.dir.path().join("store.db"))
            .await
            .expect("open the SQLite store");
        Arc::new(store)
    }
}

contract_tests!(Some(SqliteDb::create()));
