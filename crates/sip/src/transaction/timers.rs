//! Timer values of RFC 3261 §17 (Table 4) and the deadline bookkeeping the four machines
//! share.
//!
//! Nothing here reads a clock: a deadline is an [`Instant`] computed from the `now` the
//! caller passed in, and it only fires when the caller says time has reached it.

use std::time::{Duration, Instant};

use crate::message::Transport;

/// The base timer values. RFC 3261 §17.1.1.1 allows T1 to be changed (a smaller value on
/// a fast private network, for instance) and T2/T4 along with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip time estimate; the first retransmission interval (500 ms).
    pub t1: Duration,
    /// Longest retransmission interval for non-INVITE requests and INVITE final
    /// responses (4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network; how long Completed states linger
    /// to absorb retransmissions (5 s).
    pub t4: Duration,
    /// Timer D: how long an INVITE client transaction absorbs retransmitted final
    /// responses; "at least 32 seconds" on unreliable transports (§17.1.1.2).
    pub timer_d: Duration,
    /// When an INVITE server transaction answers 100 Trying itself if the TU has not
    /// responded yet (§17.2.1 asks for this after 200 ms). `None` leaves it to the TU.
    pub trying_delay: Option<Duration>,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
            trying_delay: Some(Duration::from_millis(200)),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F and H, and RFC 6026's L and M. Also timer J on unreliable
    /// transports.
    pub fn transaction_timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

/// Whether the transport retransmits for us. Reliable transports (TCP, TLS, SCTP) get no
/// retransmissions from the transaction layer and zero-length linger timers
/// (D, I, J, K), as §17.1.1.2, §17.1.2.2, §17.2.1 and §17.2.2 ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// UDP: the transaction retransmits and lingers to absorb retransmissions.
    Unreliable,
    /// TCP, TLS, SCTP.
    Reliable,
}

impl Reliability {
    pub fn is_reliable(self) -> bool {
        self == Self::Reliable
    }

    /// The linger time for a Completed/Confirmed state: `unreliable` on UDP, zero on a
    /// reliable transport.
    pub(crate) fn linger(self, unreliable: Duration) -> Duration {
        match self {
            Self::Unreliable => unreliable,
            Self::Reliable => Duration::ZERO,
        }
    }
}

impl From<Transport> for Reliability {
    fn from(t: Transport) -> Self {
        match t {
            Transport::Datagram => Self::Unreliable,
            Transport::Stream => Self::Reliable,
        }
    }
}

/// One pending deadline, or none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timer(Option<Instant>);

impl Timer {
    /// Arms the timer `after` from `now`. A deadline beyond what `Instant` can hold is
    /// treated as never.
    pub(crate) fn set(&mut self, now: Instant, after: Duration) {
        self.0 = now.checked_add(after);
    }

    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    pub(crate) fn at(self) -> Option<Instant> {
        self.0
    }

    /// True when the timer is armed and its deadline has been reached; disarms it, so
    /// each arming fires once.
    pub(crate) fn take_expired(&mut self, now: Instant) -> bool {
        if self.0.is_some_and(|t| t <= now) {
            self.0 = None;
            true
        } else {
            false
        }
    }
}

/// A retransmission timer (A, E, G) with its current interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Retransmit {
    timer: Timer,
    interval: Duration,
}

impl Retransmit {
    /// Arms the timer with its first interval (T1 for A, E and G).
    pub(crate) fn start(&mut self, now: Instant, interval: Duration) {
        self.interval = interval;
        self.timer.set(now, interval);
    }

    pub(crate) fn clear(&mut self) {
        self.timer.clear();
    }

    pub(crate) fn at(self) -> Option<Instant> {
        self.timer.at()
    }

    /// If the timer has expired, re-arms it with the doubled interval, capped at `cap`
    /// when one is given (timer A doubles without a cap, E and G stop at T2), and
    /// returns true: the caller retransmits. The next deadline counts from `now`, so a
    /// late call never leaves a deadline in the past.
    pub(crate) fn fire(&mut self, now: Instant, cap: Option<Duration>) -> bool {
        if !self.timer.take_expired(now) {
            return false;
        }
        let doubled = self.interval.saturating_mul(2);
        self.interval = cap.map_or(doubled, |c| doubled.min(c));
        self.timer.set(now, self.interval);
        true
    }

    /// Like [`Retransmit::fire`], but re-arms with a fixed `interval` instead of doubling
    /// (timer E in Proceeding is reset to T2, §17.1.2.2).
    pub(crate) fn fire_fixed(&mut self, now: Instant, interval: Duration) -> bool {
        if !self.timer.take_expired(now) {
            return false;
        }
        self.interval = interval;
        self.timer.set(now, interval);
        true
    }
}

/// The earliest of some deadlines.
pub(crate) fn earliest<const N: usize>(deadlines: [Option<Instant>; N]) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}
