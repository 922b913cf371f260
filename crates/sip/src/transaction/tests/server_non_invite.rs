use super::support::*;
use crate::transaction::{
    Reliability, ServerNonInvite, ServerNonInviteState as S, TimerConfig, Transaction,
    TransactionError, TuEvent,
};

fn start(reliability: Reliability) -> (Clock, ServerNonInvite) {
    let clock = Clock::new();
    let t =
        ServerNonInvite::new(clock.now, options(), reliability, TimerConfig::default()).unwrap();
    (clock, t)
}

#[test]
fn trying_discards_retransmissions() {
    let (clock, mut t) = start(Reliability::Unreliable);
    t.on_request(clock.now, options()).unwrap();
    assert!(transmits(&mut t).is_empty());
    assert!(matches!(
        events(&mut t).as_slice(),
        [TuEvent::RetransmissionAbsorbed]
    ));
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn retransmissions_get_the_last_response_until_timer_j() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    let now = clock.advance(ms(10));
    t.send_response(now, response(&options(), 180)).unwrap();
    assert_eq!(t.state(), S::Proceeding);
    assert!(t.request().is_some(), "kept until the final response");
    assert_eq!(transmits(&mut t).len(), 1);
    t.on_request(now, options()).unwrap();
    assert_eq!(start_line(&transmits(&mut t)[0]), "SIP/2.0 180 Ringing");
    t.send_response(now, response(&options(), 200)).unwrap();
    assert_eq!(t.state(), S::Completed);
    assert!(t.request().is_none(), "Completed keeps only its response");
    transmits(&mut t);
    let now = clock.advance(ms(20_000));
    t.on_request(now, options()).unwrap();
    assert_eq!(start_line(&transmits(&mut t)[0]), "SIP/2.0 200 OK");
    assert_eq!(
        t.send_response(now, response(&options(), 500)),
        Err(TransactionError::WrongState)
    );
    // Timer J: 64*T1 from the final response.
    assert_eq!(t.poll_timeout(), Some(clock.base + ms(10) + ms(32_000)));
    let (_, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    assert!(matches!(evs.last(), Some((at, TuEvent::Terminated)) if *at == ms(32_010)));
}

#[test]
fn reliable_transport_terminates_on_the_final_response() {
    let (clock, mut t) = start(Reliability::Reliable);
    t.send_response(clock.now, response(&options(), 200))
        .unwrap();
    assert_eq!(transmits(&mut t).len(), 1);
    assert_eq!(t.state(), S::Terminated);
}

#[test]
fn refuses_foreign_requests() {
    let (clock, mut t) = start(Reliability::Unreliable);
    assert_eq!(
        t.on_request(clock.now, request("OPTIONS", "z9hG4bKelse")),
        Err(TransactionError::Mismatch)
    );
    assert_eq!(
        t.on_request(clock.now, response(&options(), 200)),
        Err(TransactionError::NotARequest)
    );
    assert_eq!(
        t.send_response(clock.now, options()),
        Err(TransactionError::NotAResponse)
    );
}
