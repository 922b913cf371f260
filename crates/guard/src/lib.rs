//! Palisade's edge protection, sans-IO: which sources to silence, and when.
//!
//! The guard reads no clock and opens no socket: every call takes `now`, so bans,
//! budgets and windows are tested on virtual time. It is `Send + Sync`: the UDP receive
//! tasks call it for every datagram, the service loop for every parsed request.
//!
//! The order of the checks is the order of their cost:
//!
//! 1. [`Guard::check_datagram`] (before parsing): the deny list, the ban table (one hash
//!    lookup), then the source's rate budget for the request class sniffed from the first
//!    bytes (REGISTER, INVITE, anything else). A source over its budget is banned.
//! 2. [`Guard::inspect`] (after parsing, before the B2BUA): scanner fingerprints, requests
//!    for domains not served, sweeps across many user names. Each bans the source.
//! 3. [`Guard::auth_failed`] (after the PBX answered): failed authentications per source
//!    (a ban) and per account (an alert).
//!
//! Dropped messages get no answer at all: a banned or flooding source is never sent
//! anything, so Palisade cannot be used to amplify a flood. Trusted and allowed networks
//! are never banned nor rate limited.
//!
//! Sources are tracked by address, an IPv6 source by its /64 network (an attacker has a
//! whole /64 to pick addresses from).
//!
//! All rules live in one [`Rules`] value; [`Guard::reconfigure`] swaps it whole. Every
//! per-source table has a cap (`Rules::max_tracked_sources`): when the rate table is
//! full, sources not in it share one source's budget (dropped when it is spent, never
//! banned, since no one source is to blame); when the ban table is full no new ban is
//! entered and the flood stays on that shared budget; when a failure or sweep table is
//! full, new sources are not counted until old windows end.
#![forbid(unsafe_code)]

mod bans;
mod counters;
mod rate;
mod rules;
mod scanner;
mod windows;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use palisade_sip::uri::Host;
use palisade_sip::{Message, Method};

pub use bans::{BanInfo, BanReason, Imported};
pub use counters::{Counters, DropReason, Snapshot};
pub use rate::MethodClass;
pub use rules::{AuthFailures, BanTimes, Rate, Rates, Rules, Sweep};

use bans::BanTable;
use rate::{DrivenClock, RateLimits, RateVerdict};
use rules::{canonical, source_key};
use windows::{Counts, Sweeps};

/// What to do with a message or a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// Drop it without an answer.
    Drop(DropReason),
}

impl Verdict {
    pub fn is_admit(self) -> bool {
        self == Verdict::Admit
    }
}

/// Account names are truncated to this many bytes before they are counted.
const MAX_ACCOUNT_LEN: usize = 128;

type HandshakeLimiter =
    RateLimiter<NotKeyed, InMemoryState, DrivenClock, NoOpMiddleware<governor::nanos::Nanos>>;

/// The rules and what is built from them, swapped together. The limiters are shared
/// with the next rules when their own settings stay the same (see [`Active::next`]).
#[derive(Debug)]
struct Active {
    rules: Rules,
    rates: Arc<RateLimits>,
    handshakes: Option<Arc<HandshakeLimiter>>,
}

impl Active {
    fn new(rules: Rules, clock: &DrivenClock) -> Self {
        Self {
            rates: Arc::new(Self::rate_limits(&rules, clock)),
            handshakes: Self::handshake_limiter(&rules, clock),
            rules,
        }
    }

    /// The active state for `rules`, replacing this one. Rate budgets whose rates did not
    /// change carry over: a reload that only edits, say, the allow list must not hand
    /// every source, a flooding one included, a fresh burst.
    fn next(&self, rules: Rules, clock: &DrivenClock) -> Self {
        let same_rates = rules.rates == self.rules.rates
            && rules.max_tracked_sources == self.rules.max_tracked_sources;
        let rates = if same_rates {
            Arc::clone(&self.rates)
        } else {
            Arc::new(Self::rate_limits(&rules, clock))
        };
        let handshakes = if rules.tls_handshakes_per_second == self.rules.tls_handshakes_per_second
        {
            self.handshakes.clone()
        } else {
            Self::handshake_limiter(&rules, clock)
        };
        Self {
            rules,
            rates,
            handshakes,
        }
    }

    fn rate_limits(rules: &Rules, clock: &DrivenClock) -> RateLimits {
        RateLimits::new(&rules.rates, rules.max_tracked_sources.max(1), clock)
    }

    fn handshake_limiter(rules: &Rules, clock: &DrivenClock) -> Option<Arc<HandshakeLimiter>> {
        NonZeroU32::new(rules.tls_handshakes_per_second).map(|n| {
            Arc::new(RateLimiter::new(
                Quota::per_second(n),
                InMemoryState::default(),
                clock.clone(),
            ))
        })
    }
}

/// The edge protection of one Palisade instance.
#[derive(Debug)]
pub struct Guard {
    epoch: Instant,
    clock: DrivenClock,
    active: RwLock<Arc<Active>>,
    bans: BanTable,
    source_failures: Counts<IpAddr>,
    account_failures: Counts<String>,
    sweeps: Sweeps<IpAddr>,
    counters: Counters,
    bans_changed: AtomicBool,
}

impl Guard {
    pub fn new(rules: Rules, now: Instant) -> Guard {
        let clock = DrivenClock::default();
        Guard {
            epoch: now,
            active: RwLock::new(Arc::new(Active::new(rules, &clock))),
            clock,
            bans: BanTable::new(),
            source_failures: Counts::new(),
            account_failures: Counts::new(),
            sweeps: Sweeps::new(),
            counters: Counters::default(),
            bans_changed: AtomicBool::new(false),
        }
    }

    /// Replaces the rules. Bans, offences and failure counts are kept, and so are the
    /// rate budgets of rates that did not change; changed rates start afresh.
    pub fn reconfigure(&self, rules: Rules) {
        let mut active = self.active.write().unwrap_or_else(|e| e.into_inner());
        *active = Arc::new(active.next(rules, &self.clock));
    }

    /// The rules in force.
    pub fn rules(&self) -> Rules {
        self.active().rules.clone()
    }

    fn active(&self) -> Arc<Active> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn tick(&self, now: Instant) {
        self.clock
            .advance_to(now.saturating_duration_since(self.epoch));
    }

    fn drop(&self, why: DropReason) -> Verdict {
        self.counters.dropped(why);
        Verdict::Drop(why)
    }

    /// The checks every datagram from the access side passes before it is parsed (and
    /// every message read from an access-side connection): deny list, ban, rate budget.
    pub fn check_datagram(&self, now: Instant, source: IpAddr, bytes: &[u8]) -> Verdict {
        self.check_class(now, source, MethodClass::sniff(bytes))
    }

    fn check_class(&self, now: Instant, source: IpAddr, class: MethodClass) -> Verdict {
        let a = self.active();
        let ip = canonical(source);
        if a.rules.denied(ip) {
            return self.drop(DropReason::Denied);
        }
        if !a.rules.enabled || a.rules.exempt(ip) {
            return Verdict::Admit;
        }
        let key = source_key(ip);
        if self.bans.is_banned(key, now) {
            return self.drop(DropReason::Banned);
        }
        self.tick(now);
        match a.rates.check(key, class) {
            RateVerdict::Within => Verdict::Admit,
            RateVerdict::Exceeded => {
                self.ban_auto(now, ip, BanReason::RateLimit, &a.rules);
                self.drop(DropReason::RateLimited)
            }
            RateVerdict::SharedExceeded => self.drop(DropReason::RateLimited),
        }
    }

    /// An accepted TCP or TLS connection from the access side: refused when its source
    /// is denied, banned, or over its budget (a connection counts as one message of the
    /// "other" class).
    pub fn check_connection(&self, now: Instant, source: IpAddr) -> Verdict {
        self.check_class(now, source, MethodClass::Other)
    }

    /// Whether a TLS handshake may start now: a budget of handshakes per second over all
    /// untrusted sources (the expensive part of TLS for a server). It applies even when
    /// the guard is disabled: it is a transport limit.
    pub fn check_tls_handshake(&self, now: Instant, source: IpAddr) -> bool {
        let a = self.active();
        if a.rules.exempt(canonical(source)) {
            return true;
        }
        self.tick(now);
        let ok = a.handshakes.as_ref().is_none_or(|l| l.check().is_ok());
        if !ok {
            self.counters.tls_refused();
        }
        ok
    }

    /// The checks on a parsed request from the access side, before the B2BUA sees it:
    /// scanner fingerprints, the served domains, and sweeps. Responses are admitted.
    pub fn inspect(&self, now: Instant, source: IpAddr, msg: &Message) -> Verdict {
        let a = self.active();
        let ip = canonical(source);
        let rules = &a.rules;
        let Some(method) = msg.method() else {
            return Verdict::Admit;
        };
        if !rules.enabled || rules.exempt(ip) {
            return Verdict::Admit;
        }
        let key = source_key(ip);
        if self.bans.is_banned(key, now) {
            return self.drop(DropReason::Banned);
        }
        if rules.scanners
            && let Some(why) = scanner::fingerprint(msg)
        {
            tracing::debug!(source = %ip, why, "scanner fingerprint");
            self.ban_auto(now, ip, BanReason::Scanner, rules);
            return self.drop(DropReason::Scanner);
        }
        if let Some(Ok(uri)) = msg.request_uri()
            && let Some(sip) = uri.sip()
            && let Host::Domain(domain) = sip.host
            && !rules.serves(domain)
        {
            tracing::debug!(source = %ip, domain, "request for a domain not served");
            self.ban_auto(now, ip, BanReason::Domain, rules);
            return self.drop(DropReason::Domain);
        }
        if let Some(user) = claimed_user(msg, method) {
            let sw = &rules.sweep;
            if self.sweeps.note(
                &key,
                &user,
                now,
                sw.window,
                sw.max_users,
                rules.max_tracked_sources,
            ) {
                self.sweeps.remove(&key);
                self.ban_auto(now, ip, BanReason::Sweep, rules);
                return self.drop(DropReason::Sweep);
            }
        }
        Verdict::Admit
    }

    /// A request from `source` that carried credentials for `account` was refused by
    /// the PBX (401, 407 or 403). Enough of them from one source ban it; enough for one
    /// account, from anywhere, raise an alert.
    pub fn auth_failed(&self, now: Instant, source: IpAddr, account: &str) {
        self.counters.auth_failure();
        let a = self.active();
        let rules = &a.rules;
        if !rules.enabled {
            return;
        }
        let ip = canonical(source);
        let af = &rules.auth_failures;
        let account = truncate(account, MAX_ACCOUNT_LEN);
        if let Some(c) = self.account_failures.add(
            &account.to_owned(),
            now,
            af.window,
            af.account_alert.max(1),
            rules.max_tracked_sources,
        ) && c.first_time_over
        {
            self.counters.account_alert();
            tracing::warn!(
                account,
                failures = c.count,
                window = ?af.window,
                "account under attack: failed authentications from many attempts"
            );
        }
        if rules.exempt(ip) {
            return;
        }
        let key = source_key(ip);
        if let Some(c) = self.source_failures.add(
            &key,
            now,
            af.window,
            af.max.max(1),
            rules.max_tracked_sources,
        ) && c.count >= af.max
        {
            self.source_failures.remove(&key);
            self.ban_auto(now, ip, BanReason::AuthFailures, rules);
        }
    }

    fn ban_auto(&self, now: Instant, ip: IpAddr, reason: BanReason, rules: &Rules) {
        if rules.exempt(ip) {
            return;
        }
        let cap = rules.max_tracked_sources;
        let key = source_key(ip);
        if let Some(b) = self.bans.ban(key, now, reason, &rules.bans, None, cap) {
            self.counters.banned();
            self.bans_changed.store(true, Relaxed);
            tracing::warn!(
                source = %key,
                %reason,
                duration = %humanize(b.duration),
                offences = b.offences,
                "source banned"
            );
        }
    }

    /// Bans a source by hand (the admin API): for `duration`, or for its next escalation
    /// step. Trusted and allowed sources cannot be banned. Whether a ban was entered.
    pub fn ban(&self, now: Instant, source: IpAddr, duration: Option<Duration>) -> bool {
        let a = self.active();
        let ip = canonical(source);
        if a.rules.exempt(ip) {
            return false;
        }
        let cap = a.rules.max_tracked_sources;
        let key = source_key(ip);
        let entered = self
            .bans
            .ban(key, now, BanReason::Manual, &a.rules.bans, duration, cap);
        if let Some(b) = entered {
            self.counters.banned();
            self.bans_changed.store(true, Relaxed);
            tracing::warn!(source = %key, reason = %BanReason::Manual, duration = %humanize(b.duration), "source banned");
        }
        entered.is_some()
    }

    /// Lifts a ban and forgets the source's offences and failures. Whether it was
    /// banned.
    pub fn unban(&self, now: Instant, source: IpAddr) -> bool {
        let ip = source_key(source);
        self.source_failures.remove(&ip);
        self.sweeps.remove(&ip);
        let was = self.bans.unban(ip, now);
        if was {
            self.bans_changed.store(true, Relaxed);
            tracing::info!(source = %ip, "ban lifted");
        }
        was
    }

    pub fn is_banned(&self, now: Instant, source: IpAddr) -> bool {
        self.bans.is_banned(source_key(source), now)
    }

    /// The bans in force, by address (an IPv6 ban is shown as its /64 network address).
    pub fn bans(&self, now: Instant) -> Vec<BanInfo> {
        self.bans.list(now)
    }

    /// Forgets what has aged out: refilled rate budgets, ended windows, offences past
    /// their memory. Call it about once a second.
    pub fn maintain(&self, now: Instant) {
        let a = self.active();
        let r = &a.rules;
        self.tick(now);
        a.rates.prune(
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX),
        );
        let before = self.bans.active(now);
        self.bans.prune(now, &r.bans);
        if self.bans.active(now) != before {
            self.bans_changed.store(true, Relaxed);
        }
        self.source_failures.prune(now, r.auth_failures.window);
        self.account_failures.prune(now, r.auth_failures.window);
        self.sweeps.prune(now, r.sweep.window);
    }

    /// Whether bans changed since the last call: time to write the ban file.
    pub fn take_bans_changed(&self) -> bool {
        self.bans_changed.swap(false, Relaxed)
    }

    /// The ban table as text, for the ban file: bans in force and remembered offences,
    /// with wall-clock expiry times (`wall` is the wall clock at `now`).
    pub fn export_bans(&self, now: Instant, wall: SystemTime) -> String {
        self.bans.export(now, wall)
    }

    /// Loads a ban file written by [`Guard::export_bans`], before or after a restart.
    pub fn import_bans(&self, text: &str, now: Instant, wall: SystemTime) -> Imported {
        let cap = self.active().rules.max_tracked_sources;
        self.bans.import(text, now, wall, cap)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The counters and gauges at `now`, for a metrics scrape.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let c = &self.counters;
        Snapshot {
            bans_active: self.bans.active(now),
            bans_total: c.bans(),
            drops: DropReason::ALL.iter().map(|&r| (r, c.drops(r))).collect(),
            auth_failures: c.auth_failures(),
            account_alerts: c.account_alerts(),
            tls_handshakes_refused: c.tls_handshakes_refused(),
            tracked_sources: self.active().rates.tracked()
                + self.source_failures.len()
                + self.sweeps.len(),
        }
    }
}

/// The user a request claims to be or to register: the To user of a REGISTER, the From
/// user of any other request outside a dialog. A phone claims one (or a few lines); a
/// sweep claims a new one with every request.
fn claimed_user(msg: &Message, method: &Method) -> Option<String> {
    let to = msg.to().ok()?;
    if to.tag().is_some() || matches!(method, Method::Ack | Method::Cancel) {
        return None;
    }
    let party = if *method == Method::Register {
        to
    } else {
        msg.from().ok()?
    };
    party
        .uri
        .sip()
        .and_then(|s| s.user)
        .map(|u| truncate(u, MAX_ACCOUNT_LEN).to_owned())
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s.is_multiple_of(3600) && s > 0 => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) && s > 0 => format!("{}m", s / 60),
        _ => format!("{}s", s),
    }
}
