//! The vocabulary between the B2BUA and the IO layer around it.

use std::net::SocketAddr;

use palisade_sip::Message;

/// Which network a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The untrusted side: phones, the Internet.
    Access,
    /// The trusted side: the PBX.
    Core,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Self {
        match self {
            Side::Access => Side::Core,
            Side::Core => Side::Access,
        }
    }
}

/// A SIP transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Udp,
    Tcp,
    Tls,
}

impl Protocol {
    /// The Via transport token.
    pub fn via_token(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
        }
    }

    /// Whether the transport retransmits by itself (no SIP-level retransmissions).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Protocol::Udp)
    }

    /// Reads a `transport=` URI parameter or Via token.
    pub fn from_token(t: &str) -> Option<Self> {
        if t.eq_ignore_ascii_case("udp") {
            Some(Protocol::Udp)
        } else if t.eq_ignore_ascii_case("tcp") {
            Some(Protocol::Tcp)
        } else if t.eq_ignore_ascii_case("tls") {
            Some(Protocol::Tls)
        } else {
            None
        }
    }
}

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
