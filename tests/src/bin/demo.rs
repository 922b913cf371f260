//! `make demo`: two phones behind NAT call each other through Palisade and hear each other.
//!
//! The topology is the one of the end-to-end NAT tests (tests/tests/nat_calls.rs), every
//! host a network namespace of its own, nothing linked to the host:
//!
//! ```text
//!  phone A 192.168.1.10 -- NAT A (masquerade) 198.51.100.1 --+
//!                                                            +-- Internet -- Palisade 203.0.113.10
//!  phone B 192.168.2.10 -- NAT B (symmetric)  198.51.100.2 --+                 | 10.10.0.1
//!                                                                 core LAN -- PBX (Kamailio) 10.10.0.20
//! ```
//!
//! Run by scripts/demo.sh, inside a network namespace holding only loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use palisade_tests::harness::baresip::{Baresip, Phone, Wav};
use palisade_tests::harness::kamailio::{self, Pbx};
use palisade_tests::harness::palisade::Palisade;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::topology::{NatKind, NatLab, Netns, addr};
use palisade_tests::harness::workdir::TestDir;

const STEP: Duration = Duration::from_secs(15);
const TALK: Duration = Duration::from_secs(5);
const TONE_A: u32 = 440;
const TONE_B: u32 = 660;

fn say(title: &str) {
    println!("\n== {title}");
}

fn phone(
    dir: &TestDir,
    user: &str,
    ns: &Netns,
    ip: std::net::Ipv4Addr,
    tone: u32,
    sbc: &Palisade,
) -> Phone {
    let mut p = Baresip::new(user, ip, sbc.access())
        .netns(ns)
        .password(&kamailio::password(user))
        .auto_answer(true)
        .tone_hz(tone)
        .start(dir);
    p.wait_registered(STEP);
    p
}

/// How long `phone`'s recording of its call holds a tone of `hz`, and the recording's length.
fn heard(phone: &Phone, hz: u32) -> (Duration, Duration) {
    let (recordings, _) = phone.recordings();
    let Some(wav) = recordings.first().and_then(|p| Wav::read(p)) else {
        return (Duration::ZERO, Duration::ZERO);
    };
    (
        wav.time_with_tone(f64::from(hz), Duration::from_millis(100)),
        wav.duration(),
    )
}

fn main() {
    let dir = peer_test("demo");
    say("Building the network: two home routers (one a symmetric NAT), the Internet, a core LAN");
    let lab = NatLab::build("demo", NatKind::Masquerade, NatKind::Symmetric);
    println!(
        "   phone A {} behind NAT A {} (masquerade)",
        addr::PHONE_A,
        addr::NAT_A
    );
    println!(
        "   phone B {} behind NAT B {} (symmetric: random ports)",
        addr::PHONE_B,
        addr::NAT_B
    );
    println!(
        "   Palisade {} on the Internet, {} on the core LAN",
        addr::SBC_ACCESS,
        addr::SBC_CORE
    );
    println!(
        "   PBX (Kamailio, digest auth) {} on the core LAN",
        addr::PBX
    );

    say("Starting the PBX and Palisade");
    let pbx = Pbx::start_in(&dir, &lab.pbx, addr::PBX);
    let records = dir.join("calls.jsonl");
    let mut sbc = Palisade::builder(addr::SBC_ACCESS, addr::SBC_CORE)
        .netns(&lab.sbc)
        .upstream(&format!("sip:{}", pbx.addr()))
        .records(&records)
        // The production default (the test harness turns it off for callers that do
        // not register): calls only from registered phones, charged to their account.
        .fraud("fraud:\n  registered_only: true\n")
        .start(&dir);
    println!(
        "   Palisade listens on {} (phones) and {} (PBX)",
        sbc.access(),
        sbc.core()
    );

    say("The phones register through their NATs and Palisade with the PBX");
    let mut a = phone(&dir, "1001", &lab.phone_a, addr::PHONE_A, TONE_A, &sbc);
    let mut b = phone(&dir, "1002", &lab.phone_b, addr::PHONE_B, TONE_B, &sbc);
    sbc.wait_log_count("Registered {", 2, STEP);
    println!("   1001 and 1002 registered (the PBX's 401 challenges crossed Palisade)");

    say(&format!(
        "1001 calls 1002; A plays {TONE_A} Hz, B plays {TONE_B} Hz, for {TALK:?}"
    ));
    a.dial("1002");
    a.wait_event("CALL_ESTABLISHED", STEP);
    b.wait_event("CALL_ESTABLISHED", STEP);
    std::thread::sleep(TALK);
    a.hangup();
    a.wait_event("CALL_CLOSED", STEP);
    b.wait_event("CALL_CLOSED", STEP);

    say("What each phone heard (recorded by the phone, analysed by frequency)");
    let (a_heard, a_len) = heard(&a, TONE_B);
    let (b_heard, b_len) = heard(&b, TONE_A);
    println!("   A heard B's {TONE_B} Hz for {a_heard:.1?} of a {a_len:.1?} recording");
    println!("   B heard A's {TONE_A} Hz for {b_heard:.1?} of a {b_len:.1?} recording");
    let two_way = a_heard >= TALK / 2 && b_heard >= TALK / 2;
    println!("   two-way audio: {}", if two_way { "yes" } else { "NO" });

    say(&format!(
        "A scanner on the Internet ({}) runs sipvicious's svmap against Palisade",
        addr::ATTACKER
    ));
    let out = lab
        .attacker
        .command("svmap")
        .args(["-p", &sbc.access().port().to_string()])
        .arg(sbc.access().ip().to_string())
        .output()
        .expect("svmap runs");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("   svmap: {line}");
    }
    let bans: Vec<String> = sbc
        .log()
        .lines()
        .filter(|l| l.contains("source banned"))
        .map(str::to_owned)
        .collect();
    for line in &bans {
        println!("   Palisade: {line}");
    }
    let banned = bans.iter().any(|l| l.contains(&addr::ATTACKER.to_string()));
    println!(
        "   scanner banned, and it learnt nothing: {}",
        if banned { "yes" } else { "NO" }
    );

    say("Palisade's log of the call");
    for line in sbc.log().lines().filter(|l| {
        [
            "Registered",
            "CallStarted",
            "CallAnswered",
            "CallEnded",
            "media session closed",
        ]
        .iter()
        .any(|k| l.contains(k))
    }) {
        println!("   {line}");
    }

    say(&format!("Key metrics (GET http://{}/metrics)", sbc.admin()));
    let metrics = sbc.admin_get("/metrics");
    for line in metrics.lines().filter(|l| {
        !l.starts_with('#')
            && [
                "palisade_calls_total",
                "palisade_calls_active",
                "palisade_registrations_active",
                "palisade_registrations_absorbed_total",
                "palisade_media_packets_total",
                "palisade_media_packets_lost_total",
                "palisade_bans_active",
                "palisade_dropped_total",
                "palisade_upstream_up",
            ]
            .iter()
            .any(|m| l.starts_with(m))
    }) {
        println!("   {line}");
    }

    say(&format!("The call records ({})", records.display()));
    // A record is written (and synced) as its call ends: wait for the second one.
    let deadline = std::time::Instant::now() + STEP;
    let mut text = String::new();
    while std::time::Instant::now() < deadline {
        text = std::fs::read_to_string(&records).unwrap_or_default();
        if text.lines().count() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for line in text.lines() {
        println!("   {line}");
    }

    drop((a, b));
    drop(sbc);
    drop(pbx);
    drop(lab);
    let kept = dir.keep();
    println!("\nLogs, configs and recordings: {}", kept.display());
    if !two_way || !banned {
        eprintln!("demo: the phones did not hear each other, or the scanner was not banned");
        std::process::exit(1);
    }
}
