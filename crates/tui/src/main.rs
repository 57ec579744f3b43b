//! `tuitalk` binary.
fn main() {}
