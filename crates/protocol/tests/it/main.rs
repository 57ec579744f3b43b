//! Tests of the protocol crate: golden JSON for every variant, round trips, decode error
//! classification and validation rules.

mod codec;
mod golden;
mod name;
