use std::time::Duration;

use palisade_sip::headers::ContactValue;
use palisade_sip::{HeaderName, Method};

use super::support::*;
use crate::Event;
use crate::types::Side;

fn register(cseq: u32, expires: u32, branch: &str) -> palisade_sip::Message {
    msg(&format!(
        "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch={branch};rport
Max-Forwards: 70
From: <sip:1001@example.com>;tag=r1
To: <sip:1001@example.com>
Call-ID: phone-call-reg
CSeq: {cseq} REGISTER
Contact: <sip:1001@192.168.1.20:5060;ob>;+sip.instance=\"<urn:uuid:1>\"
Expires: {expires}
Content-Length: 0

"
    ))
}

/// The PBX's 200 to a relayed REGISTER, granting `expires` to the contact `uri`.
fn grant(core: &palisade_sip::Message, uri: &str, expires: u32) -> palisade_sip::Message {
    let mut b = palisade_sip::edit::response_to(core, 200, Some("pbxr"));
    b.header(HeaderName::Contact, format!("<{uri}>;expires={expires}"));
    b.build_message().unwrap()
}

/// Registers the phone (challenge, then success); returns the token the PBX knows it by.
fn registered(w: &mut World) -> String {
    w.phone_sends(register(1, 300, "z9hG4bKr1"));
    let core = w.one_sent_to(Side::Core);
    assert_eq!(core.request_uri_str(), Some("sip:example.com"));
    let challenge = {
        let mut b = palisade_sip::edit::response_to(&core, 401, Some("pbxr"));
        b.header(
            HeaderName::WwwAuthenticate,
            "Digest realm=\"example.com\", nonce=\"abc\"",
        );
        b.build_message().unwrap()
    };
    w.pbx_sends(challenge);
    let to_phone = w.one_sent_to(Side::Access);
    assert_eq!(to_phone.status(), Some(401));
    assert!(
        to_phone.header(HeaderName::WwwAuthenticate).is_some(),
        "challenge passes through"
    );
    assert!(
        w.b.registrar().is_empty(),
        "no binding before the PBX's 2xx"
    );

    let mut with_auth = register(2, 300, "z9hG4bKr2").as_bytes().to_vec();
    let auth = b"Authorization: Digest username=\"1001\", realm=\"example.com\", nonce=\"abc\", uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"\r\n";
    let at = with_auth.len() - 2;
    with_auth.splice(at..at, auth.iter().copied());
    w.phone_sends(
        palisade_sip::Message::parse(
            bytes::Bytes::from(with_auth),
            palisade_sip::Transport::Datagram,
            &palisade_sip::ParseLimits::default(),
        )
        .unwrap(),
    );
    let core2 = w.one_sent_to(Side::Core);
    assert_eq!(
        core2.call_id().unwrap(),
        core.call_id().unwrap(),
        "stable Call-ID toward the PBX"
    );
    assert!(
        core2.header(HeaderName::Authorization).is_some(),
        "credentials pass through"
    );
    let Some(Ok(ContactValue::Address(c))) = core2.contacts().next() else {
        panic!()
    };
    let token = c.uri.sip().unwrap().user.unwrap().to_owned();
    assert_eq!(
        c.uri.sip().unwrap().host.ip(),
        Some("127.0.0.1".parse().unwrap())
    );
    assert!(c.params.contains("+sip.instance"));
    let ok = {
        let mut b = palisade_sip::edit::response_to(&core2, 200, Some("pbxr"));
        b.header(
            HeaderName::Contact,
            format!("<{}>;expires=300", c.uri.as_str()),
        );
        b.header(HeaderName::Contact, "<sip:other@10.9.9.9>;expires=100");
        b.build_message().unwrap()
    };
    w.pbx_sends(ok);
    let phone_ok = w.one_sent_to(Side::Access);
    assert_eq!(phone_ok.status(), Some(200));
    let contacts: Vec<_> = phone_ok.values(HeaderName::Contact).collect();
    assert_eq!(
        contacts,
        [&b"<sip:1001@192.168.1.20:5060;ob>;expires=300"[..]]
    );
    assert_eq!(w.b.registrar().len(), 1);
    assert!(has_event(w, |e| matches!(
        e,
        Event::Registered { expires: 300, .. }
    )));
    token
}

#[test]
fn register_then_a_call_from_the_pbx_reaches_the_phone_flow() {
    let mut w = World::new(&[PBX]);
    let token = registered(&mut w);
    w.pbx_sends(msg(&format!(
        "INVITE sip:{token}@127.0.0.1:5062 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKpbxinv
Record-Route: <sip:127.0.0.1:5080;lr>
Max-Forwards: 70
From: <sip:1002@example.com>;tag=pbxcaller
To: <sip:1001@example.com>
Call-ID: core-call-7
CSeq: 5 INVITE
Contact: <sip:pbx-internal@127.0.0.1:5080>
Content-Length: 0

"
    )));
    let to_phone = w.one_sent_to(Side::Access);
    assert_eq!(to_phone.method(), Some(&Method::Invite));
    assert_eq!(
        to_phone.request_uri_str(),
        Some("sip:1001@192.168.1.20:5060;ob")
    );
    assert!(to_phone.header(HeaderName::RecordRoute).is_none());
    w.phone_sends(reply(&to_phone, 180, Some("ph9")));
    let ringing = w.one_sent_to(Side::Core);
    assert_eq!(ringing.status(), Some(180));
    assert_eq!(ringing.call_id().unwrap(), "core-call-7");
    assert!(
        ringing.header(HeaderName::RecordRoute).is_some(),
        "the PBX's own Record-Route comes back"
    );
}

#[test]
fn unregister_and_expiry_remove_bindings() {
    let mut w = World::new(&[PBX]);
    registered(&mut w);
    // Expiry without refresh.
    w.advance(Duration::from_secs(301));
    assert!(w.b.registrar().is_empty());
    assert!(has_event(&w, |e| matches!(e, Event::BindingExpired { .. })));

    let token = registered(&mut w);
    w.phone_sends(register(3, 0, "z9hG4bKr3"));
    let core = w.one_sent_to(Side::Core);
    // The PBX's 2xx lists no contact of ours: the binding goes.
    w.pbx_sends(
        palisade_sip::edit::response_to(&core, 200, Some("pbxr"))
            .build_message()
            .unwrap(),
    );
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(200));
    assert!(w.b.registrar().find(&token).is_none());
    // Calls to a token that is gone get 404.
    w.pbx_sends(msg(&format!(
        "INVITE sip:{token}@127.0.0.1:5062 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKpbx404
Max-Forwards: 70
From: <sip:1002@example.com>;tag=pbxcaller
To: <sip:1001@example.com>
Call-ID: core-call-8
CSeq: 5 INVITE
Contact: <sip:pbx-internal@127.0.0.1:5080>
Content-Length: 0

"
    )));
    let r: Vec<_> = w
        .sent_to(Side::Core)
        .into_iter()
        .filter_map(|m| m.status())
        .collect();
    assert!(r.contains(&404), "{r:?}");
}

#[test]
fn a_closed_connection_takes_its_bindings_along() {
    let mut w = World::new(&[PBX]);
    registered(&mut w);
    let remote =
        w.b.registrar()
            .iter()
            .next()
            .unwrap()
            .1
            .destination
            .remote();
    w.b.handle_flow_closed(&7, remote);
    assert_eq!(
        w.b.registrar().len(),
        1,
        "another flow from the same address closing changes nothing"
    );
    w.b.handle_flow_closed(&1, remote);
    assert!(w.b.registrar().is_empty());
}

#[test]
fn a_call_from_the_pbx_names_neither_the_pbx_nor_the_token_to_the_phone() {
    let mut w = World::new(&[PBX]);
    let token = registered(&mut w);
    // As some PBXs write it: their own address in From, the registered contact in To.
    w.pbx_sends(msg(&format!(
        "INVITE sip:{token}@127.0.0.1:5062 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKpbxinv2
Max-Forwards: 70
From: \"Reception\" <sip:1002@127.0.0.1:5080;user=phone>;tag=pbxcaller
To: <sip:{token}@127.0.0.1:5062>
Call-ID: core-call-9
CSeq: 5 INVITE
Contact: <sip:pbx-internal@127.0.0.1:5080>
Proxy-Authorization: Digest username=\"1002\", realm=\"pbx.internal\", nonce=\"n\", uri=\"sip:1001@pbx.internal\", response=\"00\"
Content-Length: 0

"
    )));
    // `sent_to` checks that nothing of the core side reaches the phone.
    let to_phone = w.one_sent_to(Side::Access);
    let from = to_phone.from().unwrap();
    assert_eq!(from.display, Some("\"Reception\""));
    assert_eq!(from.uri.as_str(), "sip:1002@203.0.113.10:5060;user=phone");
    assert_eq!(to_phone.to().unwrap().uri.as_str(), "sip:1001@example.com");
    assert!(!String::from_utf8_lossy(to_phone.as_bytes()).contains(&token));
    // The credentials of a PBX-side caller are for the PBX alone.
    assert!(to_phone.header(HeaderName::ProxyAuthorization).is_none());
}

/// Registration caching: a phone behind NAT (its Via says 192.168.1.20:5060, its packets
/// come from 198.51.100.7:40000) is told 60 s while the PBX is asked for 3600 s; its
/// refreshes from the same flow are answered by Palisade until the PBX's registration
/// nears its end, then one goes to the PBX again.
#[test]
fn a_phone_behind_nat_refreshes_with_palisade_not_the_pbx() {
    let mut cfg = config(&[PBX]);
    cfg.registration.nat_expires = 60;
    cfg.registration.core_expires = 3600;
    cfg.registration.keepalive_interval = Duration::ZERO;
    cfg.probe.interval = Duration::from_secs(100_000);
    let mut w = World::with_config(cfg);
    w.phone_sends(register(1, 3600, "z9hG4bKc1"));
    let core = w.one_sent_to(Side::Core);
    let Some(Ok(ContactValue::Address(c))) = core.contacts().next() else {
        panic!()
    };
    assert_eq!(
        c.params.get("expires"),
        Some(Some("3600")),
        "the PBX is asked for 3600 s"
    );
    w.pbx_sends(grant(&core, c.uri.as_str(), 3600));
    let phone_ok = w.one_sent_to(Side::Access);
    let contacts: Vec<_> = phone_ok.values(HeaderName::Contact).collect();
    assert_eq!(
        contacts,
        [&b"<sip:1001@192.168.1.20:5060;ob>;expires=60"[..]]
    );

    // Refreshes every 50 s for 50 minutes: answered by Palisade, nothing to the PBX.
    let mut cseq = 2;
    for _ in 0..60 {
        w.advance(Duration::from_secs(50));
        w.phone_sends(register(cseq, 3600, &format!("z9hG4bKc{cseq}")));
        cseq += 1;
        let r = w.one_sent_to(Side::Access);
        assert_eq!(r.status(), Some(200));
        assert_eq!(
            r.values(HeaderName::Contact).next(),
            Some(&b"<sip:1001@192.168.1.20:5060;ob>;expires=60"[..])
        );
    }
    assert_eq!(w.b.registrations_absorbed(), 60);
    assert_eq!(w.b.registrar().len(), 1, "the binding lives on");
    // Once less than two refresh periods (120 s) of the PBX's 3600 s remain, at 3500 s,
    // the refresh goes to the PBX, before its registration runs out.
    let mut forwarded_at = None;
    for i in 0..10 {
        w.advance(Duration::from_secs(50));
        w.phone_sends(register(cseq, 3600, &format!("z9hG4bKcz{i}")));
        cseq += 1;
        let sent = w.take();
        if sent
            .iter()
            .any(|t| t.side == Side::Core && t.message.method() == Some(&Method::Register))
        {
            forwarded_at = Some(3000 + 50 * (i + 1));
            break;
        }
    }
    assert_eq!(
        forwarded_at,
        Some(3500),
        "the PBX is refreshed before its registration runs out"
    );
}

#[test]
fn a_cached_registration_is_not_refreshed_from_another_flow_and_lapses_without_refreshes() {
    let mut cfg = config(&[PBX]);
    cfg.registration.nat_expires = 60;
    cfg.registration.keepalive_interval = Duration::ZERO;
    let mut w = World::with_config(cfg);
    w.phone_sends(register(1, 3600, "z9hG4bKd1"));
    let core = w.one_sent_to(Side::Core);
    let Some(Ok(ContactValue::Address(c))) = core.contacts().next() else {
        panic!()
    };
    w.pbx_sends(grant(&core, c.uri.as_str(), 3600));
    w.one_sent_to(Side::Access);
    // The same REGISTER from another source is not answered locally: it goes to the PBX.
    w.b.handle_inbound(
        w.now,
        crate::types::Inbound {
            source: crate::types::Source {
                side: Side::Access,
                protocol: crate::types::Protocol::Udp,
                flow: 9,
                remote: addr("198.51.100.99:5060"),
            },
            message: register(2, 3600, "z9hG4bKd2"),
        },
    );
    let sent = w.take();
    assert!(sent.iter().any(|t| t.side == Side::Core), "{sent:?}");
    assert_eq!(w.b.registrations_absorbed(), 0);
    // Without refreshes the binding lapses after the phone's own expiry.
    w.advance(Duration::from_secs(75));
    assert!(w.b.registrar().is_empty());
}

#[test]
fn expiry_bounds_too_brief_gets_423_too_long_is_cut() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(register(1, 30, "z9hG4bKe1"));
    let r = w.one_sent_to(Side::Access);
    assert_eq!(r.status(), Some(423));
    assert_eq!(r.header(HeaderName::MinExpires), Some(&b"60"[..]));
    w.phone_sends(register(2, 7200, "z9hG4bKe2"));
    let core = w.one_sent_to(Side::Core);
    let Some(Ok(ContactValue::Address(c))) = core.contacts().next() else {
        panic!()
    };
    assert_eq!(c.params.get("expires"), Some(Some("3600")));
}

/// Keep-alives: a phone behind NAT is sent OPTIONS over its flow every
/// `keepalive_interval`; while it answers its binding stays, and when it stops answering
/// the binding goes, even though the phone's last refresh has not expired yet.
#[test]
fn a_natted_phone_is_pinged_and_dropped_when_it_stops_answering() {
    let mut cfg = config(&[PBX]);
    cfg.registration.nat_expires = 60;
    cfg.registration.keepalive_interval = Duration::from_secs(30);
    cfg.probe.interval = Duration::from_secs(100_000);
    let mut w = World::with_config(cfg);
    w.phone_sends(register(1, 3600, "z9hG4bKk1"));
    let core = w.one_sent_to(Side::Core);
    let Some(Ok(ContactValue::Address(c))) = core.contacts().next() else {
        panic!()
    };
    w.pbx_sends(grant(&core, c.uri.as_str(), 3600));
    w.one_sent_to(Side::Access);

    // The first ping goes over the phone's flow to its contact, and is answered.
    w.advance(Duration::from_secs(30));
    let ping = w.one_sent_to(Side::Access);
    assert_eq!(ping.method(), Some(&Method::Options));
    assert_eq!(
        ping.request_uri_str(),
        Some("sip:1001@192.168.1.20:5060;ob")
    );
    w.phone_sends(reply(&ping, 200, Some("ph")));
    assert_eq!(w.b.registrar().len(), 1);

    // The phone keeps refreshing (answered by Palisade) but no longer answers pings.
    for cseq in 2..5 {
        w.advance(Duration::from_secs(25));
        w.phone_sends(register(cseq, 3600, &format!("z9hG4bKk{cseq}")));
        w.take();
    }
    w.advance(Duration::from_secs(40));
    w.take();
    assert!(
        w.b.registrar().is_empty(),
        "an unanswered keep-alive removes the binding"
    );
    assert!(has_event(&w, |e| matches!(
        e,
        Event::BindingUnreachable { .. }
    )));
}

/// `m` with digest credentials for user 1001 added.
fn with_credentials(m: &palisade_sip::Message, header: &str) -> palisade_sip::Message {
    let mut bytes = m.as_bytes().to_vec();
    let auth = format!(
        "{header}: Digest username=\"1001\", realm=\"example.com\", nonce=\"abc\", uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"\r\n"
    );
    // Before the blank line that ends the head.
    let at = m.head_len() - 2;
    bytes.splice(at..at, auth.bytes());
    palisade_sip::Message::parse(
        bytes::Bytes::from(bytes),
        palisade_sip::Transport::Datagram,
        &palisade_sip::ParseLimits::default(),
    )
    .unwrap()
}

#[test]
fn refused_credentials_are_reported_for_brute_force_detection() {
    let mut w = World::new(&[PBX]);
    // The challenge to a REGISTER without credentials is the normal first step.
    w.phone_sends(register(1, 300, "z9hG4bKf1"));
    let core = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&core, 401, Some("pbx1")));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(401));
    assert!(!has_event(&w, |e| matches!(e, Event::AuthFailed { .. })));

    // A wrong password: 401 again, then 403, each with credentials.
    for (n, code) in [(2u32, 401u16), (3, 403)] {
        let m = with_credentials(&register(n, 300, &format!("z9hG4bKf{n}")), "Authorization");
        w.phone_sends(m);
        let core = w.one_sent_to(Side::Core);
        w.pbx_sends(reply(&core, code, Some("pbx1")));
        assert_eq!(w.one_sent_to(Side::Access).status(), Some(code));
    }
    let failures: Vec<_> = w
        .events
        .iter()
        .filter_map(|e| match e {
            Event::AuthFailed { source, account } => Some((*source, account.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        failures,
        [
            (addr(PHONE), "1001".to_owned()),
            (addr(PHONE), "1001".to_owned())
        ]
    );
}

#[test]
fn refused_proxy_credentials_on_an_invite_are_reported() {
    let mut w = World::new(&[PBX]);
    let invite = with_credentials(
        &phone_invite("bf-call", "z9hG4bKbf1"),
        "Proxy-Authorization",
    );
    w.phone_sends(invite);
    let core = w
        .sent_to(Side::Core)
        .into_iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .unwrap();
    w.pbx_sends(reply(&core, 407, Some("pbx2")));
    assert!(has_event(&w, |e| matches!(
        e,
        Event::AuthFailed { source, account } if *source == addr(PHONE) && account == "1001"
    )));
}
