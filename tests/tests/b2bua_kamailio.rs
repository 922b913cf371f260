//! Phones registered through Palisade with Kamailio as the PBX (tests/kamailio/pbx.cfg:
//! digest authentication, users 1001..1010, calls routed to registered users): the
//! REGISTER and its challenge cross Palisade both ways, the PBX calls the registered phone
//! through Palisade, de-registration removes the binding, and what goes over the wire on
//! each side hides the other.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::net::SocketAddr;
use std::time::Duration;

use b2bua_support::*;
use palisade_tests::harness::capture::{Capture, Packet};
use palisade_tests::harness::kamailio::{self, Pbx};
use palisade_tests::harness::palisade::Palisade;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::role;
use palisade_tests::harness::sipp::{Scenario, Sipp, Transport};
use palisade_tests::harness::workdir::TestDir;

/// Removes the binding of `contact` for `user`, through Palisade.
fn unregister(dir: &TestDir, sbc: &Palisade, user: &str, contact: SocketAddr) {
    let mut run = Sipp::new(
        &format!("unregister-{user}"),
        Scenario::file("unregister_auth.xml"),
        role::PHONE_B,
    )
    .remote(sbc.access())
    .service(user)
    .auth(user, &kamailio::password(user))
    .key("contact", &contact.to_string())
    .calls(1)
    .timeout(RUN)
    .start(dir);
    let r = run.wait(RUN);
    assert!(r.all_succeeded(1), "unregister: {r:?}");
}

/// Kamailio and a Palisade in front of it.
fn pbx_and_palisade(dir: &TestDir) -> (Pbx, Palisade) {
    let pbx = Pbx::start(dir, role::PBX);
    let sbc = palisade(&[pbx.addr()]).start(dir);
    (pbx, sbc)
}

/// Phone B registers as 1002 through Palisade; phone A calls 1002 through Palisade; the
/// PBX challenges the INVITE (407), which crosses Palisade both ways, and sends the call to
/// phone B through Palisade. After phone B de-registers, a call to 1002 fails.
#[test]
fn registered_phones_call_each_other_through_palisade() {
    let dir = peer_test("b2bua-kamailio-call");
    let (_pbx, mut sbc) = pbx_and_palisade(&dir);
    let mut callee = phone_b(&dir, &mut sbc, Scenario::file("uas_answer.xml"));

    let caller = call_1002(&dir, &sbc, "caller-1001", "uac_auth_call.xml");
    // Two calls through Palisade: phone A -> PBX and PBX -> phone B; the challenged
    // INVITE was a third, refused.
    sbc.wait_calls_ended(3, Duration::from_secs(5));
    callee.peer().stop();
    let t = trace(&caller);
    assert_eq!(
        received_responses(&t, "INVITE")[..]
            .iter()
            .filter(|m| m.status() == Some(407))
            .count(),
        1,
        "the PBX's challenge reached the phone"
    );
    let challenge = received_responses(&t, "INVITE")
        .into_iter()
        .find(|m| m.status() == Some(407))
        .unwrap();
    assert!(challenge.header("Proxy-Authenticate").is_some());
    let ct = trace(&callee);
    let invite = &received_requests(&ct, "INVITE")[0];
    // The call reached phone B at the Contact it registered, through Palisade.
    assert!(
        invite
            .first_line()
            .contains(&callee.local_addr().to_string()),
        "{}",
        invite.first_line()
    );
    assert_eq!(received_requests(&ct, "BYE").len(), 1);

    // De-registration removes the binding: 1002 cannot be reached any more.
    unregister(&dir, &sbc, "1002", callee.local_addr());
    sbc.wait_log_count("Unregistered", 1, Duration::from_secs(2));
    let caller = call_1002(&dir, &sbc, "caller-after", "uac_auth_refused.xml");
    let finals: Vec<u16> = received_responses(&trace(&caller), "INVITE")
        .iter()
        .filter_map(|m| m.status())
        .filter(|c| *c >= 200)
        .collect();
    assert_eq!(finals.last().copied(), Some(404), "{finals:?}");
}

/// Phone B registers over TCP: the PBX's call reaches it over that same connection (the
/// flow it registered from), and the whole call goes through.
#[test]
fn a_phone_registered_over_tcp_is_called_over_its_connection() {
    let dir = peer_test("b2bua-kamailio-tcp");
    let pbx = Pbx::start(&dir, role::PBX);
    let mut sbc = palisade(&[pbx.addr()]).access_tcp().start(&dir);
    let mut callee = phone_b_over(
        &dir,
        &mut sbc,
        Scenario::file("uas_answer.xml"),
        Transport::Tcp,
    );
    let _caller = call_1002(&dir, &sbc, "caller-1001", "uac_auth_call.xml");
    sbc.wait_calls_ended(3, Duration::from_secs(5));
    callee.peer().stop();
    let t = trace(&callee);
    assert_eq!(received_requests(&t, "INVITE").len(), 1);
    assert_eq!(received_requests(&t, "BYE").len(), 1);
    let text = callee.messages();
    assert!(
        text.contains("TCP message received") && !text.contains("UDP message"),
        "{text}"
    );
}

/// The PBX calls a registered phone that refuses (486): the refusal goes back through
/// Palisade to the PBX and on to the caller.
#[test]
fn a_registered_phone_refuses_a_call() {
    let dir = peer_test("b2bua-kamailio-refuse");
    let (_pbx, mut sbc) = pbx_and_palisade(&dir);
    let mut callee = phone_b(&dir, &mut sbc, reject_scenario(&dir, 486, "Busy Here"));
    let caller = call_1002(&dir, &sbc, "caller-1001", "uac_auth_refused.xml");
    let finals: Vec<u16> = received_responses(&trace(&caller), "INVITE")
        .iter()
        .filter_map(|m| m.status())
        .filter(|c| *c >= 200)
        .collect();
    assert_eq!(finals, [407, 486]);
    callee.peer().stop();
    assert_eq!(received_requests(&trace(&callee), "ACK").len(), 1);
    sbc.wait_calls_ended(3, Duration::from_secs(5));
}

/// The values of every `name=` parameter in `text` (tags, branches).
fn params(text: &str, name: &str) -> Vec<String> {
    let key = format!(";{name}=");
    text.match_indices(&key)
        .map(|(i, _)| {
            text[i + key.len()..]
                .chars()
                .take_while(|c| !matches!(c, ';' | ',' | '>' | '\r' | '\n' | ' '))
                .collect()
        })
        .collect()
}

/// The head (start line and header fields) of a captured message, where the dialog and
/// transaction identifiers are collected from.
fn head(p: &Packet) -> String {
    let text = p.text();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

/// Nothing sent to the phones names the core side (Palisade's core listener, the PBX's
/// address and port), or carries a Call-ID, tag, branch or Record-Route of the core side;
/// nothing sent to the PBX names a phone's address. Bodies included: the media relay
/// rewrites the SDP, so a phone sees only Palisade's access address as the media address
/// of the other side, and the PBX only Palisade's core address.
#[test]
fn topology_is_hidden_on_the_wire() {
    let dir = peer_test("b2bua-topology");
    let (pbx, mut sbc) = pbx_and_palisade(&dir);
    let capture = Capture::start(
        &dir,
        "wire",
        &[sbc.access().port(), sbc.core().port(), pbx.addr().port()],
    );
    let mut callee = phone_b(&dir, &mut sbc, Scenario::file("uas_answer.xml"));
    let caller = call_1002(&dir, &sbc, "caller-1001", "uac_auth_call.xml");
    sbc.wait_calls_ended(3, Duration::from_secs(5));
    callee.peer().stop();
    assert_eq!(received_requests(&trace(&callee), "BYE").len(), 1);
    let packets = capture.stop();

    let phones = [role::PHONE_A, role::PHONE_B];
    let to_phones: Vec<&Packet> = packets
        .iter()
        .filter(|p| p.src == sbc.access() && phones.contains(&ip4(p.dst)))
        .collect();
    let core_side: Vec<&Packet> = packets
        .iter()
        .filter(|p| p.src == pbx.addr() || p.dst == pbx.addr())
        .collect();
    let to_pbx: Vec<&Packet> = core_side
        .iter()
        .copied()
        .filter(|p| p.dst == pbx.addr())
        .collect();
    assert!(
        to_phones.len() >= 8,
        "{} messages to the phones",
        to_phones.len()
    );
    assert!(to_pbx.len() >= 8, "{} messages to the PBX", to_pbx.len());
    let caller_addr = caller.local_addr();

    // What identifies the core side: addresses, and the dialog and transaction
    // identifiers of the messages between Palisade and the PBX.
    let mut core_ids: Vec<String> = vec![
        CORE.to_string(),
        role::PBX.to_string(),
        format!(":{}", sbc.core().port()),
        format!(":{}", pbx.addr().port()),
        "Record-Route".to_owned(),
        "palisade-test-pbx".to_owned(),
    ];
    for p in &core_side {
        let h = head(p);
        for line in h.lines() {
            if let Some(v) = line.strip_prefix("Call-ID:") {
                core_ids.push(v.trim().to_owned());
            }
        }
        core_ids.extend(params(&h, "tag"));
        core_ids.extend(params(&h, "branch"));
    }
    // The phones' identifiers on the way in, to check none of them crosses either.
    let mut phone_ids: Vec<String> = vec![
        role::PHONE_A.to_string(),
        role::PHONE_B.to_string(),
        caller_addr.to_string(),
        callee.local_addr().to_string(),
    ];
    for p in packets.iter().filter(|p| p.dst == sbc.access()) {
        let h = head(p);
        for line in h.lines() {
            if let Some(v) = line.strip_prefix("Call-ID:") {
                phone_ids.push(v.trim().to_owned());
            }
        }
        phone_ids.extend(params(&h, "tag"));
        phone_ids.extend(params(&h, "branch"));
    }
    core_ids.retain(|v| !v.is_empty());
    phone_ids.retain(|v| !v.is_empty());
    core_ids.sort();
    core_ids.dedup();
    phone_ids.sort();
    phone_ids.dedup();
    // The check has something to look for: the REGISTERs', both calls' and the
    // challenge's identifiers on each side.
    assert!(core_ids.len() >= 20, "{core_ids:?}");
    assert!(phone_ids.len() >= 12, "{phone_ids:?}");

    // The calls' SDP crossed, rewritten.
    let sdp_to_phones = to_phones
        .iter()
        .filter(|p| p.text().contains("\r\nm=audio "))
        .count();
    let sdp_to_pbx = to_pbx
        .iter()
        .filter(|p| p.text().contains("\r\nm=audio "))
        .count();
    assert!(
        sdp_to_phones >= 2 && sdp_to_pbx >= 2,
        "{sdp_to_phones} {sdp_to_pbx}"
    );
    for p in to_phones
        .iter()
        .filter(|p| p.text().contains("\r\nm=audio "))
    {
        assert!(
            p.text().contains(&format!("c=IN IP4 {ACCESS}\r\n")),
            "{}",
            p.text()
        );
    }
    for p in to_pbx.iter().filter(|p| p.text().contains("\r\nm=audio ")) {
        assert!(
            p.text().contains(&format!("c=IN IP4 {CORE}\r\n")),
            "{}",
            p.text()
        );
    }
    let mut leaks = Vec::new();
    for p in &to_phones {
        let h = p.text();
        for id in &core_ids {
            if h.contains(id.as_str()) {
                leaks.push(format!("{id:?} toward {}:\n{h}", p.dst));
            }
        }
    }
    for p in &to_pbx {
        let h = p.text();
        for id in &phone_ids {
            if h.contains(id.as_str()) {
                leaks.push(format!("{id:?} toward the PBX:\n{h}"));
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n\n"));
}

fn ip4(a: SocketAddr) -> std::net::Ipv4Addr {
    match a.ip() {
        std::net::IpAddr::V4(v) => v,
        std::net::IpAddr::V6(_) => panic!("IPv6 in a loopback test"),
    }
}
