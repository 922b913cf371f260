//! Shared test support for Palisade.
#![forbid(unsafe_code)]

pub mod harness;
