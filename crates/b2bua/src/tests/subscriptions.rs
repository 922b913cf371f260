use std::time::Duration;

use palisade_sip::Method;

use super::support::*;
use crate::types::Side;

fn subscribe() -> palisade_sip::Message {
    msg("SUBSCRIBE sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKs1;rport
Max-Forwards: 70
From: <sip:1001@example.com>;tag=sub1
To: <sip:1002@example.com>
Call-ID: phone-call-sub
CSeq: 1 SUBSCRIBE
Contact: <sip:1001@192.168.1.20:5060>
Event: dialog
Expires: 600
Accept: application/dialog-info+xml
Content-Length: 0

")
}

fn notify(
    sub: &palisade_sip::Message,
    cseq: u32,
    state: &str,
    branch: &str,
) -> palisade_sip::Message {
    msg(&format!(
        "NOTIFY sip:palisade@127.0.0.1:5062 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5080;branch={branch}
Max-Forwards: 70
From: <sip:1002@example.com>;tag=pbxs
To: <sip:1001@example.com>;tag={}
Call-ID: {}
CSeq: {cseq} NOTIFY
Contact: <sip:pbx-internal@127.0.0.1:5080>
Event: dialog
Subscription-State: {state}
Content-Length: 0

",
        sub.from().unwrap().tag().unwrap(),
        sub.call_id().unwrap()
    ))
}

#[test]
fn blf_subscription_with_an_early_notify() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(subscribe());
    let sub = w.one_sent_to(Side::Core);
    assert_eq!(sub.method(), Some(&Method::Subscribe));
    // The NOTIFY overtakes the 2xx.
    w.pbx_sends(notify(&sub, 1, "active;expires=600", "z9hG4bKn1"));
    let to_phone = w.one_sent_to(Side::Access);
    assert_eq!(to_phone.method(), Some(&Method::Notify));
    assert_eq!(to_phone.call_id().unwrap(), "phone-call-sub");
    assert_eq!(to_phone.to().unwrap().tag(), Some("sub1"));
    w.phone_sends(reply(&to_phone, 200, None));
    assert_eq!(w.one_sent_to(Side::Core).status(), Some(200));
    w.pbx_sends(reply(&sub, 200, Some("pbxs")));
    assert_eq!(w.one_sent_to(Side::Access).status(), Some(200));
    assert_eq!(w.b.calls(), 1);
    // The final NOTIFY ends the subscription.
    w.pbx_sends(notify(&sub, 2, "terminated;reason=timeout", "z9hG4bKn2"));
    let last = w.one_sent_to(Side::Access);
    w.phone_sends(reply(&last, 200, None));
    assert_eq!(w.one_sent_to(Side::Core).status(), Some(200));
    assert_eq!(w.b.calls(), 0);
}

#[test]
fn an_unrefreshed_subscription_is_forgotten() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(subscribe());
    let sub = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&sub, 200, Some("pbxs")));
    w.take();
    assert_eq!(w.b.calls(), 1);
    w.advance(Duration::from_secs(700));
    assert_eq!(w.b.calls(), 0);
    assert!(
        w.take()
            .iter()
            .all(|t| t.message.method() != Some(&Method::Bye))
    );
}
