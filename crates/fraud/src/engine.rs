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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::Pattern;
    use crate::rules::{FraudRule, Limits, Window};

    const SOURCE: &str = "198.51.100.7:5060";
    /// Monday 2026-11-23 00:00 UTC.
    const MONDAY: i64 = 1_795_392_000;

    struct T {
        f: Fraud,
        now: Instant,
        next: u64,
    }

    impl T {
        fn new(rules: Rules) -> T {
            let now = Instant::now();
            let mut f = Fraud::new(rules);
            f.set_wall_clock(now, MONDAY + 10 * 3600);
            T { f, now, next: 1 }
        }

        /// Asks for a call from `account` to `callee`; returns (call id, admission).
        fn call(&mut self, account: &str, callee: &str) -> (u64, Admission) {
            let id = self.next;
            self.next += 1;
            let a = self.f.admit(
                self.now,
                &CallAttempt {
                    call: id,
                    account: Some(account),
                    source: SOURCE.parse().unwrap(),
                    callee,
                },
            );
            (id, a)
        }

        fn admitted(&mut self, account: &str, callee: &str) -> u64 {
            let (id, a) = self.call(account, callee);
            assert!(matches!(a, Admission::Admit { .. }), "{a:?}");
            id
        }

        fn refused(&mut self, account: &str, callee: &str) -> String {
            match self.call(account, callee).1 {
                Admission::Refuse { reason } => reason,
                a => panic!("admitted: {a:?}"),
            }
        }

        fn alerts(&mut self) -> Vec<(AlertLevel, &'static str)> {
            std::iter::from_fn(|| self.f.poll_alert())
                .map(|a| (a.level, a.what))
                .collect()
        }
    }

    fn rule(name: &str, prefix: &str) -> FraudRule {
        FraudRule {
            name: name.to_owned(),
            prefix: Pattern::parse(prefix).unwrap(),
            window: Window::default(),
            calls_per_minute: Thresholds::default(),
            concurrent_calls: Thresholds::default(),
            sequential_calls: Thresholds::default(),
            total_calls: Thresholds::default(),
            call_duration: Thresholds::default(),
        }
    }

    #[test]
    fn premium_and_international_are_denied_by_default_emergency_never() {
        let mut t = T::new(Rules::default());
        assert!(
            t.refused("1001", "19005551234")
                .contains("class restricted")
        );
        assert!(t.refused("1001", "+44 20 7946 0000").contains("denied"));
        t.admitted("1001", "1002");
        t.admitted("1001", "112");
        // An account in the open class may call anywhere.
        let mut rules = Rules::default();
        rules.accounts.insert("boss".into(), 0);
        t.f.set_rules(rules);
        t.admitted("boss", "0044207946000");
    }

    #[test]
    fn concurrent_calls_limit_and_its_release() {
        let mut rules = Rules::default();
        rules.classes[1].limits.max_concurrent = 2;
        let mut t = T::new(rules);
        let a = t.admitted("1001", "1002");
        t.admitted("1001", "1003");
        assert!(t.refused("1001", "1004").contains("concurrent"));
        t.admitted("1005", "1004");
        // Emergency calls pass any limit.
        t.admitted("1001", "911");
        t.f.ended(t.now, a);
        t.admitted("1001", "1004");
    }

    #[test]
    fn calls_per_minute_is_a_sliding_window() {
        let mut rules = Rules::default();
        rules.classes[1].limits.calls_per_minute = 3;
        rules.classes[1].limits.max_concurrent = 0;
        let mut t = T::new(rules);
        for _ in 0..3 {
            t.admitted("1001", "1002");
            t.now += Duration::from_secs(10);
        }
        assert!(t.refused("1001", "1002").contains("per minute"));
        t.now += Duration::from_secs(31);
        t.admitted("1001", "1002");
    }

    #[test]
    fn daily_minutes_cap_the_duration_and_reset_the_next_day() {
        let mut rules = Rules::default();
        rules.classes[1].limits.minutes_per_day = 2;
        rules.classes[1].limits.max_duration = Duration::from_secs(3600);
        let mut t = T::new(rules);
        let (id, a) = t.call("1001", "1002");
        assert_eq!(
            a,
            Admission::Admit {
                max_duration: Some(Duration::from_secs(120)),
                flagged: false
            }
        );
        t.f.answered(t.now, id);
        t.now += Duration::from_secs(120);
        t.f.ended(t.now, id);
        assert!(t.refused("1001", "1002").contains("minutes per day"));
        t.now += Duration::from_secs(14 * 3600);
        t.admitted("1001", "1002");
    }

    #[test]
    fn warning_flags_critical_blocks_until_the_block_time_passes() {
        let mut rules = Rules::default();
        rules.classes[1].limits = Limits {
            max_concurrent: 0,
            calls_per_minute: 0,
            calls_per_day: 0,
            minutes_per_day: 0,
            max_duration: Duration::ZERO,
        };
        rules.block_time = Duration::from_secs(600);
        let mut r = rule("burst", "_!");
        r.calls_per_minute = Thresholds {
            warning: Some(2),
            critical: Some(4),
        };
        rules.rules.push(r);
        let mut t = T::new(rules);
        t.admitted("1001", "1002");
        assert!(t.alerts().is_empty());
        let (_, a) = t.call("1001", "1003");
        assert_eq!(
            a,
            Admission::Admit {
                max_duration: None,
                flagged: true
            }
        );
        assert_eq!(t.alerts(), [(AlertLevel::Warning, "calls_per_minute")]);
        t.admitted("1001", "1004");
        t.alerts();
        assert!(t.refused("1001", "1005").contains("fraud rule burst"));
        assert_eq!(t.alerts(), [(AlertLevel::Critical, "calls_per_minute")]);
        assert_eq!(t.f.blocked("1001", t.now), Some("burst"));
        // Blocked, whatever the destination; other accounts go on.
        t.now += Duration::from_secs(120);
        assert!(t.refused("1001", "1006").contains("blocked"));
        t.admitted("1002", "1001");
        t.now += Duration::from_secs(481);
        t.admitted("1001", "1006");
    }

    #[test]
    fn sequential_and_duration_thresholds() {
        let mut rules = Rules::default();
        let mut r = rule("redial", "1");
        r.sequential_calls = Thresholds {
            warning: Some(3),
            critical: None,
        };
        r.call_duration = Thresholds {
            warning: None,
            critical: Some(600),
        };
        rules.rules.push(r);
        let mut t = T::new(rules);
        for _ in 0..2 {
            let id = t.admitted("1001", "1002");
            t.f.ended(t.now, id);
        }
        let id = t.admitted("1001", "1002");
        assert_eq!(t.alerts(), [(AlertLevel::Warning, "sequential_calls")]);
        t.f.answered(t.now, id);
        t.now += Duration::from_secs(700);
        t.f.ended(t.now, id);
        assert_eq!(t.alerts(), [(AlertLevel::Critical, "call_duration")]);
        assert!(t.refused("1001", "1009").contains("blocked"));
    }

    #[test]
    fn rules_apply_only_inside_their_hours_and_days() {
        let mut rules = Rules::default();
        let mut r = rule("night", "_!");
        let (start, end) = Window::parse_hours("20:00-06:00").unwrap();
        r.window = Window {
            start,
            end,
            days: Window::parse_days("mon-fri").unwrap(),
        };
        r.total_calls = Thresholds {
            warning: Some(1),
            critical: None,
        };
        rules.rules.push(r);
        // Monday 10:00: outside.
        let mut t = T::new(rules);
        let id = t.admitted("1001", "1002");
        t.f.ended(t.now, id);
        assert!(t.alerts().is_empty());
        // Monday 21:00: inside.
        t.now += Duration::from_secs(11 * 3600);
        let id = t.admitted("1001", "1002");
        t.f.ended(t.now, id);
        assert_eq!(t.alerts(), [(AlertLevel::Warning, "total_calls")]);
        // Saturday 21:00 (the clock set again): the day is out.
        t.f.set_wall_clock(t.now, MONDAY + 5 * 86_400 + 21 * 3600);
        t.admitted("1001", "1002");
        assert!(t.alerts().is_empty());
        // Friday 23:00: in.
        t.f.set_wall_clock(t.now, MONDAY + 4 * 86_400 + 23 * 3600);
        t.admitted("1001", "1002");
        assert_eq!(t.alerts(), [(AlertLevel::Warning, "total_calls")]);
    }

    #[test]
    fn the_account_table_is_bounded() {
        let rules = Rules {
            max_accounts: 2,
            ..Rules::default()
        };
        let mut t = T::new(rules);
        let a = t.admitted("a", "1002");
        let b = t.admitted("b", "1002");
        assert!(t.refused("c", "1002").contains("too many accounts"));
        t.f.ended(t.now, a);
        t.admitted("c", "1002");
        assert_eq!(t.f.accounts(), 2);
        t.f.ended(t.now, b);
    }
}
