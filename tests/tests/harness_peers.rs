//! The end-to-end harness against real peers: SIPp, Kamailio and tshark, inside the network
//! namespace `scripts/test.sh` creates. A missing program, missing root or a namespace that
//! is not isolated fails these tests; none of them skips.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use palisade_tests::harness::capture::Capture;
use palisade_tests::harness::kamailio::{self, Pbx, PbxOptions};
use palisade_tests::harness::ports::{self, loopback, role};
use palisade_tests::harness::process::Peer;
use palisade_tests::harness::sipp::{self, Scenario, Sipp, Transport};
use palisade_tests::harness::{isolation, peer_test};
use std::process::Command;

const RUN: Duration = Duration::from_secs(20);

#[test]
fn runs_in_an_isolated_namespace() {
    isolation::assert_isolated();
}

#[test]
fn sipp_uac_to_sipp_uas_ten_calls() {
    let dir = peer_test("sipp-uac-uas");
    let mut uas = Sipp::new("uas", Scenario::BuiltIn("uas"), loopback(3))
        .calls(10)
        .start(&dir);
    uas.wait_ready(Duration::from_secs(5));
    let mut uac = Sipp::new("uac", Scenario::BuiltIn("uac"), loopback(2))
        .remote(uas.local_addr())
        .calls(10)
        .rate(20.0)
        .start(&dir);
    let result = uac.wait(RUN);
    assert!(result.all_succeeded(10), "uac: {result:?}");
    let result = uas.wait(RUN);
    assert!(result.all_succeeded(10), "uas: {result:?}");
}

#[test]
fn sipp_over_tcp() {
    let dir = peer_test("sipp-tcp");
    let mut uas = Sipp::new("uas", Scenario::BuiltIn("uas"), loopback(5))
        .transport(Transport::Tcp)
        .calls(3)
        .start(&dir);
    uas.wait_ready(Duration::from_secs(5));
    let mut uac = Sipp::new("uac", Scenario::BuiltIn("uac"), loopback(4))
        .transport(Transport::Tcp)
        .remote(uas.local_addr())
        .calls(3)
        .start(&dir);
    let result = uac.wait(RUN);
    assert!(result.all_succeeded(3), "uac: {result:?}");
}

#[test]
fn kamailio_answers_options() {
    let dir = peer_test("pbx-options");
    let pbx = Pbx::start(&dir, role::PBX);
    let result = Sipp::new("ping", Scenario::file("options.xml"), role::ATTACKER)
        .remote(pbx.addr())
        .calls(1)
        .start(&dir)
        .wait(RUN);
    assert!(result.all_succeeded(1), "{result:?}");
}

#[test]
fn register_with_digest_auth() {
    let dir = peer_test("pbx-register");
    let pbx = Pbx::start(&dir, role::PBX);
    let contact = (role::PHONE_A, ports::free_port(role::PHONE_A)).into();
    let result = sipp::register(
        &dir,
        "register-1001",
        role::PHONE_A,
        pbx.addr(),
        "1001",
        &kamailio::password("1001"),
        contact,
    );
    assert!(result.all_succeeded(1), "{result:?}");
}

#[test]
fn register_with_wrong_password_is_refused() {
    let dir = peer_test("pbx-register-refused");
    let pbx = Pbx::start(&dir, role::PBX);
    let contact = (role::PHONE_A, ports::free_port(role::PHONE_A)).into();

    // The scenario that expects 200 fails...
    let result = sipp::register(
        &dir,
        "register-wrong",
        role::PHONE_A,
        pbx.addr(),
        "1001",
        "not-the-password",
        contact,
    );
    assert_eq!(result.exit_code, Some(1), "{result:?}");
    assert_eq!((result.successful, result.failed), (0, 1), "{result:?}");

    // ... and the PBX's answer is a refusal (403, or a new 401 challenge).
    let mut refused = Sipp::new(
        "register-refused",
        Scenario::file("register_refused.xml"),
        role::PHONE_A,
    )
    .remote(pbx.addr())
    .service("1001")
    .auth("1001", "not-the-password")
    .key("contact", &contact.to_string())
    .calls(1)
    .start(&dir);
    let result = refused.wait(RUN);
    assert!(result.all_succeeded(1), "{result:?}");
    let messages = refused.messages();
    assert!(messages.contains("SIP/2.0 403"), "{messages}");

    // An unknown user is refused too.
    let result = sipp::register(
        &dir,
        "register-unknown",
        role::PHONE_A,
        pbx.addr(),
        "2001",
        &kamailio::password("2001"),
        contact,
    );
    assert_eq!(result.exit_code, Some(1), "{result:?}");
}

#[test]
fn call_between_registered_phones_through_kamailio() {
    let dir = peer_test("pbx-call");
    let pbx = Pbx::start(&dir, role::PBX);
    let capture = Capture::start(&dir, "pbx", &[pbx.addr().port()]);

    // 1002 answers calls on PHONE_B.
    let mut callee = Sipp::new(
        "callee-1002",
        Scenario::file("uas_answer.xml"),
        role::PHONE_B,
    )
    .calls(1)
    .start(&dir);
    callee.wait_ready(Duration::from_secs(5));
    let result = sipp::register(
        &dir,
        "register-1002",
        role::PHONE_B,
        pbx.addr(),
        "1002",
        &kamailio::password("1002"),
        callee.local_addr(),
    );
    assert!(result.all_succeeded(1), "register 1002: {result:?}");

    // 1001 calls 1002 through the PBX, answering its challenge.
    let mut caller = Sipp::new(
        "caller-1001",
        Scenario::file("uac_auth_call.xml"),
        role::PHONE_A,
    )
    .remote(pbx.addr())
    .service("1002")
    .auth("1001", &kamailio::password("1001"))
    .key("caller", "1001")
    .calls(1)
    .start(&dir);
    let result = caller.wait(RUN);
    assert!(result.all_succeeded(1), "caller: {result:?}");
    let result = callee.wait(RUN);
    assert!(result.all_succeeded(1), "callee: {result:?}");

    let messages = caller.messages();
    assert!(
        messages.contains("SIP/2.0 407"),
        "no challenge seen:\n{messages}"
    );
    assert!(
        messages.contains("Record-Route:"),
        "no Record-Route:\n{messages}"
    );

    // The wire shows the whole dialog going through the PBX, BYE included.
    let packets = capture.stop();
    let lines: Vec<String> = packets.iter().map(|p| p.first_line()).collect();
    let to_callee = |method: &str| {
        packets
            .iter()
            .any(|p| p.dst == callee.local_addr() && p.first_line().starts_with(method))
    };
    assert!(to_callee("INVITE"), "{lines:#?}");
    assert!(to_callee("ACK"), "{lines:#?}");
    assert!(to_callee("BYE"), "{lines:#?}");
}

#[test]
fn kamailio_with_tls_listener() {
    let dir = peer_test("pbx-tls");
    let mut opts = PbxOptions::new(role::PBX);
    opts.tls = true;
    let mut pbx = Pbx::start_with(&dir, &opts);
    let (tls_addr, files) = pbx.tls().cloned().unwrap();
    // A TLS client that verifies the certificate against the test CA completes the
    // handshake and gets an answer to OPTIONS.
    let openssl = palisade_tests::harness::programs::require("openssl");
    let request = format!(
        "OPTIONS sip:{tls_addr} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-tls-1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:ping@127.0.0.1>;tag=1\r\nTo: <sip:{tls_addr}>\r\n\
         Call-ID: tls-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let input = dir.join("options.txt");
    std::fs::write(&input, request).unwrap();
    // -quiet implies -ign_eof: s_client sends the request, keeps the connection open and
    // prints what comes back; the Peer stops it.
    let mut cmd = Command::new(openssl);
    cmd.args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(tls_addr.to_string())
        .arg("-CAfile")
        .arg(&files.ca_cert)
        .args(["-verify_ip", &tls_addr.ip().to_string()]);
    let mut client = Peer::spawn_with_input("openssl", cmd, dir.path(), &input);
    let status_line = client.wait_for_line("SIP/2.0", Duration::from_secs(10));
    assert!(status_line.starts_with("SIP/2.0 200"), "{status_line}");
    assert!(pbx.peer().is_running());
}
