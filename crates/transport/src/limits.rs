//! Limits on what the network may make the transport hold.

use std::time::Duration;

/// Sizes, counts and timeouts. Every one bounds something a remote peer controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportLimits {
    /// Largest message accepted, head and body, on any transport.
    pub max_message_size: usize,
    /// Most accepted TCP and TLS connections open at once, over all listeners. Further
    /// connections are reset as soon as they are accepted. Connections this transport
    /// opens itself are not counted: the application decides those.
    pub max_connections: usize,
    /// Most accepted connections open at once from one source IP address.
    pub max_connections_per_source: usize,
    /// A connection with no bytes in either direction for this long is closed. Phones that
    /// keep a connection for incoming calls must send keep-alives more often (RFC 5626).
    pub idle_timeout: Duration,
    /// Time allowed from the first byte of a message to its last (against slowloris). An
    /// accepted connection must also deliver its first message (or keep-alive) within this
    /// time of being accepted (after the TLS handshake, for TLS).
    pub message_timeout: Duration,
    /// Time allowed for a TLS handshake, in either role.
    pub tls_handshake_timeout: Duration,
    /// Time allowed to set up an outgoing TCP connection.
    pub connect_timeout: Duration,
    /// Requests larger than this that would go over UDP to an address go over TCP instead
    /// (RFC 3261 §18.1.1), when the side has a TCP listener.
    pub udp_mtu_allowance: usize,
    /// Capacity of the event channel. When it is full, UDP datagrams are dropped (and
    /// counted) and stream connections wait, which pushes back on the peer through TCP.
    pub channel_capacity: usize,
    /// Messages queued for writing per connection. A peer that lets the queue fill does not
    /// read: its connection is closed.
    pub write_queue: usize,
    /// Receive and send buffer size asked for on UDP sockets (best effort: the kernel caps
    /// it at `net.core.rmem_max` / `wmem_max`).
    pub udp_socket_buffer: usize,
    /// Datagrams waiting for the UDP sending thread, over all sockets. A datagram that
    /// finds the queue full is dropped (and the send reports it).
    pub udp_send_queue: usize,
    /// Backlog of TCP and TLS listeners.
    pub listen_backlog: i32,
}

impl Default for TransportLimits {
    fn default() -> Self {
        Self {
            max_message_size: 65_535,
            max_connections: 10_000,
            max_connections_per_source: 128,
            idle_timeout: Duration::from_secs(600),
            message_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            udp_mtu_allowance: 1300,
            channel_capacity: 8192,
            write_queue: 256,
            udp_socket_buffer: 4 << 20,
            udp_send_queue: 65_536,
            listen_backlog: 1024,
        }
    }
}
