//! The `Store` contract, written once ([`contract`]) and run on both implementations:
//! [`sqlite`] (a fresh file in a temporary directory per test) and [`postgres`] (a fresh
//! database on the lab's PostgreSQL per test, which also holds the few PostgreSQL-only
//! tests). `cargo test store::sqlite` or `store::postgres` runs one backend's tests.
//!
//! A case is an `async fn(&dyn TestDatabase)`: it opens the store it tests with
//! [`TestDatabase::open`], and more stores on the same database (as more servers would)
//! for the cases of several backends. [`contract_tests!`] makes one `#[tokio::test]` per
//! case in the module that invokes it, so a case missing from its list is dead code (a
//! warning, an error in CI).

use std::sync::Arc;

use async_trait::async_trait;
use tuitalk_protocol::Seq;
use tuitalk_server::store::{Appended, NewPost, Store, StoreError};

/// A fresh database of one store implementation for one test, removed when dropped.
#[async_trait]
pub trait TestDatabase: Send + Sync {
    /// Opens a store on this database, applying the migrations (a no-op when another store
    /// applied them), as one more server would.
    async fn open(&self) -> Arc<dyn Store>;
}

/// One `#[tokio::test]` per contract case, each on the database that `$fresh` makes: an
/// `Option` of a [`TestDatabase`], `None` when the backend is not available (the test then
/// returns, as the lab's tests do).
macro_rules! contract_tests {
    (@cases $fresh:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some(db) = $fresh else { return };
                crate::store::contract::$case(&db).await;
            }
        )+
    };
    ($fresh:expr) => {
        contract_tests!(@cases $fresh;
            batch_sequences_duplicates_and_conflicts,
            users_memberships_and_names,
            history_and_resume_pages_are_exact,
            a_store_opened_later_sees_what_was_stored,
            concurrent_stores_get_sequences_without_holes,
            same_post_from_two_stores_is_stored_once,
            retention_by_count_keeps_the_newest_and_the_head,
            retention_by_age_sweeps_every_room,
            size_grows_with_the_messages,
            register_new_account_and_upgrade_guest,
            register_refuses_taken_and_registered,
            logins_credentials_and_account_list,
            roles_disabled_and_verified,
            sessions_lifecycle,
            codes_work_once_and_expire,
            messages_carry_author_handle,
        );
    };
}

mod contract;
mod postgres;
mod sqlite;

/// A post by `author` to `room` with post id `id`, at time 1.
pub fn post(author: &str, room: &str, id: &str, text: &str) -> NewPost {
    NewPost {
        room: room.into(),
        post_id: id.into(),
        author_id: author.into(),
        text: text.into(),
        ts: 1,
    }
}

/// (seq, duplicate) of each outcome, `None` for a refused post.
pub fn seqs(out: &[Result<Appended, StoreError>]) -> Vec<Option<(Seq, bool)>> {
    out.iter()
        .map(|o| o.as_ref().map(|a| (a.message.seq, a.duplicate)).ok())
        .collect()
}
