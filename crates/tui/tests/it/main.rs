//! Tests of the terminal client: update logic, rendering against ratatui's TestBackend,
//! the sanitiser, accounts (commands, the password prompt, API answers, handles), and
//! end-to-end runs of real `tuitalk` binaries in tmux against a real `tuitalk-server`.

mod account;
mod e2e;
mod e2e_accounts;
mod render;
mod sanitize;
mod support;
mod update;
