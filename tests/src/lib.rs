//! Shared test support for Palisade: the invariants behind the fuzz targets, and the
//! harness that starts real peers inside network namespaces.
#![forbid(unsafe_code)]

pub mod fuzz_checks;
pub mod harness;
