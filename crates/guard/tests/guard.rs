//! The guard on virtual time: bans, escalation, expiry, persistence, bounded memory,
//! rate budgets per request class, CIDR lists, and real sipvicious requests.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use palisade_guard::{BanReason, DropReason, Guard, Rate, Rules, Verdict};
use palisade_sip::{Message, ParseLimits, Transport};

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66));
const PHONE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn parse(text: &str) -> Message {
    let text = text.replace('\n', "\r\n").replace("\r\r\n", "\r\n");
    match Message::parse(
        Bytes::from(text),
        Transport::Datagram,
        &ParseLimits::default(),
    ) {
        Ok(m) => m,
        Err(e) => panic!("test message does not parse: {e}"),
    }
}

fn data(name: &str) -> Message {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Message::parse(
        Bytes::from(bytes),
        Transport::Datagram,
        &ParseLimits::default(),
    )
    .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn register(user: &str, tag: &str) -> Message {
    parse(&format!(
        "REGISTER sip:198.51.100.1 SIP/2.0\n\
         Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKa7c1{tag}\n\
         Max-Forwards: 70\n\
         From: <sip:{user}@198.51.100.1>;tag={tag}\n\
         To: <sip:{user}@198.51.100.1>\n\
         Call-ID: a84b4c76e66710-{tag}\n\
         CSeq: 1 REGISTER\n\
         Contact: <sip:{user}@198.51.100.10:5060>\n\
         User-Agent: Yealink SIP-T46S 66.86.0.15\n\
         Content-Length: 0\n\n"
    ))
}

const INVITE_START: &[u8] = b"INVITE sip:1002@198.51.100.1 SIP/2.0\r\n";
const REGISTER_START: &[u8] = b"REGISTER sip:198.51.100.1 SIP/2.0\r\n";
const OPTIONS_START: &[u8] = b"OPTIONS sip:198.51.100.1 SIP/2.0\r\n";

fn rules() -> Rules {
    Rules::default()
}

/// Sends `n` datagrams from `src`, one every `gap`, and returns how many were admitted
/// and the time after the last.
fn send(g: &Guard, t: Instant, src: IpAddr, bytes: &[u8], n: u32, gap: Duration) -> (u32, Instant) {
    let mut admitted = 0;
    let mut now = t;
    for _ in 0..n {
        if g.check_datagram(now, src, bytes).is_admit() {
            admitted += 1;
        }
        now += gap;
    }
    (admitted, now)
}

#[test]
fn a_source_within_its_budget_is_never_banned() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    // 10 INVITEs per second for a minute: half the default budget.
    let (admitted, _) = send(&g, t, PHONE, INVITE_START, 600, Duration::from_millis(100));
    assert_eq!(admitted, 600);
    assert!(g.bans(t).is_empty());
}

#[test]
fn a_flood_is_banned_after_its_burst_and_then_silenced() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    // 10_000 INVITEs per second: the burst (40) passes, then the source is banned.
    let (admitted, end) = send(
        &g,
        t,
        ATTACKER,
        INVITE_START,
        1000,
        Duration::from_micros(100),
    );
    assert!((40..=41).contains(&admitted), "admitted {admitted}");
    assert!(g.is_banned(end, ATTACKER));
    let bans = g.bans(end);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].reason, BanReason::RateLimit);
    assert_eq!(g.counters().drops(DropReason::RateLimited), 1);
    assert_eq!(
        g.counters().drops(DropReason::Banned),
        u64::from(1000 - admitted - 1)
    );
    // Another source is not affected.
    assert!(g.check_datagram(end, PHONE, INVITE_START).is_admit());
}

#[test]
fn budgets_are_per_method_class() {
    let t = Instant::now();
    let mut r = rules();
    r.rates.register = Rate::per_second(5);
    r.rates.invite = Rate::per_second(50);
    r.rates.other = Rate::per_second(50);
    let g = Guard::new(r, t);
    // 30 INVITEs and 30 OPTIONS at once fit their bursts (100 each) ...
    let (inv, _) = send(&g, t, PHONE, INVITE_START, 30, Duration::ZERO);
    let (opt, _) = send(&g, t, PHONE, OPTIONS_START, 30, Duration::ZERO);
    assert_eq!((inv, opt), (30, 30));
    // ... while REGISTER has a budget of its own: a burst of 10, then a ban.
    let (reg, _) = send(&g, t, PHONE, REGISTER_START, 30, Duration::ZERO);
    assert_eq!(reg, 10);
    assert!(g.is_banned(t, PHONE));
}

#[test]
fn the_method_is_sniffed_without_parsing() {
    use palisade_guard::MethodClass;
    assert_eq!(
        MethodClass::sniff(b"\r\n\r\nREGISTER sip:x SIP/2.0"),
        MethodClass::Register
    );
    assert_eq!(MethodClass::sniff(INVITE_START), MethodClass::Invite);
    assert_eq!(
        MethodClass::sniff(b"SIP/2.0 200 OK\r\n"),
        MethodClass::Other
    );
    assert_eq!(MethodClass::sniff(b"\x00\xff garbage"), MethodClass::Other);
    assert_eq!(MethodClass::sniff(b""), MethodClass::Other);
}

#[test]
fn bans_expire_and_repeat_offenders_get_longer_bans() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    let base = rules().bans.time;
    let mut now = t;
    for (offence, expected) in [(1u32, base), (2, base * 2), (3, base * 4)] {
        assert!(g.ban(now, ATTACKER, None), "offence {offence}");
        let b = &g.bans(now)[0];
        assert_eq!((b.offences, b.remaining), (offence, expected));
        // Still banned just before the end, free just after.
        assert!(g.is_banned(now + expected - secs(1), ATTACKER));
        now += expected + secs(1);
        assert!(!g.is_banned(now, ATTACKER));
        assert!(g.check_datagram(now, ATTACKER, OPTIONS_START).is_admit());
    }
    // Escalation stops at max_time.
    let mut last = Duration::ZERO;
    for _ in 0..20 {
        g.ban(now, ATTACKER, None);
        last = g.bans(now)[0].remaining;
        assert!(last <= rules().bans.max_time);
        now += last + secs(1);
    }
    assert_eq!(last, rules().bans.max_time);
}

#[test]
fn offences_are_forgotten_after_good_behaviour() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    g.ban(t, ATTACKER, None);
    let later = t + rules().bans.time + rules().bans.max_time + secs(1);
    g.maintain(later);
    g.ban(later, ATTACKER, None);
    assert_eq!(g.bans(later)[0].offences, 1);
}

#[test]
fn bans_can_be_listed_and_lifted() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    assert!(g.ban(t, ATTACKER, Some(secs(30))));
    assert!(g.ban(t, ip(203, 0, 113, 67), None));
    let listed: Vec<IpAddr> = g.bans(t).iter().map(|b| b.source).collect();
    assert_eq!(listed, [ATTACKER, ip(203, 0, 113, 67)]);
    assert_eq!(g.bans(t)[0].remaining, secs(30));
    assert!(g.unban(t, ATTACKER));
    assert!(!g.unban(t, ATTACKER));
    assert!(!g.is_banned(t, ATTACKER));
    assert_eq!(g.snapshot(t).bans_active, 1);
    assert_eq!(g.snapshot(t).bans_total, 2);
}

#[test]
fn bans_survive_a_restart_through_their_text_form() {
    let t = Instant::now();
    let wall = UNIX_EPOCH + secs(1_800_000_000);
    let g = Guard::new(rules(), t);
    g.ban(t, ATTACKER, None);
    g.ban(t, ATTACKER, Some(secs(100)));
    g.ban(t, ip(2, 2, 2, 2), Some(secs(5)));
    assert!(g.take_bans_changed());
    assert!(!g.take_bans_changed());
    let text = g.export_bans(t, wall);
    assert!(text.contains("203.0.113.66 1800000100 2 manual"), "{text}");

    // A new process, 60 s later on the wall clock, with an Instant of its own.
    let t2 = t + secs(3);
    let g2 = Guard::new(rules(), t2);
    let imported = g2.import_bans(&(text + "garbage line\n"), t2, wall + secs(60));
    assert_eq!((imported.loaded, imported.skipped), (2, 1));
    let bans = g2.bans(t2);
    assert_eq!(bans.len(), 1, "the 5 s ban has ended");
    assert_eq!((bans[0].source, bans[0].remaining), (ATTACKER, secs(40)));
    // The ended one's offences are remembered: its next ban is its second.
    g2.ban(t2, ip(2, 2, 2, 2), None);
    assert_eq!(g2.bans(t2)[0].offences, 2);
}

#[test]
fn memory_stays_bounded_under_a_flood_from_many_sources() {
    let t = Instant::now();
    let mut r = rules();
    r.max_tracked_sources = 1000;
    let g = Guard::new(r, t);
    let mut now = t;
    // 100_000 sources, 3 packets each, within a few seconds.
    for i in 0..100_000u32 {
        let [_, b, c, d] = i.to_be_bytes();
        let src = ip(10, b, c, d);
        for _ in 0..3 {
            g.check_datagram(now, src, INVITE_START);
        }
        now += Duration::from_micros(30);
    }
    let s = g.snapshot(now);
    assert!(s.tracked_sources <= 1000, "{s:?}");
    // The shared budget of untracked sources was spent, and nobody was banned for it.
    assert!(g.counters().drops(DropReason::RateLimited) > 0);
    assert_eq!(s.bans_active, 0);
    // Once budgets have refilled, maintenance frees the table for new sources.
    g.maintain(now + secs(10));
    assert_eq!(g.snapshot(now + secs(10)).tracked_sources, 0);
}

#[test]
fn the_ban_table_is_bounded_too() {
    let t = Instant::now();
    let mut r = rules();
    r.max_tracked_sources = 10;
    let g = Guard::new(r, t);
    for i in 0..50 {
        g.ban(t, ip(10, 0, 0, i), None);
    }
    assert_eq!(g.bans(t).len(), 10);
}

#[test]
fn trusted_and_allowed_networks_are_never_limited_and_denied_ones_always_dropped() {
    let t = Instant::now();
    let mut r = rules();
    r.trusted = vec!["198.51.100.0/24".parse().unwrap()];
    r.allow = vec!["192.168.7.0/24".parse().unwrap()];
    r.deny = vec![
        "203.0.113.0/24".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ];
    let g = Guard::new(r, t);
    for src in [PHONE, ip(192, 168, 7, 200)] {
        let (admitted, _) = send(&g, t, src, INVITE_START, 5000, Duration::ZERO);
        assert_eq!(admitted, 5000);
        assert!(!g.ban(t, src, None));
        assert!(g.inspect(t, src, &data("svmap-options.sip")).is_admit());
    }
    assert_eq!(
        g.check_datagram(t, ATTACKER, OPTIONS_START),
        Verdict::Drop(DropReason::Denied)
    );
    // An IPv4-mapped IPv6 source is its IPv4 address.
    let mapped: IpAddr = "::ffff:203.0.113.9"
        .parse()
        .unwrap_or_else(|_| unreachable!());
    assert!(!g.check_datagram(t, mapped, OPTIONS_START).is_admit());
    let v6: IpAddr = "2001:db8::5".parse().unwrap();
    assert!(!g.check_connection(t, v6).is_admit());
    assert_eq!(g.counters().drops(DropReason::Denied), 3);
}

#[test]
fn disabled_guard_admits_everything_but_the_deny_list() {
    let t = Instant::now();
    let mut r = rules();
    r.enabled = false;
    r.deny = vec!["203.0.113.0/24".parse().unwrap()];
    let g = Guard::new(r, t);
    let (admitted, _) = send(&g, t, PHONE, INVITE_START, 5000, Duration::ZERO);
    assert_eq!(admitted, 5000);
    assert!(g.inspect(t, PHONE, &data("svmap-options.sip")).is_admit());
    assert!(!g.check_datagram(t, ATTACKER, OPTIONS_START).is_admit());
}

#[test]
fn real_sipvicious_requests_are_recognised_and_their_source_banned() {
    for (i, name) in [
        "svmap-options.sip",
        "svwar-register.sip",
        "svcrack-register.sip",
    ]
    .into_iter()
    .enumerate()
    {
        let t = Instant::now();
        let g = Guard::new(rules(), t);
        let src = ip(203, 0, 113, u8::try_from(i).unwrap_or(0));
        assert_eq!(
            g.inspect(t, src, &data(name)),
            Verdict::Drop(DropReason::Scanner),
            "{name}"
        );
        assert!(g.is_banned(t, src));
        assert_eq!(g.bans(t)[0].reason, BanReason::Scanner);
        // Silence from then on, before parsing.
        assert_eq!(
            g.check_datagram(t, src, OPTIONS_START),
            Verdict::Drop(DropReason::Banned)
        );
    }
}

/// sipvicious with its User-Agent and From name changed: the shape of its identifiers
/// still gives it away.
#[test]
fn a_sipvicious_clone_with_another_user_agent_is_recognised() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    let text = String::from_utf8_lossy(data("svwar-register.sip").as_bytes())
        .replace("friendly-scanner", "Zoiper rv2.10");
    assert_eq!(
        g.inspect(t, ATTACKER, &parse(&text)),
        Verdict::Drop(DropReason::Scanner)
    );
    let text = String::from_utf8_lossy(data("svcrack-register.sip").as_bytes())
        .replace("friendly-scanner", "Linphone/5.0");
    assert_eq!(
        g.inspect(t, PHONE, &parse(&text)),
        Verdict::Drop(DropReason::Scanner)
    );
}

#[test]
fn ordinary_phones_are_not_taken_for_scanners() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    assert!(
        g.inspect(t, PHONE, &register("1001", "9fxced76sl"))
            .is_admit()
    );
    let sipp = parse(
        "INVITE sip:1002@127.0.0.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-2321-1-0\n\
         From: sipp <sip:1001@127.0.0.2:5061>;tag=2321SIPpTag001\n\
         To: <sip:1002@127.0.0.1:5060>\n\
         Call-ID: 1-2321@127.0.0.2\n\
         CSeq: 1 INVITE\n\
         Contact: sip:sipp@127.0.0.2:5061\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n",
    );
    assert!(g.inspect(t, PHONE, &sipp).is_admit());
    assert!(g.bans(t).is_empty());
}

#[test]
fn a_sweep_across_many_users_bans_its_source() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    let max = rules().sweep.max_users;
    // A phone re-registering its lines over and over is no sweep.
    for round in 0..50 {
        for line in ["1001", "1002", "1003"] {
            let m = register(line, &format!("r{round}{line}"));
            assert!(g.inspect(t + secs(round), PHONE, &m).is_admit());
        }
    }
    // One user name after another from one source is.
    let mut dropped_at = None;
    for n in 0..100u32 {
        let m = register(&(100 + n).to_string(), &format!("t{n}"));
        if let Verdict::Drop(why) = g.inspect(t, ATTACKER, &m) {
            assert_eq!(why, DropReason::Sweep);
            dropped_at = Some(n);
            break;
        }
    }
    assert_eq!(dropped_at, Some(max));
    assert_eq!(g.bans(t)[0].reason, BanReason::Sweep);
    // The window restarts: max_users names per window are fine.
    let g = Guard::new(rules(), t);
    for n in 0..(3 * max) {
        let now = t + rules().sweep.window * (n / max);
        let m = register(&(100 + n).to_string(), &format!("w{n}"));
        assert!(g.inspect(now, PHONE, &m).is_admit(), "name {n}");
    }
}

#[test]
fn requests_for_domains_not_served_are_dropped() {
    let t = Instant::now();
    let mut r = rules();
    r.domains = vec!["voip.example.com".into()];
    let g = Guard::new(r.clone(), t);
    let to = |host: &str| {
        parse(&format!(
            "OPTIONS sip:1001@{host} SIP/2.0\n\
             Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKd1\n\
             From: <sip:1001@voip.example.com>;tag=aa1\n\
             To: <sip:1001@{host}>\n\
             Call-ID: d1\n\
             CSeq: 1 OPTIONS\n\
             Max-Forwards: 70\n\
             Content-Length: 0\n\n"
        ))
    };
    assert!(g.inspect(t, PHONE, &to("voip.example.com")).is_admit());
    assert!(g.inspect(t, PHONE, &to("VOIP.example.com.")).is_admit());
    assert!(g.inspect(t, PHONE, &to("198.51.100.1")).is_admit());
    assert!(g.inspect(t, PHONE, &to("[2001:db8::1]")).is_admit());
    assert_eq!(
        g.inspect(t, ATTACKER, &to("pbx.other.example")),
        Verdict::Drop(DropReason::Domain)
    );
    assert!(g.is_banned(t, ATTACKER));
    // An empty list serves IP addresses only.
    r.domains.clear();
    let g = Guard::new(r, t);
    assert!(g.inspect(t, PHONE, &to("198.51.100.1")).is_admit());
    assert!(!g.inspect(t, PHONE, &to("voip.example.com")).is_admit());
}

#[test]
fn failed_authentications_ban_a_source_and_alert_on_an_account() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    let max = rules().auth_failures.max;
    for n in 1..max {
        g.auth_failed(t + secs(u64::from(n)), ATTACKER, "1001");
        assert!(!g.is_banned(t + secs(u64::from(n)), ATTACKER));
    }
    let now = t + secs(30);
    g.auth_failed(now, ATTACKER, "1001");
    assert!(g.is_banned(now, ATTACKER));
    assert_eq!(g.bans(now)[0].reason, BanReason::AuthFailures);

    // Failures outside the window do not add up.
    let g = Guard::new(rules(), t);
    let window = rules().auth_failures.window;
    for n in 0..20u32 {
        g.auth_failed(t + window * n, PHONE, "1002");
    }
    assert!(!g.is_banned(t + window * 20, PHONE));

    // One account from many sources, each below its own threshold: an alert, once.
    let g = Guard::new(rules(), t);
    let alert = rules().auth_failures.account_alert;
    for n in 0..(2 * alert) {
        g.auth_failed(t, ip(10, 9, 0, u8::try_from(n).unwrap_or(0)), "1003");
    }
    assert_eq!(g.counters().account_alerts(), 1);
    assert_eq!(g.counters().auth_failures(), u64::from(2 * alert));
    assert!(g.bans(t).is_empty());
}

#[test]
fn tls_handshakes_have_a_budget_per_second() {
    let t = Instant::now();
    let mut r = rules();
    r.tls_handshakes_per_second = 10;
    let g = Guard::new(r, t);
    let ok = (0..50)
        .filter(|i| g.check_tls_handshake(t, ip(10, 0, 0, *i)))
        .count();
    assert_eq!(ok, 10);
    assert!(g.check_tls_handshake(t + secs(1), ATTACKER));
    assert_eq!(g.counters().tls_handshakes_refused(), 40);
}

#[test]
fn banned_sources_connections_are_refused() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    assert!(g.check_connection(t, ATTACKER).is_admit());
    g.ban(t, ATTACKER, None);
    assert_eq!(
        g.check_connection(t, ATTACKER),
        Verdict::Drop(DropReason::Banned)
    );
}

#[test]
fn reconfigure_swaps_the_rules_and_keeps_the_bans() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    g.ban(t, ATTACKER, None);
    let mut r = rules();
    r.rates.invite = Rate::per_second(1);
    g.reconfigure(r.clone());
    assert_eq!(g.rules(), r);
    assert!(g.is_banned(t, ATTACKER));
    let (admitted, _) = send(&g, t, PHONE, INVITE_START, 10, Duration::ZERO);
    assert_eq!(admitted, 2);
}

#[test]
fn a_reload_that_keeps_the_rates_keeps_the_budgets() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    // Two sources spend their whole INVITE burst (40) at once: admitted, no ban yet.
    for source in [PHONE, ATTACKER] {
        let (admitted, _) = send(&g, t, source, INVITE_START, 40, Duration::ZERO);
        assert_eq!(admitted, 40);
        assert!(!g.is_banned(t, source));
    }
    // Another rule changes, the rates do not: the spent budget stays spent.
    let mut r = rules();
    r.allow = vec!["192.0.2.0/24".parse().unwrap()];
    g.reconfigure(r.clone());
    assert_eq!(
        g.check_datagram(t, PHONE, INVITE_START),
        Verdict::Drop(DropReason::RateLimited)
    );
    // New rates (the default is 20/s) start a fresh budget.
    r.rates.invite = Rate::per_second(30);
    g.reconfigure(r);
    let (admitted, _) = send(&g, t, ATTACKER, INVITE_START, 5, Duration::ZERO);
    assert_eq!(admitted, 5);
}

#[test]
fn the_guard_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<Guard>();
}

#[test]
fn an_ipv6_source_is_tracked_by_its_64() {
    let t = Instant::now();
    let g = Guard::new(rules(), t);
    let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
    let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    // Hopping addresses within the /64 does not renew the budget ...
    let (first, _) = send(&g, t, a, INVITE_START, 30, Duration::ZERO);
    let (second, _) = send(&g, t, b, INVITE_START, 30, Duration::ZERO);
    assert_eq!(first + second, 40);
    // ... and the ban covers the /64, not the next one.
    assert!(g.is_banned(t, a) && g.is_banned(t, b));
    assert!(!g.is_banned(t, other));
    assert_eq!(g.bans(t)[0].source.to_string(), "2001:db8:1:2::");
    assert!(g.unban(t, b));
    assert!(!g.is_banned(t, a));
}
