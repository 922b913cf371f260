//! The engine's deadlines, grouped by the millisecond they fall in.
//!
//! A binary heap of every deadline was the engine's costliest structure at thousands of
//! calls a second: each transaction lingers 64 × T1 with a deadline or two, so the heap
//! held about a million entries, and every pop walked twenty levels of it out of cache.
//! Here a deadline goes into the bucket of its millisecond (rounded up), an ordered map
//! of buckets finds the earliest, and a bucket comes due whole. Inserting goes to the
//! buckets half a second or 32 seconds ahead, which the same burst is filling; popping
//! takes the first bucket. A deadline fires up to a millisecond late, never early.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Timers<T> {
    /// Bucket `k` holds the deadlines in `(origin + k - 1 ms, origin + k ms]`.
    origin: Instant,
    buckets: BTreeMap<u64, Vec<(Instant, T)>>,
    len: usize,
}

impl<T> Timers<T> {
    pub(crate) fn new(origin: Instant) -> Self {
        Self {
            origin,
            buckets: BTreeMap::new(),
            len: 0,
        }
    }

    /// The bucket of `at`: whole milliseconds after the origin, rounded up (a deadline
    /// before the origin is due at once).
    fn bucket(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    pub(crate) fn schedule(&mut self, at: Instant, what: T) {
        let k = self.bucket(at);
        self.buckets.entry(k).or_default().push((at, what));
        self.len += 1;
    }

    /// When the earliest bucket is due: at or after each of its deadlines.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let (&k, bucket) = self.buckets.first_key_value()?;
        // The last bucket holds every deadline past u64::MAX ms (the bucket number
        // saturates), and its end may be past what an Instant holds: it is due at its
        // latest deadline.
        (k < u64::MAX)
            .then(|| self.origin.checked_add(Duration::from_millis(k)))
            .flatten()
            .or_else(|| bucket.iter().map(|(at, _)| *at).max())
    }

    /// The earliest bucket, if it is due at `now`: its deadlines in deadline order (in
    /// the order they were scheduled for equal deadlines).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Vec<(Instant, T)>> {
        if self.next_due()? > now {
            return None;
        }
        let (_, mut due) = self.buckets.pop_first()?;
        self.len -= due.len();
        due.sort_by_key(|(at, _)| *at);
        Some(due)
    }

    /// Keeps only the deadlines `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.buckets.retain(|_, bucket| {
            bucket.retain(|(_, what)| keep(what));
            !bucket.is_empty()
        });
        self.len = self.buckets.values().map(Vec::len).sum();
    }

    /// Deadlines held, live or not (the engine skips the stale ones when they come due).
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
