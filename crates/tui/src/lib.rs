//! TuiTalk's terminal client, Elm style: a [`model::Model`] changed only by
//! [`update::update`] from [`update::Msg`]s, drawn by [`view::draw`]; side effects
//! ([`update::Effect`]) are carried out by the run loop in [`app`]. The protocol logic
//! (identity, rooms, outbox, reconnects) lives in the I/O-free `tuitalk-client` core;
//! [`net`] is a thin WebSocket transport around it that talks to the UI only through
//! channels.
//!
//! # Layout
//! - [`cli`]: command-line arguments.
//! - [`app`]: the run loop (terminal events, network events, ticks).
//! - [`model`]: UI state: the client core, input line, system lines, scroll.
//! - [`update`]: inputs → model changes and effects; slash commands are applied here.
//! - [`command`]: parsing of the input line's slash commands.
//! - [`view`]: layout and components (header, messages, status line, input line).
//! - [`net`]: the WebSocket task.
//! - [`sanitize`]: stripping control characters and escape sequences from others' text.

pub mod app;
pub mod cli;
pub mod command;
pub mod model;
pub mod net;
pub mod sanitize;
pub mod update;
pub mod view;
