//! Upstream PBX health: OPTIONS probes and failover order.

use std::time::Instant;

use palisade_sip::transaction::TransactionKey;

use crate::config::{ProbeConfig, Upstream};

/// The health of one upstream.
#[derive(Debug, Clone)]
pub struct UpstreamState {
    pub upstream: Upstream,
    pub up: bool,
    failures: u32,
    successes: u32,
    pub(crate) next_probe: Instant,
    /// The transaction of the probe in flight, and when its answer is due.
    pub(crate) probing: Option<(TransactionKey, Instant)>,
}

impl UpstreamState {
    pub(crate) fn new(upstream: Upstream, now: Instant) -> Self {
        // Optimistic until a probe or a call says otherwise: Palisade starts taking calls
        // at once instead of waiting a probe interval.
        Self {
            upstream,
            up: true,
            failures: 0,
            successes: 0,
            next_probe: now,
            probing: None,
        }
    }

    /// Records a sign of life; returns true when this brings the upstream back up.
    pub(crate) fn success(&mut self, cfg: &ProbeConfig) -> bool {
        self.failures = 0;
        self.successes = self.successes.saturating_add(1);
        if !self.up && self.successes >= cfg.successes_before_up {
            self.up = true;
            return true;
        }
        false
    }

    /// Records a failure; returns true when this takes the upstream down.
    pub(crate) fn failure(&mut self, cfg: &ProbeConfig) -> bool {
        self.successes = 0;
        self.failures = self.failures.saturating_add(1);
        if self.up && self.failures >= cfg.failures_before_down {
            self.up = false;
            return true;
        }
        false
    }
}
