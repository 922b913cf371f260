//! The admission check: what the transport asks before it spends anything on a peer of
//! the access side. The core side (the PBX) is trusted and never asked about.

use std::fmt;
use std::net::SocketAddr;

/// Decides, before any parsing or TLS work, whether an access-side peer is heard. A
/// refused datagram or connection gets no answer at all: a banned or flooding source
/// cannot make Palisade send anything (no amplification).
///
/// Called from the transport's receive and accept tasks: it must be cheap and must not
/// block.
pub trait Admission: Send + Sync + fmt::Debug + 'static {
    /// A datagram from `source`, before it is parsed (keep-alives included).
    fn datagram(&self, source: SocketAddr, bytes: &[u8]) -> bool;
    /// A TCP or TLS connection from `source`, just accepted.
    fn connection(&self, source: SocketAddr) -> bool;
    /// A TLS handshake with `source` is about to start.
    fn tls_handshake(&self, source: SocketAddr) -> bool;
}

/// Admits everything (the transport's default).
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmitAll;

impl Admission for AdmitAll {
    fn datagram(&self, _: SocketAddr, _: &[u8]) -> bool {
        true
    }

    fn connection(&self, _: SocketAddr) -> bool {
        true
    }

    fn tls_handshake(&self, _: SocketAddr) -> bool {
        true
    }
}
