//! Who may call (registered flows and trusted networks), the call policy's answers, and
//! registration hijacking.

use std::time::Duration;

use palisade_sip::headers::ContactValue;
use palisade_sip::{HeaderName, Message, Method};

use super::support::*;
use crate::Event;
use crate::policy::{AlertLevel, FraudAlert};
use crate::types::{Destination, Side};

/// A REGISTER for `user`'s AOR; with digest credentials of `auth_user` when given.
fn register(user: &str, auth_user: Option<&str>, contact: &str, branch: &str) -> Message {
    let auth = auth_user
        .map(|a| {
            format!(
                "Authorization: Digest username=\"{a}\", realm=\"example.com\", nonce=\"abc\", \
                 uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"\n"
            )
        })
        .unwrap_or_default();
    let expires = if contact == "*" { 0 } else { 300 };
    msg(&format!(
        "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch={branch};rport
Max-Forwards: 70
From: <sip:{user}@example.com>;tag=r1
To: <sip:{user}@example.com>
Call-ID: phone-call-reg
CSeq: 1 REGISTER
Contact: {contact}
Expires: {expires}
{auth}Content-Length: 0

"
    ))
}

/// The phone registers 1001 over its flow; the PBX accepts.
fn registered(w: &mut World) {
    w.phone_sends(register(
        "1001",
        Some("1001"),
        "<sip:1001@192.168.1.20:5060>",
        "z9hG4bKr1",
    ));
    let core = w.one_sent_to(Side::Core);
    grant(w, &core);
    assert_eq!(w.b.registrar().len(), 1);
}

/// The PBX's 200 to a relayed REGISTER, granting each contact it asked for.
fn grant(w: &mut World, core: &Message) {
    let mut b = palisade_sip::edit::response_to(core, 200, Some("pbxr"));
    for c in core.contacts() {
        if let Ok(ContactValue::Address(na)) = c {
            b.header(
                HeaderName::Contact,
                format!("<{}>;expires=300", na.uri.as_str()),
            );
        }
    }
    w.pbx_sends(b.build_message().unwrap());
    let ok = w.one_sent_to(Side::Access);
    assert_eq!(ok.status(), Some(200));
}

fn registered_only() -> World {
    let mut cfg = config(&[PBX]);
    cfg.calling.registered_only = true;
    cfg.calling.trusted = vec!["203.0.113.0/24".parse().unwrap()];
    World::with_config(cfg)
}

fn refused(w: &World) -> Vec<(Option<String>, String, String)> {
    w.events
        .iter()
        .filter_map(|e| match e {
            Event::CallRefused {
                account,
                callee,
                reason,
                ..
            } => Some((account.clone(), callee.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn an_invite_from_an_unregistered_source_gets_403_and_never_reaches_the_pbx() {
    let mut w = registered_only();
    w.phone_sends(phone_invite("phone-call-1", "z9hG4bKp1"));
    let r = w.one_sent_to(Side::Access);
    assert_eq!(r.status(), Some(403));
    assert_eq!(w.b.calls(), 0);
    assert_eq!(
        refused(&w),
        [(None, "1002".to_owned(), "source not registered".to_owned())]
    );
    assert!(w.b.policy().asked.is_empty(), "refused before the policy");
}

#[test]
fn an_invite_from_a_registered_flow_is_relayed_with_its_account() {
    let mut w = registered_only();
    registered(&mut w);
    w.phone_sends(phone_invite("phone-call-1", "z9hG4bKp1"));
    let invite = w.one_sent_to(Side::Core);
    assert_eq!(invite.method(), Some(&Method::Invite));
    assert_eq!(
        w.b.policy().asked,
        [(1, Some("1001".to_owned()), "1002".to_owned())]
    );
    assert!(has_event(&w, |e| *e
        == Event::CallAccount {
            call: 1,
            account: Some("1001".to_owned()),
            flagged: false
        }));
    // Another source, even with the same From, is not the registered flow.
    w.inbound(
        Side::Access,
        addr("198.51.100.99:5060"),
        7,
        phone_invite("phone-call-2", "z9hG4bKp2"),
    );
    let r = w.take();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].message.status(), Some(403));
}

#[test]
fn an_invite_from_a_trusted_network_is_relayed_without_an_account() {
    let mut w = registered_only();
    w.inbound(
        Side::Access,
        addr("203.0.113.50:5060"),
        7,
        phone_invite("phone-call-1", "z9hG4bKp1"),
    );
    let sent = w.take();
    assert!(
        sent.iter()
            .any(|t| t.side == Side::Core && t.message.method() == Some(&Method::Invite)),
        "{sent:?}"
    );
    assert_eq!(w.b.policy().asked, [(1, None, "1002".to_owned())]);
}

#[test]
fn a_register_with_another_users_credentials_gets_403_and_nothing_reaches_the_pbx() {
    let mut w = registered_only();
    w.phone_sends(register(
        "1002",
        Some("1001"),
        "<sip:1002@192.168.1.20:5060>",
        "z9hG4bKh1",
    ));
    let r = w.one_sent_to(Side::Access);
    assert_eq!(r.status(), Some(403));
    assert!(w.b.registrar().is_empty());
    assert!(has_event(&w, |e| matches!(e,
        Event::RegisterRefused { aor, username, .. }
            if aor == "sip:1002@example.com" && username == "1001")));
    // user@domain names the user; the matching account goes to the PBX.
    w.phone_sends(register(
        "1002",
        Some("1002@example.com"),
        "<sip:1002@192.168.1.20:5060>",
        "z9hG4bKh2",
    ));
    let core = w.one_sent_to(Side::Core);
    assert_eq!(core.method(), Some(&Method::Register));
}

#[test]
fn unregister_all_goes_to_the_pbx_and_bindings_stay_until_its_2xx() {
    let mut cfg = config(&[PBX]);
    // Caching on: a `Contact: *` must still never be answered by Palisade.
    cfg.registration.nat_expires = 60;
    cfg.registration.keepalive_interval = Duration::ZERO;
    let mut w = World::with_config(cfg);
    registered(&mut w);
    w.phone_sends(register("1001", None, "*", "z9hG4bKs1"));
    let core = w.one_sent_to(Side::Core);
    assert_eq!(core.header(HeaderName::Contact), Some(&b"*"[..]));
    assert_eq!(w.b.registrations_absorbed(), 0);
    let challenge = {
        let mut b = palisade_sip::edit::response_to(&core, 401, Some("pbxr"));
        b.header(
            HeaderName::WwwAuthenticate,
            "Digest realm=\"example.com\", nonce=\"n2\"",
        );
        b.build_message().unwrap()
    };
    w.pbx_sends(challenge);
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(401));
    assert_eq!(w.b.registrar().len(), 1, "a 401 removes nothing");
    // With credentials, the PBX accepts: now the binding goes.
    w.phone_sends(register("1001", Some("1001"), "*", "z9hG4bKs2"));
    let core = w.one_sent_to(Side::Core);
    assert_eq!(w.b.registrar().len(), 1, "nothing removed before the 2xx");
    w.pbx_sends(
        palisade_sip::edit::response_to(&core, 200, Some("pbxr"))
            .build_message()
            .unwrap(),
    );
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(200));
    assert!(w.b.registrar().is_empty());
}

#[test]
fn a_register_from_a_new_source_moves_the_binding_only_on_the_pbxs_2xx() {
    let mut cfg = config(&[PBX]);
    cfg.registration.nat_expires = 60;
    cfg.registration.keepalive_interval = Duration::ZERO;
    let mut w = World::with_config(cfg);
    registered(&mut w);
    let on_phone_flow = |w: &World| {
        w.b.registrar()
            .iter()
            .all(|(_, b)| matches!(b.destination, Destination::Flow { flow: 1, .. }))
    };
    let attacker = addr("198.51.100.99:5060");
    w.inbound(
        Side::Access,
        attacker,
        9,
        register("1001", None, "<sip:1001@192.168.1.20:5060>", "z9hG4bKm1"),
    );
    let sent = w.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].side, Side::Core, "not absorbed: the PBX decides");
    assert!(on_phone_flow(&w));
    let forbidden = palisade_sip::edit::response_to(&sent[0].message, 401, Some("pbxr"))
        .build_message()
        .unwrap();
    w.pbx_sends(forbidden);
    w.take();
    assert!(on_phone_flow(&w), "a refusal moves nothing");
    // The phone itself moved (a new NAT mapping) and authenticated: the binding follows.
    w.inbound(
        Side::Access,
        attacker,
        9,
        register(
            "1001",
            Some("1001"),
            "<sip:1001@192.168.1.20:5060>",
            "z9hG4bKm2",
        ),
    );
    let core = w.take().remove(0).message;
    assert!(on_phone_flow(&w));
    let mut b = palisade_sip::edit::response_to(&core, 200, Some("pbxr"));
    let Some(Ok(ContactValue::Address(na))) = core.contacts().next() else {
        panic!()
    };
    b.header(
        HeaderName::Contact,
        format!("<{}>;expires=300", na.uri.as_str()),
    );
    w.pbx_sends(b.build_message().unwrap());
    w.take();
    assert!(!on_phone_flow(&w));
    assert_eq!(w.b.registrar().len(), 1);
}

#[test]
fn a_call_the_policy_refuses_gets_403_with_its_reason() {
    let mut w = registered_only();
    registered(&mut w);
    w.b.policy_mut().refuse = Some("destination denied".to_owned());
    w.phone_sends(phone_invite("phone-call-1", "z9hG4bKp1"));
    let r = w.one_sent_to(Side::Access);
    assert_eq!(r.status(), Some(403));
    assert_eq!(w.b.calls(), 0);
    assert_eq!(
        refused(&w),
        [(
            Some("1001".to_owned()),
            "1002".to_owned(),
            "destination denied".to_owned()
        )]
    );
    assert!(w.media().sessions.is_empty(), "no media for a refused call");
}

#[test]
fn a_call_reaching_its_duration_cap_gets_bye_on_both_legs() {
    let mut w = registered_only();
    registered(&mut w);
    w.b.policy_mut().max_duration = Some(Duration::from_secs(60));
    w.phone_sends(phone_invite("phone-call-1", "z9hG4bKp1"));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&invite, 200, Some("pbx1")));
    let ok = w.one_sent_to(Side::Access);
    w.phone_sends(phone_in_dialog("ACK", 1, &ok, "z9hG4bKp1ack"));
    w.one_sent_to(Side::Core);
    assert_eq!(w.b.policy().answered, [1]);
    // The cap counts from the answer.
    w.advance(Duration::from_secs(59));
    assert!(w.take().is_empty());
    assert_eq!(w.b.calls(), 1);
    w.advance(Duration::from_secs(1));
    let sent = w.take();
    let byes: Vec<Side> = sent
        .iter()
        .filter(|t| t.message.method() == Some(&Method::Bye))
        .map(|t| t.side)
        .collect();
    assert_eq!(byes, [Side::Access, Side::Core]);
    assert_eq!(w.b.calls(), 0);
    assert_eq!(w.b.policy().ended, [1]);
    assert!(has_event(&w, |e| matches!(
        e,
        Event::CallEnded {
            call: 1,
            why: "duration limit",
            by: crate::EndedBy::Palisade,
            ..
        }
    )));
}

#[test]
fn fraud_alerts_become_events_and_flag_the_call() {
    let mut w = registered_only();
    registered(&mut w);
    w.b.policy_mut().alerts.push(FraudAlert {
        level: AlertLevel::Warning,
        account: "1001".to_owned(),
        rule: "night".to_owned(),
        what: "calls_per_minute",
        value: 3,
        threshold: 3,
        call: 1,
        callee: "1002".to_owned(),
    });
    w.phone_sends(phone_invite("phone-call-1", "z9hG4bKp1"));
    assert_eq!(w.one_sent_to(Side::Core).method(), Some(&Method::Invite));
    assert!(has_event(&w, |e| matches!(e,
        Event::FraudAlert { level: AlertLevel::Warning, rule, what: "calls_per_minute", .. }
            if rule == "night")));
    assert!(has_event(&w, |e| matches!(
        e,
        Event::CallAccount { flagged: true, .. }
    )));
}
