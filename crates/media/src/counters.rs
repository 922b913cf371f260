//! Per-stream, per-leg counters: written by the packet path with relaxed atomics, read at
//! scrape time without locks.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::quality::units_to_micros;

/// Counters of what one leg's endpoint sent on one stream.
#[derive(Debug, Default)]
pub(crate) struct LegCounters {
    pub(crate) rtp_packets: AtomicU64,
    pub(crate) rtcp_packets: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) lost: AtomicI64,
    /// RFC 3550 A.8 jitter in timestamp units.
    pub(crate) jitter: AtomicU32,
    pub(crate) clock_rate: AtomicU32,
    /// Nanoseconds since the relay's epoch, plus one; 0 means never.
    pub(crate) last_packet: AtomicU64,
    pub(crate) dropped_foreign: AtomicU64,
    pub(crate) dropped_malformed: AtomicU64,
    pub(crate) dropped_no_target: AtomicU64,
    pub(crate) dropped_send: AtomicU64,
}

impl LegCounters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
    }

    pub(crate) fn last_packet_nanos(&self) -> Option<u64> {
        self.last_packet.load(Relaxed).checked_sub(1)
    }

    pub(crate) fn snapshot(&self, epoch: Instant) -> LegStats {
        let clock_rate = self.clock_rate.load(Relaxed);
        let jitter_units = self.jitter.load(Relaxed);
        LegStats {
            rtp_packets: self.rtp_packets.load(Relaxed),
            rtcp_packets: self.rtcp_packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            forwarded: self.forwarded.load(Relaxed),
            packets_lost: u64::try_from(self.lost.load(Relaxed)).unwrap_or(0),
            jitter_units,
            jitter: Duration::from_micros(units_to_micros(jitter_units, clock_rate)),
            last_packet: self
                .last_packet_nanos()
                .map(|n| epoch + Duration::from_nanos(n)),
            dropped_foreign: self.dropped_foreign.load(Relaxed),
            dropped_malformed: self.dropped_malformed.load(Relaxed),
            dropped_no_target: self.dropped_no_target.load(Relaxed),
            dropped_send: self.dropped_send.load(Relaxed),
        }
    }
}

/// What one leg's endpoint sent on one stream, as counted by the relay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegStats {
    /// RTP packets accepted from the endpoint.
    pub rtp_packets: u64,
    /// RTCP packets accepted from the endpoint.
    pub rtcp_packets: u64,
    /// Bytes (UDP payload) accepted from the endpoint, RTP and RTCP.
    pub bytes: u64,
    /// Packets relayed on to the other leg.
    pub forwarded: u64,
    /// RTP packets lost on the way from the endpoint (RFC 3550 A.3, cumulative over the
    /// SSRCs the leg has had; duplicates can offset losses, never below zero).
    pub packets_lost: u64,
    /// Interarrival jitter (RFC 3550 A.8) in RTP timestamp units.
    pub jitter_units: u32,
    /// The same jitter as a duration, at the stream's clock rate.
    pub jitter: Duration,
    /// When the last accepted packet arrived.
    pub last_packet: Option<Instant>,
    /// Packets dropped because they did not match the latch (address or SSRC), or came
    /// from a source not allowed to latch: RTP Bleed attempts and strays.
    pub dropped_foreign: u64,
    /// Datagrams that were not RTP or RTCP, or larger than the relay's buffers.
    pub dropped_malformed: u64,
    /// Accepted packets with nowhere to go: the other leg is on hold with `0.0.0.0`,
    /// disabled, or has no address yet.
    pub dropped_no_target: u64,
    /// Packets the kernel refused or had no buffer space for on the way out.
    pub dropped_send: u64,
}

/// Counters of one stream (one m-line), both legs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Indexed by [`crate::Leg::index`]: what A sent, what B sent.
    pub legs: [LegStats; 2],
}

/// Counters of a session, one entry per stream in m-line order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Per stream.
    pub streams: Vec<StreamStats>,
}
