use super::support::*;
use crate::transaction::{
    ClientNonInvite, ClientNonInviteState as S, Reliability, TimerConfig, Transaction,
    TransactionError, TuEvent,
};

fn start(reliability: Reliability) -> (Clock, ClientNonInvite) {
    let clock = Clock::new();
    let t =
        ClientNonInvite::new(clock.now, options(), reliability, TimerConfig::default()).unwrap();
    (clock, t)
}

#[test]
fn timer_e_doubles_then_caps_at_t2_until_timer_f() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    let (sent, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    let times: Vec<_> = sent.iter().map(|(at, _)| *at).collect();
    assert_eq!(
        gaps(&times),
        [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000]
            .map(ms)
            .to_vec()
    );
    assert_eq!(times.last(), Some(&ms(31_500)));
    assert!(
        matches!(evs.as_slice(), [(at, TuEvent::Timeout), (_, TuEvent::Terminated)]
        if *at == ms(32_000))
    );
}

#[test]
fn proceeding_retransmits_every_t2_and_timer_f_still_runs() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    transmits(&mut t);
    let now = clock.advance(ms(100));
    t.on_response(now, response(&options(), 100)).unwrap();
    assert_eq!(t.state(), S::Proceeding);
    let (sent, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    let times: Vec<_> = sent.iter().map(|(at, _)| *at).collect();
    // The pending E (at 500 ms) fires as armed, then every T2 (§17.1.2.2).
    assert_eq!(times[0], ms(500));
    assert!(gaps(&times).iter().all(|g| *g == ms(4_000)));
    assert!(
        matches!(evs.as_slice(), [(_, TuEvent::Response(_)), (at, TuEvent::Timeout), (_, TuEvent::Terminated)]
        if *at == ms(32_000))
    );
}

#[test]
fn final_response_completes_and_absorbs_retransmissions_until_timer_k() {
    let (mut clock, mut t) = start(Reliability::Unreliable);
    transmits(&mut t);
    let now = clock.advance(ms(100));
    assert!(t.request().is_some());
    t.on_response(now, response(&options(), 200)).unwrap();
    assert_eq!(t.state(), S::Completed);
    assert!(
        t.request().is_none(),
        "Completed lingers without the request"
    );
    assert!(matches!(events(&mut t).as_slice(), [TuEvent::Response(r)] if r.status() == Some(200)));
    t.on_response(now, response(&options(), 200)).unwrap();
    assert!(matches!(
        events(&mut t).as_slice(),
        [TuEvent::RetransmissionAbsorbed]
    ));
    assert!(transmits(&mut t).is_empty());
    // Timer K: T4.
    assert_eq!(t.poll_timeout(), Some(clock.base + ms(100) + ms(5_000)));
    let now = clock.advance(ms(5_000));
    t.on_timeout(now);
    assert_eq!(t.state(), S::Terminated);
    assert_eq!(
        t.on_response(now, response(&options(), 200)),
        Err(TransactionError::WrongState)
    );
}

#[test]
fn reliable_transport_does_not_retransmit_and_has_no_timer_k() {
    let (mut clock, mut t) = start(Reliability::Reliable);
    let (sent, evs) = run_alone(&mut t, &mut clock, ms(100_000));
    assert_eq!(sent.len(), 1);
    assert!(matches!(evs[0], (at, TuEvent::Timeout) if at == ms(32_000)));

    let (clock, mut t) = start(Reliability::Reliable);
    t.on_response(clock.now, response(&options(), 404)).unwrap();
    assert_eq!(t.state(), S::Terminated);
}

#[test]
fn cancel_is_a_non_invite_transaction_with_its_own_key() {
    let clock = Clock::new();
    let cancel = request("CANCEL", "z9hG4bKinv1");
    let mut t = ClientNonInvite::new(
        clock.now,
        cancel.clone(),
        Reliability::Unreliable,
        TimerConfig::default(),
    )
    .unwrap();
    // The 200 for the INVITE shares the branch but not the CSeq method.
    assert_eq!(
        t.on_response(clock.now, response(&invite(), 200)),
        Err(TransactionError::Mismatch)
    );
    t.on_response(clock.now, response(&cancel, 200)).unwrap();
    assert_eq!(t.state(), S::Completed);
    assert!(matches!(
        ClientNonInvite::new(
            clock.now,
            invite(),
            Reliability::Unreliable,
            TimerConfig::default()
        ),
        Err(TransactionError::WrongMethod)
    ));
}
