//! Batched UDP receive and send: `recvmmsg(2)` and `sendmmsg(2)` over preallocated
//! buffers. This module is the only place in the crate with `unsafe` code.
//!
//! Why not a wrapper crate: `nix` 0.31's `recvmmsg` does not reset `msg_namelen` between
//! calls and its `sendmmsg` result has no count accessor (iterating it reads address
//! storage that a send never initialized); `quinn-udp` batches receives, but sends one
//! destination per call with GSO and parses ECN and packet-info control messages on every
//! packet, which a relay does not need. What is needed is small: fill `mmsghdr`s pointing
//! at fixed buffers, make the call, read lengths and source addresses back.
//!
//! On other systems a portable fallback does one `recv_from`/`send_to` per packet.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Bytes per packet buffer: room for any RTP packet that fits an Ethernet MTU, with
/// headroom. A larger datagram is truncated by the kernel and dropped as malformed.
pub(crate) const SLOT: usize = 2048;
/// The largest batch, in packets.
pub(crate) const MAX_BATCH: usize = 64;

/// What [`Batch::send`] did with a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SendOutcome {
    pub(crate) sent: u64,
    /// Not sent because the socket's send buffer was full (the packet path never waits).
    pub(crate) dropped: u64,
    /// Refused by the kernel for the packet itself (e.g. no route to the destination).
    pub(crate) failed: u64,
}

/// Packets queued for one socket: buffer slot, length and destination of each.
#[derive(Debug)]
pub(crate) struct SendQueue {
    items: [(u8, u16, Option<SocketAddr>); MAX_BATCH],
    len: usize,
}

impl SendQueue {
    pub(crate) fn new() -> Self {
        SendQueue {
            items: [(0, 0, None); MAX_BATCH],
            len: 0,
        }
    }

    /// Queues the packet in buffer `slot` (its first `len` bytes) for `to`.
    pub(crate) fn push(&mut self, slot: usize, len: usize, to: SocketAddr) {
        if self.len < MAX_BATCH
            && let (Ok(slot), Ok(len)) = (u8::try_from(slot), u16::try_from(len))
        {
            self.items[self.len] = (slot, len, Some(to));
            self.len += 1;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

/// One received datagram's metadata.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecvMeta {
    pub(crate) len: usize,
    pub(crate) source: Option<SocketAddr>,
    pub(crate) truncated: bool,
}

#[cfg(target_os = "linux")]
pub(crate) use linux::Batch;

#[cfg(not(target_os = "linux"))]
pub(crate) use portable::Batch;

#[cfg(target_os = "linux")]
// The `as` casts here narrow C constants (address families), C struct sizes (at most
// 128 bytes) and message counts (at most MAX_BATCH) to the C types the calls take.
#[allow(clippy::cast_possible_truncation)]
mod linux {
    use std::mem::size_of;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use super::*;

    /// Preallocated buffers and headers for batched IO on one thread. Everything is
    /// boxed once at creation, so the addresses handed to the kernel are stable and the
    /// packet path allocates nothing.
    pub(crate) struct Batch {
        bufs: Box<[[u8; SLOT]]>,
        meta: [RecvMeta; MAX_BATCH],
        recv_names: Box<[libc::sockaddr_storage]>,
        recv_iovs: Box<[libc::iovec]>,
        recv_hdrs: Box<[libc::mmsghdr]>,
        send_v4: Box<[libc::sockaddr_in]>,
        send_v6: Box<[libc::sockaddr_in6]>,
        send_iovs: Box<[libc::iovec]>,
        send_hdrs: Box<[libc::mmsghdr]>,
    }

    impl std::fmt::Debug for Batch {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Batch")
                .field("slots", &self.bufs.len())
                .finish()
        }
    }

    fn empty_iovec() -> libc::iovec {
        libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }
    }

    fn zeroed_mmsghdr() -> libc::mmsghdr {
        // SAFETY: mmsghdr is a C struct of integers and raw pointers (and, on some libcs,
        // private padding): all-zero is a valid value (null pointers, zero lengths).
        unsafe { std::mem::zeroed() }
    }

    fn zeroed_storage() -> libc::sockaddr_storage {
        // SAFETY: sockaddr_storage is a C struct of integers: all-zero is valid (AF_UNSPEC).
        unsafe { std::mem::zeroed() }
    }

    fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*addr.ip()).to_be(),
            },
            sin_zero: [0; 8],
        }
    }

    fn sockaddr_in6(addr: SocketAddrV6) -> libc::sockaddr_in6 {
        libc::sockaddr_in6 {
            sin6_family: libc::AF_INET6 as libc::sa_family_t,
            sin6_port: addr.port().to_be(),
            sin6_flowinfo: addr.flowinfo().to_be(),
            sin6_addr: libc::in6_addr {
                s6_addr: addr.ip().octets(),
            },
            sin6_scope_id: addr.scope_id(),
        }
    }

    /// Reads the source address the kernel wrote into `storage` (`len` bytes of it).
    fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        match i32::from(storage.ss_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in and the kernel
                // wrote at least that many bytes; sockaddr_storage is sized and aligned
                // for every socket address type (POSIX), so the read is in bounds and
                // aligned, and sockaddr_in has no invalid bit patterns.
                let sin = unsafe {
                    &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe {
                    &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    u32::from_be(sin6.sin6_flowinfo),
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    impl Batch {
        pub(crate) fn new() -> Self {
            Batch {
                bufs: vec![[0u8; SLOT]; MAX_BATCH].into_boxed_slice(),
                meta: [RecvMeta::default(); MAX_BATCH],
                recv_names: (0..MAX_BATCH).map(|_| zeroed_storage()).collect(),
                recv_iovs: (0..MAX_BATCH).map(|_| empty_iovec()).collect(),
                recv_hdrs: (0..MAX_BATCH).map(|_| zeroed_mmsghdr()).collect(),
                send_v4: (0..MAX_BATCH)
                    .map(|_| sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))
                    .collect(),
                send_v6: (0..MAX_BATCH)
                    .map(|_| sockaddr_in6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0)))
                    .collect(),
                send_iovs: (0..MAX_BATCH).map(|_| empty_iovec()).collect(),
                send_hdrs: (0..MAX_BATCH).map(|_| zeroed_mmsghdr()).collect(),
            }
        }

        /// Received packet `i` of the last [`Batch::recv`].
        pub(crate) fn packet(&self, i: usize) -> &[u8] {
            let len = self.meta[i].len.min(SLOT);
            &self.bufs[i][..len]
        }

        pub(crate) fn meta(&self, i: usize) -> RecvMeta {
            self.meta[i]
        }

        /// Receives up to `want` datagrams without waiting. `Ok(0)` never happens: an
        /// empty socket is `Err(WouldBlock)`.
        pub(crate) fn recv(&mut self, socket: &UdpSocket, want: usize) -> io::Result<usize> {
            let want = want.clamp(1, MAX_BATCH);
            // Raw pointers are taken from each box once, after its last write through a
            // reference, so no later borrow invalidates them before the call.
            let bufs = self.bufs.as_mut_ptr();
            for i in 0..want {
                self.recv_iovs[i] = libc::iovec {
                    iov_base: bufs.wrapping_add(i).cast(),
                    iov_len: SLOT,
                };
            }
            let iovs = self.recv_iovs.as_mut_ptr();
            let names = self.recv_names.as_mut_ptr();
            for i in 0..want {
                let hdr = &mut self.recv_hdrs[i];
                hdr.msg_len = 0;
                hdr.msg_hdr.msg_name = names.wrapping_add(i).cast();
                hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                hdr.msg_hdr.msg_iov = iovs.wrapping_add(i);
                hdr.msg_hdr.msg_iovlen = 1;
                hdr.msg_hdr.msg_control = std::ptr::null_mut();
                hdr.msg_hdr.msg_controllen = 0;
                hdr.msg_hdr.msg_flags = 0;
            }
            // SAFETY: the first `want` headers (want <= MAX_BATCH = their count) each point
            // to one iovec covering one SLOT-byte buffer and to one sockaddr_storage with
            // msg_namelen its size; all live in boxes owned by `self`, which is borrowed
            // mutably for the whole call, so nothing else reads or writes them. No control
            // buffer and no timeout are passed.
            let rc = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    self.recv_hdrs.as_mut_ptr(),
                    want as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = usize::try_from(rc).unwrap_or(0).min(want);
            for i in 0..n {
                let hdr = &self.recv_hdrs[i];
                self.meta[i] = RecvMeta {
                    len: hdr.msg_len as usize,
                    source: socket_addr(&self.recv_names[i], hdr.msg_hdr.msg_namelen),
                    truncated: hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                };
            }
            Ok(n)
        }

        /// Sends every queued packet from `socket`, in as few `sendmmsg` calls as the
        /// kernel allows, never waiting. Packets the kernel has no room for are dropped.
        pub(crate) fn send(&mut self, socket: &UdpSocket, queue: &SendQueue) -> SendOutcome {
            let mut outcome = SendOutcome::default();
            // As in `recv`: each raw pointer is taken after the last write through a
            // reference into its box.
            let bufs = self.bufs.as_mut_ptr();
            let mut is_v6 = [false; MAX_BATCH];
            let mut n = 0;
            for &(slot, len, to) in &queue.items[..queue.len] {
                let (slot, len) = (usize::from(slot), usize::from(len));
                let Some(to) = to else { continue };
                if slot >= MAX_BATCH || len > SLOT {
                    continue;
                }
                self.send_iovs[n] = libc::iovec {
                    iov_base: bufs.wrapping_add(slot).cast(),
                    iov_len: len,
                };
                match to {
                    SocketAddr::V4(a) => {
                        self.send_v4[n] = sockaddr_in(a);
                        is_v6[n] = false;
                    }
                    SocketAddr::V6(a) => {
                        self.send_v6[n] = sockaddr_in6(a);
                        is_v6[n] = true;
                    }
                }
                n += 1;
            }
            let iovs = self.send_iovs.as_mut_ptr();
            let v4 = self.send_v4.as_mut_ptr();
            let v6 = self.send_v6.as_mut_ptr();
            for (i, hdr) in self.send_hdrs[..n].iter_mut().enumerate() {
                hdr.msg_len = 0;
                if is_v6[i] {
                    hdr.msg_hdr.msg_name = v6.wrapping_add(i).cast();
                    hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                } else {
                    hdr.msg_hdr.msg_name = v4.wrapping_add(i).cast();
                    hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                }
                hdr.msg_hdr.msg_iov = iovs.wrapping_add(i);
                hdr.msg_hdr.msg_iovlen = 1;
                hdr.msg_hdr.msg_control = std::ptr::null_mut();
                hdr.msg_hdr.msg_controllen = 0;
                hdr.msg_hdr.msg_flags = 0;
            }
            let mut start = 0;
            while start < n {
                let pending = &mut self.send_hdrs[start..n];
                // SAFETY: each of the `pending.len()` headers points to one iovec covering
                // `len <= SLOT` bytes of a buffer owned by `self` and to a sockaddr_in or
                // sockaddr_in6 owned by `self` with msg_namelen its size; `self` is
                // borrowed mutably for the call. The kernel only reads the buffers and
                // writes each header's msg_len.
                let rc = unsafe {
                    libc::sendmmsg(
                        socket.as_raw_fd(),
                        pending.as_mut_ptr(),
                        pending.len() as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                if rc > 0 {
                    let sent = usize::try_from(rc).unwrap_or(0).min(n - start);
                    outcome.sent += sent as u64;
                    start += sent;
                    continue;
                }
                let err = if rc == 0 {
                    io::ErrorKind::WouldBlock.into()
                } else {
                    io::Error::last_os_error()
                };
                match err.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        outcome.dropped += (n - start) as u64;
                        break;
                    }
                    _ if err.raw_os_error() == Some(libc::ENOBUFS) => {
                        outcome.dropped += (n - start) as u64;
                        break;
                    }
                    _ => {
                        // The first pending packet was refused: skip it, send the rest.
                        outcome.failed += 1;
                        start += 1;
                    }
                }
            }
            outcome
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod portable {
    use super::*;

    /// One `recv_from`/`send_to` per packet over the same fixed buffers.
    #[derive(Debug)]
    pub(crate) struct Batch {
        bufs: Box<[[u8; SLOT]]>,
        meta: [RecvMeta; MAX_BATCH],
    }

    impl Batch {
        pub(crate) fn new() -> Self {
            Batch {
                bufs: vec![[0u8; SLOT]; MAX_BATCH].into_boxed_slice(),
                meta: [RecvMeta::default(); MAX_BATCH],
            }
        }

        pub(crate) fn packet(&self, i: usize) -> &[u8] {
            &self.bufs[i][..self.meta[i].len.min(SLOT)]
        }

        pub(crate) fn meta(&self, i: usize) -> RecvMeta {
            self.meta[i]
        }

        pub(crate) fn recv(&mut self, socket: &UdpSocket, want: usize) -> io::Result<usize> {
            let want = want.clamp(1, MAX_BATCH);
            let mut n = 0;
            while n < want {
                match socket.recv_from(&mut self.bufs[n]) {
                    Ok((len, source)) => {
                        self.meta[n] = RecvMeta {
                            len,
                            source: Some(source),
                            truncated: len > SLOT,
                        };
                        n += 1;
                    }
                    Err(e) if n == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(n)
        }

        pub(crate) fn send(&mut self, socket: &UdpSocket, queue: &SendQueue) -> SendOutcome {
            let mut outcome = SendOutcome::default();
            for &(slot, len, to) in &queue.items[..queue.len] {
                let Some(to) = to else { continue };
                let Some(buf) = self.bufs.get(usize::from(slot)) else {
                    continue;
                };
                match socket.send_to(&buf[..usize::from(len).min(SLOT)], to) {
                    Ok(_) => outcome.sent += 1,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => outcome.dropped += 1,
                    Err(_) => outcome.failed += 1,
                }
            }
            outcome
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip_on_loopback() {
        // Binds loopback sockets: run inside a network namespace.
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let mut batch = Batch::new();
        assert_eq!(
            batch.recv(&b, 8).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        for i in 0..5u8 {
            a.send_to(&[i; 100], b.local_addr().unwrap()).unwrap();
        }
        let mut n = 0;
        for _ in 0..100 {
            if let Ok(k) = batch.recv(&b, 8) {
                n = k;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(n >= 1);
        assert_eq!(batch.packet(0), &[0u8; 100][..]);
        assert_eq!(batch.meta(0).source, Some(a.local_addr().unwrap()));
        // Echo what arrived back to a.
        let mut queue = SendQueue::new();
        for i in 0..n {
            queue.push(i, batch.meta(i).len, a.local_addr().unwrap());
        }
        let outcome = batch.send(&b, &queue);
        assert_eq!(outcome.sent, n as u64);
        let mut buf = [0u8; 200];
        a.set_nonblocking(false).unwrap();
        a.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let (len, from) = a.recv_from(&mut buf).unwrap();
        assert_eq!((len, from), (100, b.local_addr().unwrap()));
    }
}
