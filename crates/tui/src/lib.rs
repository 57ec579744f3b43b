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
//! - [`account`]: the account commands, the password prompt and the API's answers.
//! - [`view`]: layout and components (header, messages, status line, input line).
//! - [`net`]: the WebSocket task.
//! - [`api`]: the REST API's account endpoints; [`http`]: the small HTTP client under it.
//! - [`tokens`]: the saved session tokens (`~/.config/tuitalk/sessions.json`).
//! - [`login`]: the `tuitalk login` and `tuitalk logout` subcommands.
//! - [`secret`]: passwords and tokens that do not print.
//! - [`sanitize`]: stripping control characters and escape sequences from others' text.

pub mod account;
pub mod api;
pub mod app;
pub mod cli;
pub mod command;
pub mod http;
pub mod login;
pub mod model;
pub mod net;
pub mod sanitize;
pub mod secret;
pub mod tokens;
pub mod update;
pub mod view;
