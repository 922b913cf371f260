use std::time::Duration;

use palisade_sip::{HeaderName, Method};

use super::support::*;
use crate::types::Side;
use crate::{EndedBy, Event};

/// Sets up an answered, ACKed call; returns (the INVITE the PBX got, the 200 the phone got).
fn establish(w: &mut World) -> (palisade_sip::Message, palisade_sip::Message) {
    w.phone_sends(phone_invite("phone-call-1", "z9hG4bKp1"));
    let invite = w.one_sent_to(Side::Core);
    w.advance(Duration::from_millis(250));
    let trying = w.one_sent_to(Side::Access);
    assert_eq!(trying.status(), Some(100));
    w.pbx_sends(reply(&invite, 180, Some("pbx1")));
    let ringing = w.one_sent_to(Side::Access);
    assert_eq!(ringing.status(), Some(180));
    assert_eq!(
        w.b.first_requests_held(),
        1,
        "kept for failover while ringing"
    );
    w.pbx_sends(reply(&invite, 200, Some("pbx1")));
    let ok = w.one_sent_to(Side::Access);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(w.b.first_requests_held(), 0, "an answered call lets it go");
    let ack = phone_in_dialog("ACK", 1, &ok, "z9hG4bKp1ack");
    w.phone_sends(ack);
    let core_ack = w.one_sent_to(Side::Core);
    assert_eq!(core_ack.method(), Some(&Method::Ack));
    assert_eq!(core_ack.call_id().unwrap(), invite.call_id().unwrap());
    assert_eq!(core_ack.cseq().unwrap().seq, invite.cseq().unwrap().seq);
    assert_eq!(core_ack.to().unwrap().tag(), Some("pbx1"));
    assert_eq!(
        core_ack.request_uri_str(),
        Some("sip:pbx-internal@127.0.0.1:5080")
    );
    (invite, ok)
}

#[test]
fn a_call_from_the_phone_is_two_dialogs() {
    let mut w = World::new(&[PBX]);
    let (invite, ok) = establish(&mut w);
    // Leg 1 is Palisade's own dialog toward the upstream.
    assert_ne!(invite.call_id().unwrap(), "phone-call-1");
    assert_ne!(invite.from().unwrap().tag(), Some("ph1"));
    assert_eq!(invite.request_uri_str(), Some("sip:1002@127.0.0.1:5080"));
    assert_eq!(invite.max_forwards().unwrap(), Some(69));
    assert_eq!(invite.vias().count(), 1);
    assert!(
        invite.header(HeaderName::UserAgent).is_some(),
        "passed toward the core by default"
    );
    // The offer points at the relay's core side.
    let port = w.media().sessions[&1][0][1].port();
    assert_eq!(
        invite.body(),
        SDP.replace("192.168.1.20", "127.0.0.1")
            .replace("audio 4000", &format!("audio {port}"))
            .as_bytes()
    );
    // Leg 0 keeps the phone's dialog identifiers.
    assert_eq!(ok.call_id().unwrap(), "phone-call-1");
    assert_eq!(ok.from().unwrap().tag(), Some("ph1"));
    assert_ne!(ok.to().unwrap().tag(), Some("pbx1"));
    assert!(
        ok.header(HeaderName::Contact)
            .unwrap()
            .starts_with(b"<sip:203.0.113.10:5060")
    );
    assert_eq!(w.b.calls(), 1);

    // The phone hangs up.
    w.phone_sends(phone_in_dialog("BYE", 2, &ok, "z9hG4bKp1bye"));
    let bye = w.one_sent_to(Side::Core);
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.cseq().unwrap().seq, invite.cseq().unwrap().seq + 1);
    w.pbx_sends(reply(&bye, 200, None));
    let bye_ok = w.one_sent_to(Side::Access);
    assert_eq!(bye_ok.status(), Some(200));
    assert_eq!(bye_ok.cseq().unwrap().method, Method::Bye);
    assert_eq!(w.b.calls(), 0);
    // The events carry what a call record needs: who called whom from where, who hung up.
    assert!(has_event(&w, |e| matches!(
        e,
        Event::CallStarted { call: 1, from: Side::Access, call_id, caller, callee, remotes }
            if call_id == "phone-call-1"
                && caller == "sip:1001@example.com"
                && callee == "sip:1002@203.0.113.10"
                && remotes[0] == addr(PHONE)
                && remotes[1] == addr(PBX)
    )));
    assert!(has_event(&w, |e| matches!(
        e,
        Event::CallAnswered { call: 1, remote } if *remote == addr(PBX)
    )));
    assert!(has_event(&w, |e| matches!(
        e,
        Event::CallEnded {
            call: 1,
            why: "hung up",
            by: EndedBy::Side(Side::Access),
            status: None
        }
    )));
    // Once the transactions' linger timers pass, nothing is left.
    w.advance(Duration::from_secs(40));
    assert_eq!(w.b.transactions(), (0, 0));
}

/// The PBX retransmits its 2xx before the phone's ACK has reached it through Palisade:
/// the call is answered once (one event, one 2xx retransmission schedule toward the
/// phone), and the ACK, when it comes, goes to the PBX once.
#[test]
fn a_2xx_retransmitted_before_the_ack_answers_the_call_once() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(phone_invite("phone-call-1", "z9hG4bKp1"));
    let invite = w.one_sent_to(Side::Core);
    w.advance(Duration::from_millis(250));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(100));
    let pbx_ok = reply(&invite, 200, Some("pbx1"));
    w.pbx_sends(pbx_ok.clone());
    let ok = w.one_sent_to(Side::Access);
    assert_eq!(ok.status(), Some(200));
    w.pbx_sends(pbx_ok);
    let again = w.sent_to(Side::Access);
    assert!(
        again.iter().all(|m| m.status() == Some(200)),
        "at most the 2xx again: {again:#?}"
    );
    let answered = w
        .events
        .iter()
        .filter(|e| matches!(e, Event::CallAnswered { call: 1, .. }))
        .count();
    assert_eq!(answered, 1, "answered once");
    w.phone_sends(phone_in_dialog("ACK", 1, &ok, "z9hG4bKp1ack"));
    let acks = w.sent_to(Side::Core);
    assert_eq!(acks.len(), 1, "{acks:#?}");
    assert_eq!(acks[0].method(), Some(&Method::Ack));
    // Acknowledged: no 2xx goes to the phone again.
    w.advance(Duration::from_secs(5));
    assert!(w.sent_to(Side::Access).is_empty());
}

#[test]
fn the_pbx_hangs_up_and_reinvites() {
    let mut w = World::new(&[PBX]);
    let (invite, ok) = establish(&mut w);
    // re-INVITE from the PBX (hold), relayed to the phone with the phone's dialog.
    let reinvite = pbx_in_dialog("INVITE", 10, &invite, "pbx1", "z9hG4bKx1");
    w.pbx_sends(reinvite);
    let to_phone: Vec<_> = w
        .sent_to(Side::Access)
        .into_iter()
        .filter(|m| m.is_request())
        .collect();
    let phone_reinvite = &to_phone[0];
    assert_eq!(phone_reinvite.call_id().unwrap(), "phone-call-1");
    assert_eq!(phone_reinvite.to().unwrap().tag(), Some("ph1"));
    assert_eq!(phone_reinvite.from().unwrap().tag(), ok.to().unwrap().tag());
    assert_eq!(
        phone_reinvite.request_uri_str(),
        Some("sip:1001@192.168.1.20:5060")
    );
    let phone_ok = reply(phone_reinvite, 200, None);
    w.phone_sends(phone_ok);
    let core_ok = w.one_sent_to(Side::Core);
    assert_eq!(core_ok.status(), Some(200));
    assert_eq!(core_ok.cseq().unwrap().seq, 10);
    // The PBX ACKs; the phone gets an ACK for its 2xx.
    w.pbx_sends(pbx_in_dialog("ACK", 10, &invite, "pbx1", "z9hG4bKx1ack"));
    let phone_ack = w.one_sent_to(Side::Access);
    assert_eq!(phone_ack.method(), Some(&Method::Ack));
    assert_eq!(
        phone_ack.cseq().unwrap().seq,
        phone_reinvite.cseq().unwrap().seq
    );
    // That ACK was lost: the phone's 2xx comes again and gets the same ACK, though the
    // re-INVITE's transactions no longer hold its request.
    w.phone_sends(reply(phone_reinvite, 200, None));
    let again = w.one_sent_to(Side::Access);
    assert_eq!(again.as_bytes(), phone_ack.as_bytes());

    // BYE from the PBX.
    w.pbx_sends(pbx_in_dialog("BYE", 11, &invite, "pbx1", "z9hG4bKx2"));
    let phone_bye = w.one_sent_to(Side::Access);
    assert_eq!(phone_bye.method(), Some(&Method::Bye));
    w.phone_sends(reply(&phone_bye, 200, None));
    assert_eq!(w.one_sent_to(Side::Core).status(), Some(200));
    assert_eq!(w.b.calls(), 0);
}

#[test]
fn cancel_before_answer() {
    let mut w = World::new(&[PBX]);
    let invite_from_phone = phone_invite("phone-call-2", "z9hG4bKp2");
    w.phone_sends(invite_from_phone.clone());
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&invite, 180, Some("pbx2")));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(180));
    let cancel = msg("CANCEL sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKp2;rport
Max-Forwards: 70
From: \"Alice\" <sip:1001@example.com>;tag=ph1
To: <sip:1002@example.com>
Call-ID: phone-call-2
CSeq: 1 CANCEL
Content-Length: 0

");
    w.phone_sends(cancel);
    let to_phone = w.all_sent_to(Side::Access);
    let codes: Vec<_> = to_phone.iter().filter_map(|m| m.status()).collect();
    assert!(codes.contains(&200) && codes.contains(&487), "{codes:?}");
    let core_cancel = w.one_sent_to(Side::Core);
    assert_eq!(core_cancel.method(), Some(&Method::Cancel));
    assert_eq!(
        core_cancel.via().unwrap().branch(),
        invite.via().unwrap().branch()
    );
    w.pbx_sends(reply(&core_cancel, 200, None));
    w.pbx_sends(reply(&invite, 487, Some("pbx2")));
    // The INVITE client transaction ACKs the 487 by itself.
    let ack = w.one_sent_to(Side::Core);
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(w.b.calls(), 0);
    // The caller's CANCEL is what ended it, not the PBX's 487.
    assert!(has_event(&w, |e| matches!(
        e,
        Event::CallEnded {
            why: "cancelled",
            by: EndedBy::Side(Side::Access),
            status: Some(487),
            ..
        }
    )));
    // The phone ACKs the 487.
    w.phone_sends(msg("ACK sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKp2;rport
Max-Forwards: 70
From: \"Alice\" <sip:1001@example.com>;tag=ph1
To: <sip:1002@example.com>;tag=x
Call-ID: phone-call-2
CSeq: 1 ACK
Content-Length: 0

"));
    assert!(w.take().is_empty());
    w.advance(Duration::from_secs(40));
    assert_eq!(w.b.transactions(), (0, 0));
}

#[test]
fn cancel_crossing_the_2xx_closes_leg_1() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(phone_invite("phone-call-3", "z9hG4bKp3"));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&invite, 180, Some("pbx3")));
    w.take();
    w.phone_sends(msg("CANCEL sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKp3;rport
Max-Forwards: 70
From: \"Alice\" <sip:1001@example.com>;tag=ph1
To: <sip:1002@example.com>
Call-ID: phone-call-3
CSeq: 1 CANCEL
Content-Length: 0

"));
    w.take();
    // The PBX answered before it saw the CANCEL.
    w.pbx_sends(reply(&invite, 200, Some("pbx3")));
    let to_core = w.sent_to(Side::Core);
    let methods: Vec<_> = to_core.iter().filter_map(|m| m.method().cloned()).collect();
    assert!(
        methods.contains(&Method::Ack) && methods.contains(&Method::Bye),
        "{methods:?}"
    );
    assert_eq!(w.b.calls(), 0);
}

#[test]
fn a_2xx_never_acked_is_retransmitted_then_the_call_is_closed() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(phone_invite("phone-call-4", "z9hG4bKp4"));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&invite, 200, Some("pbx4")));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(200));
    w.advance(Duration::from_millis(600));
    assert_eq!(
        w.one_sent_to(Side::Access).status(),
        Some(200),
        "retransmitted after T1"
    );
    w.advance(Duration::from_secs(40));
    let sent = w.take();
    assert!(
        sent.iter()
            .any(|t| t.side == Side::Core && t.message.method() == Some(&Method::Bye))
    );
    assert_eq!(w.b.calls(), 0);
}

#[test]
fn unknown_dialog_gets_481_and_bad_requests_400() {
    let mut w = World::new(&[PBX]);
    let ok = reply(&phone_invite("nope", "z9hG4bKq"), 200, Some("zz"));
    w.phone_sends(phone_in_dialog("BYE", 2, &ok, "z9hG4bKq1"));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(481));
    w.phone_sends(msg("OPTIONS sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKq2
From: <sip:1001@example.com>;tag=a
To: <sip:1002@example.com>
Call-ID: x
CSeq: 1 INVITE
Content-Length: 0

"));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(400));
}

#[test]
fn options_to_palisade_is_answered_locally() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(msg("OPTIONS sip:203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKo1
Max-Forwards: 70
From: <sip:1001@example.com>;tag=a
To: <sip:203.0.113.10>
Call-ID: o1
CSeq: 1 OPTIONS
Content-Length: 0

"));
    let r = w.one_sent_to(Side::Access);
    assert_eq!(r.status(), Some(200));
    assert!(r.header(HeaderName::Allow).is_some());
}

#[test]
fn unparseable_requests_are_answered_when_they_can_be() {
    let mut w = World::new(&[PBX]);
    let bad = b"INVITE  sip:1002@203.0.113.10  SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20;branch=z9hG4bKbad\r\nFrom: <sip:1001@example.com>;tag=a\r\nTo: <sip:1002@example.com>\r\nCall-ID: bad1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let err = palisade_sip::Message::parse(
        bytes::Bytes::from_static(bad),
        palisade_sip::Transport::Datagram,
        &palisade_sip::ParseLimits::default(),
    )
    .unwrap_err();
    w.phone_sends_malformed(bad, &err);
    let r = w.one_sent_to(Side::Access);
    assert_eq!(r.status(), Some(400));
    assert_eq!(r.call_id().unwrap(), "bad1");
    // A broken response is never answered.
    let resp = b"SIP/2.0 4294967301 x\r\nVia: SIP/2.0/UDP 192.168.1.20;branch=z9hG4bKbad\r\n\r\n";
    let err = palisade_sip::Message::parse(
        bytes::Bytes::from_static(resp),
        palisade_sip::Transport::Datagram,
        &palisade_sip::ParseLimits::default(),
    )
    .unwrap_err();
    w.phone_sends_malformed(resp, &err);
    assert!(w.take().is_empty());
}

#[test]
fn proxy_require_gets_420_and_own_options_with_max_forwards_0_gets_200() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(msg("OPTIONS sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKpr1
Max-Forwards: 6
From: <sip:1001@example.com>;tag=a
To: <sip:1002@example.com>
Call-ID: pr1
CSeq: 8 OPTIONS
Require: nothingSupportsThis
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
Content-Length: 0

"));
    let r = w.one_sent_to(Side::Access);
    assert_eq!(r.status(), Some(420));
    assert_eq!(
        r.header(HeaderName::Unsupported),
        Some(&b"noProxiesSupportThis, norDoAnyProxiesSupportThis"[..])
    );
    // Max-Forwards 0: answered when it is for Palisade, 483 when it would be relayed.
    let zero = |uri: &str, id: &str| {
        msg(&format!(
            "OPTIONS {uri} SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK{id}
Max-Forwards: 0
From: <sip:1001@example.com>;tag=a
To: <{uri}>
Call-ID: {id}
CSeq: 1 OPTIONS
Content-Length: 0

"
        ))
    };
    w.phone_sends(zero("sip:203.0.113.10", "mf1"));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(200));
    w.phone_sends(zero("sip:1002@203.0.113.10", "mf2"));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(483));
}

#[test]
fn responses_palisade_makes_on_leg_0_keep_its_to_tag() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(phone_invite("phone-call-t", "z9hG4bKt1"));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&invite, 180, Some("pbxt")));
    let ringing = w.one_sent_to(Side::Access);
    let tag = ringing.to().unwrap().tag().unwrap().to_owned();
    w.phone_sends(msg("CANCEL sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKt1;rport
Max-Forwards: 70
From: \"Alice\" <sip:1001@example.com>;tag=ph1
To: <sip:1002@example.com>
Call-ID: phone-call-t
CSeq: 1 CANCEL
Content-Length: 0

"));
    let to_phone = w.all_sent_to(Side::Access);
    assert_eq!(to_phone.len(), 2, "{to_phone:#?}");
    for m in &to_phone {
        // The 487 is a response to the INVITE, like the 180 (RFC 3261 §8.2.6.2); the 200
        // for the CANCEL carries the same tag (§9.2).
        assert_eq!(m.to().unwrap().tag(), Some(tag.as_str()), "{m:?}");
    }
    let codes: Vec<_> = to_phone.iter().filter_map(|m| m.status()).collect();
    assert_eq!(codes, [200, 487]);
}

#[test]
fn a_ring_timeout_408_keeps_the_to_tag_of_the_180() {
    let mut cfg = config(&[PBX]);
    cfg.probe.interval = Duration::from_secs(3600);
    cfg.invite_timeout = Duration::from_secs(5);
    let mut w = World::with_config(cfg);
    w.phone_sends(phone_invite("phone-call-r", "z9hG4bKr9"));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&invite, 180, Some("pbxr")));
    let tag = w
        .one_sent_to(Side::Access)
        .to()
        .unwrap()
        .tag()
        .unwrap()
        .to_owned();
    w.advance(Duration::from_secs(6));
    let timeout = w
        .all_sent_to(Side::Access)
        .into_iter()
        .find(|m| m.status() == Some(408))
        .expect("408 to the phone");
    assert_eq!(timeout.to().unwrap().tag(), Some(tag.as_str()));
}

#[test]
fn a_notify_ending_a_refer_subscription_keeps_the_call() {
    let mut w = World::new(&[PBX]);
    let (invite, ok) = establish(&mut w);
    // The PBX transfers the phone.
    let refer = pbx_in_dialog("REFER", 20, &invite, "pbx1", "z9hG4bKrf1");
    let mut text = String::from_utf8(refer.as_bytes().to_vec()).unwrap();
    text = text.replace(
        "Content-Length: 0",
        "Refer-To: <sip:1003@example.com>\r\nContent-Length: 0",
    );
    w.pbx_sends(msg(&text));
    let phone_refer = w.one_sent_to(Side::Access);
    assert_eq!(phone_refer.method(), Some(&Method::Refer));
    w.phone_sends(reply(&phone_refer, 202, None));
    assert_eq!(w.one_sent_to(Side::Core).status(), Some(202));
    // The phone reports the outcome and ends the implicit subscription.
    let notify = phone_in_dialog("NOTIFY", 2, &ok, "z9hG4bKn1");
    let text = String::from_utf8(notify.as_bytes().to_vec())
        .unwrap()
        .replace(
            "Content-Length: 0",
            "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\nContent-Length: 0",
        );
    w.phone_sends(msg(&text));
    let core_notify = w.one_sent_to(Side::Core);
    assert_eq!(core_notify.method(), Some(&Method::Notify));
    w.pbx_sends(reply(&core_notify, 200, None));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(200));
    assert_eq!(
        w.b.calls(),
        1,
        "the call goes on after the transfer's NOTIFY"
    );
    // The PBX hangs up: the BYE reaches the phone.
    w.pbx_sends(pbx_in_dialog("BYE", 21, &invite, "pbx1", "z9hG4bKrf2"));
    let bye = w.one_sent_to(Side::Access);
    assert_eq!(bye.method(), Some(&Method::Bye));
    w.phone_sends(reply(&bye, 200, None));
    assert_eq!(w.one_sent_to(Side::Core).status(), Some(200));
    assert_eq!(w.b.calls(), 0);
}

#[test]
fn a_cancelled_call_whose_invite_never_ends_is_forgotten() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(phone_invite("phone-call-c", "z9hG4bKc7"));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&invite, 180, Some("pbxc")));
    w.take();
    w.phone_sends(msg("CANCEL sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKc7;rport
Max-Forwards: 70
From: \"Alice\" <sip:1001@example.com>;tag=ph1
To: <sip:1002@example.com>
Call-ID: phone-call-c
CSeq: 1 CANCEL
Content-Length: 0

"));
    w.all_sent_to(Side::Access);
    let cancel = w.one_sent_to(Side::Core);
    // The PBX accepts the CANCEL but never ends the INVITE with a final response.
    w.pbx_sends(reply(&cancel, 200, None));
    assert_eq!(w.b.calls(), 1);
    // RFC 3261 §9.1: 64 × T1 after the CANCEL, the INVITE is taken as cancelled.
    w.advance(Duration::from_secs(33));
    assert_eq!(w.b.calls(), 0, "the call is gone");
    assert!(has_event(&w, |e| matches!(e, Event::CallEnded { .. })));
    w.advance(Duration::from_secs(40));
    assert_eq!(w.b.transactions(), (0, 0), "and so are its transactions");
}

#[test]
fn a_refer_from_the_pbx_names_palisade_not_the_pbx() {
    let mut w = World::new(&[PBX]);
    let (invite, _ok) = establish(&mut w);
    let refer = pbx_in_dialog("REFER", 30, &invite, "pbx1", "z9hG4bKrf9");
    let text = String::from_utf8(refer.as_bytes().to_vec()).unwrap().replace(
        "Content-Length: 0",
        "Refer-To: \"Bob\" <sip:1003@127.0.0.1:5080;transport=udp;maddr=127.0.0.1?Replaces=core-call%40x>\r\n\
         Referred-By: <sip:1002@127.0.0.1:5080>;cid=1\r\nContent-Length: 0",
    );
    w.pbx_sends(msg(&text));
    // `sent_to` checks that nothing of the core side reaches the phone.
    let phone_refer = w.one_sent_to(Side::Access);
    assert_eq!(phone_refer.method(), Some(&Method::Refer));
    assert_eq!(
        phone_refer.header(HeaderName::ReferTo),
        Some(&b"\"Bob\" <sip:1003@203.0.113.10:5060>"[..]),
        "the phone's INVITE for the transfer comes to Palisade"
    );
    assert_eq!(
        phone_refer.header(HeaderName::ReferredBy),
        Some(&b"<sip:1002@203.0.113.10:5060>;cid=1"[..])
    );
}

#[test]
fn a_refer_from_the_phone_names_the_pbx() {
    let mut w = World::new(&[PBX]);
    let (_invite, ok) = establish(&mut w);
    let refer = phone_in_dialog("REFER", 2, &ok, "z9hG4bKrf8");
    let text = String::from_utf8(refer.as_bytes().to_vec())
        .unwrap()
        .replace(
            "Content-Length: 0",
            "Refer-To: <sip:1003@203.0.113.10>\r\nContent-Length: 0",
        );
    w.phone_sends(msg(&text));
    let core_refer = w.one_sent_to(Side::Core);
    assert_eq!(
        core_refer.header(HeaderName::ReferTo),
        Some(&b"<sip:1003@127.0.0.1:5080>"[..])
    );
}

#[test]
fn identity_headers_keep_the_user_and_lose_the_core_host() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(phone_invite("phone-call-pai", "z9hG4bKpai"));
    let invite = w.one_sent_to(Side::Core);
    let ok = {
        let mut b = palisade_sip::edit::response_to(&invite, 200, Some("pbxpai"));
        b.header(HeaderName::Contact, "<sip:pbx-internal@127.0.0.1:5080>");
        b.raw_header(
            "P-Asserted-Identity",
            "\"Bob\" <sip:1002@10.20.30.40;user=phone>",
        );
        b.raw_header("History-Info", "<sip:1002@10.20.30.40>;index=1");
        b.build_message().unwrap()
    };
    w.pbx_sends(ok);
    let to_phone = w.one_sent_to(Side::Access);
    let pai = to_phone
        .headers_by_raw_name("P-Asserted-Identity")
        .next()
        .unwrap();
    assert_eq!(
        pai.value,
        b"\"Bob\" <sip:1002@203.0.113.10:5060;user=phone>"
    );
    assert!(
        to_phone
            .headers_by_raw_name("History-Info")
            .next()
            .is_none()
    );
}

#[test]
fn overloaded_new_calls_get_503_while_calls_in_progress_go_on() {
    let mut w = World::new(&[PBX]);
    let (invite, ok) = establish(&mut w);
    w.b.set_overloaded(true);
    w.phone_sends(phone_invite("phone-call-o", "z9hG4bKo2"));
    let r = w.one_sent_to(Side::Access);
    assert_eq!(r.status(), Some(503));
    assert!(r.header(HeaderName::RetryAfter).is_some());
    // The established call still hangs up normally.
    w.phone_sends(phone_in_dialog("BYE", 2, &ok, "z9hG4bKo3"));
    let bye = w.one_sent_to(Side::Core);
    assert_eq!(bye.call_id().unwrap(), invite.call_id().unwrap());
    w.b.set_overloaded(false);
    w.phone_sends(phone_invite("phone-call-o2", "z9hG4bKo4"));
    assert_eq!(w.one_sent_to(Side::Core).method(), Some(&Method::Invite));
}

#[test]
fn a_session_interval_below_min_se_gets_422() {
    let mut w = World::new(&[PBX]);
    let invite = phone_invite("phone-call-se", "z9hG4bKse1");
    let mut text = String::from_utf8(invite.as_bytes().to_vec()).unwrap();
    text = text.replacen(
        "Supported: timer\r\n",
        "Supported: timer\r\nSession-Expires: 60\r\n",
        1,
    );
    w.phone_sends(msg(&text));
    let r = w.one_sent_to(Side::Access);
    assert_eq!(r.status(), Some(422));
    assert_eq!(r.header(HeaderName::MinSe), Some(&b"90"[..]));
    assert_eq!(w.b.calls(), 0);
}

/// The PBX's 200 to `invite` with a Session-Expires of its own.
fn ok_with_session_timer(
    invite: &palisade_sip::Message,
    tag: &str,
    se: &str,
) -> palisade_sip::Message {
    let text = String::from_utf8(reply(invite, 200, Some(tag)).as_bytes().to_vec()).unwrap();
    msg(&text.replacen("\r\n\r\n", &format!("\r\nSession-Expires: {se}\r\n\r\n"), 1))
}

#[test]
fn a_phone_without_a_session_timer_gets_one_from_the_pbx_and_a_dead_call_ends() {
    let mut cfg = config(&[PBX]);
    cfg.probe.interval = Duration::from_secs(100_000);
    cfg.session_insert = Some(1800);
    let mut w = World::with_config(cfg);
    // The phone asks for none: the PBX is asked to refresh every 30 minutes.
    w.phone_sends(phone_invite("phone-call-st", "z9hG4bKst1"));
    let invite = w.one_sent_to(Side::Core);
    assert_eq!(
        invite.header(HeaderName::SessionExpires),
        Some(&b"1800;refresher=uas"[..])
    );
    w.pbx_sends(ok_with_session_timer(
        &invite,
        "pbxst",
        "1800;refresher=uas",
    ));
    let ok = w
        .all_sent_to(Side::Access)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    w.phone_sends(phone_in_dialog("ACK", 1, &ok, "z9hG4bKst1ack"));
    w.take();
    // A refresh from the PBX within the interval keeps the call.
    w.advance(Duration::from_secs(1500));
    w.pbx_sends(pbx_in_dialog("UPDATE", 2, &invite, "pbxst", "z9hG4bKst-up"));
    let update = w.one_sent_to(Side::Access);
    assert_eq!(update.method(), Some(&Method::Update));
    let text = String::from_utf8(reply(&update, 200, None).as_bytes().to_vec()).unwrap();
    w.phone_sends(msg(&text.replacen(
        "\r\n\r\n",
        "\r\nSession-Expires: 1800;refresher=uas\r\n\r\n",
        1,
    )));
    w.take();
    w.advance(Duration::from_secs(1000));
    assert_eq!(w.b.calls(), 1, "refreshed 1000 s ago: the call goes on");
    // No refresh for a whole interval: the PBX lost the call; both sides get BYE.
    w.advance(Duration::from_secs(900));
    let sent = w.take();
    for side in [Side::Access, Side::Core] {
        assert!(
            sent.iter()
                .any(|t| t.side == side && t.message.method() == Some(&Method::Bye)),
            "BYE toward {side:?}"
        );
    }
}

#[test]
fn a_pbx_that_wants_a_longer_session_interval_is_asked_again_and_the_phone_sees_no_422() {
    let mut cfg = config(&[PBX]);
    cfg.session_insert = Some(1800);
    let mut w = World::with_config(cfg);
    w.phone_sends(phone_invite("phone-call-422", "z9hG4bK422"));
    let first = w.one_sent_to(Side::Core);
    let text = String::from_utf8(reply(&first, 422, Some("pbx422")).as_bytes().to_vec()).unwrap();
    w.pbx_sends(msg(&text.replacen(
        "\r\n\r\n",
        "\r\nMin-SE: 3600\r\n\r\n",
        1,
    )));
    let sent = w.take();
    assert!(
        !sent
            .iter()
            .any(|t| t.side == Side::Access && t.message.status() == Some(422)),
        "the phone never asked for a session timer: no 422 for it"
    );
    let again: Vec<_> = sent
        .iter()
        .filter(|t| t.side == Side::Core && t.message.method() == Some(&Method::Invite))
        .map(|t| &t.message)
        .collect();
    assert_eq!(again.len(), 1, "one new INVITE to the PBX");
    assert_eq!(
        again[0].header(HeaderName::SessionExpires),
        Some(&b"3600;refresher=uas"[..])
    );
    assert_eq!(again[0].header(HeaderName::MinSe), Some(&b"3600"[..]));
    // Asked once: a second 422 reaches the phone.
    let again = again[0].clone();
    let text = String::from_utf8(reply(&again, 422, Some("pbx422b")).as_bytes().to_vec()).unwrap();
    w.pbx_sends(msg(&text.replacen(
        "\r\n\r\n",
        "\r\nMin-SE: 7200\r\n\r\n",
        1,
    )));
    assert!(
        w.all_sent_to(Side::Access)
            .iter()
            .any(|m| m.status() == Some(422)),
        "the second 422 is the phone's"
    );
}

/// A call from the phone that the PBX answers with `ok(invite)` and the phone hangs up;
/// then `gap` passes.
fn call_and_hang_up(
    w: &mut World,
    i: usize,
    ok: impl Fn(&palisade_sip::Message) -> palisade_sip::Message,
    gap: Duration,
) {
    w.phone_sends(phone_invite(&format!("heap-{i}"), &format!("z9hG4bKh{i}")));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(ok(&invite));
    let ok = w
        .all_sent_to(Side::Access)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    w.phone_sends(phone_in_dialog("ACK", 1, &ok, &format!("z9hG4bKh{i}a")));
    w.take();
    w.phone_sends(phone_in_dialog("BYE", 2, &ok, &format!("z9hG4bKh{i}b")));
    let bye = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&bye, 200, None));
    w.take();
    w.advance(gap);
}

#[test]
fn ended_calls_do_not_leave_their_session_deadlines_in_the_timer_heap() {
    let mut cfg = config(&[PBX]);
    cfg.probe.interval = Duration::from_secs(100_000);
    cfg.session_insert = Some(1800);
    let mut w = World::with_config(cfg);
    const CALLS: usize = 6000;
    for i in 0..CALLS {
        // A call every 100 ms: each call's transactions expire 32 s later, its session
        // deadline (half an hour away) would outlive the whole test.
        let ok = |invite: &palisade_sip::Message| {
            ok_with_session_timer(invite, "pbxh", "1800;refresher=uas")
        };
        call_and_hang_up(&mut w, i, ok, Duration::from_millis(100));
    }
    assert_eq!(w.b.calls(), 0);
    assert!(
        w.b.timers_pending() < CALLS,
        "{} deadlines pending after {CALLS} calls ended",
        w.b.timers_pending()
    );
}

#[test]
fn answered_calls_do_not_pile_up_in_the_ringing_queue() {
    let mut cfg = config(&[PBX]);
    cfg.probe.interval = Duration::from_secs(100_000);
    let mut w = World::with_config(cfg);
    // 6000 calls in 60 s, all of them within the three minutes of invite_timeout.
    const CALLS: usize = 6000;
    for i in 0..CALLS {
        let ok = |invite: &palisade_sip::Message| reply(invite, 200, Some("pbxh"));
        call_and_hang_up(&mut w, i, ok, Duration::from_millis(10));
    }
    assert_eq!(w.b.calls(), 0);
    assert!(
        w.b.ring_deadlines_pending() <= 4096,
        "{} ringing deadlines held after {CALLS} calls answered and ended",
        w.b.ring_deadlines_pending()
    );
}

#[test]
fn a_phones_own_session_timer_passes_as_it_is() {
    let mut cfg = config(&[PBX]);
    cfg.session_insert = Some(1800);
    let mut w = World::with_config(cfg);
    let invite = phone_invite("phone-call-st2", "z9hG4bKst2");
    let text = String::from_utf8(invite.as_bytes().to_vec()).unwrap();
    w.phone_sends(msg(&text.replacen(
        "Supported: timer\r\n",
        "Supported: timer\r\nSession-Expires: 600;refresher=uac\r\n",
        1,
    )));
    let invite = w.one_sent_to(Side::Core);
    assert_eq!(
        invite.header(HeaderName::SessionExpires),
        Some(&b"600;refresher=uac"[..])
    );
}

/// A second call from the phone, answered by the PBX with tag `pbx2`: (INVITE sent to the
/// PBX, 200 sent to the phone).
fn establish_second(w: &mut World) -> (palisade_sip::Message, palisade_sip::Message) {
    w.phone_sends(phone_invite("phone-call-2", "z9hG4bKp2"));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&invite, 200, Some("pbx2")));
    let ok = w
        .all_sent_to(Side::Access)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    w.phone_sends(phone_in_dialog("ACK", 1, &ok, "z9hG4bKp2ack"));
    w.one_sent_to(Side::Core);
    (invite, ok)
}

#[test]
fn an_attended_transfer_names_the_consulted_dialog_as_the_pbx_knows_it() {
    let mut w = World::new(&[PBX]);
    let (_invite1, ok1) = establish(&mut w);
    let (invite2, ok2) = establish_second(&mut w);
    // The phone transfers call 1 to the party of call 2, replacing call 2: its Refer-To
    // names call 2 by the phone's Call-ID and tags (to-tag: Palisade's, from-tag: its own).
    let ours = ok2.to().unwrap().tag().unwrap().to_owned();
    let refer = phone_in_dialog("REFER", 2, &ok1, "z9hG4bKrfa");
    let text = String::from_utf8(refer.as_bytes().to_vec()).unwrap().replace(
        "Content-Length: 0",
        &format!(
            "Refer-To: <sip:1003@203.0.113.10?Replaces=phone-call-2%3Bto-tag%3D{ours}%3Bfrom-tag%3Dph1>\r\nContent-Length: 0"
        ),
    );
    w.phone_sends(msg(&text));
    let core_refer = w.one_sent_to(Side::Core);
    // Toward the PBX, call 2 is Palisade's core dialog: its Call-ID, the PBX's tag as the
    // remote one and Palisade's core tag as the local one.
    let expected = format!(
        "<sip:1003@127.0.0.1:5080?Replaces={}%3Bto-tag%3Dpbx2%3Bfrom-tag%3D{}>",
        invite2.call_id().unwrap(),
        invite2.from().unwrap().tag().unwrap()
    );
    assert_eq!(
        core_refer.header(HeaderName::ReferTo),
        Some(expected.as_bytes())
    );
}

#[test]
fn a_replaces_header_is_translated_or_dropped() {
    let mut w = World::new(&[PBX]);
    establish(&mut w);
    let (invite2, ok2) = establish_second(&mut w);
    let ours = ok2.to().unwrap().tag().unwrap().to_owned();
    let with_replaces = |call_id: &str, branch: &str, replaces: &str| {
        let text = String::from_utf8(phone_invite(call_id, branch).as_bytes().to_vec())
            .unwrap()
            .replace(
                "Supported: timer",
                &format!("Supported: timer\r\nReplaces: {replaces}"),
            );
        msg(&text)
    };
    w.phone_sends(with_replaces(
        "phone-call-3",
        "z9hG4bKp3",
        &format!("phone-call-2;to-tag={ours};from-tag=ph1;early-only"),
    ));
    let core = w.one_sent_to(Side::Core);
    let replaces = core.headers_by_raw_name("Replaces").next().unwrap();
    assert_eq!(
        replaces.value,
        format!(
            "{};to-tag=pbx2;from-tag={};early-only",
            invite2.call_id().unwrap(),
            invite2.from().unwrap().tag().unwrap()
        )
        .as_bytes()
    );
    // Wrong tags, or a dialog Palisade does not hold: the header does not cross, since
    // it would carry the phone's identifiers to the PBX.
    for (i, bogus) in [
        format!("phone-call-2;to-tag={ours};from-tag=someone-else"),
        "unknown-call;to-tag=a;from-tag=b".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        w.phone_sends(with_replaces(
            &format!("phone-call-bogus-{i}"),
            &format!("z9hG4bKpb{i}"),
            bogus,
        ));
        let core = w.one_sent_to(Side::Core);
        assert!(core.headers_by_raw_name("Replaces").next().is_none());
    }
}

#[test]
fn end_all_calls_hangs_up_answered_calls_and_refuses_ringing_ones() {
    let mut w = World::new(&[PBX]);
    let (_invite, _ok) = establish(&mut w);
    w.phone_sends(phone_invite("phone-call-ringing", "z9hG4bKring"));
    let ringing_invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&ringing_invite, 180, Some("pbx9")));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(180));
    assert_eq!(w.b.calls(), 2);

    let now = w.now;
    w.b.end_all_calls(now, "drain deadline");
    assert_eq!(w.b.calls(), 0);
    let to_phone = w.all_sent_to(Side::Access);
    assert!(to_phone.iter().any(|m| m.method() == Some(&Method::Bye)));
    assert!(to_phone.iter().any(|m| m.status() == Some(503)));
    let to_pbx = w.all_sent_to(Side::Core);
    assert!(to_pbx.iter().any(|m| m.method() == Some(&Method::Bye)));
    assert!(to_pbx.iter().any(|m| m.method() == Some(&Method::Cancel)));
    while let Some(e) = w.b.poll_event() {
        w.events.push(e);
    }
    let ended: Vec<_> = w
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::CallEnded {
                    why: "drain deadline",
                    by: EndedBy::Palisade,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(ended.len(), 2, "{:?}", w.events);
}
