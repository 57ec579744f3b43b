//! Tests of the protocol crate: golden JSON for every variant, round trips, decode error
//! classification, validation rules, and property-based tests of the codec and the rules.

mod codec;
mod golden;
mod name;
mod props;
