//! SDP anchored at the media relay: offers and answers in every message that carries
//! them, holds, port exhaustion, media timeouts, and no session outliving its call.

use std::net::SocketAddr;
use std::time::Duration;

use palisade_sip::{Message, Method};

use super::support::*;
use crate::Event;
use crate::types::Side;

/// The phone's offer: audio with RTCP on its own port and ICE, a disabled video stream.
const OFFER: &str = "v=0\r\no=alice 10 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:secretsecretsecretsecret\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:4001\r\na=candidate:1 1 UDP 2130706431 192.168.1.20 4000 typ host\r\na=sendrecv\r\nm=video 0 RTP/AVP 96\r\n";

/// The PBX's answer, from a media server on its own network.
const ANSWER: &str = "v=0\r\no=pbx 20 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\nm=video 0 RTP/AVP 96\r\n";

/// `m` with `sdp` as its body.
fn with_sdp(m: &Message, sdp: &str) -> Message {
    let text = String::from_utf8_lossy(m.as_bytes()).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("content-length") && !l.starts_with("content-type")
        })
        .collect();
    msg(&format!(
        "{}\nContent-Type: application/sdp\nContent-Length: {}\n\n{}",
        head.join("\n"),
        sdp.len(),
        sdp.replace("\r\n", "\n")
    ))
}

fn without_body(m: &Message) -> Message {
    let text = String::from_utf8_lossy(m.as_bytes()).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("content-length") && !l.starts_with("content-type")
        })
        .collect();
    msg(&format!("{}\nContent-Length: 0\n\n", head.join("\n")))
}

fn body(m: &Message) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

/// The relay's RTP address of `stream` on `leg` of the first call.
fn port(w: &World, call: u64, stream: usize, leg: usize) -> SocketAddr {
    w.media().sessions[&call][stream][leg]
}

/// A call with the phone's offer answered by the PBX (183, then 200) and ACKed.
/// Returns (the INVITE the PBX got, the 200 the phone got).
fn anchored_call(w: &mut World, call_id: &str) -> (Message, Message) {
    let branch = format!("z9hG4bK{call_id}");
    w.phone_sends(with_sdp(&phone_invite(call_id, &branch), OFFER));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(with_sdp(&reply(&invite, 183, Some("pbx1")), ANSWER));
    let early = w.one_sent_to(Side::Access);
    assert_eq!(early.status(), Some(183));
    w.pbx_sends(with_sdp(&reply(&invite, 200, Some("pbx1")), ANSWER));
    let ok = w
        .sent_to(Side::Access)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    w.phone_sends(phone_in_dialog("ACK", 1, &ok, &format!("{branch}ack")));
    assert_eq!(w.one_sent_to(Side::Core).method(), Some(&Method::Ack));
    (invite, ok)
}

#[test]
fn offer_and_answer_point_each_side_at_the_relay() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(with_sdp(&phone_invite("phone-call-m1", "z9hG4bKm1"), OFFER));
    let invite = w.one_sent_to(Side::Core);
    let core = port(&w, 1, 0, 1).port();
    let offer = body(&invite);
    assert!(
        offer.contains("o=alice 10 1 IN IP4 127.0.0.1\r\n"),
        "{offer}"
    );
    assert!(offer.contains("c=IN IP4 127.0.0.1\r\n"), "{offer}");
    assert!(offer.contains(&format!("m=audio {core} RTP/AVP 0 101\r\n")));
    assert!(
        offer.contains(&format!("a=rtcp:{}\r\n", core + 1)),
        "{offer}"
    );
    assert!(
        offer.contains("m=video 0 RTP/AVP 96\r\n"),
        "a disabled stream stays so"
    );
    assert!(
        !offer.contains("ice-") && !offer.contains("candidate"),
        "{offer}"
    );
    assert!(offer.contains("a=rtpmap:101 telephone-event/8000\r\n"));
    assert_eq!(w.media().sessions[&1].len(), 2, "a stream per m-line");
    // The relay heard the phone's offer: its address, RTCP port and signaling source.
    let r = w.media().remote(1, 0, 0).unwrap().clone();
    assert_eq!(r.rtp, addr("192.168.1.20:4000"));
    assert_eq!(r.rtcp, Some(addr("192.168.1.20:4001")));
    assert_eq!(r.signaling_source, addr(PHONE).ip());
    assert_eq!(r.clock_rate, 8000);
    assert!(
        w.media().remote(1, 0, 1).is_none(),
        "port 0: nothing to relay"
    );

    // 183 with early media.
    w.pbx_sends(with_sdp(&reply(&invite, 183, Some("pbx1")), ANSWER));
    let early = w.one_sent_to(Side::Access);
    let access = port(&w, 1, 0, 0).port();
    let answer = body(&early);
    assert!(answer.contains("c=IN IP4 203.0.113.10\r\n"), "{answer}");
    assert!(answer.contains("o=pbx 20 1 IN IP4 203.0.113.10\r\n"));
    assert!(answer.contains(&format!("m=audio {access} RTP/AVP 0 101\r\n")));
    assert!(!answer.contains("127.0.0.9"));
    let r = w.media().remote(1, 1, 0).unwrap();
    assert_eq!(r.rtp, addr("127.0.0.9:6000"));
    assert_eq!(r.signaling_source, addr(PBX).ip());

    // The 200 answers again with the same ports, and the relay's idle clock restarts.
    assert!(w.media().answered.is_empty());
    w.pbx_sends(with_sdp(&reply(&invite, 200, Some("pbx1")), ANSWER));
    let ok = w.one_sent_to(Side::Access);
    assert_eq!(w.media().answered, vec![1]);
    assert!(body(&ok).contains(&format!("m=audio {access} ")));
    w.phone_sends(phone_in_dialog("ACK", 1, &ok, "z9hG4bKm1ack"));
    w.one_sent_to(Side::Core);
    assert_eq!(w.media().opened, vec![1]);

    w.phone_sends(phone_in_dialog("BYE", 2, &ok, "z9hG4bKm1bye"));
    let bye = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&bye, 200, None));
    w.one_sent_to(Side::Access);
    assert_eq!(w.media().closed, vec![1]);
    assert!(w.media().sessions.is_empty());
}

#[test]
fn a_late_offer_in_the_2xx_is_answered_in_the_ack() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(without_body(&phone_invite("phone-call-m2", "z9hG4bKm2")));
    let invite = w.one_sent_to(Side::Core);
    assert!(invite.body().is_empty());
    assert!(w.media().sessions.is_empty(), "no SDP, no session yet");
    // The PBX offers in its 200: the session opens then.
    w.pbx_sends(with_sdp(&reply(&invite, 200, Some("pbx2")), ANSWER));
    let ok = w
        .sent_to(Side::Access)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .unwrap();
    let access = port(&w, 1, 0, 0).port();
    assert!(body(&ok).contains(&format!("m=audio {access} ")));
    assert!(body(&ok).contains("c=IN IP4 203.0.113.10"));
    assert_eq!(
        w.media().remote(1, 1, 0).unwrap().rtp,
        addr("127.0.0.9:6000")
    );
    // The phone answers in its ACK.
    w.phone_sends(with_sdp(
        &phone_in_dialog("ACK", 1, &ok, "z9hG4bKm2ack"),
        OFFER,
    ));
    let ack = w.one_sent_to(Side::Core);
    assert_eq!(ack.method(), Some(&Method::Ack));
    let core = port(&w, 1, 0, 1).port();
    assert!(
        body(&ack).contains(&format!("m=audio {core} ")),
        "{}",
        body(&ack)
    );
    assert!(body(&ack).contains("c=IN IP4 127.0.0.1"));
    assert_eq!(
        w.media().remote(1, 0, 0).unwrap().rtp,
        addr("192.168.1.20:4000")
    );
}

#[test]
fn hold_and_resume_keep_the_relay_ports() {
    let mut w = World::new(&[PBX]);
    let (invite, ok) = anchored_call(&mut w, "phone-call-m3");
    let (access, core) = (port(&w, 1, 0, 0).port(), port(&w, 1, 0, 1).port());
    // The PBX holds with sendonly and a new media address.
    let hold = ANSWER
        .replace("127.0.0.9", "127.0.0.8")
        .replace("o=pbx 20 1", "o=pbx 20 2")
        .replace(
            "m=audio 6000 RTP/AVP 0 101\r\n",
            "m=audio 6002 RTP/AVP 0 101\r\na=sendonly\r\n",
        );
    w.pbx_sends(with_sdp(
        &pbx_in_dialog("INVITE", 10, &invite, "pbx1", "z9hG4bKh1"),
        &hold,
    ));
    let reinvite = w.one_sent_to(Side::Access);
    let offer = body(&reinvite);
    assert!(offer.contains(&format!("m=audio {access} ")), "{offer}");
    assert!(offer.contains("a=sendonly") && offer.contains("c=IN IP4 203.0.113.10"));
    assert_eq!(w.media().holds.last(), Some(&(1, 1, true)));
    assert_eq!(
        w.media().remote(1, 1, 0).unwrap().rtp,
        addr("127.0.0.8:6002"),
        "the relay is re-targeted"
    );
    let held = OFFER.replace("a=sendrecv", "a=recvonly");
    w.phone_sends(with_sdp(&reply(&reinvite, 200, None), &held));
    let core_ok = w.one_sent_to(Side::Core);
    assert!(body(&core_ok).contains(&format!("m=audio {core} ")));
    w.pbx_sends(pbx_in_dialog("ACK", 10, &invite, "pbx1", "z9hG4bKh1ack"));
    w.one_sent_to(Side::Access);

    // The phone resumes with an UPDATE; an RFC 2543 hold on the PBX's side stays a hold.
    w.phone_sends(with_sdp(
        &phone_in_dialog("UPDATE", 3, &ok, "z9hG4bKu1"),
        OFFER,
    ));
    let update = w.one_sent_to(Side::Core);
    assert!(body(&update).contains(&format!("m=audio {core} ")));
    assert_eq!(w.media().holds.last(), Some(&(1, 0, false)));
    let null_hold = ANSWER.replace("c=IN IP4 127.0.0.9", "c=IN IP4 0.0.0.0");
    w.pbx_sends(with_sdp(&reply(&update, 200, None), &null_hold));
    let phone_ok = w.one_sent_to(Side::Access);
    let answer = body(&phone_ok);
    assert!(answer.contains("c=IN IP4 0.0.0.0"), "{answer}");
    assert!(answer.contains(&format!("m=audio {access} ")));
    assert_eq!(w.media().holds.last(), Some(&(1, 1, true)));
    assert_eq!(w.media().opened, vec![1], "the same session throughout");
    assert_eq!(w.media().sessions[&1].len(), 2);
}

#[test]
fn prack_bodies_are_anchored() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(without_body(&phone_invite("phone-call-m4", "z9hG4bKm4")));
    let invite = w.one_sent_to(Side::Core);
    // A reliable 183 offering, answered in the PRACK.
    let mut p = with_sdp(&reply(&invite, 183, Some("pbx4")), ANSWER);
    let text = String::from_utf8_lossy(p.as_bytes()).replace(
        "Content-Type:",
        "Require: 100rel\r\nRSeq: 1\r\nContent-Type:",
    );
    p = msg(&text.replace("\r\n", "\n"));
    w.pbx_sends(p);
    let early = w.one_sent_to(Side::Access);
    assert!(body(&early).contains("c=IN IP4 203.0.113.10"));
    let mut prack = with_sdp(&phone_in_dialog("PRACK", 2, &early, "z9hG4bKpr"), OFFER);
    let text = String::from_utf8_lossy(prack.as_bytes())
        .replace("Content-Type:", "RAck: 1 1 INVITE\r\nContent-Type:");
    prack = msg(&text.replace("\r\n", "\n"));
    w.phone_sends(prack);
    let core_prack = w.one_sent_to(Side::Core);
    assert_eq!(core_prack.method(), Some(&Method::Prack));
    assert!(body(&core_prack).contains("c=IN IP4 127.0.0.1"));
    assert_eq!(
        w.media().remote(1, 0, 0).unwrap().rtp,
        addr("192.168.1.20:4000")
    );
}

#[test]
fn without_ports_the_call_gets_503_and_a_reinvite_488() {
    let mut w = World::new(&[PBX]);
    w.b.media_mut().free = Some(0);
    w.phone_sends(with_sdp(&phone_invite("phone-call-m5", "z9hG4bKm5"), OFFER));
    let to_phone = w.all_sent_to(Side::Access);
    assert!(
        to_phone.iter().any(|m| m.status() == Some(503)),
        "{to_phone:?}"
    );
    assert!(w.take().is_empty(), "nothing goes to the PBX");
    assert_eq!(w.b.calls(), 0);
    assert!(w.media().sessions.is_empty());
    assert!(has_event(&w, |e| matches!(
        e,
        Event::CallEnded {
            why: "no media ports",
            ..
        }
    )));

    // Ports for two streams: a re-INVITE adding a third gets 488 and goes no further.
    let mut w = World::new(&[PBX]);
    w.b.media_mut().free = Some(4);
    let (_invite, ok) = anchored_call(&mut w, "phone-call-m6");
    let more = format!("{OFFER}m=audio 4010 RTP/AVP 8\r\n");
    w.phone_sends(with_sdp(
        &phone_in_dialog("INVITE", 2, &ok, "z9hG4bKm6re"),
        &more,
    ));
    let answer = w.one_sent_to(Side::Access);
    assert_eq!(answer.status(), Some(488));
    assert_eq!(w.b.calls(), 1, "the call goes on");
}

#[test]
fn a_media_timeout_ends_the_call_on_both_legs() {
    let mut w = World::new(&[PBX]);
    let (_invite, _ok) = anchored_call(&mut w, "phone-call-m7");
    w.b.handle_media_timeout(w.now, 1);
    let mut sent = w.take();
    sent.sort_by_key(|t| t.side == Side::Core);
    let byes: Vec<Side> = sent
        .iter()
        .filter(|t| t.message.method() == Some(&Method::Bye))
        .map(|t| t.side)
        .collect();
    assert_eq!(byes, vec![Side::Access, Side::Core]);
    assert_eq!(w.b.calls(), 0);
    assert!(w.media().sessions.is_empty());
    while let Some(e) = w.b.poll_event() {
        w.events.push(e);
    }
    assert!(has_event(&w, |e| matches!(
        e,
        Event::CallEnded {
            why: "media timeout",
            ..
        }
    )));
    // A ringing call is not ended by the relay's idleness.
    w.phone_sends(with_sdp(&phone_invite("phone-call-m8", "z9hG4bKm8"), OFFER));
    w.take();
    w.b.handle_media_timeout(w.now, 2);
    assert!(w.take().is_empty());
    assert_eq!(w.b.calls(), 1);
}

/// Every way a call ends leaves no media session behind.
#[test]
fn no_session_outlives_its_call() {
    let mut w = World::new(&[PBX]);
    let cancel = |call_id: &str, branch: &str| {
        msg(&format!(
            "CANCEL sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch={branch};rport
Max-Forwards: 70
From: \"Alice\" <sip:1001@example.com>;tag=ph1
To: <sip:1002@example.com>
Call-ID: {call_id}
CSeq: 1 CANCEL
Content-Length: 0

"
        ))
    };
    for round in 0..3 {
        // The phone hangs up.
        let (_, ok) = anchored_call(&mut w, &format!("leak-a{round}"));
        w.phone_sends(phone_in_dialog("BYE", 2, &ok, &format!("z9hG4bKla{round}")));
        let bye = w.one_sent_to(Side::Core);
        w.pbx_sends(reply(&bye, 200, None));
        w.take();
        // The PBX hangs up.
        let (invite, _) = anchored_call(&mut w, &format!("leak-b{round}"));
        w.pbx_sends(pbx_in_dialog(
            "BYE",
            20,
            &invite,
            "pbx1",
            &format!("z9hG4bKlb{round}"),
        ));
        let bye = w.one_sent_to(Side::Access);
        w.phone_sends(reply(&bye, 200, None));
        w.take();
        // Cancelled while ringing.
        let call_id = format!("leak-c{round}");
        w.phone_sends(with_sdp(
            &phone_invite(&call_id, &format!("z9hG4bKlc{round}")),
            OFFER,
        ));
        let invite = w.one_sent_to(Side::Core);
        w.pbx_sends(with_sdp(&reply(&invite, 183, Some("pbxc")), ANSWER));
        w.take();
        w.phone_sends(cancel(&call_id, &format!("z9hG4bKlc{round}")));
        w.take();
        w.pbx_sends(reply(&invite, 487, Some("pbxc")));
        w.take();
        // Rejected.
        w.phone_sends(with_sdp(
            &phone_invite(&format!("leak-d{round}"), &format!("z9hG4bKld{round}")),
            OFFER,
        ));
        let invite = w.one_sent_to(Side::Core);
        w.pbx_sends(reply(&invite, 486, Some("pbxd")));
        w.take();
        // Cancelled, with the PBX's 2xx crossing the CANCEL.
        let call_id = format!("leak-e{round}");
        w.phone_sends(with_sdp(
            &phone_invite(&call_id, &format!("z9hG4bKle{round}")),
            OFFER,
        ));
        let invite = w.one_sent_to(Side::Core);
        w.pbx_sends(reply(&invite, 180, Some("pbxe")));
        w.take();
        w.phone_sends(cancel(&call_id, &format!("z9hG4bKle{round}")));
        w.take();
        w.pbx_sends(with_sdp(&reply(&invite, 200, Some("pbxe")), ANSWER));
        w.take();
        // Media timeout.
        anchored_call(&mut w, &format!("leak-f{round}"));
        let id = *w.media().sessions.keys().max().unwrap();
        w.b.handle_media_timeout(w.now, id);
        w.take();
        // Answered but never ACKed.
        w.phone_sends(with_sdp(
            &phone_invite(&format!("leak-g{round}"), &format!("z9hG4bKlg{round}")),
            OFFER,
        ));
        let invite = w.one_sent_to(Side::Core);
        w.pbx_sends(with_sdp(&reply(&invite, 200, Some("pbxg")), ANSWER));
        w.advance(Duration::from_secs(40));
        w.take();
        // Ringing until the ring timeout.
        w.phone_sends(with_sdp(
            &phone_invite(&format!("leak-h{round}"), &format!("z9hG4bKlh{round}")),
            OFFER,
        ));
        let invite = w.one_sent_to(Side::Core);
        w.pbx_sends(reply(&invite, 180, Some("pbxh")));
        w.advance(Duration::from_secs(181));
        let cancel = w
            .all_sent_to(Side::Core)
            .into_iter()
            .find(|m| m.method() == Some(&Method::Cancel))
            .unwrap();
        w.pbx_sends(reply(&cancel, 200, None));
        w.pbx_sends(reply(&invite, 487, Some("pbxh")));
        w.advance(Duration::from_secs(40));
        w.take();
    }
    assert_eq!(w.b.calls(), 0);
    assert!(w.media().sessions.is_empty(), "{:?}", w.media().sessions);
    assert_eq!(w.media().opened.len(), 24);
    assert_eq!(w.media().closed.len(), 24);
}
