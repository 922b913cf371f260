//! Counters for metrics, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::types::{Protocol, Side, protocol_index, side_index};

/// Transport counters. All are monotonic except [`TransportStats::connections_open`].
#[derive(Debug, Default)]
pub struct TransportStats {
    pub(crate) messages_in: [[AtomicU64; 3]; 2],
    pub(crate) messages_out: [[AtomicU64; 3]; 2],
    pub(crate) malformed: AtomicU64,
    pub(crate) keepalives: AtomicU64,
    pub(crate) dropped_channel_full: AtomicU64,
    pub(crate) datagrams_refused: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) connections_timed_out: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) tls_handshake_failures: AtomicU64,
    pub(crate) write_queue_overflows: AtomicU64,
    pub(crate) send_errors: AtomicU64,
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> u64 {
                self.$name.load(Relaxed)
            }
        )*
    };
}

impl TransportStats {
    /// Messages received and passed to the application (not keep-alives, not malformed).
    pub fn messages_in(&self, side: Side, protocol: Protocol) -> u64 {
        self.messages_in[side_index(side)][protocol_index(protocol)].load(Relaxed)
    }

    /// Messages handed to the UDP sending thread's queue or a connection's write queue.
    pub fn messages_out(&self, side: Side, protocol: Protocol) -> u64 {
        self.messages_out[side_index(side)][protocol_index(protocol)].load(Relaxed)
    }

    getters! {
        /// Datagrams and stream messages that failed to parse or frame.
        malformed,
        /// Keep-alives received.
        keepalives,
        /// Events dropped because the application's channel was full (UDP only).
        dropped_channel_full,
        /// Access-side datagrams the admission check refused, before parsing.
        datagrams_refused,
        /// TCP and TLS connections open now, in both directions.
        connections_open,
        /// Connections accepted and admitted.
        connections_accepted,
        /// Outgoing connections started.
        connections_opened,
        /// Accepted connections closed at once: a connection limit, the admission check,
        /// or the TLS handshake budget.
        connections_rejected,
        /// Connections closed for idleness or for a message arriving too slowly.
        connections_timed_out,
        /// Outgoing connections that could not be established.
        connect_failures,
        /// TLS handshakes that failed or timed out.
        tls_handshake_failures,
        /// Connections closed because their write queue was full.
        write_queue_overflows,
        /// Sends refused: the UDP send queue was full, or the kernel refused the datagram.
        send_errors,
    }

    pub(crate) fn inc_in(&self, side: Side, protocol: Protocol) {
        self.messages_in[side_index(side)][protocol_index(protocol)].fetch_add(1, Relaxed);
    }

    pub(crate) fn inc_out(&self, side: Side, protocol: Protocol) {
        self.messages_out[side_index(side)][protocol_index(protocol)].fetch_add(1, Relaxed);
    }

    /// Adds one to a counter.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}
