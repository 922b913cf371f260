//! Two softphones (baresip) register through Palisade over TLS and call each other through
//! the PBX (Kamailio, tests/kamailio/pbx.cfg, over UDP on the core side).
//!
//! Palisade's access side listens for TLS with a certificate for its access address from a
//! test CA. Each phone connects there with `;transport=tls`: the REGISTER, the PBX's digest
//! challenge and the answer cross Palisade over that connection. Phone 1001 calls 1002; the
//! PBX challenges the INVITE, then routes the call back through Palisade, which sends it to
//! phone 1002 over the TLS connection that phone registered on. 1002 answers by itself, both
//! phones hear the other's tone through Palisade's media relay, and 1001 hangs up.
//!
//! The capture of Palisade's access ports shows SIP only inside TLS: no clear-text SIP on
//! the TLS port, nothing from the phones on the UDP port.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use palisade_tests::harness::baresip::{self, Baresip, Phone, Transport, Wav};
use palisade_tests::harness::capture::Capture;
use palisade_tests::harness::kamailio::{self, Pbx};
use palisade_tests::harness::palisade::Palisade;
use palisade_tests::harness::ports::role;
use palisade_tests::harness::workdir::TestDir;
use palisade_tests::harness::{peer_test, tls};

/// Palisade's core side: an address of its own.
const CORE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// How long each step (a registration, the call being set up, the hang-up) may take.
const STEP: Duration = Duration::from_secs(10);

/// How long the call stays up, so that each phone hears the other.
const TALK: Duration = Duration::from_secs(2);

/// Starts the phone `user` on `ip`, sending a tone of `tone` Hz and registering with
/// Palisade's TLS listener, and waits until the PBX accepted its registration.
fn phone(
    dir: &TestDir,
    user: &str,
    ip: Ipv4Addr,
    tone: u32,
    sbc: &Palisade,
    ca: &tls::TlsFiles,
) -> Phone {
    let tls = sbc.access_tls().expect("an access TLS listener");
    let mut phone = Baresip::new(user, ip, tls)
        .password(&kamailio::password(user))
        .transport(Transport::Tls)
        .ca_file(&ca.ca_cert)
        .auto_answer(true)
        .tone_hz(tone)
        .start(dir);
    let line = phone.wait_registered(STEP);
    assert!(
        line.contains("/TLS/"),
        "{user} registered, but not over TLS: {line}"
    );
    phone
}

#[test]
fn two_phones_register_and_call_each_other_over_tls() {
    let dir = peer_test("b2bua-tls-phones");
    let pbx = Pbx::start(&dir, role::PBX);
    let certs = tls::generate(&dir.subdir("palisade-tls"), &[&role::PALISADE.to_string()]);
    let mut sbc = Palisade::builder(role::PALISADE, CORE)
        .access_tls(&certs.cert, &certs.key)
        .upstream(&format!("sip:{}", pbx.addr()))
        .start(&dir);
    let tls_port = sbc.access_tls().unwrap().port();
    let capture = Capture::start(&dir, "access", &[tls_port, sbc.access().port()]);

    // Both phones register over TLS; the PBX's 401 crosses Palisade, the second REGISTER
    // carries the digest answer, and Palisade keeps each binding after the PBX's 200.
    let mut a = phone(&dir, "1001", role::PHONE_A, 440, &sbc, &certs);
    let mut b = phone(&dir, "1002", role::PHONE_B, 660, &sbc, &certs);
    sbc.wait_log_count("Registered {", 2, STEP);

    // 1001 calls 1002: the PBX's 407 crosses Palisade, then the authenticated INVITE goes
    // to the PBX and comes back through Palisade to 1002, which answers by itself.
    a.dial("1002");
    let established_a = a.wait_event("CALL_ESTABLISHED", STEP);
    let established_b = b.wait_event("CALL_ESTABLISHED", STEP);
    assert_eq!(
        baresip::json_field(&established_a, "direction").as_deref(),
        Some("outgoing"),
        "{established_a}"
    );
    assert_eq!(
        baresip::json_field(&established_b, "direction").as_deref(),
        Some("incoming"),
        "{established_b}"
    );
    a.wait_for_line("Call established: sip:1002@", STEP);
    b.wait_for_line("Call established: ", STEP);
    // Two calls through Palisade (1001 -> PBX, PBX -> 1002), both answered.
    sbc.wait_log_count("CallAnswered", 2, STEP);

    std::thread::sleep(TALK);
    a.hangup();
    a.wait_event("CALL_CLOSED", STEP);
    b.wait_event("CALL_CLOSED", STEP);
    b.wait_for_line("terminated", STEP);
    // The challenged INVITE was a third call through Palisade, refused; all have ended.
    sbc.wait_calls_ended(3, STEP);
    assert_eq!(
        sbc.log_count("why=\"rejected\""),
        1,
        "one INVITE, the challenged one, refused by the PBX"
    );
    assert_eq!(sbc.log_count("why=\"hung up\""), 2, "both legs hung up");

    // Each phone heard the other's tone (1001 sends 440 Hz, 1002 660 Hz), relayed by
    // Palisade, for at least half the call.
    for (p, other_hz) in [(&a, 660.0), (&b, 440.0)] {
        let (heard, _) = p.recordings();
        assert_eq!(heard.len(), 1, "{}: recordings {heard:?}", p.name());
        let wav = Wav::read(&heard[0])
            .unwrap_or_else(|| panic!("{}: not a WAV file", heard[0].display()));
        let hz = wav.tone_hz();
        assert!(
            wav.duration() >= TALK / 2
                && wav.peak() > 2000
                && (hz - other_hz).abs() < other_hz * 0.1,
            "{} heard {:?}, peak {}, {hz:.0} Hz (the other phone sends {other_hz} Hz)",
            p.name(),
            wav.duration(),
            wav.peak()
        );
    }

    // baresip does not bind its TCP and TLS connections to its address: they come from
    // 127.0.0.1 and an ephemeral port. Each phone has a connection of its own.
    let packets = capture.stop();
    let tls_addr = sbc.access_tls().unwrap();
    let over_tls: Vec<_> = packets
        .iter()
        .filter(|p| p.tcp && (p.dst == tls_addr || p.src == tls_addr))
        .collect();
    let mut clients: Vec<SocketAddr> = over_tls
        .iter()
        .filter(|p| p.dst == tls_addr)
        .map(|p| p.src)
        .collect();
    clients.sort();
    clients.dedup();
    assert_eq!(clients.len(), 2, "TLS clients: {clients:?}");
    for c in &clients {
        assert!(
            over_tls.iter().any(|p| p.dst == *c),
            "nothing from the TLS port to {c}"
        );
    }
    for p in &over_tls {
        let text = p.text();
        assert!(
            !text.contains("SIP/2.0") && !text.contains("REGISTER") && !text.contains("INVITE"),
            "clear-text SIP on the TLS port ({} -> {}): {}",
            p.src,
            p.dst,
            p.first_line()
        );
    }
    // The capture started after Palisade's start-up check: whatever reached the access
    // UDP port came from a phone.
    let on_udp: Vec<String> = packets
        .iter()
        .filter(|p| !p.tcp)
        .map(|p| format!("{} -> {}: {}", p.src, p.dst, p.first_line()))
        .collect();
    assert!(on_udp.is_empty(), "SIP over UDP: {on_udp:?}");
}
