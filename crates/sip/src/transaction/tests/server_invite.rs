use super::support::*;
use crate::transaction::{
    Reliability, ServerInvite, ServerInviteState as S, TimerConfig, Transaction, TransactionError,
    TuEvent,
};

fn start(reliability: Reliability) -> (Clock, ServerInvite) {
    let clock = Clock::new();
    let t = ServerInvite::new(clock.now, invite(), reliability, TimerConfig::default()).unwrap();
    (clock, t)
}

/// The ACK a client would send for our non-2xx response.
fn ack() -> crate::message::Message {
    let r = response(&invite(), 486);
    crate::transaction::client_invite::build_ack(&invite(), &r).unwrap()
}

#[test]
fn trying_after_200_ms_on_a_slow_tu() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    assert_eq!(t.poll_timeout(), Some(clock.base + ms(200)));
    let now = clock.advance(ms(199));
    t.on_timeout(now);
    assert!(transmits(&mut t).is_empty());
    let now = clock.advance(ms(1));
    t.on_timeout(now);
    let [trying] = transmits(&mut t).try_into().unwrap();
    assert_eq!(start_line(&trying), "SIP/2.0 100 Trying");
    assert_eq!(trying.to().unwrap().tag(), None);
    // A retransmitted INVITE gets the 100 again.
    t.on_request(now, invite()).unwrap();
    assert_eq!(start_line(&transmits(&mut t)[0]), "SIP/2.0 100 Trying");
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn no_trying_when_the_tu_is_quick_or_when_disabled() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    let now = clock.advance(ms(50));
    t.send_response(now, response(&invite(), 180)).unwrap();
    assert_eq!(t.poll_timeout(), None);
    assert_eq!(transmits(&mut t).len(), 1);

    let config = TimerConfig {
        trying_delay: None,
        ..TimerConfig::default()
    };
    let t = ServerInvite::new(clock.now, invite(), Reliability::Unreliable, config).unwrap();
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn absorbs_invite_retransmissions_with_the_last_provisional() {
    let (clock, mut t) = start(Reliability::Unreliable);
    t.on_request(clock.now, invite()).unwrap();
    assert!(transmits(&mut t).is_empty(), "nothing to resend yet");
    t.send_response(clock.now, response(&invite(), 180))
        .unwrap();
    t.send_response(clock.now, response(&invite(), 183))
        .unwrap();
    transmits(&mut t);
    t.on_request(clock.now, invite()).unwrap();
    assert_eq!(
        start_line(&transmits(&mut t)[0]),
        "SIP/2.0 183 Session Progress"
    );
    let evs = events(&mut t);
    assert_eq!(evs.len(), 2);
    assert!(
        evs.iter()
            .all(|e| matches!(e, TuEvent::RetransmissionAbsorbed))
    );
}

#[test]
fn timer_g_retransmits_until_timer_h() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    assert!(t.request().is_some());
    t.send_response(clock.now, response(&invite(), 486))
        .unwrap();
    assert_eq!(t.state(), S::Completed);
    assert!(
        t.request().is_none(),
        "the final response is all Completed keeps"
    );
    let (sent, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    assert!(sent.iter().all(|(_, l)| l == "SIP/2.0 486 Busy Here"));
    let times: Vec<_> = sent.iter().map(|(at, _)| *at).collect();
    // G: T1, doubling, capped at T2 (§17.2.1).
    assert_eq!(
        gaps(&times),
        [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000]
            .map(ms)
            .to_vec()
    );
    // H: 64*T1, a transaction failure for the TU.
    assert!(
        matches!(evs.as_slice(), [(at, TuEvent::Timeout), (_, TuEvent::Terminated)]
        if *at == ms(32_000))
    );
}

#[test]
fn ack_stops_timer_g_and_timer_i_ends_confirmed() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    t.send_response(clock.now, response(&invite(), 486))
        .unwrap();
    let (sent, _) = run_alone(&mut t, &mut clock, ms(2_000));
    assert_eq!(sent.len(), 3);
    let now = clock.advance(ms(100));
    t.on_request(now, ack()).unwrap();
    assert_eq!(t.state(), S::Confirmed);
    // An INVITE or ACK retransmission in Confirmed is absorbed silently.
    t.on_request(now, ack()).unwrap();
    t.on_request(now, invite()).unwrap();
    assert!(transmits(&mut t).is_empty());
    assert_eq!(t.poll_timeout(), Some(now + ms(5_000)), "timer I is T4");
    let (sent, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    assert!(sent.is_empty());
    assert!(matches!(evs.last(), Some((_, TuEvent::Terminated))));
    assert!(!evs.iter().any(|(_, e)| matches!(e, TuEvent::Timeout)));
}

#[test]
fn completed_answers_invite_retransmissions_with_the_final_response() {
    let (clock, mut t) = start(Reliability::Unreliable);
    t.send_response(clock.now, response(&invite(), 603))
        .unwrap();
    transmits(&mut t);
    t.on_request(clock.now, invite()).unwrap();
    assert_eq!(start_line(&transmits(&mut t)[0]), "SIP/2.0 603 Decline");
    assert_eq!(
        t.send_response(clock.now, response(&invite(), 200)),
        Err(TransactionError::WrongState)
    );
}

#[test]
fn accepted_absorbs_invites_and_passes_2xx_retransmissions_until_timer_l() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    t.send_response(clock.now, response(&invite(), 200))
        .unwrap();
    assert_eq!(t.state(), S::Accepted);
    assert!(t.request().is_none(), "Accepted lingers without the INVITE");
    assert_eq!(transmits(&mut t).len(), 1);
    let now = clock.advance(ms(500));
    t.on_request(now, invite()).unwrap();
    assert!(
        transmits(&mut t).is_empty(),
        "RFC 6026: absorbed, not answered"
    );
    t.send_response(now, response(&invite(), 200)).unwrap();
    assert_eq!(
        transmits(&mut t).len(),
        1,
        "the TU's 2xx retransmission goes out"
    );
    assert_eq!(
        t.send_response(now, response(&invite(), 486)),
        Err(TransactionError::WrongState)
    );
    assert_eq!(t.poll_timeout(), Some(clock.base + ms(32_000)));
    let (_, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    assert!(matches!(evs.last(), Some((at, TuEvent::Terminated)) if *at == ms(32_000)));
}

#[test]
fn reliable_transport_has_no_timer_g_and_no_timer_i() {
    let (mut clock, mut t) = start(Reliability::Reliable);
    t.send_response(clock.now, response(&invite(), 486))
        .unwrap();
    assert_eq!(transmits(&mut t).len(), 1);
    // Only timer H runs.
    assert_eq!(t.poll_timeout(), Some(clock.base + ms(32_000)));
    let now = clock.advance(ms(1_000));
    t.on_timeout(now);
    assert!(transmits(&mut t).is_empty());
    t.on_request(now, ack()).unwrap();
    assert_eq!(t.state(), S::Terminated);

    let (mut clock, mut t) = start(Reliability::Reliable);
    t.send_response(clock.now, response(&invite(), 486))
        .unwrap();
    let (sent, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    assert_eq!(sent.len(), 1);
    assert!(matches!(evs[0], (at, TuEvent::Timeout) if at == ms(32_000)));
}

#[test]
fn refuses_other_methods_and_transactions() {
    let (clock, mut t) = start(Reliability::Unreliable);
    assert_eq!(
        t.on_request(clock.now, request("INVITE", "z9hG4bKother")),
        Err(TransactionError::Mismatch)
    );
    assert_eq!(
        t.on_request(clock.now, request("CANCEL", "z9hG4bKinv1")),
        Err(TransactionError::WrongMethod)
    );
    assert!(matches!(
        ServerInvite::new(
            clock.now,
            options(),
            Reliability::Unreliable,
            TimerConfig::default()
        ),
        Err(TransactionError::WrongMethod)
    ));
}
