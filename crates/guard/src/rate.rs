//! Per-source rate budgets: one governor limiter per request class, keyed by source
//! address, on a clock the caller drives, over a state store with a hard size cap.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};

use crate::rules::{Rate, Rates};

/// The class of a message, sniffed from its first bytes without parsing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodClass {
    Register,
    Invite,
    /// Any other request, a response, or bytes that are not SIP.
    Other,
}

impl MethodClass {
    /// Reads the method from the start of a datagram (after keep-alive CRLFs).
    pub fn sniff(bytes: &[u8]) -> MethodClass {
        let start = bytes
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(bytes.len());
        let rest = &bytes[start..];
        if rest.starts_with(b"REGISTER ") {
            MethodClass::Register
        } else if rest.starts_with(b"INVITE ") {
            MethodClass::Invite
        } else {
            MethodClass::Other
        }
    }
}

/// A clock that reads what the guard was last told: nanoseconds since the guard's epoch.
/// Shared by every limiter; it only moves forward.
#[derive(Debug, Clone, Default)]
pub(crate) struct DrivenClock(Arc<AtomicU64>);

impl DrivenClock {
    pub(crate) fn advance_to(&self, since_epoch: Duration) {
        let ns = u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_max(ns, Relaxed);
    }

    fn nanos(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl Clock for DrivenClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.nanos())
    }
}

/// One source's rate state and when it was last used.
#[derive(Debug, Default)]
struct Slot {
    state: InMemoryState,
    last_seen: AtomicU64,
}

/// A keyed state store with a cap. When the cap is reached, sources not already tracked
/// share one budget (`overflow`): a flood from many addresses cannot grow memory, and
/// it cannot take more than one source's budget either.
#[derive(Debug)]
pub(crate) struct SourceStore {
    map: DashMap<IpAddr, Slot>,
    cap: usize,
    overflow: InMemoryState,
    clock: DrivenClock,
    /// Checks that fell to the shared budget.
    overflowed: AtomicU64,
}

impl SourceStore {
    fn new(cap: usize, clock: DrivenClock) -> Self {
        Self {
            map: DashMap::new(),
            cap,
            overflow: InMemoryState::default(),
            clock,
            overflowed: AtomicU64::new(0),
        }
    }
}

/// The store as the limiter holds it; the guard keeps another handle to the same store,
/// to prune it and to count it (governor does not lend its store back).
#[derive(Debug, Clone)]
pub(crate) struct SharedStore(Arc<SourceStore>);

impl StateStore for SharedStore {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure(key, f)
    }
}

impl SourceStore {
    fn measure<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let now = self.clock.nanos();
        if let Some(slot) = self.map.get(key) {
            slot.last_seen.store(now, Relaxed);
            return slot.state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if self.map.len() >= self.cap {
            self.overflowed.fetch_add(1, Relaxed);
            return self.overflow.measure_and_replace(&NotKeyed::NonKey, f);
        }
        let slot = self.map.entry(*key).or_default();
        slot.last_seen.store(now, Relaxed);
        slot.state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

type Limiter = RateLimiter<IpAddr, SharedStore, DrivenClock, NoOpMiddleware<Nanos>>;

/// What a rate check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateVerdict {
    Within,
    /// The source is tracked and over its own budget.
    Exceeded,
    /// The table is full and the shared budget of untracked sources is spent: nobody in
    /// particular is to blame.
    SharedExceeded,
}

/// The three limiters of one set of rules.
#[derive(Debug)]
pub(crate) struct RateLimits {
    limiters: [Limiter; 3],
    stores: [Arc<SourceStore>; 3],
    /// How long an idle source keeps its entry: the time its budget takes to refill.
    forget: [u64; 3],
}

fn quota(rate: Rate) -> Quota {
    Quota::per_second(rate.per_second).allow_burst(rate.burst())
}

fn limiter(rate: Rate, cap: usize, clock: &DrivenClock) -> (Limiter, Arc<SourceStore>) {
    let store = Arc::new(SourceStore::new(cap, clock.clone()));
    let limiter = RateLimiter::new(quota(rate), SharedStore(store.clone()), clock.clone());
    (limiter, store)
}

fn refill_nanos(rate: Rate) -> u64 {
    let burst = u64::from(rate.burst().get());
    let per = u64::from(rate.per_second.get());
    // A refill time rounded up, plus a second: an entry dropped early would hand the
    // source a fresh burst.
    (burst.div_ceil(per) + 1).saturating_mul(1_000_000_000)
}

impl RateLimits {
    pub(crate) fn new(rates: &Rates, cap: usize, clock: &DrivenClock) -> Self {
        let (register, s0) = limiter(rates.register, cap, clock);
        let (invite, s1) = limiter(rates.invite, cap, clock);
        let (other, s2) = limiter(rates.other, cap, clock);
        Self {
            limiters: [register, invite, other],
            stores: [s0, s1, s2],
            forget: [
                refill_nanos(rates.register),
                refill_nanos(rates.invite),
                refill_nanos(rates.other),
            ],
        }
    }

    pub(crate) fn check(&self, ip: IpAddr, class: MethodClass) -> RateVerdict {
        let i = match class {
            MethodClass::Register => 0,
            MethodClass::Invite => 1,
            MethodClass::Other => 2,
        };
        let store = &self.stores[i];
        let before = store.overflowed.load(Relaxed);
        match self.limiters[i].check_key(&ip) {
            Ok(()) => RateVerdict::Within,
            Err(_) if store.overflowed.load(Relaxed) != before && !store.map.contains_key(&ip) => {
                RateVerdict::SharedExceeded
            }
            Err(_) => RateVerdict::Exceeded,
        }
    }

    /// Forgets sources whose budgets have refilled: their entries equal fresh ones.
    pub(crate) fn prune(&self, now_nanos: u64) {
        for (store, forget) in self.stores.iter().zip(self.forget) {
            store
                .map
                .retain(|_, s| now_nanos.saturating_sub(s.last_seen.load(Relaxed)) < forget);
        }
    }

    /// Entries held, over the three classes.
    pub(crate) fn tracked(&self) -> usize {
        self.stores.iter().map(|s| s.map.len()).sum()
    }
}
