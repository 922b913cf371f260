//! Where SIP travels: the transport protocol of a flow, and which side of Palisade a
//! network is on. Shared by the transport layer and the B2BUA, which meet at these types.

/// Which network a socket or message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The untrusted side: phones, usually behind NAT, and the Internet.
    Access,
    /// The trusted side: the PBX or the trunk provider.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Udp,
    Tcp,
    Tls,
}

impl Protocol {
    /// The Via transport token (RFC 3261 §20.42).
    pub fn via_token(self) -> &'static str {
        match self {
            Protocol::Udp => "UDP",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
        }
    }

    /// The lower-case name used in `;transport=` parameters and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
        }
    }

    /// The port a SIP URI without one implies (RFC 3261 §19.1.2).
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Tls => 5061,
            Protocol::Udp | Protocol::Tcp => 5060,
        }
    }

    /// TCP and TLS carry a byte stream that must be framed, and retransmit by themselves
    /// (no SIP-level retransmissions).
    pub fn is_stream(self) -> bool {
        !matches!(self, Protocol::Udp)
    }

    /// How messages are delimited on this protocol.
    pub fn framing(self) -> crate::message::Transport {
        if self.is_stream() {
            crate::message::Transport::Stream
        } else {
            crate::message::Transport::Datagram
        }
    }

    /// Reads a `transport=` URI parameter or a Via transport token.
    pub fn from_token(t: &str) -> Option<Self> {
        [Protocol::Udp, Protocol::Tcp, Protocol::Tls]
            .into_iter()
            .find(|p| p.via_token().eq_ignore_ascii_case(t))
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
