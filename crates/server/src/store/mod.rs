//! The store: users, rooms, memberships and messages, behind the object-safe [`Store`]
//! trait so the embedded SQLite implementation ([`sqlite`]) and the PostgreSQL one
//! ([`postgres`], chosen by `store.database_url`) share every code path above it. SQL
//! dialect details stay inside the implementations; one contract suite
//! (`tests/it/store/`) runs against both.
//!
//! The store is the sequencer: [`Store::append_batch`] assigns each room's next sequence
//! inside the transaction that inserts the message (G2), and the group committer
//! ([`commit`]) acknowledges a post only after that transaction committed (G1).
//!
//! Accounts, sessions and mailed codes are records of [`accounts`].
//!
//! Beside it: [`retention`] deletes old messages (off by default), [`size`] exports the
//! store's size and its alarm, [`files`] keeps the embedded store's files private.

pub mod accounts;
pub mod commit;
pub mod files;
pub mod postgres;
pub mod retention;
pub mod size;
pub mod sqlite;

use async_trait::async_trait;
use tuitalk_protocol::{ChatMessage, Seq};

use accounts::{CodePurpose, NewAccount, Profile, RegisterError, Role, SessionRecord};
use retention::{PruneStep, RetentionRule, RoomCursor};

/// An identity as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The server-issued id (a UUID string).
    pub user_id: String,
    /// The current display name.
    pub name: String,
    /// The account's handle (lower case, without `@`); `None` for a guest.
    pub handle: Option<String>,
}

/// A post to store. The author comes from the session, never from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    /// The room (already validated and joined).
    pub room: String,
    /// The client's post id (validated).
    pub post_id: String,
    /// The author's user id, from the session.
    pub author_id: String,
    /// The text (validated).
    pub text: String,
    /// The server time of the post, in milliseconds since the Unix epoch.
    pub ts: i64,
}

/// The outcome of storing one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stored message (the original one for a duplicate).
    pub message: ChatMessage,
    /// Whether the post id had been stored before with the same room and text: the
    /// message is then not published again (G4).
    pub duplicate: bool,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The post id was used before by this author for another room or text (client sees
    /// `id_conflict`).
    #[error("post id already used for another message")]
    IdConflict,
    /// The database could not be reached or the statement failed (client sees
    /// `unavailable`).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Preparing the store's files failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Stored data violates an invariant (for example a negative sequence).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// Persistent state. Implementations are shared as `Arc<dyn Store>`; every method is
/// cancel-safe in the sense that dropping its future never leaves a partial write (each
/// write is one transaction).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a guest identity with a new id and the given (validated) name.
    async fn create_guest(&self, name: &str) -> Result<User, StoreError>;

    /// The user with this id, if any.
    async fn user(&self, user_id: &str) -> Result<Option<User>, StoreError>;

    /// Changes a user's display name; returns the previous name, `None` if there is no
    /// such user.
    async fn rename(&self, user_id: &str, name: &str) -> Result<Option<String>, StoreError>;

    /// Makes the user a member of the room, creating the room when it does not exist;
    /// returns the room's head sequence read after the membership was stored.
    async fn join(&self, user_id: &str, room: &str) -> Result<Seq, StoreError>;

    /// Ends the user's membership of the room (no error if there was none).
    async fn leave(&self, user_id: &str, room: &str) -> Result<(), StoreError>;

    /// The rooms the user is a member of, by name.
    async fn rooms_of(&self, user_id: &str) -> Result<Vec<String>, StoreError>;

    /// The room's newest sequence (0 for an empty or unknown room).
    async fn head(&self, room: &str) -> Result<Seq, StoreError>;

    /// The head sequences of the given rooms, in one query; rooms that do not exist are
    /// left out. Used by the room watcher to notice messages the broker did not carry.
    async fn heads(&self, rooms: &[String]) -> Result<Vec<(String, Seq)>, StoreError>;

    /// Stores the posts in ONE transaction, in order, assigning each room's next sequence
    /// inside it. Each post gets its own outcome: stored, a duplicate of an earlier post
    /// with the same author and id (same room and text: the original message), or
    /// [`StoreError::IdConflict`]. The outer error means no post of the batch was stored
    /// (PostgreSQL may keep the batch's new rooms, empty, created in a transaction of
    /// their own before the batch's statement).
    async fn append_batch(
        &self,
        posts: Vec<NewPost>,
    ) -> Result<Vec<Result<Appended, StoreError>>, StoreError>;

    /// Messages of the room with `after < seq <= up_to`, ascending, at most `limit` (for
    /// resuming a room and repairing gaps).
    async fn messages_after(
        &self,
        room: &str,
        after: Seq,
        up_to: Seq,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError>;

    /// The newest `limit` messages with `seq < before` (all when `before` is `None`),
    /// ascending, and whether older ones exist.
    async fn history(
        &self,
        room: &str,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError>;

    /// One step of retention, in one transaction: looks at the rooms from `from` on (in
    /// internal room order, at most [`retention::ROOMS_PER_STEP`]) and deletes, oldest
    /// first, at most `max_messages` messages that `rule` no longer keeps. Only a prefix
    /// of each room's log is deleted and heads never change; deleting is idempotent, so
    /// several stores may prune one database at once (PostgreSQL lets one at a time:
    /// the others get [`PruneStep::busy`]).
    async fn prune(
        &self,
        rule: &RetentionRule,
        from: RoomCursor,
        max_messages: u32,
    ) -> Result<PruneStep, StoreError>;

    /// The store's size in bytes: SQLite's database (page count times page size) plus
    /// its WAL file; PostgreSQL's `pg_database_size(current_database())`.
    async fn size_bytes(&self) -> Result<u64, StoreError>;

    /// The identity with its account fields, if any.
    async fn profile(&self, user_id: &str) -> Result<Option<Profile>, StoreError>;

    /// The account with this normalised email, or with this lower-case handle.
    async fn profile_by_login(&self, email_or_handle: &str) -> Result<Option<Profile>, StoreError>;

    /// Accounts (not guests) ordered by handle, after `after` (a handle), at most `limit`.
    async fn accounts(&self, after: Option<&str>, limit: u32) -> Result<Vec<Profile>, StoreError>;

    /// The user id, password hash and disabled flag of the account with this normalised
    /// email.
    async fn credentials(&self, email: &str) -> Result<Option<(String, String, bool)>, StoreError>;

    /// The password hash of an account (`None`: no such user, or a guest).
    async fn password_hash(&self, user_id: &str) -> Result<Option<String>, StoreError>;

    /// Creates an account: a new user (`upgrade` = `None`, with a new id), or the guest
    /// `upgrade` made an account in place (same id, rooms and messages). One transaction;
    /// the unique email and handle decide races.
    async fn register(
        &self,
        upgrade: Option<&str>,
        account: &NewAccount,
    ) -> Result<User, RegisterError>;

    /// Replaces an account's password hash; whether the account exists.
    async fn set_password(&self, user_id: &str, password_hash: &str) -> Result<bool, StoreError>;

    /// Sets the role; whether the user exists.
    async fn set_role(&self, user_id: &str, role: Role) -> Result<bool, StoreError>;

    /// Disables (at `now`) or enables the user; whether the user exists.
    async fn set_disabled(
        &self,
        user_id: &str,
        disabled: bool,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Marks the email verified at `now`; whether the user exists.
    async fn set_email_verified(&self, user_id: &str, now: i64) -> Result<bool, StoreError>;

    /// Stores a new session.
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session with this id (revoked or not) and its user's profile.
    async fn session(
        &self,
        session_id: &str,
    ) -> Result<Option<(SessionRecord, Profile)>, StoreError>;

    /// Sets `last_seen_at = now` on these sessions (one statement).
    async fn touch_sessions(&self, session_ids: &[String], now: i64) -> Result<(), StoreError>;

    /// The user's sessions that are not revoked and end after `now` (absolute end),
    /// newest first.
    async fn sessions_of(&self, user_id: &str, now: i64) -> Result<Vec<SessionRecord>, StoreError>;

    /// Relabels one of the user's sessions that is not revoked; the session after.
    async fn label_session(
        &self,
        user_id: &str,
        session_id: &str,
        label: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Revokes one of the user's sessions at `now`; whether it was live.
    async fn revoke_session(
        &self,
        user_id: &str,
        session_id: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Revokes all of the user's live sessions at `now`, except `keep`; how many.
    async fn revoke_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// The ids of sessions revoked at or after `since` (ms), at most `limit`.
    async fn revoked_since(&self, since: i64, limit: u32) -> Result<Vec<String>, StoreError>;

    /// Whether the user has any session row at all (revoked or not): a version 1 token
    /// is exchanged only for an identity that has none.
    async fn has_sessions(&self, user_id: &str) -> Result<bool, StoreError>;

    /// Deletes sessions that ended (revoked, or past `expires_at`) before `before`, and
    /// codes that expired before it; how many rows went.
    async fn prune_sessions(&self, before: i64) -> Result<u64, StoreError>;

    /// Stores a mailed code by its SHA-256 hash (hex).
    async fn create_code(
        &self,
        code_hash: &str,
        user_id: &str,
        purpose: CodePurpose,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;

    /// Uses up a code: when `code_hash` names an unused, unexpired code of `purpose`,
    /// marks it used at `now` (one statement, so it works once even when two backends
    /// race) and returns its user id.
    async fn use_code(
        &self,
        code_hash: &str,
        purpose: CodePurpose,
        now: i64,
    ) -> Result<Option<String>, StoreError>;

    /// Closes the store's connections (at shutdown).
    async fn close(&self);
}

/// The current time in milliseconds since the Unix epoch (UTC), as stored and sent.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
