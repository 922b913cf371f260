//! Palisade's RTP/RTCP media relay.
//!
//! Each call is a [`Relay`] session with two legs, A and B. Every stream (m-line) of the
//! session gets an RTP/RTCP port pair on each leg from the configured [`PortRange`]; the
//! SDP sent to a leg advertises that leg's pair ([`NewSession::streams`]). Packets the
//! endpoint of one leg sends to its pair leave from the other leg's pair toward the other
//! endpoint.
//!
//! The signaling plane drives a session with a handful of calls, none of which waits for
//! the packet path:
//!
//! - [`Relay::create_session`] when the first offer is handled (a
//!   [`RelayError::PortsExhausted`] becomes a 503 or 488);
//! - [`Relay::set_remote`] for each offer or answer a leg sends, with the address from
//!   its SDP and the source IP of its signaling: this re-arms symmetric latching
//!   ([`latch`] explains the RTP Bleed protection);
//! - [`Relay::set_hold`] when a leg holds or resumes, [`Relay::add_stream`] when a
//!   re-INVITE adds an m-line;
//! - [`Relay::media_timeouts`] periodically, to end calls without media;
//! - [`Relay::delete_session`] at the end, which returns the final counters for the call
//!   record. [`Relay::stats`] reads them at any time.
//!
//! ```no_run
//! use palisade_media::{Leg, Relay, RelayConfig, Remote, SessionSpec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let relay = Relay::start(RelayConfig::default())?;
//! let session = relay.create_session(&SessionSpec::new("198.51.100.1".parse()?, 1))?;
//! // Put session.streams[0].leg(Leg::B).rtp in the offer sent to the callee, then:
//! relay.set_remote(
//!     session.id,
//!     Leg::A,
//!     0,
//!     Remote::new("192.168.1.20:4000".parse()?).with_signaling_source("203.0.113.9".parse()?),
//! )?;
//! # Ok(())
//! # }
//! ```
//!
//! # The packet path
//!
//! Worker threads each own a share of the streams (all four sockets of a stream go to the
//! same worker, the least loaded one). A worker waits on a `mio` poll (epoll,
//! edge-triggered) over its sockets. For a readable socket it receives up to
//! [`RelayConfig::batch`] datagrams with one `recvmmsg`, sorts them under the stream's
//! mutex (demultiplex RTP/RTCP, latch check, statistics, destination), releases the lock
//! and sends them with one `sendmmsg` per outgoing socket. Buffers and message headers are
//! allocated once per worker; nothing is allocated per packet. A short batch ends the
//! socket's turn (the queue was empty, and edge-triggered epoll reports the next packet);
//! a socket still busy after four full batches is revisited after the other ready
//! sockets, so a sprayed port cannot starve the rest.
//!
//! The session table is a `DashMap` the packet path never reads: a worker reaches a
//! stream through the `Arc` in its own slot table, and the only lock on the packet path is
//! the stream's own mutex, taken once per batch and contended only for the instant the
//! signaling plane updates that very stream. Counters are relaxed atomics that scrapes
//! read without locks.
//!
//! `recvmmsg`/`sendmmsg` are called through the small `sys` module, the one place in the
//! crate allowed `unsafe` code (its header says why no wrapper crate fits).
//!
//! ## Why this design: measurements
//!
//! Measured with `examples/relay_load.rs` on loopback in a network namespace, on a
//! 2-core machine shared with the load generator and other work (load average 2 to 3),
//! so only ratios taken in the same run mean much. CPU is the forwarding threads' own
//! time from `/proc/self/task/*/schedstat`; 172-byte RTP packets (G.711, 20 ms).
//!
//! | load | design | CPU per relayed packet |
//! |---|---|---|
//! | 200 streams x 50 pps (10k pps, paced) | relay, 1 worker, batch 32 | 13.1 us |
//! | | relay, 1 worker, batch 1 | 14.1 us |
//! | | relay, 2 workers, batch 32 | 13.9 us |
//! | | floor forwarder (no logic), 1 thread, batch 32 | 12.2 us |
//! | 20 streams x 2000 pps (40k pps) | relay, 1 worker, batch 32 | 7.8 us |
//! | | relay, 1 worker, batch 1 | 8.0 us |
//! | | relay, 2 workers, batch 32 | 8.4 us |
//! | | floor forwarder, 1 thread, batch 32 | 7.6 us |
//! | 4 streams x 25000 pps (overload, queues build up) | relay, batch 32 | 4.8 us |
//! | | relay, batch 1 | 6.0 us |
//! | | floor, batch 32 / batch 1 | 4.2 us / 5.8 us |
//!
//! What follows from them:
//!
//! - At RTP rates a socket rarely holds more than one packet when the worker wakes, so
//!   the cost is the wake-up and two system calls per packet, and batching saves little
//!   (about 5%). It pays once queues build up (about 20% less CPU per packet under
//!   overload), which is when it matters, and costs nothing otherwise; the default batch
//!   is 32. For the same reason UDP GSO (one destination, many equal segments) would
//!   rarely have anything to coalesce and is not used.
//! - All the relay's logic (parsing, latching, the per-batch stream lock, sequence and
//!   jitter tracking, counters) costs 2% to 15% over the logic-free floor forwarder. An
//!   uncontended `std::sync::Mutex` lock and unlock is about 12 ns and a `DashMap` lookup
//!   about 17 ns (same machine), both under 0.3% of a packet's cost; the packet path
//!   takes the first once per batch and never the second.
//! - A second worker thread did not lower the CPU per packet on two cores shared with the
//!   generator; it spreads load when there are more cores. The default is one worker per
//!   available CPU.
#![deny(unsafe_code)]

mod counters;
pub mod floor;
pub mod latch;
pub mod ports;
pub mod quality;
mod relay;
pub mod rtp;
mod spares;
#[allow(unsafe_code)]
mod sys;
mod worker;

pub use counters::{LegStats, SessionStats, StreamStats};
pub use latch::{BeforeLatch, LatchMode, Remote};
pub use ports::{PortLease, PortPool, PortRange};
pub use relay::{
    LatchState, Leg, LocalPorts, MediaTimeout, NewSession, Relay, RelayConfig, RelayError,
    SessionId, SessionSpec, StreamPorts,
};
