//! The TuiTalk client core: a state machine without I/O shared by the terminal client and
//! the web client.
//!
//! The host (a transport plus a UI) feeds it inputs and carries out the [`Action`]s they
//! return:
//!
//! - connection lifecycle: [`Client::resume_identity`], [`Client::start`],
//!   [`Client::connected`],
//!   [`Client::disconnected`], [`Client::tick`], [`Client::reconnect_now`],
//!   [`Client::quit`];
//! - identity changes made outside the WebSocket (REST login, register, logout):
//!   [`Client::sign_in`], [`Client::sign_out`];
//! - server events: [`Client::frame`];
//! - user intents: [`Client::post`], [`Client::join`], [`Client::switch_to`],
//!   [`Client::leave`], [`Client::rename`], [`Client::fetch_older`], [`Client::who`],
//!   [`Client::clear_room`].
//!
//! Time is passed in as milliseconds (`u64`, any monotonic clock) and randomness comes
//! from a generator seeded by the caller, so the core runs in a browser and its tests are
//! deterministic. It never blocks and never touches the network.
//!
//! What it keeps: the identity (`welcome`), per room the messages ordered and
//! deduplicated by sequence, the last sequence seen, unread count and members, an outbox
//! of unacknowledged posts (re-sent with the same ids after a reconnect), and the
//! connection state with exponential backoff and full jitter.
//!
//! # Layout
//! - [`client`]: the [`Client`] state, lifecycle inputs and user intents.
//! - [`events`]: reactions to server events.
//! - [`action`]: [`Action`], [`Notice`], [`ConnState`].
//! - [`room`]: one room's messages, sequence and members.
//! - [`lookalike`]: marking members and authors whose names look alike.
//! - [`label`]: naming users in notices (`Ada @ada`, `bob (guest)`).
//! - [`outbox`]: posts waiting for their `ack`.
//! - [`backoff`]: reconnect delays.
//! - [`command`]: the slash commands of a typed line.
//! - [`id`]: UUID-v4-formatted post ids.

pub mod action;
pub mod backoff;
pub mod client;
pub mod command;
pub mod events;
pub mod id;
pub mod label;
pub mod lookalike;
pub mod outbox;
pub mod room;

pub use action::{Action, ConnState, Notice, NoticeKind};
pub use backoff::{Backoff, BackoffConfig};
pub use client::{Client, Config, Identity, default_limits, describe_close};
pub use label::{GUEST_MARK, user_label};
pub use outbox::{Outbox, PendingPost, PostState};
pub use room::Room;
