//! Attacks, each run in bounded form against the real server, each asserting the defence
//! docs/security.md describes (the connection closed within its timeout, the documented
//! status or close code, memory and descriptors bounded). One submodule per surface.

mod edge;
mod origin;
mod person;
mod storage;
mod text;
