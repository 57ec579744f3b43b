//! The TuiTalk wire protocol: every message a client and a server exchange over the
//! WebSocket at `/ws`, as plain Rust types with a JSON codec.
//!
//! Each WebSocket text frame carries exactly one JSON object with a `"type"` field that
//! names the variant (snake_case). Clients send [`ClientCommand`]s, servers send
//! [`ServerEvent`]s. The crate is pure types and codec: no I/O, no async runtime, and it
//! builds for `wasm32-unknown-unknown` so the browser client shares it.
//!
//! The human-readable specification, with examples, is `docs/protocol.md`.
//!
//! # Layout
//! - [`account`]: normalising and checking email addresses, handles and password lengths.
//! - [`command`]: client → server commands.
//! - [`event`]: server → client events and the payload types they carry.
//! - [`error`]: the stable error codes and WebSocket close codes.
//! - [`codec`]: encoding and decoding of text frames, with decode errors classified into
//!   error codes.
//! - [`name`]: validation of room names, display names, post ids and texts shared by
//!   server and clients.
//! - [`charclass`]: the Unicode character classes those rules use (blank, refused in
//!   names, bidi balance), from Unicode's data.
//! - [`skeleton`]: [`name_skeleton`] and [`skeleton::confusable_skeleton`], the
//!   look-alike keys of a display name (UTS #39), [`skeleton::NameKey`] that compares
//!   both, and [`skeleton::user_tag`], the short id tag clients show next to look-alikes.

pub mod account;
pub mod charclass;
pub mod codec;
pub mod command;
pub mod error;
pub mod event;
pub mod name;
pub mod skeleton;

pub use codec::{DecodeError, decode_command, decode_event, encode_command, encode_event};
pub use command::ClientCommand;
pub use error::{CloseCode, ErrorCode};
pub use event::{ChatMessage, Member, ServerEvent};
pub use skeleton::name_skeleton;

/// The protocol version this crate speaks. A client sends it in `hello`; a server that
/// does not support it answers with the error code `unsupported_version`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A room's sequence number: the first message of a room has sequence 1, the next 2, and
/// so on without holes. Sequence 0 means "nothing yet".
pub type Seq = u64;
