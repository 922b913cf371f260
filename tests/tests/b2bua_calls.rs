//! Calls through the running Palisade between real peers: SIPp as the phone on the access
//! side and SIPp as the PBX on the core side, over UDP (and TCP toward the phone). Each
//! test starts its own Palisade with a generated configuration, inside the network
//! namespace `scripts/test.sh` creates, and checks what the peers report and what went
//! over the wire (their message traces).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::time::Duration;

use b2bua_support::*;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::role;
use palisade_tests::harness::sipp::{Scenario, Sipp, Transport};

/// Every call that started in Palisade has ended, and it still answers.
fn assert_no_call_left(p: &mut palisade_tests::harness::palisade::Palisade, calls: usize) {
    p.wait_calls_ended(calls, Duration::from_secs(5));
    assert!(p.ping(Duration::from_secs(2)), "palisade stopped answering");
}

#[test]
fn ten_calls_over_udp() {
    let dir = peer_test("b2bua-udp");
    let mut pbx = callee(&dir, "pbx", "uas_dialog.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    // SIPp's built-in caller: INVITE, 180/200, ACK, BYE.
    let (_, r) = call(&dir, "phone", Scenario::BuiltIn("uac"), sbc.access(), 10);
    assert!(r.all_succeeded(10), "phone: {r:?}");
    finish_ok(&mut pbx);
    let t = trace(&pbx);
    assert_eq!(received_requests(&t, "INVITE").len(), 10);
    assert_eq!(received_requests(&t, "ACK").len(), 10);
    assert_eq!(received_requests(&t, "BYE").len(), 10);
    for invite in received_requests(&t, "INVITE") {
        // One hop: Palisade's own Via; the phone's Max-Forwards less one.
        assert_eq!(
            invite.head().matches("\nVia:").count(),
            1,
            "{}",
            invite.text
        );
        assert_eq!(invite.header("Max-Forwards").as_deref(), Some("69"));
        assert!(invite.body().contains("m=audio"), "the SDP crosses");
    }
    assert_no_call_left(&mut sbc, 10);
}

#[test]
fn ten_calls_over_tcp_on_the_access_side() {
    let dir = peer_test("b2bua-tcp");
    let mut pbx = callee(&dir, "pbx", "uas_dialog.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).access_tcp().start(&dir);
    let mut phone = Sipp::new("phone", Scenario::BuiltIn("uac"), role::PHONE_A)
        .transport(Transport::Tcp)
        .remote(sbc.access_tcp().unwrap())
        .calls(10)
        .rate(20.0)
        .timeout(RUN)
        .start(&dir);
    let r = phone.wait(RUN + Duration::from_secs(5));
    assert!(r.all_succeeded(10), "phone: {r:?}");
    finish_ok(&mut pbx);
    assert_eq!(received_requests(&trace(&pbx), "BYE").len(), 10);
    // Everything Palisade sent the phone came back over its connection.
    let sent_to_phone = trace(&phone).iter().filter(|m| !m.sent).count();
    assert!(sent_to_phone >= 30, "{sent_to_phone} messages to the phone");
    assert_no_call_left(&mut sbc, 10);
}

/// The PBX refuses with 486, then 404, then 503: the phone gets each refusal (with a single
/// upstream, the 503 is Palisade's own, with Retry-After).
#[test]
fn pbx_refusals_reach_the_phone() {
    let dir = peer_test("b2bua-refusals");
    let refusals = [
        (486u16, "Busy Here"),
        (404, "Not Found"),
        (503, "Service Unavailable"),
    ];
    let first = callee_with(
        &dir,
        "pbx-486",
        reject_scenario(&dir, 486, "Busy Here"),
        role::PBX,
        None,
    );
    let pbx_addr = first.local_addr();
    let mut sbc = palisade(&[pbx_addr]).start(&dir);
    let mut pbx = Some(first);
    for (code, reason) in refusals {
        // One PBX after the other on the same address.
        let mut this_pbx = pbx.take().unwrap_or_else(|| {
            let s = reject_scenario(&dir, code, reason);
            callee_with(
                &dir,
                &format!("pbx-{code}"),
                s,
                role::PBX,
                Some(pbx_addr.port()),
            )
        });
        let (phone, r) = call(
            &dir,
            &format!("phone-{code}"),
            Scenario::file("uac_refused.xml"),
            sbc.access(),
            1,
        );
        assert!(r.all_succeeded(1), "phone ({code}): {r:?}");
        let t = trace(&phone);
        let finals: Vec<u16> = received_responses(&t, "INVITE")
            .iter()
            .filter_map(|m| m.status())
            .filter(|c| *c >= 200)
            .collect();
        assert_eq!(finals, [code], "final responses to the phone");
        if code == 503 {
            let resp = received_responses(&t, "INVITE")
                .into_iter()
                .find(|m| m.status() == Some(503))
                .unwrap();
            assert!(resp.header("Retry-After").is_some(), "{}", resp.text);
        }
        finish_ok(&mut this_pbx);
        // The PBX got its ACK for the refusal.
        assert_eq!(received_requests(&trace(&this_pbx), "ACK").len(), 1);
    }
    assert_no_call_left(&mut sbc, 3);
}

/// The phone hangs up while it rings: 200 for the CANCEL, 487 for the INVITE with the To
/// tag of the 180 (RFC 3261 §8.2.6.2), the PBX's INVITE is cancelled.
#[test]
fn cancel_before_answer() {
    let dir = peer_test("b2bua-cancel");
    let mut pbx = callee(&dir, "pbx", "uas_ring_cancel.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    let (phone, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_cancel.xml"),
        sbc.access(),
        3,
    );
    assert!(r.all_succeeded(3), "phone: {r:?}");
    finish_ok(&mut pbx);
    assert_eq!(received_requests(&trace(&pbx), "CANCEL").len(), 3);
    let t = trace(&phone);
    let ringing = received_responses(&t, "INVITE")
        .into_iter()
        .filter(|m| m.status() == Some(180));
    let terminated = received_responses(&t, "INVITE")
        .into_iter()
        .filter(|m| m.status() == Some(487));
    for (r180, r487) in ringing.zip(terminated) {
        assert_eq!(
            r180.to_tag(),
            r487.to_tag(),
            "one To tag per transaction:\n{}\n{}",
            r180.text,
            r487.text
        );
    }
    for ok in received_responses(&t, "CANCEL") {
        assert_eq!(ok.status(), Some(200));
    }
    assert_no_call_left(&mut sbc, 3);
}

/// The PBX accepts the CANCEL (200) but never sends the INVITE's final response: the
/// phone still gets its 487 at once, and Palisade forgets the call 64 × T1 after the
/// CANCEL (RFC 3261 §9.1; T1 is 50 ms here) instead of keeping it for ever.
#[test]
fn a_cancelled_invite_without_final_response_is_forgotten() {
    let dir = peer_test("b2bua-cancel-no-final");
    let mut pbx = callee(&dir, "pbx", "uas_cancel_no_final.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).t1("50ms").start(&dir);
    let (_, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_cancel.xml"),
        sbc.access(),
        2,
    );
    assert!(r.all_succeeded(2), "phone: {r:?}");
    finish_ok(&mut pbx);
    assert_no_call_left(&mut sbc, 2);
}

/// A call that rings longer than `calls.invite_timeout` (2 s here): the phone gets 408
/// with the To tag of the 180 it had, the PBX's INVITE is cancelled (200, 487, ACK).
#[test]
fn ringing_too_long_gets_408_and_cancels_the_pbx() {
    let dir = peer_test("b2bua-ring-timeout");
    let mut pbx = callee(&dir, "pbx", "uas_ring_cancel.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()])
        .invite_timeout("2s")
        .start(&dir);
    let (phone, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_refused.xml"),
        sbc.access(),
        1,
    );
    assert!(r.all_succeeded(1), "phone: {r:?}");
    let t = trace(&phone);
    let responses = received_responses(&t, "INVITE");
    let ringing = responses.iter().find(|m| m.status() == Some(180)).unwrap();
    let timeout = responses.iter().find(|m| m.status() == Some(408)).unwrap();
    assert_eq!(ringing.to_tag(), timeout.to_tag());
    finish_ok(&mut pbx);
    let pt = trace(&pbx);
    assert_eq!(received_requests(&pt, "CANCEL").len(), 1);
    assert_eq!(received_requests(&pt, "ACK").len(), 1, "the 487 is ACKed");
    assert_no_call_left(&mut sbc, 1);
}

/// The PBX's 200 crosses the phone's CANCEL. The phone's INVITE ends with 487 (the CANCEL
/// won at Palisade) or 200 (then the phone ACKs and hangs up); either way the PBX's
/// answered call is closed with ACK and BYE, and no call is left.
#[test]
fn cancel_crossing_the_200() {
    let dir = peer_test("b2bua-cancel-200");
    let mut pbx = callee(&dir, "pbx", "uas_cancel_crossing.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    let (phone, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_cancel_race.xml"),
        sbc.access(),
        3,
    );
    assert!(r.all_succeeded(3), "phone: {r:?}");
    finish_ok(&mut pbx);
    let pt = trace(&pbx);
    assert_eq!(
        received_requests(&pt, "ACK").len(),
        3,
        "the PBX's 200 is ACKed"
    );
    assert_eq!(
        received_requests(&pt, "BYE").len(),
        3,
        "and the call hung up"
    );
    let t = trace(&phone);
    let finals: Vec<u16> = received_responses(&t, "INVITE")
        .iter()
        .filter_map(|m| m.status())
        .filter(|c| *c >= 200)
        .collect();
    assert_eq!(finals.len(), 3, "{finals:?}");
    assert!(finals.iter().all(|c| *c == 487 || *c == 200), "{finals:?}");
    assert_no_call_left(&mut sbc, 3);
}

/// The phone re-INVITEs with a new SDP, sends INFO and UPDATE, and hangs up: each reaches
/// the PBX in the PBX's dialog.
#[test]
fn reinvite_info_update_and_bye_from_the_phone() {
    let dir = peer_test("b2bua-phone-dialog");
    let mut pbx = callee(&dir, "pbx", "uas_dialog.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    let (_, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_dialog.xml"),
        sbc.access(),
        2,
    );
    assert!(r.all_succeeded(2), "phone: {r:?}");
    finish_ok(&mut pbx);
    let t = trace(&pbx);
    let invites = received_requests(&t, "INVITE");
    assert_eq!(invites.len(), 4, "two calls, two re-INVITEs");
    let reinvites: Vec<_> = invites.iter().filter(|m| m.to_tag().is_some()).collect();
    assert_eq!(reinvites.len(), 2);
    for m in reinvites {
        assert!(
            m.body().contains("2353687638"),
            "the new SDP crosses:\n{}",
            m.text
        );
    }
    let infos = received_requests(&t, "INFO");
    assert_eq!(infos.len(), 2);
    assert!(infos[0].body().contains("Signal=5"), "{}", infos[0].text);
    assert_eq!(received_requests(&t, "UPDATE").len(), 2);
    assert_eq!(received_requests(&t, "BYE").len(), 2);
    assert_no_call_left(&mut sbc, 2);
}

/// The PBX refuses the phone's re-INVITE (488): the phone gets the 488, each side's
/// ACK for it stays on its own leg, and the call goes on (INFO, then BYE).
#[test]
fn a_refused_reinvite_keeps_the_call() {
    let dir = peer_test("b2bua-reinvite-488");
    let mut pbx = callee(&dir, "pbx", "uas_refuse_reinvite.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    let (phone, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_reinvite_refused.xml"),
        sbc.access(),
        2,
    );
    assert!(r.all_succeeded(2), "phone: {r:?}");
    finish_ok(&mut pbx);
    let pt = trace(&pbx);
    // Two ACKs per call at the PBX: for the 200, and for the 488 (from Palisade).
    assert_eq!(received_requests(&pt, "ACK").len(), 4);
    assert_eq!(received_requests(&pt, "INFO").len(), 2);
    assert_eq!(received_requests(&pt, "BYE").len(), 2);
    let refused = received_responses(&trace(&phone), "INVITE")
        .into_iter()
        .filter(|m| m.status() == Some(488))
        .count();
    assert_eq!(refused, 2);
    assert_no_call_left(&mut sbc, 2);
}

/// The PBX re-INVITEs, sends INFO and UPDATE, and hangs up: each reaches the phone in the
/// phone's dialog.
#[test]
fn reinvite_info_update_and_bye_from_the_pbx() {
    let dir = peer_test("b2bua-pbx-dialog");
    let mut pbx = callee(&dir, "pbx", "uas_reinvite_bye.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    let (phone, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_serve_dialog.xml"),
        sbc.access(),
        2,
    );
    assert!(r.all_succeeded(2), "phone: {r:?}");
    finish_ok(&mut pbx);
    let t = trace(&phone);
    let reinvites = received_requests(&t, "INVITE");
    assert_eq!(reinvites.len(), 2);
    for m in &reinvites {
        assert!(
            m.body().contains("2353687638"),
            "the new SDP crosses:\n{}",
            m.text
        );
    }
    assert_eq!(received_requests(&t, "INFO").len(), 2);
    assert_eq!(received_requests(&t, "UPDATE").len(), 2);
    assert_eq!(received_requests(&t, "BYE").len(), 2);
    // Each request reached the phone on its own dialog: its Call-ID and its From tag.
    let invites_sent: Vec<_> = t
        .iter()
        .filter(|m| m.sent && m.method() == Some("INVITE"))
        .collect();
    for req in received_requests(&t, "BYE") {
        let call_id = req.header("Call-ID");
        let mine = invites_sent.iter().find(|i| i.header("Call-ID") == call_id);
        let mine = mine.expect("a BYE on one of the phone's calls");
        assert_eq!(req.to_tag(), tag_of(&mine.header("From").unwrap()));
    }
    assert_no_call_left(&mut sbc, 2);
}

/// Reliable provisional responses (RFC 3262): the PBX's 183 with Require: 100rel and
/// RSeq reaches the phone, whose PRACK reaches the PBX with its RAck naming the PBX's own
/// INVITE (RSeq, the CSeq of the INVITE on the PBX's dialog).
#[test]
fn prack_for_a_reliable_183() {
    let dir = peer_test("b2bua-prack");
    let mut pbx = callee(&dir, "pbx", "uas_100rel.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    let (phone, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_100rel.xml"),
        sbc.access(),
        2,
    );
    assert!(r.all_succeeded(2), "phone: {r:?}");
    finish_ok(&mut pbx);
    let t = trace(&phone);
    for p183 in received_responses(&t, "INVITE")
        .into_iter()
        .filter(|m| m.status() == Some(183))
    {
        assert_eq!(
            p183.header("Require").as_deref(),
            Some("100rel"),
            "{}",
            p183.text
        );
        assert_eq!(p183.header("RSeq").as_deref(), Some("1"));
        assert!(p183.body().contains("m=audio"), "early media SDP crosses");
    }
    let pt = trace(&pbx);
    let pracks = received_requests(&pt, "PRACK");
    assert_eq!(pracks.len(), 2);
    let invites = received_requests(&pt, "INVITE");
    for (prack, invite) in pracks.iter().zip(&invites) {
        let invite_cseq = invite.header("CSeq").unwrap();
        let invite_cseq = invite_cseq.split_whitespace().next().unwrap();
        assert_eq!(
            prack.header("RAck"),
            Some(format!("1 {invite_cseq} INVITE")),
            "{}",
            prack.text
        );
    }
    assert_no_call_left(&mut sbc, 2);
}

/// The PBX calls a phone registered through Palisade, the way some PBXs write it: its
/// own address in From, and the Contact it called (Palisade's token at Palisade's core
/// address) in To. The phone sees neither the PBX's address, nor Palisade's core
/// address, nor the token: From names Palisade, To the phone's address-of-record.
#[test]
fn a_call_from_the_pbx_to_a_registered_phone_hides_the_core() {
    let dir = peer_test("b2bua-pbx-calls-phone");
    let mut registrar = callee(&dir, "registrar", "uas_registrar.xml", role::PBX, &[]);
    let mut sbc = palisade(&[registrar.local_addr()]).start(&dir);
    // The phone registers through Palisade and answers calls on the same socket.
    let uas = Scenario::file("uas_answer.xml");
    let Scenario::File(uas) = uas else {
        unreachable!()
    };
    let mut phone = registering_phone(role::PHONE_B, sbc.access(), Duration::from_secs(15))
        .arg("-oocsf")
        .arg(uas.to_str().unwrap())
        .start(&dir);
    sbc.wait_log_count("Registered {", 1, Duration::from_secs(10));
    finish_ok(&mut registrar);
    let rt = trace(&registrar);
    let register = received_requests(&rt, "REGISTER").pop().unwrap();
    let token_contact = register.header("Contact").unwrap();
    let token = token_contact
        .trim_start_matches("<sip:")
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        token_contact.contains(&sbc.core().to_string()),
        "{token_contact}"
    );

    // The PBX (SIPp's built-in caller, on the PBX's address) calls the token.
    let mut pbx = Sipp::new("pbx-caller", Scenario::BuiltIn("uac"), role::PBX)
        .remote(sbc.core())
        .service(&token)
        .calls(1)
        .timeout(RUN)
        .start(&dir);
    let r = pbx.wait(RUN + Duration::from_secs(5));
    assert!(r.all_succeeded(1), "pbx: {r:?}");
    sbc.wait_calls_ended(1, Duration::from_secs(5));
    phone.peer().stop();
    let t = trace(&phone);
    let invite = received_requests(&t, "INVITE")
        .pop()
        .expect("the call reached the phone");
    let head = invite.head();
    for hidden in [role::PBX.to_string(), CORE.to_string(), token.clone()] {
        assert!(
            !head.contains(&hidden),
            "{hidden} reached the phone:\n{head}"
        );
    }
    assert_eq!(
        invite.header("To").as_deref(),
        Some(format!("<sip:1002@{}>", sbc.access()).as_str())
    );
    assert!(
        invite
            .header("From")
            .unwrap()
            .contains(&sbc.access().to_string())
    );
}

/// Blind transfer: the PBX sends REFER in the call, the phone accepts (202) and reports
/// the outcome with NOTIFY; then the PBX hangs up, which must still reach the phone. The
/// PBX names itself in Refer-To and Referred-By, as PBXs do: the phone must see Palisade
/// there instead (its INVITE for the transfer comes to Palisade, and the PBX's address
/// stays hidden).
#[test]
fn blind_transfer_with_refer() {
    let dir = peer_test("b2bua-refer");
    let pbx_addr = std::net::SocketAddr::from((
        role::PBX,
        palisade_tests::harness::ports::free_port(role::PBX),
    ));
    let target = format!("sip:1003@{pbx_addr}");
    let mut pbx = Sipp::new("pbx", Scenario::file("uas_refer.xml"), role::PBX)
        .port(pbx_addr.port())
        .key("refer_to", &target)
        .timeout(RUN)
        .start(&dir);
    pbx.wait_ready(Duration::from_secs(5));
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    let (phone, r) = call(
        &dir,
        "phone",
        Scenario::file("uac_refer.xml"),
        sbc.access(),
        1,
    );
    assert!(r.all_succeeded(1), "phone: {r:?}");
    finish_ok(&mut pbx);
    let t = trace(&phone);
    let refer = received_requests(&t, "REFER");
    assert_eq!(refer.len(), 1);
    assert_eq!(
        refer[0].header("Refer-To").as_deref(),
        Some(format!("<sip:1003@{}>", sbc.access()).as_str())
    );
    let referred_by = refer[0].header("Referred-By").unwrap();
    assert!(
        referred_by.contains(&sbc.access().to_string()),
        "{referred_by}"
    );
    assert!(
        !refer[0].head().contains(&role::PBX.to_string()),
        "{}",
        refer[0].text
    );
    let pt = trace(&pbx);
    let notify = received_requests(&pt, "NOTIFY");
    assert_eq!(notify.len(), 1);
    assert_eq!(notify[0].header("Event").as_deref(), Some("refer"));
    assert!(
        notify[0].body().starts_with("SIP/2.0 200"),
        "{}",
        notify[0].text
    );
    assert_eq!(received_responses(&pt, "REFER")[0].status(), Some(202));
    assert_eq!(
        received_responses(&pt, "BYE")[0].status(),
        Some(200),
        "the BYE after the transfer"
    );
    assert_no_call_left(&mut sbc, 1);
}
