//! The vocabulary of the transport layer: sides, protocols, flows, targets and events.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use palisade_sip::{Message, MessageError};

pub use palisade_sip::net::{Protocol, Side};

/// Array index of a side, for per-side counters.
pub(crate) fn side_index(side: Side) -> usize {
    match side {
        Side::Access => 0,
        Side::Core => 1,
    }
}

/// Array index of a protocol, for per-protocol counters.
pub(crate) fn protocol_index(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Udp => 0,
        Protocol::Tcp => 1,
        Protocol::Tls => 2,
    }
}

/// One socket to open: a UDP socket, or a TCP or TLS listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenSpec {
    pub side: Side,
    pub protocol: Protocol,
    /// Port 0 picks a free port; [`crate::Transports::local_addr`] tells which.
    pub addr: SocketAddr,
}

/// Where a message came from, and the path that reaches the same peer again.
///
/// Answering over the path a request arrived on (the same local socket to the same source
/// address and port, or the same connection) is what gets through the peer's NAT.
///
/// A UDP flow is computed from the datagram, not stored: the transport keeps no state per
/// UDP peer, so a flood of spoofed sources cannot grow its memory. A TCP or TLS flow is a
/// connection; it exists while the connection is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowId {
    Udp {
        /// Index of the local UDP socket, in the order of the [`ListenSpec`]s.
        socket: u16,
        remote: SocketAddr,
    },
    /// A TCP or TLS connection, accepted or opened by this transport.
    Conn(u64),
}

/// A flow and what is known about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub id: FlowId,
    pub side: Side,
    pub protocol: Protocol,
    /// The local address of the socket or connection (unspecified while an outgoing
    /// connection is still being set up).
    pub local: SocketAddr,
    /// The peer's address as seen on the wire: after its NAT, not what its headers claim.
    pub remote: SocketAddr,
}

/// Where [`crate::Transports::send`] should send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Back over an existing flow: the UDP socket and remote address of a datagram, or that
    /// very connection (an error if it has closed).
    Flow(FlowId),
    /// To an address. UDP goes out of the side's UDP socket of the same address family. TCP
    /// and TLS reuse an open connection to `addr` on that side, or open one.
    Addr {
        side: Side,
        protocol: Protocol,
        addr: SocketAddr,
        /// TLS only: the name sent as SNI and checked against the server's certificate.
        /// Without it the certificate must be valid for the IP address.
        tls_name: Option<String>,
    },
}

/// Options of [`crate::Transports::send_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendOptions {
    /// Never move a large request from UDP to TCP (RFC 3261 §18.1.1); send it over UDP
    /// whatever its size.
    pub udp_only: bool,
}

/// What the transport reports to the application.
#[derive(Debug)]
pub enum TransportEvent {
    /// A well-framed SIP message. `at` is when it was read from the socket.
    Message {
        flow: Flow,
        message: Message,
        at: Instant,
    },
    /// Bytes that did not parse as a SIP message. On UDP `bytes` is the datagram, so a
    /// request can still be answered (`error.verdict()` says 400, 505 or 513). On a
    /// stream framing is lost: `bytes` is empty and the connection is closed right after.
    Malformed {
        flow: Flow,
        error: MessageError,
        bytes: Bytes,
    },
    /// A keep-alive arrived on this flow: a CRLF ping on a stream (answered with a pong),
    /// or a datagram of only CR, LF, NUL or space on UDP (`CRLFCRLF` is answered with
    /// `CRLF`). A registrar uses it to refresh the flow's liveness.
    KeepAlive(Flow),
    /// A connection closed: by the peer, by a limit or timeout, by a framing error, or an
    /// outgoing connection that could not be set up. Sending to it now fails.
    FlowClosed(Flow),
    /// The kernel refused a datagram sent to this UDP flow (no route to it, a full send
    /// buffer). UDP datagrams are sent by a thread of their own, so this comes after the
    /// [`crate::Transports::send`] that queued it returned.
    SendFailed(Flow),
}
