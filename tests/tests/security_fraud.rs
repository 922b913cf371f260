//! Toll fraud and registration hijacking, end to end: Palisade in front of Kamailio
//! (tests/kamailio/pbx.cfg: digest auth, users 1001..1010) with SIPp phones. A REGISTER
//! with another account's valid credentials, an INVITE from an unregistered source, a
//! call to a premium number and a call beyond the account's concurrency are refused with
//! 403 by Palisade; an answered call reaching its duration cap is ended with BYE on both
//! sides. Each refusal leaves its `warn` line in Palisade's log.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::time::Duration;

use b2bua_support::*;
use palisade_tests::harness::kamailio::{self, Pbx};
use palisade_tests::harness::palisade::Palisade;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::{free_port, role};
use palisade_tests::harness::sipp::{Scenario, Sipp, SippRun};
use palisade_tests::harness::workdir::TestDir;

/// The log lines of `sbc` that contain every one of `words`.
/// The log lines that name all of `words`, once there is at least one (or after 5 s):
/// Palisade sends its answer before it logs, so the peer may be done first.
fn lines_with(sbc: &Palisade, words: &[&str]) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<String> = sbc
            .log()
            .lines()
            .filter(|l| words.iter().all(|w| l.contains(w)))
            .map(str::to_owned)
            .collect();
        if !lines.is_empty() || std::time::Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a one-call SIPp run, which must succeed.
fn succeeded(run: &mut SippRun) {
    let r = run.wait(RUN);
    assert!(r.all_succeeded(1), "{r:?}\n{}", run.errors());
}

/// Exactly one `call refused` line names all of `words`.
fn refused_once(sbc: &Palisade, words: &[&str]) -> String {
    let mut w = vec!["call refused"];
    w.extend_from_slice(words);
    let lines = lines_with(sbc, &w);
    assert_eq!(lines.len(), 1, "{}", sbc.log());
    lines[0].clone()
}

/// Phone 1001 on its own socket: registers, then calls `number` over the same flow.
fn register_and_call(dir: &TestDir, sbc: &Palisade, name: &str, number: &str) -> SippRun {
    let port = free_port(role::PHONE_A);
    let contact = format!("{}:{port}", role::PHONE_A);
    Sipp::new(name, Scenario::file("register_call.xml"), role::PHONE_A)
        .port(port)
        .remote(sbc.access())
        .service(number)
        .auth("1001", &kamailio::password("1001"))
        .key("caller", "1001")
        .key("contact", &contact)
        .calls(1)
        .timeout(RUN)
        .start(dir)
}

#[test]
fn a_register_with_another_accounts_credentials_is_refused_by_palisade() {
    let dir = peer_test("security-register-hijack");
    let pbx = Pbx::start(&dir, role::PBX);
    let sbc = palisade(&[pbx.addr()]).start(&dir);
    // 1001's valid password, 1002's AOR.
    let mut run = Sipp::new(
        "hijack-1002",
        Scenario::file("register_refused.xml"),
        role::ATTACKER,
    )
    .remote(sbc.access())
    .service("1002")
    .auth("1001", &kamailio::password("1001"))
    .key("contact", &format!("{}:5099", role::ATTACKER))
    .calls(1)
    .timeout(RUN)
    .start(&dir);
    succeeded(&mut run);
    let trace = trace(&run);
    let answers = received_responses(&trace, "REGISTER");
    assert_eq!(
        answers.last().and_then(|m| m.status()),
        Some(403),
        "the answer to the credentials"
    );
    let refused = lines_with(&sbc, &["register refused", "1002", "1001"]);
    assert_eq!(refused.len(), 1, "{}", sbc.log());
    assert_eq!(sbc.log_count("Registered {"), 0);
}

#[test]
fn an_invite_from_an_unregistered_source_gets_403() {
    let dir = peer_test("security-unregistered-invite");
    let pbx = Pbx::start(&dir, role::PBX);
    let records = dir.join("calls.jsonl");
    let sbc = palisade(&[pbx.addr()])
        .fraud("fraud:\n  registered_only: true\n")
        .records(&records)
        .start(&dir);
    let mut run = Sipp::new("caller", Scenario::file("uac_refused.xml"), role::ATTACKER)
        .remote(sbc.access())
        .service("19005551234")
        .calls(1)
        .timeout(RUN)
        .start(&dir);
    succeeded(&mut run);
    let trace = trace(&run);
    assert_eq!(
        received_responses(&trace, "INVITE")
            .last()
            .and_then(|m| m.status()),
        Some(403)
    );
    let line = refused_once(&sbc, &["source not registered", "19005551234"]);
    assert!(line.contains(&role::ATTACKER.to_string()));
    // The refusal is counted, and the attempt has its call record.
    let metrics = sbc.admin_get("/metrics");
    assert_eq!(
        palisade_tests::harness::admin::metric(
            &metrics,
            "palisade_calls_total{result=\"refused\"}"
        ),
        1.0,
        "{metrics}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let record = loop {
        let text = std::fs::read_to_string(&records).unwrap_or_default();
        if let Some(l) = text.lines().next() {
            break palisade_tests::harness::admin::json(l);
        }
        assert!(std::time::Instant::now() < deadline, "no call record");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(record["callee"], "19005551234");
    assert_eq!(record["disconnect"]["cause"], "refused");
    assert_eq!(record["disconnect"]["status"], 403);
    assert_eq!(record["flags"][0], "refused: source not registered");
    assert_eq!(
        record["legs"][0]["remote"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some(role::ATTACKER.to_string().as_str())
    );
}

#[test]
fn premium_numbers_concurrency_and_the_duration_cap_are_enforced() {
    let dir = peer_test("security-toll-fraud");
    let pbx = Pbx::start(&dir, role::PBX);
    let mut sbc = palisade(&[pbx.addr()])
        .fraud(
            "fraud:\n  registered_only: true\n  classes:\n    - name: restricted\n      \
             deny: [\"+\", \"00\", \"1900\"]\n      max_concurrent: 1\n      max_duration: 8s\n",
        )
        .start(&dir);

    // Phone B registers as 1002 and answers the calls the PBX sends it.
    let mut callee = phone_b(&dir, &mut sbc, Scenario::file("uas_answer.xml"));

    // A premium number: refused by Palisade, whatever the PBX would say.
    succeeded(&mut register_and_call(&dir, &sbc, "premium", "19005551234"));
    refused_once(&sbc, &["19005551234", "destination denied"]);

    // 1001 calls 1002, which answers; a second call of 1001 meanwhile is one too many.
    let answered = sbc.log_count("CallAnswered");
    let mut first = register_and_call(&dir, &sbc, "first", "1002");
    sbc.wait_log_count("CallAnswered", answered + 1, Duration::from_secs(10));
    succeeded(&mut register_and_call(&dir, &sbc, "second", "1003"));
    refused_once(&sbc, &["1003", "concurrent calls limit"]);

    // The answered call reaches its 8 s cap (room for the second call to register and be
    // refused while the first is up): BYE to the caller, and through the PBX to
    // the callee.
    succeeded(&mut first);
    assert_eq!(received_requests(&trace(&first), "BYE").len(), 1);
    assert!(sbc.log().contains("duration limit"), "{}", sbc.log());
    callee.peer().stop();
    assert_eq!(received_requests(&trace(&callee), "BYE").len(), 1);
}
