//! Batched UDP for the load generator: `sendmmsg(2)` of many packets to many destinations
//! from one socket, and `recvmmsg(2)` with the kernel's receive timestamp of each packet
//! (`SO_TIMESTAMPNS`). The only `unsafe` code of the generator.
//!
//! palisade-media has the same system calls in its private `sys` module, shaped for a
//! relay (non-blocking, no control messages); the generator needs blocking receives that
//! carry a timestamp per packet, so that the latency it measures does not include its own
//! wake-up delay.

// The `as` casts narrow C struct sizes (at most 128 bytes) and batch counts (at most
// MAX_BATCH) to the C types the calls take.
#![allow(clippy::cast_possible_truncation)]

use std::io;
use std::mem::size_of;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{SystemTime, UNIX_EPOCH};

/// The largest batch, in packets.
pub(crate) const MAX_BATCH: usize = 64;
/// Receive buffer per packet: room for the benchmark's packets (172 bytes); a longer
/// datagram is truncated and ignored.
const SLOT: usize = 512;
/// Control buffer per packet: one `SCM_TIMESTAMPNS` message (a timespec) fits with room.
const CONTROL: usize = 64;

/// Wall-clock time in nanoseconds since the epoch: the clock of `SO_TIMESTAMPNS`.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn setsockopt_int(socket: &UdpSocket, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int and its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the receive buffer to `bytes`, past `net.core.rmem_max` when running as root
/// (`SO_RCVBUFFORCE`), and turns on kernel receive timestamps.
pub(crate) fn prepare_receiver(socket: &UdpSocket, bytes: usize) -> io::Result<()> {
    let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
    if setsockopt_int(socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes).is_err() {
        setsockopt_int(socket, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)?;
    }
    setsockopt_int(socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
}

/// Clock ticks per second of /proc/PID/stat's utime and stime.
pub(crate) fn clock_ticks() -> u64 {
    // SAFETY: sysconf reads a constant; it has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100)
}

fn zeroed_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is a C struct of integers and raw pointers: all-zero is valid.
    unsafe { std::mem::zeroed() }
}

fn empty_iovecs() -> Box<[libc::iovec]> {
    (0..MAX_BATCH)
        .map(|_| libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        })
        .collect()
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

/// Packets queued for one socket, each with its own destination.
pub(crate) struct SendBatch {
    bufs: Box<[[u8; SLOT]]>,
    lens: [usize; MAX_BATCH],
    names: Box<[libc::sockaddr_in]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    len: usize,
    cap: usize,
}

impl SendBatch {
    /// A batch that holds up to `cap` packets (1 to [`MAX_BATCH`]).
    pub(crate) fn new(cap: usize) -> SendBatch {
        let unspecified = sockaddr_in(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0));
        SendBatch {
            bufs: vec![[0u8; SLOT]; MAX_BATCH].into_boxed_slice(),
            lens: [0; MAX_BATCH],
            names: vec![unspecified; MAX_BATCH].into_boxed_slice(),
            iovs: empty_iovecs(),
            hdrs: (0..MAX_BATCH).map(|_| zeroed_mmsghdr()).collect(),
            len: 0,
            cap: cap.clamp(1, MAX_BATCH),
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.cap
    }

    /// Queues a packet of `len` bytes for `to`; returns its buffer to fill.
    pub(crate) fn push(&mut self, to: SocketAddrV4, len: usize) -> Option<&mut [u8]> {
        if self.len >= self.cap || len > SLOT {
            return None;
        }
        let i = self.len;
        self.names[i] = sockaddr_in(to);
        self.lens[i] = len;
        self.len += 1;
        Some(&mut self.bufs[i][..len])
    }

    /// Calls `stamp` on every queued packet just before sending (to write the send time),
    /// then sends them all from `socket`, waiting if the socket's buffer is full. Returns
    /// how many the kernel took.
    pub(crate) fn flush(&mut self, socket: &UdpSocket, stamp: impl Fn(&mut [u8])) -> usize {
        let n = self.len;
        self.len = 0;
        if n == 0 {
            return 0;
        }
        for i in 0..n {
            let len = self.lens[i];
            stamp(&mut self.bufs[i][..len]);
        }
        let bufs = self.bufs.as_mut_ptr();
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                iov_base: bufs.wrapping_add(i).cast(),
                iov_len: self.lens[i],
            };
        }
        let iovs = self.iovs.as_mut_ptr();
        let names = self.names.as_mut_ptr();
        for (i, hdr) in self.hdrs[..n].iter_mut().enumerate() {
            hdr.msg_len = 0;
            hdr.msg_hdr.msg_name = names.wrapping_add(i).cast();
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdr.msg_hdr.msg_iov = iovs.wrapping_add(i);
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_control = std::ptr::null_mut();
            hdr.msg_hdr.msg_controllen = 0;
            hdr.msg_hdr.msg_flags = 0;
        }
        let mut start = 0;
        while start < n {
            let pending = &mut self.hdrs[start..n];
            // SAFETY: each pending header points to one iovec covering `lens[i] <= SLOT`
            // bytes of a buffer in `self.bufs` and to one sockaddr_in in `self.names`,
            // msg_namelen its size; `self` is borrowed mutably for the call. The kernel
            // reads the buffers and writes each header's msg_len.
            let rc = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    pending.as_mut_ptr(),
                    pending.len() as libc::c_uint,
                    0,
                )
            };
            if rc > 0 {
                start += usize::try_from(rc).unwrap_or(1);
                continue;
            }
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Refused (e.g. nothing listens and an ICMP error came back): skip one.
            start += 1;
        }
        n
    }
}

/// Received packets with their kernel receive times.
pub(crate) struct RecvBatch {
    bufs: Box<[[u8; SLOT]]>,
    controls: Box<[[u64; CONTROL / 8]]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    lens: [usize; MAX_BATCH],
    stamps: [u64; MAX_BATCH],
}

impl RecvBatch {
    pub(crate) fn new() -> RecvBatch {
        RecvBatch {
            bufs: vec![[0u8; SLOT]; MAX_BATCH].into_boxed_slice(),
            controls: vec![[0u64; CONTROL / 8]; MAX_BATCH].into_boxed_slice(),
            iovs: empty_iovecs(),
            hdrs: (0..MAX_BATCH).map(|_| zeroed_mmsghdr()).collect(),
            lens: [0; MAX_BATCH],
            stamps: [0; MAX_BATCH],
        }
    }

    /// Packet `i` of the last receive (empty if it was truncated).
    pub(crate) fn packet(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.lens[i].min(SLOT)]
    }

    /// The kernel's receive time of packet `i`, ns since the epoch (0 if absent).
    pub(crate) fn stamp(&self, i: usize) -> u64 {
        self.stamps[i]
    }

    /// Waits for at least one datagram (up to the socket's read timeout), then takes up
    /// to [`MAX_BATCH`] without waiting more.
    pub(crate) fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let bufs = self.bufs.as_mut_ptr();
        for i in 0..MAX_BATCH {
            self.iovs[i] = libc::iovec {
                iov_base: bufs.wrapping_add(i).cast(),
                iov_len: SLOT,
            };
        }
        let iovs = self.iovs.as_mut_ptr();
        let controls = self.controls.as_mut_ptr();
        for (i, hdr) in self.hdrs.iter_mut().enumerate() {
            hdr.msg_len = 0;
            hdr.msg_hdr.msg_name = std::ptr::null_mut();
            hdr.msg_hdr.msg_namelen = 0;
            hdr.msg_hdr.msg_iov = iovs.wrapping_add(i);
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_control = controls.wrapping_add(i).cast();
            hdr.msg_hdr.msg_controllen = CONTROL as _;
            hdr.msg_hdr.msg_flags = 0;
        }
        // SAFETY: each of the MAX_BATCH headers points to one iovec covering one
        // SLOT-byte buffer and to one CONTROL-byte, 8-aligned control buffer, all in
        // boxes owned by `self`, borrowed mutably for the call; no address is asked for
        // and no timeout is passed (the socket's SO_RCVTIMEO bounds the wait).
        let rc = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                MAX_BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(rc).unwrap_or(0).min(MAX_BATCH);
        for i in 0..n {
            let hdr = &self.hdrs[i];
            self.lens[i] = if hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                0
            } else {
                hdr.msg_len as usize
            };
            self.stamps[i] = timestamp(&hdr.msg_hdr);
        }
        Ok(n)
    }
}

/// The `SCM_TIMESTAMPNS` of a received message, ns since the epoch.
fn timestamp(msg: &libc::msghdr) -> u64 {
    // SAFETY: `msg` is a header the kernel just filled: msg_control points to our
    // control buffer and msg_controllen says how much of it the kernel wrote, which is
    // what the CMSG_* macros walk; the timespec is read unaligned from the data of a
    // message whose level and type say it holds one.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_SOCKET
                && c.cmsg_type == libc::SCM_TIMESTAMPNS
                && c.cmsg_len as usize
                    >= libc::CMSG_LEN(size_of::<libc::timespec>() as u32) as usize
            {
                let ts: libc::timespec =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
                let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
                return secs * 1_000_000_000 + nanos;
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    0
}
