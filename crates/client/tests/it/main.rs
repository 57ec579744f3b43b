//! Tests of the client core through its public API, without a network.

mod connection;
mod outbox;
mod rooms;
mod support;
