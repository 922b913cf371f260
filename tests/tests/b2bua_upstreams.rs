//! Upstream PBX failover through the running Palisade: a PBX that answers 503, a PBX that
//! is not running (over TCP: refused at once; over UDP: found by the timeout or by the
//! OPTIONS probe), and no PBX at all. SIPp plays the phone and the PBXs.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use b2bua_support::*;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::{self, role};
use palisade_tests::harness::sipp::Scenario;

/// An address where nothing listens (UDP or TCP) for the whole test.
fn nobody(ip: std::net::Ipv4Addr) -> SocketAddr {
    SocketAddr::from((ip, ports::free_port(ip)))
}

/// The final response codes the phone got.
fn finals(phone: &palisade_tests::harness::sipp::SippRun) -> Vec<u16> {
    received_responses(&trace(phone), "INVITE")
        .iter()
        .filter_map(|m| m.status())
        .filter(|c| *c >= 200)
        .collect()
}

#[test]
fn a_503_fails_over_to_the_second_pbx() {
    let dir = peer_test("b2bua-failover-503");
    let mut first = callee_with(
        &dir,
        "pbx1",
        reject_scenario(&dir, 503, "Service Unavailable"),
        role::PBX,
        None,
    );
    let mut second = callee(&dir, "pbx2", "uas_dialog.xml", PBX2, &[]);
    let mut sbc = palisade(&[first.local_addr(), second.local_addr()]).start(&dir);
    let (_, r) = call(&dir, "phone", Scenario::BuiltIn("uac"), sbc.access(), 3);
    assert!(r.all_succeeded(3), "phone: {r:?}");
    finish_ok(&mut first);
    finish_ok(&mut second);
    // Two 503s take the first PBX down (core.probe.failures_before_down: 2); the third
    // call goes straight to the second.
    assert_eq!(received_requests(&trace(&first), "INVITE").len(), 2);
    assert_eq!(received_requests(&trace(&second), "INVITE").len(), 3);
    sbc.wait_log_count("upstream down", 1, Duration::from_secs(2));
    sbc.wait_calls_ended(3, Duration::from_secs(5));
}

/// The first PBX is reached over TCP and nothing listens there: the connection is
/// refused and the call goes to the second PBX. (T1 is 100 ms here: see the next test for
/// why the INVITE transaction's timeout, 64 × T1, is what it waits for today.)
#[test]
fn a_refused_tcp_connection_fails_over() {
    let dir = peer_test("b2bua-failover-tcp");
    let dead = nobody(role::PBX);
    let mut second = callee(&dir, "pbx2", "uas_dialog.xml", PBX2, &[]);
    let mut sbc = palisade(&[])
        .upstream(&format!("sip:{dead};transport=tcp"))
        .upstream(&format!("sip:{}", second.local_addr()))
        .t1("100ms")
        .start(&dir);
    let started = Instant::now();
    let (_, r) = call(&dir, "phone", Scenario::BuiltIn("uac"), sbc.access(), 1);
    eprintln!(
        "call through a refused first upstream (TCP) took {:?}",
        started.elapsed()
    );
    assert!(r.all_succeeded(1), "phone: {r:?}");
    finish_ok(&mut second);
    assert_eq!(received_requests(&trace(&second), "INVITE").len(), 1);
    sbc.wait_calls_ended(1, Duration::from_secs(5));
}

/// A refused TCP connection must fail the transactions sent over it at once (the B2BUA's
/// `handle_transport_error`), instead of their timeouts: the call then goes to the second
/// PBX, and with no second PBX the phone gets 503, without waiting. The service loop knows
/// which address each connection it opened goes to, and reports its `FlowClosed` as a
/// transport error for that address.
#[test]
fn a_refused_tcp_connection_fails_over_at_once() {
    let dir = peer_test("b2bua-failover-tcp-at-once");
    let dead = nobody(role::PBX);
    let mut second = callee(&dir, "pbx2", "uas_dialog.xml", PBX2, &[]);
    let mut sbc = palisade(&[])
        .upstream(&format!("sip:{dead};transport=tcp"))
        .upstream(&format!("sip:{}", second.local_addr()))
        .start(&dir);
    let started = Instant::now();
    let (_, r) = call(&dir, "phone", Scenario::BuiltIn("uac"), sbc.access(), 1);
    let took = started.elapsed();
    assert!(r.all_succeeded(1), "phone: {r:?}");
    // Failing over after the INVITE's timeout would take 64 x T1 = 32 s; the bounds leave
    // room for starting SIPp on a loaded machine.
    assert!(took < Duration::from_secs(6), "{took:?}");
    finish_ok(&mut second);
    sbc.wait_calls_ended(1, Duration::from_secs(5));

    let alone = palisade(&[])
        .name("palisade-alone")
        .upstream(&format!("sip:{};transport=tcp", nobody(role::PBX)))
        .start(&dir);
    let started = Instant::now();
    let (phone, r) = call(
        &dir,
        "phone-alone",
        Scenario::file("uac_refused.xml"),
        alone.access(),
        1,
    );
    assert!(r.all_succeeded(1), "phone: {r:?}");
    assert_eq!(finals(&phone), [503]);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

/// The first PBX is reached over UDP and is not running: nothing says so but silence. The
/// first call waits for the INVITE transaction's timeout (64 × T1; T1 is 100 ms here),
/// then goes to the second PBX; that timeout and the start-up probe's take the first PBX
/// down, and the next call goes to the second PBX at once.
#[test]
fn a_silent_udp_pbx_fails_over_after_the_timeout() {
    let dir = peer_test("b2bua-failover-udp");
    let dead = nobody(role::PBX);
    let mut second = callee(&dir, "pbx2", "uas_dialog.xml", PBX2, &[]);
    let mut sbc = palisade(&[dead, second.local_addr()])
        .t1("100ms")
        .start(&dir);
    let started = Instant::now();
    let (_, r) = call(&dir, "phone-1", Scenario::BuiltIn("uac"), sbc.access(), 1);
    let first_call = started.elapsed();
    assert!(r.all_succeeded(1), "phone: {r:?}");
    sbc.wait_log_count("upstream down", 1, Duration::from_secs(10));
    let started = Instant::now();
    let (_, r) = call(&dir, "phone-2", Scenario::BuiltIn("uac"), sbc.access(), 1);
    let second_call = started.elapsed();
    assert!(r.all_succeeded(1), "phone: {r:?}");
    eprintln!(
        "silent first upstream (UDP, T1 100 ms): first call {first_call:?}, after it was \
         marked down {second_call:?}"
    );
    assert!(first_call >= Duration::from_secs(6), "{first_call:?}");
    assert!(first_call < Duration::from_secs(12), "{first_call:?}");
    // Not the first PBX's timeout again (6.4 s).
    assert!(second_call < Duration::from_secs(4), "{second_call:?}");
    finish_ok(&mut second);
    assert_eq!(received_requests(&trace(&second), "INVITE").len(), 2);
    sbc.wait_calls_ended(2, Duration::from_secs(5));
}

/// The OPTIONS probe finds a silent UDP PBX down before any call: calls then go to the
/// second PBX without waiting.
#[test]
fn a_probe_marks_a_silent_pbx_down_before_calls() {
    let dir = peer_test("b2bua-failover-probe");
    let dead = nobody(role::PBX);
    let mut second = callee(&dir, "pbx2", "uas_dialog.xml", PBX2, &[]);
    let started = Instant::now();
    let mut sbc = palisade(&[dead, second.local_addr()])
        .t1("200ms")
        .probe_interval("1s")
        .failures_before_down(1)
        .start(&dir);
    sbc.wait_log_count("upstream down", 1, Duration::from_secs(10));
    eprintln!(
        "probe marked the silent upstream down after {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let (_, r) = call(&dir, "phone", Scenario::BuiltIn("uac"), sbc.access(), 2);
    let took = started.elapsed();
    assert!(r.all_succeeded(2), "phone: {r:?}");
    // Trying the silent PBX first would cost an INVITE timeout (64 x T1 = 12.8 s).
    assert!(took < Duration::from_secs(6), "{took:?}");
    finish_ok(&mut second);
    sbc.wait_calls_ended(2, Duration::from_secs(5));
}

/// No PBX at all (a silent UDP one, found down by the probe): the phone gets 503 with
/// Retry-After at once.
#[test]
fn no_pbx_gives_503_with_retry_after() {
    let dir = peer_test("b2bua-no-pbx");
    let mut sbc = palisade(&[nobody(role::PBX)])
        .t1("200ms")
        .probe_interval("1s")
        .failures_before_down(1)
        .start(&dir);
    sbc.wait_log_count("upstream down", 1, Duration::from_secs(10));
    let started = Instant::now();
    let (phone, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_refused.xml"),
        sbc.access(),
        1,
    );
    let took = started.elapsed();
    assert!(r.all_succeeded(1), "phone: {r:?}");
    assert_eq!(finals(&phone), [503]);
    let t = trace(&phone);
    let resp = received_responses(&t, "INVITE")
        .into_iter()
        .find(|m| m.status() == Some(503))
        .unwrap();
    assert!(resp.header("Retry-After").is_some(), "{}", resp.text);
    // At once, not after an INVITE timeout (64 x T1 = 12.8 s).
    assert!(took < Duration::from_secs(6), "{took:?}");
    // Refused before a call was set up: none is left, and Palisade still answers.
    assert_eq!(sbc.call_counts(), (0, 0));
    assert!(sbc.ping(Duration::from_secs(2)));
}
