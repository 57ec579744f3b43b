//! Tests of the terminal client: update logic, rendering against ratatui's TestBackend,
//! the sanitiser, and one end-to-end run of two real `tuitalk` binaries in tmux against
//! a real `tuitalk-server`.

mod e2e;
mod render;
mod sanitize;
mod support;
mod update;
