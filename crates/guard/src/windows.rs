//! Counting over fixed windows, per key, in tables with a cap: failed authentications
//! per source and per account, and the user names each source has named (sweeps).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// A count that restarts when its window has passed.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
    /// For account alerts: raised once per window.
    alerted: bool,
}

/// Counts per key within a window. When the table is full, new keys are not counted
/// until old windows end and are pruned: memory stays bounded, and the other defences
/// (rate budgets, scanner fingerprints) still apply to those sources.
#[derive(Debug)]
pub(crate) struct Counts<K: Eq + Hash> {
    map: DashMap<K, Window>,
}

/// What one more occurrence made of a key's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted {
    pub(crate) count: u32,
    /// The count reached the threshold now, and nothing was raised yet in this window.
    pub(crate) first_time_over: bool,
}

impl<K: Eq + Hash + Clone> Counts<K> {
    pub(crate) fn new() -> Self {
        Self {
            map: DashMap::new(),
        }
    }

    /// Adds one for `key`; `threshold` is the count that raises something.
    pub(crate) fn add(
        &self,
        key: &K,
        now: Instant,
        window: Duration,
        threshold: u32,
        cap: usize,
    ) -> Option<Counted> {
        if !self.map.contains_key(key) && self.map.len() >= cap {
            return None;
        }
        let mut w = self.map.entry(key.clone()).or_insert(Window {
            start: now,
            count: 0,
            alerted: false,
        });
        if now.saturating_duration_since(w.start) >= window {
            *w = Window {
                start: now,
                count: 0,
                alerted: false,
            };
        }
        w.count = w.count.saturating_add(1);
        let over = w.count >= threshold && !w.alerted;
        if over {
            w.alerted = true;
        }
        Some(Counted {
            count: w.count,
            first_time_over: over,
        })
    }

    pub(crate) fn remove(&self, key: &K) {
        self.map.remove(key);
    }

    pub(crate) fn prune(&self, now: Instant, window: Duration) {
        self.map
            .retain(|_, w| now.saturating_duration_since(w.start) < window);
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// The distinct user names a source named within a window, as hashes, at most
/// `max + 1` of them.
#[derive(Debug)]
struct Names {
    start: Instant,
    hashes: Vec<u64>,
}

/// Sweep detection: distinct user names per source.
#[derive(Debug)]
pub(crate) struct Sweeps<K: Eq + Hash> {
    map: DashMap<K, Names>,
}

impl<K: Eq + Hash + Clone> Sweeps<K> {
    pub(crate) fn new() -> Self {
        Self {
            map: DashMap::new(),
        }
    }

    /// Notes that `key` named `user`. True when that makes more than `max` distinct
    /// names within `window`.
    pub(crate) fn note(
        &self,
        key: &K,
        user: &str,
        now: Instant,
        window: Duration,
        max: u32,
        cap: usize,
    ) -> bool {
        if !self.map.contains_key(key) && self.map.len() >= cap {
            return false;
        }
        let mut h = DefaultHasher::new();
        user.to_ascii_lowercase().hash(&mut h);
        let hash = h.finish();
        let mut n = self.map.entry(key.clone()).or_insert(Names {
            start: now,
            hashes: Vec::new(),
        });
        if now.saturating_duration_since(n.start) >= window {
            n.start = now;
            n.hashes.clear();
        }
        let limit = usize::try_from(max).unwrap_or(usize::MAX);
        if !n.hashes.contains(&hash) && n.hashes.len() <= limit {
            n.hashes.push(hash);
        }
        n.hashes.len() > limit
    }

    pub(crate) fn remove(&self, key: &K) {
        self.map.remove(key);
    }

    pub(crate) fn prune(&self, now: Instant, window: Duration) {
        self.map
            .retain(|_, n| now.saturating_duration_since(n.start) < window);
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
