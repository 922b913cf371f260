//! The policy driven with a virtual clock: calls admitted and refused, counters, fraud
//! rules' thresholds and windows.

use std::time::{Duration, Instant};

use palisade_b2bua::policy::{Admission, AlertLevel, CallAttempt, CallPolicy};

use crate::engine::Fraud;
use crate::pattern::Pattern;
use crate::rules::{FraudRule, Limits, Rules, Thresholds, Window};

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
