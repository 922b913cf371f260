//! The ban table: which sources are silenced, why, until when, and how often they
//! offended before (for escalation). Also its text form, for the ban file.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;

use crate::rules::BanTimes;

/// Why a source was banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BanReason {
    /// Over its request budget.
    RateLimit,
    /// A known scanner's fingerprint.
    Scanner,
    /// Many user names in a short time: enumeration.
    Sweep,
    /// A request for a domain Palisade does not serve.
    Domain,
    /// Too many failed authentications.
    AuthFailures,
    /// Banned by an operator.
    Manual,
}

impl BanReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BanReason::RateLimit => "rate_limit",
            BanReason::Scanner => "scanner",
            BanReason::Sweep => "sweep",
            BanReason::Domain => "domain",
            BanReason::AuthFailures => "auth_failures",
            BanReason::Manual => "manual",
        }
    }
}

impl fmt::Display for BanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BanReason {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [
            BanReason::RateLimit,
            BanReason::Scanner,
            BanReason::Sweep,
            BanReason::Domain,
            BanReason::AuthFailures,
            BanReason::Manual,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or(())
    }
}

/// A ban as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanInfo {
    pub source: IpAddr,
    pub reason: BanReason,
    /// Time left.
    pub remaining: Duration,
    /// Offences remembered for this source, this one included.
    pub offences: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    until: Instant,
    reason: BanReason,
    offences: u32,
}

/// Sources banned now, and sources whose ban ended but whose offences are still
/// remembered (for `max_time` after the ban ended), so that a repeat offender's next
/// ban is longer.
#[derive(Debug)]
pub(crate) struct BanTable {
    map: DashMap<IpAddr, Entry>,
}

/// A ban that was entered: how long it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NewBan {
    pub(crate) duration: Duration,
    pub(crate) offences: u32,
}

impl BanTable {
    pub(crate) fn new() -> Self {
        Self {
            map: DashMap::new(),
        }
    }

    /// Constant time: one hash lookup.
    pub(crate) fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.map.get(&ip).is_some_and(|e| e.until > now)
    }

    /// Bans `ip` for its next escalation step, or for `fixed` (an operator's ban). A
    /// source banned already keeps its ban. `None` when nothing was entered: banned
    /// already, or the table is full (then the flood stays on the shared rate budget).
    pub(crate) fn ban(
        &self,
        ip: IpAddr,
        now: Instant,
        reason: BanReason,
        times: &BanTimes,
        fixed: Option<Duration>,
        cap: usize,
    ) -> Option<NewBan> {
        if !self.map.contains_key(&ip) && self.map.len() >= cap {
            return None;
        }
        let mut entry = self.map.entry(ip).or_insert(Entry {
            until: now,
            reason,
            offences: 0,
        });
        if entry.until > now && fixed.is_none() {
            return None;
        }
        let offences = entry.offences.saturating_add(1);
        let duration = fixed.unwrap_or_else(|| escalated(times, offences));
        *entry = Entry {
            until: now + duration,
            reason,
            offences,
        };
        Some(NewBan { duration, offences })
    }

    /// Lifts a ban and forgets the source's offences. Whether it was banned.
    pub(crate) fn unban(&self, ip: IpAddr, now: Instant) -> bool {
        self.map.remove(&ip).is_some_and(|(_, e)| e.until > now)
    }

    pub(crate) fn list(&self, now: Instant) -> Vec<BanInfo> {
        let mut v: Vec<BanInfo> = self
            .map
            .iter()
            .filter(|e| e.until > now)
            .map(|e| BanInfo {
                source: *e.key(),
                reason: e.reason,
                remaining: e.until - now,
                offences: e.offences,
            })
            .collect();
        v.sort_by_key(|b| b.source);
        v
    }

    pub(crate) fn active(&self, now: Instant) -> usize {
        self.map.iter().filter(|e| e.until > now).count()
    }

    /// Forgets sources whose ban ended more than `max_time` ago.
    pub(crate) fn prune(&self, now: Instant, times: &BanTimes) {
        self.map.retain(|_, e| e.until + times.max_time > now);
    }

    /// The text form: one line per remembered source, `ADDRESS UNTIL OFFENCES REASON`,
    /// UNTIL in seconds since the Unix epoch (wall time survives a restart; `Instant`
    /// does not).
    pub(crate) fn export(&self, now: Instant, wall: SystemTime) -> String {
        let mut out =
            String::from("# Palisade bans: ADDRESS UNTIL(unix seconds) OFFENCES REASON\n");
        let mut rows: Vec<(IpAddr, Entry)> = self.map.iter().map(|e| (*e.key(), *e)).collect();
        rows.sort_by_key(|(ip, _)| *ip);
        let wall_now = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        for (ip, e) in rows {
            let until = wall_now + e.until.saturating_duration_since(now);
            out.push_str(&format!(
                "{ip} {} {} {}\n",
                until.as_secs(),
                e.offences,
                e.reason
            ));
        }
        out
    }

    /// Reads the text form back. Lines that do not parse are skipped and counted.
    pub(crate) fn import(
        &self,
        text: &str,
        now: Instant,
        wall: SystemTime,
        cap: usize,
    ) -> Imported {
        let wall_now = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut done = Imported::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Some((ip, until_secs, offences, reason)) if self.map.len() < cap => {
                    let left = Duration::from_secs(until_secs).saturating_sub(wall_now);
                    self.map.insert(
                        ip,
                        Entry {
                            until: now + left,
                            reason,
                            offences,
                        },
                    );
                    done.loaded += 1;
                }
                _ => done.skipped += 1,
            }
        }
        done
    }
}

/// What [`crate::Guard::import_bans`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub loaded: usize,
    /// Malformed lines, or lines beyond the table's cap.
    pub skipped: usize,
}

fn parse_line(line: &str) -> Option<(IpAddr, u64, u32, BanReason)> {
    let mut f = line.split_ascii_whitespace();
    let ip = f.next()?.parse().ok()?;
    let until = f.next()?.parse().ok()?;
    let offences = f.next()?.parse().ok()?;
    let reason = f.next()?.parse().ok()?;
    f.next().is_none().then_some((ip, until, offences, reason))
}

/// `time`, doubled for each offence after the first, capped at `max_time`.
fn escalated(times: &BanTimes, offences: u32) -> Duration {
    let doublings = offences.saturating_sub(1).min(32);
    times
        .time
        .checked_mul(1u32 << doublings.min(31))
        .unwrap_or(times.max_time)
        .min(times.max_time)
}
