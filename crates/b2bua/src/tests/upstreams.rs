use std::time::Duration;

use palisade_sip::{HeaderName, Method};

use super::support::*;
use crate::Event;
use crate::types::Side;

#[test]
fn a_503_fails_over_to_the_next_upstream() {
    let mut w = World::new(&[PBX, PBX2]);
    w.phone_sends(phone_invite("phone-call-f", "z9hG4bKf1"));
    let first = w.take();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].destination.remote(), addr(PBX));
    w.pbx_sends(reply(&first[0].message, 503, Some("p")));
    let sent = w.take();
    let invite2 = sent
        .iter()
        .find(|t| t.message.method() == Some(&Method::Invite))
        .expect("INVITE to the second upstream");
    assert_eq!(invite2.destination.remote(), addr(PBX2));
    assert_eq!(
        invite2.message.request_uri_str(),
        Some("sip:1002@127.0.0.1:5081")
    );
}

#[test]
fn when_no_upstream_answers_the_phone_gets_503_with_retry_after() {
    let mut w = World::new(&[PBX]);
    w.phone_sends(phone_invite("phone-call-g", "z9hG4bKg1"));
    w.take();
    // No answer at all: timer B fires after 64*T1.
    w.advance(Duration::from_secs(33));
    let to_phone: Vec<_> = w.all_sent_to(Side::Access);
    let last = to_phone
        .iter()
        .rev()
        .find(|m| m.status().is_some_and(|c| c >= 300))
        .unwrap();
    assert_eq!(last.status(), Some(503));
    assert!(last.header(HeaderName::RetryAfter).is_some());
    assert_eq!(w.b.calls(), 0);
}

#[test]
fn probes_take_an_upstream_down_and_up() {
    let mut w = World::with_config(config(&[PBX]));
    w.answer_probes = false;
    // Let two probes time out.
    for _ in 0..2 {
        w.advance(Duration::from_secs(10));
        w.take();
        w.advance(Duration::from_secs(33));
        w.take();
    }
    assert!(has_event(&w, |e| matches!(e, Event::UpstreamDown { .. })));
    assert!(!w.b.upstreams()[0].up);
    // A new call is refused at once.
    w.phone_sends(phone_invite("phone-call-h", "z9hG4bKh1"));
    let codes: Vec<_> = w
        .all_sent_to(Side::Access)
        .iter()
        .filter_map(|m| m.status())
        .collect();
    assert!(codes.contains(&503), "{codes:?}");
    // The next probe is answered at once, and the upstream is up again.
    let probe = (0..40)
        .find_map(|_| {
            w.advance(Duration::from_millis(500));
            w.take()
                .into_iter()
                .find(|t| t.message.method() == Some(&Method::Options))
        })
        .expect("a probe");
    w.pbx_sends(reply(&probe.message, 200, None));
    assert!(w.b.upstreams()[0].up);
}

#[test]
fn a_probe_answered_after_its_timeout_is_a_failure() {
    let mut cfg = config(&[PBX]);
    cfg.probe.failures_before_down = 1;
    let mut w = World::with_config(cfg);
    w.answer_probes = false;
    let probe = (0..40)
        .find_map(|_| {
            w.advance(Duration::from_millis(500));
            w.take()
                .into_iter()
                .find(|t| t.message.method() == Some(&Method::Options))
        })
        .expect("a probe");
    w.advance(Duration::from_millis(2100));
    assert!(!w.b.upstreams()[0].up, "down once the probe timed out");
    // The late answer belongs to an abandoned probe: it does not bring the upstream up.
    w.pbx_sends(reply(&probe.message, 200, None));
    assert!(!w.b.upstreams()[0].up);
}

#[test]
fn a_408_from_the_pbx_itself_is_relayed_not_failed_over() {
    let mut w = World::new(&[PBX, PBX2]);
    w.phone_sends(phone_invite("phone-call-i", "z9hG4bKi1"));
    let invite = w.one_sent_to(Side::Core);
    w.pbx_sends(reply(&invite, 100, None));
    w.pbx_sends(reply(&invite, 408, Some("p")));
    let sent = w.take();
    assert!(
        sent.iter()
            .all(|t| t.message.method() != Some(&Method::Invite)),
        "no INVITE to the second upstream"
    );
    let to_phone: Vec<_> = sent.iter().filter_map(|t| t.message.status()).collect();
    assert!(to_phone.contains(&408), "{to_phone:?}");
    assert!(w.b.upstreams()[0].up);
}

#[test]
fn an_answered_probe_is_not_failed_by_its_old_timeout() {
    // Interval equal to the timeout: the next probe goes out the instant the previous
    // one's timeout is due.
    let mut cfg = config(&[PBX]);
    cfg.probe.failures_before_down = 1;
    cfg.probe.interval = Duration::from_secs(1);
    cfg.probe.timeout = Duration::from_secs(1);
    let mut w = World::with_config(cfg);
    for _ in 0..5 {
        w.advance(Duration::from_millis(250));
        w.take();
    }
    assert!(w.b.upstreams()[0].up);
    assert!(!has_event(&w, |e| matches!(e, Event::UpstreamDown { .. })));
}

#[test]
fn a_reload_keeps_a_ringing_call_with_its_upstream() {
    let mut cfg = config(&[PBX]);
    cfg.probe.interval = Duration::from_secs(3600);
    cfg.probe.failures_before_down = 1;
    let mut w = World::with_config(cfg.clone());
    w.phone_sends(phone_invite("phone-call-r", "z9hG4bKr1"));
    let invite = w.one_sent_to(Side::Core);
    // A new upstream goes first; the call's upstream is now the second.
    let mut next = config(&[PBX2, PBX]);
    next.probe = cfg.probe;
    w.b.reconfigure(w.now, next);
    let names: Vec<_> =
        w.b.upstreams()
            .iter()
            .map(|u| u.upstream.name.clone())
            .collect();
    assert_eq!(names, [format!("sip:{PBX2}"), format!("sip:{PBX}")]);
    // The 503 counts against the upstream that sent it, and failover goes on from its
    // place in the new order: there is none after it, so the phone gets the 503.
    w.pbx_sends(reply(&invite, 503, Some("p")));
    assert!(w.b.upstreams()[0].up, "the new upstream is not blamed");
    assert!(!w.b.upstreams()[1].up);
    let sent = w.take();
    assert!(
        sent.iter()
            .all(|t| t.message.method() != Some(&Method::Invite)),
        "no retry at the upstream that failed"
    );
    assert!(sent.iter().any(|t| t.message.status() == Some(503)));
    assert_eq!(w.b.calls(), 0);
    // The next call goes to the new first upstream.
    w.phone_sends(phone_invite("phone-call-r2", "z9hG4bKr2"));
    let t = w.take();
    let invite2 = t
        .iter()
        .find(|t| t.message.method() == Some(&Method::Invite))
        .expect("an INVITE");
    assert_eq!(invite2.destination.remote(), addr(PBX2));
}

#[test]
fn a_reload_keeps_upstream_health_and_probes_a_new_upstream_at_once() {
    let mut cfg = config(&[PBX]);
    cfg.probe.failures_before_down = 1;
    let mut w = World::with_config(cfg.clone());
    w.answer_probes = false;
    w.advance(Duration::from_secs(10));
    w.take();
    w.advance(Duration::from_secs(33));
    w.take();
    assert!(!w.b.upstreams()[0].up);
    let mut next = config(&[PBX, PBX2]);
    next.probe = cfg.probe;
    next.probe.interval = Duration::from_secs(3600);
    w.b.reconfigure(w.now, next);
    assert!(!w.b.upstreams()[0].up, "a kept upstream keeps its health");
    assert!(w.b.upstreams()[1].up, "a new upstream starts optimistic");
    w.advance(Duration::from_millis(10));
    let probes: Vec<_> = w
        .take()
        .into_iter()
        .filter(|t| t.message.method() == Some(&Method::Options))
        .map(|t| t.destination.remote())
        .collect();
    assert!(probes.contains(&addr(PBX2)), "{probes:?}");
}
