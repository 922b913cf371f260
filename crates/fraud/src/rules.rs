//! What the operator configured: destination classes with their limits, the accounts
//! assigned to them, emergency numbers and fraud rules. Built by palisade-config from the
//! YAML file, and swapped whole on reload.

use std::collections::HashMap;
use std::time::Duration;

use crate::civil::Civil;
use crate::pattern::{Pattern, normalize};

/// Per-account limits of a class. Zero means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_concurrent: u32,
    pub calls_per_minute: u32,
    pub calls_per_day: u32,
    pub minutes_per_day: u32,
    /// An answered call is ended with BYE on both legs after this long.
    pub max_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent: 4,
            calls_per_minute: 10,
            calls_per_day: 500,
            minutes_per_day: 1440,
            max_duration: Duration::from_secs(4 * 3600),
        }
    }
}

/// A class of accounts: the destinations they may call and their limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub name: String,
    pub allow: Vec<Pattern>,
    pub deny: Vec<Pattern>,
    pub limits: Limits,
}

impl Class {
    /// Whether `number` (normalized) may be called: the most specific matching entry
    /// decides, a deny wins a tie, and a number no entry matches is allowed.
    pub fn allows(&self, number: &str) -> bool {
        let best = |list: &[Pattern]| list.iter().filter_map(|p| p.matches(number)).max();
        match (best(&self.allow), best(&self.deny)) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(d)) => a > d,
        }
    }
}

/// The international access prefixes and premium-rate ranges the built-in `restricted`
/// class denies: international calls (`+`, `00`, `011`) and well-known premium ranges
/// (North America 1-900 and 1-976, 0900/0906/0908/0909 in much of Europe, France 089).
pub const RESTRICTED_DENY: &[&str] = &[
    "+", "00", "011", "1900", "1976", "0900", "0906", "0908", "0909", "089",
];

/// Emergency numbers when none are configured.
pub const DEFAULT_EMERGENCY: &[&str] = &[
    "112", "911", "999", "000", "110", "118", "119", "15", "17", "18",
];

/// Hours of the day and days of the week a fraud rule applies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Minutes since midnight; the window is `start..end`, across midnight when
    /// `end <= start` (`22:00-06:00`). `0..1440` is the whole day.
    pub start: u16,
    pub end: u16,
    /// Bit `d` set: weekday `d` (0 = Monday) is in.
    pub days: u8,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            start: 0,
            end: 1440,
            days: 0x7f,
        }
    }
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    /// Whether `at` is inside. Without a wall clock only an always-open window is.
    pub fn contains(&self, at: Option<Civil>) -> bool {
        let Some(at) = at else {
            return *self == Window::default();
        };
        // A window across midnight belongs to the day it starts on: Friday 22:00-06:00
        // includes Saturday 03:00.
        let (in_hours, day) = if self.start < self.end {
            ((self.start..self.end).contains(&at.minute), at.weekday)
        } else if at.minute >= self.start {
            (true, at.weekday)
        } else if at.minute < self.end {
            (true, (at.weekday + 6) % 7)
        } else {
            (false, at.weekday)
        };
        in_hours && self.days & (1 << day) != 0
    }

    /// `"HH:MM-HH:MM"` (`24:00` ends a day).
    pub fn parse_hours(text: &str) -> Result<(u16, u16), String> {
        let bad = || format!("{text:?} is not a span of hours such as \"08:00-18:00\"");
        let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
        let minute = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (start, end) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
        if start == end {
            return Err(format!("{text:?} is empty: start and end are the same"));
        }
        Ok((start.min(1439), end))
    }

    /// `"mon-fri"`, `"sat,sun"`, `"mon-wed,fri"` (a range may wrap: `"fri-mon"`).
    pub fn parse_days(text: &str) -> Result<u8, String> {
        let day = |t: &str| {
            let t = t.trim().to_ascii_lowercase();
            DAY_NAMES
                .iter()
                .position(|d| t == *d)
                .ok_or_else(|| format!("{t:?} is not a day: use mon, tue, wed, thu, fri, sat, sun"))
        };
        let mut days = 0u8;
        for part in text.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    let mut d = a;
                    loop {
                        days |= 1 << d;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => days |= 1 << day(part)?,
            }
        }
        Ok(days)
    }
}

/// A warning and a critical threshold; either may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Thresholds {
    pub warning: Option<u64>,
    pub critical: Option<u64>,
}

/// A fraud rule: thresholds on one account's calls to one prefix, within a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudRule {
    pub name: String,
    /// The numbers it watches (a prefix or a dial pattern).
    pub prefix: Pattern,
    pub window: Window,
    /// Calls started in the last 60 s (a sliding window).
    pub calls_per_minute: Thresholds,
    pub concurrent_calls: Thresholds,
    /// Consecutive calls to the same number.
    pub sequential_calls: Thresholds,
    /// Calls of the (civil) day.
    pub total_calls: Thresholds,
    /// Seconds an answered call lasted, checked when it ends.
    pub call_duration: Thresholds,
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Every class, the built-in ones included.
    pub classes: Vec<Class>,
    /// Account (user part of the AOR) -> index in `classes`.
    pub accounts: HashMap<String, usize>,
    /// The class of accounts not listed.
    pub default_class: usize,
    /// Always allowed, whatever the class, the limits or a block (exact numbers).
    pub emergency: Vec<String>,
    pub rules: Vec<FraudRule>,
    /// How long a critical threshold blocks an account.
    pub block_time: Duration,
    /// Seconds east of UTC of the zone windows and days are read in.
    pub utc_offset: i32,
    /// Most accounts with counters; the least recently seen idle one makes room.
    pub max_accounts: usize,
}

impl Default for Rules {
    /// The built-in classes `open` (everything) and `restricted` (no international, no
    /// premium), `restricted` for every account, default limits, no fraud rule.
    fn default() -> Self {
        let restricted = Class {
            name: "restricted".to_owned(),
            allow: Vec::new(),
            deny: RESTRICTED_DENY
                .iter()
                .filter_map(|p| Pattern::parse(p).ok())
                .collect(),
            limits: Limits::default(),
        };
        let open = Class {
            name: "open".to_owned(),
            allow: Vec::new(),
            deny: Vec::new(),
            limits: Limits::default(),
        };
        Rules {
            classes: vec![open, restricted],
            accounts: HashMap::new(),
            default_class: 1,
            emergency: DEFAULT_EMERGENCY.iter().map(|s| (*s).to_owned()).collect(),
            rules: Vec::new(),
            block_time: Duration::from_secs(3600),
            utc_offset: 0,
            max_accounts: 100_000,
        }
    }
}

impl Rules {
    /// The class of `account`.
    pub fn class_of(&self, account: &str) -> Option<&Class> {
        let i = self
            .accounts
            .get(account)
            .copied()
            .unwrap_or(self.default_class);
        self.classes.get(i)
    }

    /// Whether `number` (normalized) is an emergency number.
    pub fn is_emergency(&self, number: &str) -> bool {
        self.emergency.iter().any(|e| e == number)
    }

    /// The number as rules see it.
    pub fn normalize(number: &str) -> String {
        normalize(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_entry_decides() {
        let c = Class {
            name: "c".into(),
            allow: vec![Pattern::parse("+33").unwrap()],
            deny: vec![
                Pattern::parse("+").unwrap(),
                Pattern::parse("+3389").unwrap(),
            ],
            limits: Limits::default(),
        };
        assert!(c.allows("+33123456789"));
        assert!(!c.allows("+3389123456"));
        assert!(!c.allows("+44123"));
        assert!(c.allows("1002"));
        let r = Rules::default();
        let restricted = r.class_of("anyone").unwrap();
        assert!(!restricted.allows("0044123456"));
        assert!(!restricted.allows("19005551234"));
        assert!(restricted.allows("1002"));
    }

    #[test]
    fn windows_hours_days_and_midnight() {
        let (start, end) = Window::parse_hours("22:00-06:00").unwrap();
        let w = Window {
            start,
            end,
            days: Window::parse_days("fri").unwrap(),
        };
        let at = |weekday, h: u16| {
            Some(Civil {
                day: 0,
                weekday,
                minute: h * 60,
            })
        };
        assert!(w.contains(at(4, 23)), "Friday 23:00");
        assert!(
            w.contains(at(5, 3)),
            "Saturday 03:00 belongs to Friday night"
        );
        assert!(
            !w.contains(at(4, 3)),
            "Friday 03:00 belongs to Thursday night"
        );
        assert!(!w.contains(at(5, 23)));
        assert!(!w.contains(at(4, 12)));
        assert_eq!(Window::parse_days("fri-mon").unwrap(), 0b111_0001);
        assert_eq!(Window::parse_days("mon-wed,sun").unwrap(), 0b100_0111);
        assert!(Window::parse_days("funday").is_err());
        assert!(Window::parse_hours("8-18").is_err());
        assert!(Window::parse_hours("08:00-08:00").is_err());
        assert_eq!(Window::parse_hours("00:00-24:00").unwrap(), (0, 1440));
        assert!(
            !w.contains(None),
            "no wall clock: only an always-open window"
        );
        assert!(Window::default().contains(None));
    }
}
