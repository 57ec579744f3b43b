//! `tuitalk-server` binary.
fn main() {}
