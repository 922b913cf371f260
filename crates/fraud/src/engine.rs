//! The policy at work: per-account counters and fraud-rule statistics, and the
//! [`CallPolicy`] the B2BUA asks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_b2bua::policy::{Admission, AlertLevel, CallAttempt, CallPolicy, FraudAlert};

use crate::civil::Civil;
use crate::rules::{Rules, Thresholds};

/// The sliding window of "calls per minute".
const MINUTE: Duration = Duration::from_secs(60);
/// Most call starts remembered per account or rule, whatever the thresholds say.
const MAX_RECENT: usize = 1024;

/// What a fraud rule has seen of one account.
#[derive(Debug, Default)]
struct RuleStats {
    /// Starts in the last minute.
    recent: VecDeque<Instant>,
    active: u32,
    last_callee: String,
    sequential: u64,
    /// Calls of `day`.
    total: u64,
    day: Option<i64>,
}

/// One account's counters.
#[derive(Debug)]
struct Account {
    active: u32,
    recent: VecDeque<Instant>,
    day: Option<i64>,
    calls_today: u32,
    seconds_today: u64,
    blocked: Option<(Instant, String)>,
    last_seen: Instant,
    /// By rule name, so that they survive a reload that keeps the rule.
    rules: HashMap<String, RuleStats>,
}

impl Account {
    fn new(now: Instant) -> Self {
        Self {
            active: 0,
            recent: VecDeque::new(),
            day: None,
            calls_today: 0,
            seconds_today: 0,
            blocked: None,
            last_seen: now,
            rules: HashMap::new(),
        }
    }
}

/// An admitted call with an account.
#[derive(Debug)]
struct ActiveCall {
    account: String,
    callee: String,
    /// Names of the fraud rules it matched.
    rules: Vec<String>,
    answered: Option<Instant>,
}

/// The toll-fraud policy. Counters are kept for at most `Rules::max_accounts` accounts.
#[derive(Debug)]
pub struct Fraud {
    rules: Arc<Rules>,
    /// A moment on both clocks: (monotonic, Unix seconds).
    wall: Option<(Instant, i64)>,
    accounts: HashMap<String, Account>,
    calls: HashMap<u64, ActiveCall>,
    alerts: VecDeque<FraudAlert>,
}

fn drop_older(q: &mut VecDeque<Instant>, now: Instant) {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
    {
        q.pop_front();
    }
}

fn push_recent(q: &mut VecDeque<Instant>, now: Instant) {
    if q.len() >= MAX_RECENT {
        q.pop_front();
    }
    q.push_back(now);
}

/// The level `value` reaches on `t`, with its threshold.
fn level(t: &Thresholds, value: u64) -> Option<(AlertLevel, u64)> {
    match (t.critical, t.warning) {
        (Some(c), _) if value >= c => Some((AlertLevel::Critical, c)),
        (_, Some(w)) if value >= w => Some((AlertLevel::Warning, w)),
        _ => None,
    }
}

impl Fraud {
    pub fn new(rules: Rules) -> Self {
        Self {
            rules: Arc::new(rules),
            wall: None,
            accounts: HashMap::new(),
            calls: HashMap::new(),
            alerts: VecDeque::new(),
        }
    }

    /// Replaces the rules at once (a reload). Counters, blocks and calls in progress
    /// stay; statistics of a rule that keeps its name carry over.
    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = Arc::new(rules);
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Tells the policy the wall clock: at `now`, it was `unix` seconds since the epoch.
    /// The IO layer calls it at start and from time to time (the clocks drift, and the
    /// wall clock may be set). Until it is called, only fraud rules open at all hours
    /// apply, and daily counters count from the start.
    pub fn set_wall_clock(&mut self, now: Instant, unix: i64) {
        self.wall = Some((now, unix));
    }

    /// The wall clock at `now`, in the configured zone.
    pub fn civil(&self, now: Instant) -> Option<Civil> {
        let (at, unix) = self.wall?;
        let t = if now >= at {
            unix.saturating_add(i64::try_from((now - at).as_secs()).unwrap_or(i64::MAX))
        } else {
            unix.saturating_sub(i64::try_from((at - now).as_secs()).unwrap_or(i64::MAX))
        };
        Some(Civil::from_unix(t, self.rules.utc_offset))
    }

    /// Accounts with counters.
    pub fn accounts(&self) -> usize {
        self.accounts.len()
    }

    /// Whether `account` is blocked at `now`, and by which rule.
    pub fn blocked(&self, account: &str, now: Instant) -> Option<&str> {
        match &self.accounts.get(account)?.blocked {
            Some((until, rule)) if now < *until => Some(rule),
            _ => None,
        }
    }

    /// Makes room for one more account: forgets the least recently seen one without a
    /// call in progress or a block. False if every account is busy.
    fn make_room(&mut self, now: Instant) -> bool {
        let victim = self
            .accounts
            .iter()
            .filter(|(_, a)| a.active == 0 && a.blocked.as_ref().is_none_or(|(u, _)| now >= *u))
            .min_by_key(|(_, a)| a.last_seen)
            .map(|(k, _)| k.clone());
        match victim {
            Some(k) => {
                self.accounts.remove(&k);
                true
            }
            None => false,
        }
    }

    fn block(&mut self, account: &str, rule: &str, now: Instant) {
        let until = now + self.rules.block_time;
        if let Some(a) = self.accounts.get_mut(account) {
            a.blocked = Some((until, rule.to_owned()));
        }
    }

    fn refuse(reason: impl Into<String>) -> Admission {
        Admission::Refuse {
            reason: reason.into(),
        }
    }
}

impl CallPolicy for Fraud {
    fn admit(&mut self, now: Instant, attempt: &CallAttempt<'_>) -> Admission {
        let open = Admission::Admit {
            max_duration: None,
            flagged: false,
        };
        // A trusted trunk has no account: it is trusted.
        let Some(account) = attempt.account else {
            return open;
        };
        let rules = Arc::clone(&self.rules);
        let callee = Rules::normalize(attempt.callee);
        if rules.is_emergency(&callee) {
            return open;
        }
        let Some(class) = rules.class_of(account) else {
            return open;
        };
        if !class.allows(&callee) {
            return Self::refuse(format!("destination denied by class {}", class.name));
        }
        if !self.accounts.contains_key(account) {
            if self.accounts.len() >= rules.max_accounts && !self.make_room(now) {
                return Self::refuse("too many accounts with calls in progress");
            }
            self.accounts.insert(account.to_owned(), Account::new(now));
        }
        let civil = self.civil(now);
        let Some(a) = self.accounts.get_mut(account) else {
            return open;
        };
        a.last_seen = now;
        if let Some((until, rule)) = &a.blocked {
            if now < *until {
                return Self::refuse(format!("account blocked by fraud rule {rule}"));
            }
            a.blocked = None;
        }
        let today = civil.map(|c| c.day);
        if a.day != today {
            a.day = today;
            a.calls_today = 0;
            a.seconds_today = 0;
        }
        drop_older(&mut a.recent, now);
        let l = class.limits;
        let over = |limit: u32, value: u64| limit > 0 && value >= u64::from(limit);
        if over(l.max_concurrent, a.active.into()) {
            return Self::refuse(format!("concurrent calls limit ({})", l.max_concurrent));
        }
        if over(l.calls_per_minute, a.recent.len() as u64) {
            return Self::refuse(format!("calls per minute limit ({})", l.calls_per_minute));
        }
        if over(l.calls_per_day, a.calls_today.into()) {
            return Self::refuse(format!("calls per day limit ({})", l.calls_per_day));
        }
        let day_seconds = u64::from(l.minutes_per_day) * 60;
        if l.minutes_per_day > 0 && a.seconds_today >= day_seconds {
            return Self::refuse(format!("minutes per day limit ({})", l.minutes_per_day));
        }

        // Fraud rules: what each would see if this call went on.
        let mut crossed = Vec::new();
        let mut matched = Vec::new();
        for r in &rules.rules {
            if r.prefix.matches(&callee).is_none() || !r.window.contains(civil) {
                continue;
            }
            matched.push(r.name.clone());
            let s = a.rules.entry(r.name.clone()).or_default();
            drop_older(&mut s.recent, now);
            if s.day != today {
                s.day = today;
                s.total = 0;
            }
            let sequential = if s.last_callee == callee {
                s.sequential + 1
            } else {
                1
            };
            for (what, t, value) in [
                (
                    "calls_per_minute",
                    &r.calls_per_minute,
                    s.recent.len() as u64 + 1,
                ),
                (
                    "concurrent_calls",
                    &r.concurrent_calls,
                    u64::from(s.active) + 1,
                ),
                ("sequential_calls", &r.sequential_calls, sequential),
                ("total_calls", &r.total_calls, s.total + 1),
            ] {
                if let Some((lvl, threshold)) = level(t, value) {
                    crossed.push((lvl, r.name.clone(), what, value, threshold));
                }
            }
        }
        let critical = crossed
            .iter()
            .find(|c| c.0 == AlertLevel::Critical)
            .map(|c| c.1.clone());
        for (lvl, rule, what, value, threshold) in &crossed {
            self.alerts.push_back(FraudAlert {
                level: *lvl,
                account: account.to_owned(),
                rule: rule.clone(),
                what,
                value: *value,
                threshold: *threshold,
                call: attempt.call,
                callee: callee.clone(),
            });
        }
        if let Some(rule) = critical {
            self.block(account, &rule, now);
            return Self::refuse(format!(
                "fraud rule {rule}: critical threshold, account blocked"
            ));
        }

        // Admitted: count it.
        let Some(a) = self.accounts.get_mut(account) else {
            return open;
        };
        a.active += 1;
        a.calls_today = a.calls_today.saturating_add(1);
        if l.calls_per_minute > 0 {
            push_recent(&mut a.recent, now);
        }
        for name in &matched {
            let s = a.rules.entry(name.clone()).or_default();
            push_recent(&mut s.recent, now);
            s.active += 1;
            s.total += 1;
            if s.last_callee == callee {
                s.sequential += 1;
            } else {
                s.last_callee.clone_from(&callee);
                s.sequential = 1;
            }
        }
        let mut max_duration = (!l.max_duration.is_zero()).then_some(l.max_duration);
        if l.minutes_per_day > 0 {
            // The call may use what is left of the day's minutes, no more.
            let left = Duration::from_secs(day_seconds.saturating_sub(a.seconds_today));
            max_duration = Some(max_duration.map_or(left, |m| m.min(left)));
        }
        self.calls.insert(
            attempt.call,
            ActiveCall {
                account: account.to_owned(),
                callee,
                rules: matched,
                answered: None,
            },
        );
        Admission::Admit {
            max_duration,
            flagged: !crossed.is_empty(),
        }
    }

    fn answered(&mut self, now: Instant, call: u64) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.answered = Some(now);
        }
    }

    fn ended(&mut self, now: Instant, call: u64) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        let seconds = c
            .answered
            .map_or(0, |t| now.saturating_duration_since(t).as_secs());
        let rules = Arc::clone(&self.rules);
        let mut crossed = Vec::new();
        if let Some(a) = self.accounts.get_mut(&c.account) {
            a.active = a.active.saturating_sub(1);
            a.seconds_today = a.seconds_today.saturating_add(seconds);
            a.last_seen = now;
            for name in &c.rules {
                if let Some(s) = a.rules.get_mut(name) {
                    s.active = s.active.saturating_sub(1);
                }
                let Some(r) = rules.rules.iter().find(|r| r.name == *name) else {
                    continue;
                };
                if let Some((lvl, threshold)) = level(&r.call_duration, seconds) {
                    crossed.push((lvl, name.clone(), seconds, threshold));
                }
            }
        }
        for (lvl, rule, value, threshold) in crossed {
            self.alerts.push_back(FraudAlert {
                level: lvl,
                account: c.account.clone(),
                rule: rule.clone(),
                what: "call_duration",
                value,
                threshold,
                call,
                callee: c.callee.clone(),
            });
            if lvl == AlertLevel::Critical {
                self.block(&c.account, &rule, now);
            }
        }
    }

    fn poll_alert(&mut self) -> Option<FraudAlert> {
        self.alerts.pop_front()
    }
}
