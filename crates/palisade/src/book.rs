//! The calls as the service loop sees them: built from the B2BUA's events, stamped with
//! wall-clock times (the B2BUA reads no clock), joined with the relay's media counters
//! when a call ends, and turned into a call record. The admin API lists the calls in
//! progress from here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use palisade_b2bua::{EndedBy, Event};
use palisade_media::SessionStats;
use palisade_sip::Side;
use serde::Serialize;

use crate::metrics::{CallResult, Metrics};
use crate::records::{CallRecord, Disconnect, LegRecord, MediaCounters, StreamRecord, timestamp};

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Access => "access",
        Side::Core => "core",
    }
}

fn ended_by_name(by: EndedBy) -> &'static str {
    match by {
        EndedBy::Side(s) => side_name(s),
        EndedBy::Palisade => "palisade",
    }
}

/// A call in progress.
#[derive(Debug, Clone)]
struct ActiveCall {
    from: Side,
    call_id: String,
    caller: String,
    callee: String,
    remotes: [SocketAddr; 2],
    started: SystemTime,
    started_at: Instant,
    answered: Option<SystemTime>,
    /// The account the fraud policy charged the call to.
    account: Option<String>,
    /// Fraud and security flags, for the record.
    flags: Vec<String>,
}

/// A call in progress, as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CallView {
    pub(crate) call: u64,
    pub(crate) call_id: String,
    pub(crate) from: &'static str,
    pub(crate) caller: String,
    pub(crate) callee: String,
    /// `ringing` until answered, then `answered`.
    pub(crate) state: &'static str,
    pub(crate) start: String,
    pub(crate) answer: Option<String>,
    pub(crate) legs: [LegRecord; 2],
}

/// The calls in progress, and the ended ones whose record is not yet durable.
#[derive(Debug, Default)]
pub(crate) struct CallBook {
    active: HashMap<u64, ActiveCall>,
    /// Records handed to the writer and not yet reported synced.
    unsynced: HashMap<u64, CallRecord>,
}

impl CallBook {
    /// Follows one B2BUA event. A call that ended yields its record; `media` holds the
    /// relay's final counters of the calls whose media session closed.
    pub(crate) fn on_event(
        &mut self,
        event: &Event,
        now: SystemTime,
        at: Instant,
        metrics: &Metrics,
        media: &mut HashMap<u64, SessionStats>,
    ) -> Option<CallRecord> {
        match event {
            Event::CallStarted {
                call,
                from,
                call_id,
                caller,
                callee,
                remotes,
            } => {
                self.active.insert(
                    *call,
                    ActiveCall {
                        from: *from,
                        call_id: call_id.clone(),
                        caller: caller.clone(),
                        callee: callee.clone(),
                        remotes: *remotes,
                        started: now,
                        started_at: at,
                        answered: None,
                        account: None,
                        flags: Vec::new(),
                    },
                );
                metrics.calls_active.inc();
                None
            }
            Event::CallAccount {
                call,
                account,
                flagged,
            } => {
                let c = self.active.get_mut(call)?;
                c.account.clone_from(account);
                if *flagged {
                    c.flags.push("fraud_warning".to_owned());
                }
                None
            }
            Event::FraudAlert {
                call, level, rule, ..
            } => {
                let c = self.active.get_mut(call)?;
                c.flags.push(format!("fraud_{level}:{rule}"));
                None
            }
            Event::CallRefused {
                call,
                call_id,
                caller,
                source,
                account,
                callee,
                reason,
            } => {
                metrics.call_ended(CallResult::Refused);
                let c = ActiveCall {
                    from: Side::Access,
                    call_id: call_id.clone(),
                    caller: caller.clone(),
                    callee: callee.clone(),
                    // No second leg was opened.
                    remotes: [*source, SocketAddr::from(([0, 0, 0, 0], 0))],
                    started: now,
                    started_at: at,
                    answered: None,
                    account: account.clone(),
                    flags: vec![format!("refused: {reason}")],
                };
                Some(record(
                    *call,
                    c,
                    "refused",
                    EndedBy::Palisade,
                    Some(403),
                    None,
                    now,
                ))
            }
            Event::CallAnswered { call, remote } => {
                let c = self.active.get_mut(call)?;
                c.answered = Some(now);
                c.remotes[1] = *remote;
                metrics
                    .call_setup
                    .observe(at.duration_since(c.started_at).as_secs_f64());
                None
            }
            Event::CallEnded {
                call,
                why,
                by,
                status,
            } => {
                let c = self.active.remove(call)?;
                metrics.calls_active.dec();
                let result = match (c.answered, by) {
                    (Some(_), _) => CallResult::Answered,
                    (None, EndedBy::Side(s)) if *s == c.from => CallResult::Cancelled,
                    (None, EndedBy::Side(_)) => CallResult::Rejected,
                    (None, EndedBy::Palisade) => CallResult::Failed,
                };
                metrics.call_ended(result);
                if c.answered.is_none() && status.is_some() {
                    // A final answer that was not a 2xx ends the setup too.
                    metrics
                        .call_setup
                        .observe(at.duration_since(c.started_at).as_secs_f64());
                }
                let stats = media.remove(call);
                Some(record(*call, c, why, *by, *status, stats.as_ref(), now))
            }
            _ => None,
        }
    }

    /// Keeps an ended call's record until the writer reports it durable.
    pub(crate) fn hold_until_synced(&mut self, record: CallRecord) {
        self.unsynced.insert(record.call, record);
    }

    /// The writer made these records durable: their calls can be forgotten.
    pub(crate) fn synced(&mut self, calls: &[u64]) {
        for c in calls {
            self.unsynced.remove(c);
        }
    }

    pub(crate) fn unsynced(&self) -> usize {
        self.unsynced.len()
    }

    /// The calls in progress, oldest first.
    pub(crate) fn view(&self) -> Vec<CallView> {
        let mut v: Vec<_> = self
            .active
            .iter()
            .map(|(id, c)| CallView {
                call: *id,
                call_id: c.call_id.clone(),
                from: side_name(c.from),
                caller: c.caller.clone(),
                callee: c.callee.clone(),
                state: if c.answered.is_some() {
                    "answered"
                } else {
                    "ringing"
                },
                start: timestamp(c.started),
                answer: c.answered.map(timestamp),
                legs: legs(c),
            })
            .collect();
        v.sort_by_key(|c| c.call);
        v
    }
}

fn legs(c: &ActiveCall) -> [LegRecord; 2] {
    [
        LegRecord {
            side: side_name(c.from),
            remote: c.remotes[0],
        },
        LegRecord {
            side: side_name(c.from.other()),
            remote: c.remotes[1],
        },
    ]
}

fn record(
    call: u64,
    c: ActiveCall,
    why: &'static str,
    by: EndedBy,
    status: Option<u16>,
    stats: Option<&SessionStats>,
    end: SystemTime,
) -> CallRecord {
    let duration = c
        .answered
        .and_then(|a| end.duration_since(a).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let media = stats
        .map(|s| {
            s.streams
                .iter()
                .map(|st| StreamRecord {
                    // Relay leg A is the access side, leg B the core side.
                    access: MediaCounters::from(&st.legs[0]),
                    core: MediaCounters::from(&st.legs[1]),
                })
                .collect()
        })
        .unwrap_or_default();
    CallRecord {
        call,
        legs: legs(&c),
        call_id: c.call_id,
        start: timestamp(c.started),
        answer: c.answered.map(timestamp),
        end: timestamp(end),
        duration,
        caller: c.caller,
        callee: c.callee,
        account: c.account,
        from: side_name(c.from),
        disconnect: Disconnect {
            cause: why,
            by: ended_by_name(by),
            status,
        },
        media,
        flags: c.flags,
    }
}
