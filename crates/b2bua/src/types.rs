//! The vocabulary between the B2BUA and the IO layer around it.

use std::net::SocketAddr;

use palisade_sip::Message;

pub use palisade_sip::net::{Protocol, Side};

/// Where a message goes. `F` is the IO layer's flow handle: a UDP socket and remote
/// address, or a TCP/TLS connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination<F> {
    /// Back over a flow a message arrived on. This is what reaches a phone behind NAT.
    Flow {
        flow: F,
        protocol: Protocol,
        remote: SocketAddr,
    },
    /// An address on a side, for the PBX: the IO layer reuses or opens a connection.
    Address {
        side: Side,
        protocol: Protocol,
        addr: SocketAddr,
    },
}

impl<F> Destination<F> {
    pub fn protocol(&self) -> Protocol {
        match self {
            Destination::Flow { protocol, .. } | Destination::Address { protocol, .. } => *protocol,
        }
    }

    pub fn remote(&self) -> SocketAddr {
        match self {
            Destination::Flow { remote, .. } => *remote,
            Destination::Address { addr, .. } => *addr,
        }
    }
}

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source<F> {
    pub side: Side,
    pub protocol: Protocol,
    pub flow: F,
    /// The source address of the packet or connection: the only address Palisade answers
    /// to, whatever the Via says.
    pub remote: SocketAddr,
}

impl<F: Clone> Source<F> {
    /// The destination that reaches the sender again over the same flow.
    pub fn reply_destination(&self) -> Destination<F> {
        Destination::Flow {
            flow: self.flow.clone(),
            protocol: self.protocol,
            remote: self.remote,
        }
    }
}

/// A message received by the IO layer.
#[derive(Debug, Clone)]
pub struct Inbound<F> {
    pub source: Source<F>,
    pub message: Message,
}

/// A message for the IO layer to send.
#[derive(Debug, Clone)]
pub struct Transmit<F> {
    pub side: Side,
    pub destination: Destination<F>,
    pub message: Message,
}
