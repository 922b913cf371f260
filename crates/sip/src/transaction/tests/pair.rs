//! Client and server transactions talking over a simulated link with loss.

use super::support::*;
use crate::method::Method;
use crate::transaction::{
    ClientInvite, ClientNonInvite, Reliability, ServerInvite, ServerNonInvite, Transaction,
    TransactionKey, TuEvent,
};

type InvitePair = Pair<ClientInvite, ServerInvite>;

fn count(events: &[&TuEvent], f: impl Fn(&TuEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

fn is_final(e: &TuEvent, code: u16) -> bool {
    matches!(e, TuEvent::Response(r) if r.status() == Some(code))
}

#[test]
fn server_absorbs_invite_retransmissions_and_resends_its_provisional() {
    let mut p = InvitePair::new(invite(), Reliability::Unreliable);
    p.tu_script.extend([(ms(100), 180), (ms(3_000), 200)]);
    // The first two 180s are lost.
    p.loss_to_client = drop_first(2);
    p.run();
    assert_eq!(p.times_sent(Side::Client, "INVITE"), [0, 500, 1500].map(ms));
    assert_eq!(
        p.times_sent(Side::Server, "SIP/2.0 180"),
        [100, 510, 1510].map(ms)
    );
    let server = p.events_of(Side::Server);
    assert_eq!(
        count(&server, |e| matches!(e, TuEvent::RetransmissionAbsorbed)),
        2
    );
    let client = p.events_of(Side::Client);
    assert!(is_final(client[0], 180) && is_final(client[1], 200));
    assert!(matches!(client[2], TuEvent::Terminated));
    // Both Accepted states last 64*T1 (timers L and M).
    let ends: Vec<_> = p
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, TuEvent::Terminated))
        .map(|(at, side, _)| (*side, *at))
        .collect();
    assert_eq!(
        ends,
        [(Side::Server, ms(35_000)), (Side::Client, ms(35_010))]
    );
}

#[test]
fn slow_tu_gets_a_100_trying_that_stops_invite_retransmissions() {
    let mut p = InvitePair::new(invite(), Reliability::Unreliable);
    p.tu_script.push_back((ms(5_000), 486));
    p.run();
    assert_eq!(p.times_sent(Side::Server, "SIP/2.0 100 Trying"), [ms(210)]);
    assert_eq!(p.times_sent(Side::Client, "INVITE"), [ms(0)]);
    assert_eq!(p.times_sent(Side::Client, "ACK"), [ms(5_010)]);
    let server = p.events_of(Side::Server);
    assert!(!server.iter().any(|e| matches!(e, TuEvent::Timeout)));
    assert!(p.server.as_ref().unwrap().is_terminated());
}

#[test]
fn lost_ack_gets_the_final_response_again_and_a_new_ack() {
    let mut p = InvitePair::new(invite(), Reliability::Unreliable);
    p.tu_script.push_back((ms(50), 486));
    // The INVITE gets through; the first ACK is lost.
    let mut acks = 0;
    p.loss_to_server = Box::new(move |_, m| {
        if m.method() == Some(&Method::Ack) {
            acks += 1;
            acks == 1
        } else {
            false
        }
    });
    p.run();
    // 486 at 50 ms, lost ACK, timer G resends at 550 ms, new ACK.
    assert_eq!(p.times_sent(Side::Server, "SIP/2.0 486"), [50, 550].map(ms));
    let acks: Vec<_> = p
        .sent_by(Side::Client)
        .into_iter()
        .filter(|s| s.line.starts_with("ACK"))
        .collect();
    assert_eq!(acks.len(), 2);
    assert!(acks[0].dropped && !acks[1].dropped);
    assert_eq!(acks[0].msg.as_bytes(), acks[1].msg.as_bytes());
    // Every ACK finds the server transaction.
    let server_key = p.server.as_ref().unwrap().key().clone();
    assert_eq!(
        TransactionKey::for_server(&acks[0].msg).unwrap(),
        server_key
    );
    let client = p.events_of(Side::Client);
    assert_eq!(count(&client, |e| is_final(e, 486)), 1);
    assert_eq!(
        count(&client, |e| matches!(e, TuEvent::RetransmissionAbsorbed)),
        1
    );
    let server = p.events_of(Side::Server);
    assert!(!server.iter().any(|e| matches!(e, TuEvent::Timeout)));
}

#[test]
fn timer_h_fires_when_every_ack_is_lost() {
    let mut p = InvitePair::new(invite(), Reliability::Unreliable);
    p.tu_script.push_back((ms(50), 486));
    p.loss_to_server = Box::new(|_, m| m.method() == Some(&Method::Ack));
    p.run();
    let server = p.events_of(Side::Server);
    assert!(matches!(
        server.as_slice(),
        [.., TuEvent::Timeout, TuEvent::Terminated]
    ));
    let timeout_at = p
        .events
        .iter()
        .find(|(_, side, e)| *side == Side::Server && matches!(e, TuEvent::Timeout))
        .map(|(at, _, _)| *at);
    assert_eq!(timeout_at, Some(ms(50 + 32_000)));
    // The client re-ACKed every retransmission that reached it, and told its TU once.
    let client = p.events_of(Side::Client);
    assert_eq!(count(&client, |e| is_final(e, 486)), 1);
    assert_eq!(
        p.times_sent(Side::Client, "ACK").len(),
        p.times_sent(Side::Server, "SIP/2.0 486").len()
    );
}

#[test]
fn reliable_transport_pair_sends_everything_once() {
    let mut p = InvitePair::new(invite(), Reliability::Reliable);
    p.tu_script.push_back((ms(1_000), 486));
    p.run();
    assert_eq!(p.times_sent(Side::Client, "INVITE"), [ms(0)]);
    assert_eq!(p.times_sent(Side::Server, "SIP/2.0 486"), [ms(1_000)]);
    assert_eq!(p.times_sent(Side::Client, "ACK"), [ms(1_010)]);
    // D and I are zero: both ends finish as soon as the ACK is sent and received.
    let ends: Vec<_> = p
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, TuEvent::Terminated))
        .map(|(at, _, _)| *at)
        .collect();
    assert_eq!(ends, [ms(1_010), ms(1_020)]);
}

#[test]
fn non_invite_request_survives_early_losses() {
    let mut p = Pair::<ClientNonInvite, ServerNonInvite>::new(options(), Reliability::Unreliable);
    p.tu_script.push_back((ms(0), 200));
    p.loss_to_server = drop_first(3);
    p.run();
    assert_eq!(
        p.times_sent(Side::Client, "OPTIONS"),
        [0, 500, 1500, 3500].map(ms)
    );
    assert_eq!(p.times_sent(Side::Server, "SIP/2.0 200"), [ms(3_510)]);
    let client = p.events_of(Side::Client);
    assert!(matches!(
        client.as_slice(),
        [TuEvent::Response(_), TuEvent::Terminated]
    ));
    let ends: Vec<_> = p
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, TuEvent::Terminated))
        .map(|(at, side, _)| (*side, *at))
        .collect();
    // K = T4 after the 200 arrives; J = 64*T1 after it was sent.
    assert_eq!(
        ends,
        [(Side::Client, ms(8_520)), (Side::Server, ms(35_510))]
    );
}

/// Random loss in both directions: whatever is lost, both ends finish, and the client's
/// TU hears of one non-2xx final response (or a timeout, when nothing got through).
/// For a 2xx the server's TU retransmits it (§13.3.1.4) and each copy that arrives is
/// passed up.
#[test]
fn random_loss_never_confuses_either_side() {
    let mut completed = 0;
    for seed in 1..=60u64 {
        let code = [486, 200, 302][(seed % 3) as usize];
        let mut p = InvitePair::new(invite(), Reliability::Unreliable);
        p.tu_script.push_back((ms(40), 180));
        if code == 200 {
            for at in [900, 1_400, 2_400, 4_400, 8_400, 12_400, 16_400, 20_400] {
                p.tu_script.push_back((ms(at), 200));
            }
        } else {
            p.tu_script.push_back((ms(900), code));
        }
        p.loss_to_server = drop_random(seed, 30);
        p.loss_to_client = drop_random(seed.wrapping_mul(7919), 30);
        p.run();
        let client = p.events_of(Side::Client);
        assert_eq!(
            count(&client, |e| matches!(e, TuEvent::Terminated)),
            1,
            "seed {seed}"
        );
        assert!(matches!(client.last(), Some(TuEvent::Terminated)));
        let finals = count(&client, |e| is_final(e, code));
        let timeouts = count(&client, |e| matches!(e, TuEvent::Timeout));
        assert!(finals + timeouts >= 1, "seed {seed}");
        if code != 200 {
            assert!(finals <= 1, "seed {seed}");
        }
        if finals > 0 {
            assert_eq!(timeouts, 0, "seed {seed}");
        }
        if let Some(server) = &p.server {
            assert!(server.is_terminated(), "seed {seed}");
        }
        completed += usize::from(finals >= 1);
    }
    assert!(completed >= 55, "only {completed} of 60 completed");
}
