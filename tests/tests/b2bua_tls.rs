//! Palisade toward the PBX over TLS: Kamailio (tests/kamailio/pbx.cfg) listens for TLS with
//! a certificate from a test CA, Palisade's upstream is `sip:<pbx>;transport=tls` and it
//! trusts that CA (`core.upstream_ca`). A phone registers over UDP through Palisade; the
//! REGISTER and its digest challenge cross the TLS connection both ways, and the capture
//! shows no SIP in clear text between Palisade and the PBX.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::time::Duration;

use palisade_tests::harness::capture::Capture;
use palisade_tests::harness::kamailio::{self, Pbx, PbxOptions};
use palisade_tests::harness::palisade::Palisade;
use palisade_tests::harness::ports::role;
use palisade_tests::harness::sipp;
use palisade_tests::harness::{peer_test, tls};

#[test]
fn registration_crosses_a_tls_connection_to_the_pbx() {
    let dir = peer_test("b2bua-tls-core");
    let pbx = Pbx::start_with(
        &dir,
        &PbxOptions {
            ip: role::PBX,
            port: None,
            tls: true,
        },
    );
    let (pbx_tls, pbx_files) = pbx.tls().cloned().expect("a TLS listener");
    let own = tls::generate(&dir.subdir("palisade-tls"), &["127.0.0.11"]);
    let capture = Capture::start(&dir, "core", &[pbx_tls.port()]);
    let mut sbc = Palisade::builder(role::PALISADE, "127.0.0.11".parse().unwrap())
        .core_tls(&own.cert, &own.key, &pbx_files.ca_cert)
        .upstream(&format!("sip:{pbx_tls};transport=tls"))
        .start(&dir);

    let phone = "127.0.0.32:5070".parse().unwrap();
    let r = sipp::register(
        &dir,
        "register-1002",
        role::PHONE_B,
        sbc.access(),
        "1002",
        &kamailio::password("1002"),
        phone,
    );
    assert!(r.all_succeeded(1), "register over TLS to the PBX: {r:?}");
    sbc.wait_log_count("Registered {", 1, Duration::from_secs(5));

    let packets = capture.stop();
    assert!(!packets.is_empty(), "nothing went to the PBX's TLS port");
    for p in &packets {
        let text = p.text();
        assert!(
            !text.contains("REGISTER") && !text.contains("SIP/2.0"),
            "clear-text SIP on the TLS connection: {}",
            p.first_line()
        );
    }
}
