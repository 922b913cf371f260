//! Call admission: who may place a call from the access side, to where, and for how long.
//!
//! The B2BUA decides what only it can know: which registered flow an INVITE came from
//! (its account) or whether it came from a trusted trunk network. Everything else (the
//! destination classes, per-account limits, fraud rules) is a [`CallPolicy`]'s business,
//! asked when an access-side INVITE is about to become a call and told when a call is
//! answered and when it ends. The binary plugs in `palisade-fraud`; without one, every call
//! is admitted ([`OpenPolicy`]). Like [`crate::MediaControl`], the trait keeps the B2BUA
//! free of the policy's dependencies: the policy crate depends on the B2BUA, never the
//! other way round.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// An access-side INVITE about to become call `call`.
#[derive(Debug, Clone, Copy)]
pub struct CallAttempt<'a> {
    pub call: u64,
    /// The user part of the AOR whose binding the INVITE came from; `None` for a call
    /// from a trusted trunk network (or any unregistered source when registered-only
    /// calling is off).
    pub account: Option<&'a str>,
    /// The packet's source address.
    pub source: SocketAddr,
    /// The number or user dialled: the Request-URI's user part, as written.
    pub callee: &'a str,
}

/// A policy's answer to a [`CallAttempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The call goes on. After `max_duration` from its answer Palisade ends it with BYE on
    /// both legs. `flagged`: a fraud rule's warning threshold was crossed.
    Admit {
        max_duration: Option<Duration>,
        flagged: bool,
    },
    /// The call is refused with 403; `reason` goes into the log and the event.
    Refuse { reason: String },
}

/// How serious a fraud alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertLevel {
    /// Logged, reported and the call flagged; the call goes on.
    Warning,
    /// The account is blocked for the configured time.
    Critical,
}

impl fmt::Display for AlertLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AlertLevel::Warning => "warning",
            AlertLevel::Critical => "critical",
        })
    }
}

/// A fraud rule's threshold crossed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudAlert {
    pub level: AlertLevel,
    pub account: String,
    /// The rule's name.
    pub rule: String,
    /// What crossed: `calls_per_minute`, `concurrent_calls`, `sequential_calls`,
    /// `total_calls` or `call_duration`.
    pub what: &'static str,
    /// The value reached (calls, or seconds for a duration).
    pub value: u64,
    /// The threshold it reached.
    pub threshold: u64,
    /// The call that crossed it.
    pub call: u64,
    /// The number that call dialled.
    pub callee: String,
}

/// What the B2BUA asks of a call policy. Time comes in as `now`, like everywhere in the
/// B2BUA; a policy that needs the wall clock (hours of the day, days) gets it from the IO
/// layer through an input of its own.
pub trait CallPolicy {
    /// An access-side INVITE is about to become call `attempt.call`. An admitted call is
    /// followed by [`CallPolicy::ended`] exactly once.
    fn admit(&mut self, now: Instant, attempt: &CallAttempt<'_>) -> Admission;

    /// An admitted call was answered.
    fn answered(&mut self, now: Instant, call: u64);

    /// A call ended (also called for calls the policy never admitted: ignore those).
    fn ended(&mut self, now: Instant, call: u64);

    /// The next fraud alert raised, for the B2BUA's event feed.
    fn poll_alert(&mut self) -> Option<FraudAlert>;
}

/// No policy: every call is admitted, without a duration cap.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenPolicy;

impl CallPolicy for OpenPolicy {
    fn admit(&mut self, _now: Instant, _attempt: &CallAttempt<'_>) -> Admission {
        Admission::Admit {
            max_duration: None,
            flagged: false,
        }
    }

    fn answered(&mut self, _now: Instant, _call: u64) {}

    fn ended(&mut self, _now: Instant, _call: u64) {}

    fn poll_alert(&mut self) -> Option<FraudAlert> {
        None
    }
}
