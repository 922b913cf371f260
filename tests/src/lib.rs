//! Shared test support for Palisade.
#![forbid(unsafe_code)]
