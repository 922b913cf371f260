//! Counters for metrics: plain atomics, read at scrape time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a message or connection was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The source is banned.
    Banned,
    /// Over its rate budget (or the shared budget of untracked sources).
    RateLimited,
    /// A scanner's fingerprint.
    Scanner,
    /// An enumeration sweep.
    Sweep,
    /// A domain Palisade does not serve.
    Domain,
    /// On the deny list.
    Denied,
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::Banned,
        DropReason::RateLimited,
        DropReason::Scanner,
        DropReason::Sweep,
        DropReason::Domain,
        DropReason::Denied,
    ];

    /// The label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Banned => "banned",
            DropReason::RateLimited => "rate_limited",
            DropReason::Scanner => "scanner",
            DropReason::Sweep => "sweep",
            DropReason::Domain => "domain",
            DropReason::Denied => "denied",
        }
    }

    fn index(self) -> usize {
        match self {
            DropReason::Banned => 0,
            DropReason::RateLimited => 1,
            DropReason::Scanner => 2,
            DropReason::Sweep => 3,
            DropReason::Domain => 4,
            DropReason::Denied => 5,
        }
    }
}

/// Monotonic counters.
#[derive(Debug, Default)]
pub struct Counters {
    drops: [AtomicU64; 6],
    bans: AtomicU64,
    auth_failures: AtomicU64,
    account_alerts: AtomicU64,
    tls_handshakes_refused: AtomicU64,
}

impl Counters {
    pub(crate) fn dropped(&self, why: DropReason) {
        self.drops[why.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn banned(&self) {
        self.bans.fetch_add(1, Relaxed);
    }

    pub(crate) fn auth_failure(&self) {
        self.auth_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn account_alert(&self) {
        self.account_alerts.fetch_add(1, Relaxed);
    }

    pub(crate) fn tls_refused(&self) {
        self.tls_handshakes_refused.fetch_add(1, Relaxed);
    }

    /// Messages and connections dropped for this reason.
    pub fn drops(&self, why: DropReason) -> u64 {
        self.drops[why.index()].load(Relaxed)
    }

    /// Bans entered, automatic and manual.
    pub fn bans(&self) -> u64 {
        self.bans.load(Relaxed)
    }

    /// Failed authentications reported.
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Relaxed)
    }

    /// Alerts for accounts under attack.
    pub fn account_alerts(&self) -> u64 {
        self.account_alerts.load(Relaxed)
    }

    /// TLS handshakes refused by the handshake budget.
    pub fn tls_handshakes_refused(&self) -> u64 {
        self.tls_handshakes_refused.load(Relaxed)
    }
}

/// Everything at one moment, for a scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Sources banned now.
    pub bans_active: usize,
    pub bans_total: u64,
    /// `(reason, count)` for every [`DropReason`].
    pub drops: Vec<(DropReason, u64)>,
    pub auth_failures: u64,
    pub account_alerts: u64,
    pub tls_handshakes_refused: u64,
    /// Entries in the per-source tables (rate budgets, failures, sweeps).
    pub tracked_sources: usize,
}
