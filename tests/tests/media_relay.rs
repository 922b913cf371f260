//! Media through the running Palisade: a phone and a PBX played by UDP sockets in the
//! test exchange an offer and an answer through Palisade, check that each sees only
//! Palisade's address and the relay's ports in the other's SDP, and send RTP both ways
//! through the relay. Then a call that goes silent is ended by the media timeout.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::time::{Duration, Instant};

use b2bua_support::media_call::*;
use b2bua_support::*;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::role;

/// RTP sent by the phone reaches the PBX from the relay's core port, and back.
#[test]
fn rtp_flows_through_the_relay_with_rewritten_sdp() {
    let dir = peer_test("media-relay");
    let (phone, phone_rtp) = (Udp::bind(role::PHONE_A), Udp::bind(role::PHONE_A));
    let (pbx, pbx_rtp) = (Udp::bind(role::PBX), Udp::bind(role::PBX));
    let mut sbc = palisade(&[pbx.addr()]).start(&dir);
    let c = answered_call(&phone, &phone_rtp, &pbx, &pbx_rtp, sbc.access());
    assert_ne!(c.relay_access.port(), c.relay_core.port());

    // Phone to PBX.
    let mut got = 0;
    for seq in 0..20u16 {
        phone_rtp.send(c.relay_access, &rtp(seq, 0x1111, 0xAA));
        if let Some((data, from)) = pbx_rtp.recv(Duration::from_millis(300)) {
            assert_eq!(from, c.relay_core, "relayed from the relay's core port");
            assert_eq!(&data[8..12], &0x1111u32.to_be_bytes());
            got += 1;
        }
    }
    assert!(got >= 18, "{got} of 20 packets reached the PBX");
    // PBX to phone.
    let mut got = 0;
    for seq in 0..20u16 {
        pbx_rtp.send(c.relay_core, &rtp(seq, 0x2222, 0x55));
        if let Some((data, from)) = phone_rtp.recv(Duration::from_millis(300)) {
            assert_eq!(from, c.relay_access, "relayed from the relay's access port");
            assert_eq!(&data[8..12], &0x2222u32.to_be_bytes());
            got += 1;
        }
    }
    assert!(got >= 18, "{got} of 20 packets reached the phone");

    // The phone hangs up.
    let target = header(&c.ok, "Contact");
    let target = target.trim_start_matches('<').trim_end_matches('>');
    let bye = format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKmedia1bye;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=ph1\r\nTo: {}\r\nCall-ID: media-call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        phone.addr(),
        header(&c.ok, "To")
    );
    phone.send(sbc.access(), bye.as_bytes());
    let (bye, from) = pbx.sip(|t| t.starts_with("BYE "));
    pbx.send(from, response(&bye, "200 OK", "", None, "").as_bytes());
    phone.sip(|t| t.starts_with("SIP/2.0 200") && t.contains(" BYE\r\n"));
    sbc.wait_calls_ended(1, Duration::from_secs(5));
    // The relay let go: nothing is relayed any more.
    phone_rtp.send(c.relay_access, &rtp(100, 0x1111, 0xAA));
    assert!(pbx_rtp.recv(Duration::from_millis(500)).is_none());
    let _ = c.invite;
}

/// A call without RTP is ended by the media timeout: BYE to the phone and to the PBX.
#[test]
fn a_silent_call_is_ended_by_the_media_timeout() {
    let dir = peer_test("media-timeout");
    let (phone, phone_rtp) = (Udp::bind(role::PHONE_A), Udp::bind(role::PHONE_A));
    let (pbx, pbx_rtp) = (Udp::bind(role::PBX), Udp::bind(role::PBX));
    let mut sbc = palisade(&[pbx.addr()]).media_timeout("5s").start(&dir);
    let _c = answered_call(&phone, &phone_rtp, &pbx, &pbx_rtp, sbc.access());
    let started = Instant::now();
    let (bye, from) = pbx.sip(|t| t.starts_with("BYE "));
    pbx.send(from, response(&bye, "200 OK", "", None, "").as_bytes());
    let end = Instant::now() + Duration::from_secs(10);
    let mut phone_bye = None;
    while Instant::now() < end && phone_bye.is_none() {
        if let Some((data, from)) = phone.recv(Duration::from_millis(500)) {
            let t = String::from_utf8_lossy(&data).into_owned();
            if t.starts_with("BYE ") {
                phone_bye = Some((t, from));
            }
        }
    }
    let (bye, from) = phone_bye.expect("a BYE to the phone");
    phone.send(from, response(&bye, "200 OK", "", None, "").as_bytes());
    assert!(started.elapsed() < Duration::from_secs(12));
    sbc.wait_calls_ended(1, Duration::from_secs(5));
    assert!(sbc.log().contains("media timeout"), "{}", sbc.log());
}

/// With `media.anchor: false` the SDP crosses as the endpoints wrote it (media flows
/// between them), and no relay session is opened.
#[test]
fn without_anchoring_the_sdp_crosses_unchanged() {
    let dir = peer_test("media-no-anchor");
    let (phone, phone_rtp) = (Udp::bind(role::PHONE_A), Udp::bind(role::PHONE_A));
    let (pbx, pbx_rtp) = (Udp::bind(role::PBX), Udp::bind(role::PBX));
    let sbc = palisade(&[pbx.addr()])
        .without_media_anchoring()
        .start(&dir);
    let x = offer_answer(&phone, &phone_rtp, &pbx, &pbx_rtp, sbc.access());
    assert_eq!(body(&x.invite), x.offer, "the offer crosses unchanged");
    assert_eq!(body(&x.ok), x.answer, "the answer crosses unchanged");
    let metrics = sbc.admin_get("/metrics");
    assert!(
        metrics.contains("palisade_media_streams_active 0"),
        "no relay stream: {metrics}"
    );
}
