//! UDP: one socket per listen address, one receive task per socket.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use palisade_sip::{Message, Transport};
use socket2::{Domain, SockRef, Socket, Type};
use tokio::net::UdpSocket;

use crate::limits::TransportLimits;
use crate::stats::TransportStats;
use crate::stun;
use crate::transports::{Inner, Offer};
use crate::types::{Flow, FlowId, Protocol, Side, TransportEvent};

/// Largest UDP payload, and so the receive buffer size.
const MAX_DATAGRAM: usize = 65_536;

/// Opens a UDP socket. No SO_REUSEADDR: on Linux it would let a second process bind the
/// same port and silently take part of the traffic.
pub(crate) fn bind(addr: SocketAddr, limits: &TransportLimits) -> io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Best effort: the kernel caps these at net.core.rmem_max / wmem_max.
    if let Err(e) = socket.set_recv_buffer_size(limits.udp_socket_buffer) {
        tracing::debug!(%addr, error = %e, "could not set the UDP receive buffer size");
    }
    if let Err(e) = socket.set_send_buffer_size(limits.udp_socket_buffer) {
        tracing::debug!(%addr, error = %e, "could not set the UDP send buffer size");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Sends a datagram now or fails, without waiting. This is a plain `sendto` on the
/// non-blocking socket: Tokio's `try_send_to` would also fail until its reactor has seen the
/// socket writable once, which a socket that only ever sends this way never needs.
pub(crate) fn send_now(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
    SockRef::from(socket).send_to(bytes, &to.into())
}

/// A keep-alive datagram: nothing but CR, LF, NUL or space (phones send `CRLFCRLF`, some
/// a lone CRLF, NULs or an empty datagram).
fn is_keepalive(data: &[u8]) -> bool {
    data.len() <= 16 && data.iter().all(|c| matches!(c, b'\r' | b'\n' | 0 | b' '))
}

/// Reads datagrams until shutdown. One 64 KiB buffer, allocated once; each datagram is
/// copied into its own `Bytes`.
pub(crate) async fn receive(inner: Arc<Inner>, index: u16) {
    let Some(ep) = inner.udp.get(usize::from(index)) else {
        return;
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, remote) = tokio::select! {
            biased;
            () = inner.cancel.cancelled() => return,
            r = ep.socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(local = %ep.local, error = %e, "UDP receive error");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            },
        };
        let at = Instant::now();
        let data = &buf[..n];
        if ep.side == Side::Access && !inner.admission.datagram(remote, data) {
            TransportStats::bump(&inner.stats.datagrams_refused);
            continue;
        }
        let flow = Flow {
            id: FlowId::Udp {
                socket: index,
                remote,
            },
            side: ep.side,
            protocol: Protocol::Udp,
            local: ep.local,
            remote,
        };
        let event = if is_keepalive(data) {
            if data == b"\r\n\r\n" {
                // Best effort, like every UDP send.
                let _ = send_now(&ep.socket, b"\r\n", remote);
            }
            TransportStats::bump(&inner.stats.keepalives);
            TransportEvent::KeepAlive(flow)
        } else if stun::is_stun(data) {
            if let Some(response) = stun::binding_response(data, remote) {
                let _ = send_now(&ep.socket, &response, remote);
            }
            TransportStats::bump(&inner.stats.keepalives);
            TransportEvent::KeepAlive(flow)
        } else {
            let bytes = Bytes::copy_from_slice(data);
            match Message::parse(bytes.clone(), Transport::Datagram, &inner.parse_limits) {
                Ok(message) => {
                    inner.stats.inc_in(ep.side, Protocol::Udp);
                    TransportEvent::Message { flow, message, at }
                }
                Err(error) => {
                    TransportStats::bump(&inner.stats.malformed);
                    TransportEvent::Malformed { flow, error, bytes }
                }
            }
        };
        if let Offer::Closed = inner.offer(event) {
            return;
        }
    }
}
