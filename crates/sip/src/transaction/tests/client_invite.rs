use super::support::*;
use crate::header_name::HeaderName;
use crate::method::Method;
use crate::transaction::{
    ClientInvite, ClientInviteState as S, Reliability, TimerConfig, Transaction, TransactionError,
    TuEvent,
};

fn start(reliability: Reliability) -> (Clock, ClientInvite) {
    let clock = Clock::new();
    let t = ClientInvite::new(clock.now, invite(), reliability, TimerConfig::default()).unwrap();
    (clock, t)
}

#[test]
fn timer_a_doubles_from_t1_until_timer_b() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    let (sent, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    let times: Vec<_> = sent.iter().map(|(at, _)| *at).collect();
    // Sent at 0, then after 0.5, 1, 2, 4, 8, 16 s: no cap on timer A (§17.1.1.2).
    assert_eq!(
        times,
        [0, 500, 1500, 3500, 7500, 15500, 31500].map(ms).to_vec()
    );
    assert!(sent.iter().all(|(_, l)| l.starts_with("INVITE ")));
    assert_eq!(
        gaps(&times),
        [500, 1000, 2000, 4000, 8000, 16000].map(ms).to_vec()
    );
    // Timer B: 64*T1.
    assert!(
        matches!(evs.as_slice(), [(at1, TuEvent::Timeout), (at2, TuEvent::Terminated)]
        if *at1 == ms(32_000) && *at2 == ms(32_000))
    );
    assert_eq!(t.state(), S::Terminated);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn scaled_t1_scales_every_timer() {
    let mut clock = Clock::new();
    let config = TimerConfig {
        t1: ms(100),
        ..TimerConfig::default()
    };
    let mut t = ClientInvite::new(clock.now, invite(), Reliability::Unreliable, config).unwrap();
    let (sent, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    assert_eq!(sent.len(), 7);
    assert_eq!(sent[1].0, ms(100));
    assert_eq!(evs[0].0, ms(6_400));
}

#[test]
fn provisional_stops_retransmissions_and_timer_b() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    transmits(&mut t);
    let now = clock.advance(ms(700));
    t.on_timeout(now);
    assert_eq!(transmits(&mut t).len(), 1);
    t.on_response(now, response(&invite(), 180)).unwrap();
    assert_eq!(t.state(), S::Proceeding);
    assert!(matches!(events(&mut t).as_slice(), [TuEvent::Response(r)] if r.status() == Some(180)));
    // Nothing runs in Proceeding: the TU decides how long to wait.
    assert_eq!(t.poll_timeout(), None);
    let now = clock.advance(ms(100_000));
    t.on_timeout(now);
    assert!(transmits(&mut t).is_empty());
    assert_eq!(t.state(), S::Proceeding);
}

#[test]
fn non_2xx_is_acked_per_17_1_1_3() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    transmits(&mut t);
    let now = clock.advance(ms(50));
    let resp = response(&invite(), 486);
    t.on_response(now, resp).unwrap();
    assert_eq!(t.state(), S::Completed);
    assert!(t.request().is_none(), "the ACK is built, the INVITE let go");
    let [ack] = transmits(&mut t).try_into().unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.request_uri_str(), Some("sip:bob@example.com"));
    let vias: Vec<_> = ack
        .vias()
        .map(|v| v.unwrap().branch().unwrap().to_owned())
        .collect();
    assert_eq!(vias, ["z9hG4bKinv1"], "only the top Via");
    let routes: Vec<_> = ack
        .headers_named(HeaderName::Route)
        .map(|h| h.value.to_vec())
        .collect();
    assert_eq!(
        routes,
        [&b"<sip:p1.example.com;lr>"[..], b"<sip:p2.example.com;lr>"]
    );
    assert_eq!(ack.from().unwrap().tag(), Some("a1"));
    assert_eq!(
        ack.to().unwrap().tag(),
        Some("srv"),
        "To comes from the response"
    );
    assert_eq!(ack.call_id().unwrap(), "call-1@192.0.2.1");
    let cseq = ack.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (7, Method::Ack));
    assert_eq!(ack.max_forwards().unwrap(), Some(69));
    assert!(matches!(events(&mut t).as_slice(), [TuEvent::Response(r)] if r.status() == Some(486)));

    // A retransmitted 486 is re-ACKed and not passed up again.
    let now = clock.advance(ms(500));
    t.on_response(now, response(&invite(), 486)).unwrap();
    let again = transmits(&mut t);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].as_bytes(), ack.as_bytes());
    assert!(matches!(
        events(&mut t).as_slice(),
        [TuEvent::RetransmissionAbsorbed]
    ));

    // Timer D: 32 s after the response.
    assert_eq!(t.poll_timeout(), Some(clock.base + ms(50) + ms(32_000)));
    let now = clock.advance(ms(40_000));
    t.on_timeout(now);
    assert_eq!(t.state(), S::Terminated);
    assert!(matches!(events(&mut t).as_slice(), [TuEvent::Terminated]));
}

#[test]
fn every_2xx_reaches_the_tu_until_timer_m() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    transmits(&mut t);
    let now = clock.advance(ms(50));
    t.on_response(now, response(&invite(), 200)).unwrap();
    assert_eq!(t.state(), S::Accepted);
    assert!(t.request().is_none(), "Accepted lingers without the INVITE");
    assert!(
        transmits(&mut t).is_empty(),
        "the TU ACKs a 2xx, not the transaction"
    );
    let now = clock.advance(ms(4_000));
    t.on_response(now, response(&invite(), 200)).unwrap();
    t.on_response(now, response(&invite(), 486)).unwrap();
    let evs = events(&mut t);
    assert_eq!(evs.len(), 2);
    assert!(
        evs.iter()
            .all(|e| matches!(e, TuEvent::Response(r) if r.status() == Some(200)))
    );
    assert_eq!(t.poll_timeout(), Some(clock.base + ms(50) + ms(32_000)));
    let now = clock.advance(ms(28_050));
    t.on_timeout(now);
    assert_eq!(t.state(), S::Terminated);
}

#[test]
fn reliable_transport_sends_once_and_skips_timer_d() {
    let (mut clock, mut t) = start(Reliability::Reliable);
    let (sent, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    assert_eq!(sent.len(), 1);
    assert!(matches!(evs[0], (at, TuEvent::Timeout) if at == ms(32_000)));

    let (mut clock, mut t) = start(Reliability::Reliable);
    transmits(&mut t);
    let now = clock.advance(ms(50));
    t.on_response(now, response(&invite(), 503)).unwrap();
    assert_eq!(transmits(&mut t).len(), 1, "the ACK is still sent");
    assert_eq!(t.state(), S::Terminated, "timer D is zero");
    assert!(matches!(
        events(&mut t).as_slice(),
        [TuEvent::Response(_), TuEvent::Terminated]
    ));
}

#[test]
fn refuses_what_is_not_its_own() {
    let (clock, mut t) = start(Reliability::Unreliable);
    let other = request("INVITE", "z9hG4bKother");
    assert_eq!(
        t.on_response(clock.now, response(&other, 200)),
        Err(TransactionError::Mismatch)
    );
    assert_eq!(
        t.on_response(clock.now, invite()),
        Err(TransactionError::NotAResponse)
    );
    assert_eq!(t.state(), S::Calling);
    assert!(matches!(
        ClientInvite::new(
            clock.now,
            options(),
            Reliability::Unreliable,
            TimerConfig::default()
        ),
        Err(TransactionError::WrongMethod)
    ));
    // A response without To cannot be ACKed: refused, the transaction keeps waiting.
    let no_to = parse(
        b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv1\r\n\
From: <sip:alice@example.com>;tag=a1\r\nCall-ID: call-1@192.0.2.1\r\nCSeq: 7 INVITE\r\n\
Content-Length: 0\r\n\r\n",
    );
    assert_eq!(t.on_response(clock.now, no_to), Err(TransactionError::Ack));
    assert_eq!(t.state(), S::Calling);
    // RFC 4475 insuf: an INVITE without From or Call-ID could never be ACKed.
    let insuf = parse(include_bytes!(
        "../../../../../tests/data/corpus/rfc4475/insuf.dat"
    ));
    assert!(matches!(
        ClientInvite::new(
            clock.now,
            insuf,
            Reliability::Unreliable,
            TimerConfig::default()
        ),
        Err(TransactionError::Ack)
    ));
}

#[test]
fn transport_error_terminates() {
    let (_, mut t) = start(Reliability::Unreliable);
    t.on_transport_error();
    assert_eq!(t.state(), S::Terminated);
    assert!(matches!(
        events(&mut t).as_slice(),
        [TuEvent::TransportError, TuEvent::Terminated]
    ));
    assert_eq!(t.poll_timeout(), None);
}
