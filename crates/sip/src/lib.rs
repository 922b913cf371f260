//! Palisade's SIP protocol core.
//!
//! Everything here is sans-IO: bytes and the current time go in, messages to send and the
//! next deadline come out. Nothing in this crate opens a socket, spawns a task or reads a
//! clock; the caller owns all of that. This is what lets the transaction layer be tested
//! with a virtual clock and simulated packet loss.
#![forbid(unsafe_code)]

pub mod auth;
pub mod header_name;
pub mod headers;
pub mod message;
pub mod method;
pub mod net;
mod scan;
pub mod sdp;
pub mod transaction;
pub mod uri;

pub use header_name::HeaderName;
pub use message::{Message, MessageError, ParseError, ParseLimits, Transport, Verdict};
pub use method::Method;
pub use net::{Protocol, Side};
pub mod edit;
pub mod framing;
pub mod validate;
