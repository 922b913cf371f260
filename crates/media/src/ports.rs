//! RTP/RTCP port pairs from a configured range.
//!
//! A pair is an even RTP port and the odd port above it for RTCP (RFC 3550 §11). The
//! pool keeps the free pairs in a FIFO queue: allocation pops the front and a release
//! pushes to the back, so both are O(1), and a pair that was just released is the last
//! to be handed out again (late packets of an ended call do not land in a new one). A
//! bitmap of pairs in use makes a double release harmless.
//!
//! Pairs are handed out as [`PortLease`]s, which give their pair back when dropped: a
//! pair cannot leak, whatever path ends its use.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::RelayError;

/// An inclusive range of UDP ports for media, e.g. 20000-39999.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// Lowest port; the first pair starts at the first even port at or above it.
    pub min: u16,
    /// Highest port; a pair is used only if both its ports are within the range.
    pub max: u16,
}

impl PortRange {
    /// The range `min..=max`.
    pub const fn new(min: u16, max: u16) -> Self {
        PortRange { min, max }
    }

    fn first_even(&self) -> u32 {
        let min = u32::from(self.min.max(2));
        min + (min & 1)
    }

    /// How many RTP/RTCP pairs fit in the range.
    pub fn pairs(&self) -> usize {
        let first = self.first_even();
        let max = u32::from(self.max);
        if max < first + 1 {
            return 0;
        }
        (max - first).div_ceil(2) as usize
    }

    fn rtp_port(&self, index: u32) -> u16 {
        // index < pairs(), so the port is within min..=max.
        u16::try_from(self.first_even() + 2 * index).unwrap_or(0)
    }
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange::new(20_000, 39_999)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

#[derive(Debug)]
struct Pool {
    range: PortRange,
    free: VecDeque<u32>,
    in_use: Vec<bool>,
}

/// The pool of port pairs, shared by the signaling plane (allocation) and whoever drops a
/// lease last (release). Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct PortPool {
    inner: Arc<Mutex<Pool>>,
}

impl PortPool {
    /// A pool holding every pair of `range`.
    pub fn new(range: PortRange) -> Self {
        let pairs = range.pairs();
        let count = u32::try_from(pairs).unwrap_or(u32::MAX);
        PortPool {
            inner: Arc::new(Mutex::new(Pool {
                range,
                free: (0..count).collect(),
                in_use: vec![false; pairs],
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        // The pool's invariants hold between statements, so a panic elsewhere cannot
        // leave it half-updated: recover from poisoning.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the least recently released free pair.
    pub fn allocate(&self) -> Result<PortLease, RelayError> {
        let mut pool = self.lock();
        let range = pool.range;
        let index = pool
            .free
            .pop_front()
            .ok_or(RelayError::PortsExhausted { range })?;
        if let Some(slot) = pool.in_use.get_mut(index as usize) {
            *slot = true;
        }
        Ok(PortLease {
            pool: self.clone(),
            index,
            rtp: range.rtp_port(index),
        })
    }

    fn release(&self, index: u32) {
        let mut pool = self.lock();
        if let Some(slot) = pool.in_use.get_mut(index as usize)
            && *slot
        {
            *slot = false;
            pool.free.push_back(index);
        }
    }

    /// Pairs free for allocation.
    pub fn free_pairs(&self) -> usize {
        self.lock().free.len()
    }

    /// All pairs of the range.
    pub fn total_pairs(&self) -> usize {
        self.lock().in_use.len()
    }
}

/// One allocated RTP/RTCP port pair; dropping it returns the pair to its pool.
#[derive(Debug)]
pub struct PortLease {
    pool: PortPool,
    index: u32,
    rtp: u16,
}

impl PortLease {
    /// The RTP port (even).
    pub fn rtp(&self) -> u16 {
        self.rtp
    }

    /// The RTCP port (RTP + 1).
    pub fn rtcp(&self) -> u16 {
        self.rtp.wrapping_add(1)
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.release(self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_odd_and_within_the_range() {
        assert_eq!(PortRange::new(20_000, 39_999).pairs(), 10_000);
        assert_eq!(PortRange::new(20_001, 20_006).pairs(), 2);
        assert_eq!(PortRange::new(20_000, 20_000).pairs(), 0);
        assert_eq!(PortRange::new(20_000, 20_001).pairs(), 1);
        assert_eq!(PortRange::new(30_000, 20_000).pairs(), 0);
        assert_eq!(PortRange::new(65_534, 65_535).pairs(), 1);
        let pool = PortPool::new(PortRange::new(20_001, 20_006));
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_eq!((a.rtp(), a.rtcp()), (20_002, 20_003));
        assert_eq!((b.rtp(), b.rtcp()), (20_004, 20_005));
    }

    #[test]
    fn exhaustion_is_an_error_and_release_reuses_fifo() {
        let pool = PortPool::new(PortRange::new(20_000, 20_005));
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        let c = pool.allocate().unwrap();
        assert!(matches!(
            pool.allocate(),
            Err(RelayError::PortsExhausted { .. })
        ));
        let (pa, pb) = (a.rtp(), b.rtp());
        drop(b);
        drop(a);
        assert_eq!(pool.free_pairs(), 2);
        // Released in the order b, a: handed out in that order.
        assert_eq!(pool.allocate().unwrap().rtp(), pb);
        drop(c);
        let next = pool.allocate().unwrap();
        assert_eq!(next.rtp(), pa);
    }

    #[test]
    fn never_leaks_under_churn() {
        let pool = PortPool::new(PortRange::new(40_000, 40_099));
        let total = pool.total_pairs();
        let mut held = Vec::new();
        for round in 0..1000usize {
            if round % 3 == 2 {
                held.pop();
            } else if let Ok(l) = pool.allocate() {
                held.push(l);
            }
            assert_eq!(pool.free_pairs() + held.len(), total);
        }
        drop(held);
        assert_eq!(pool.free_pairs(), total);
    }
}
