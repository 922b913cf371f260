//! Random event sequences against each machine: no panic, states only move forward,
//! no deadline in the past, and nothing after Terminated.

use proptest::prelude::*;

use super::support::*;
use crate::message::Message;
use crate::transaction::client_invite::build_ack;
use crate::transaction::{
    ClientInvite, ClientNonInvite, Reliability, ServerInvite, ServerNonInvite, TimerConfig, TuEvent,
};

#[derive(Debug, Clone)]
enum Op {
    /// Time passes (ms); due timers are handled as an event loop would.
    Advance(u64),
    /// A response to the transaction's request arrives.
    Response(u16),
    /// The request arrives again.
    Retransmit,
    /// An ACK for the request arrives.
    Ack,
    /// A request and a response of some other transaction arrive.
    Foreign,
    /// The TU answers (server side; refused by clients).
    TuRespond(u16),
    TransportError,
    /// `on_timeout` whether or not anything is due.
    Timeout,
}

fn code() -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(vec![100u16, 180, 183, 200, 202, 302, 404, 486, 500, 603]),
        100u16..700,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..40_000).prop_map(Op::Advance),
        3 => (0u64..1_000).prop_map(Op::Advance),
        3 => code().prop_map(Op::Response),
        2 => Just(Op::Retransmit),
        2 => Just(Op::Ack),
        1 => Just(Op::Foreign),
        3 => code().prop_map(Op::TuRespond),
        1 => Just(Op::TransportError),
        1 => Just(Op::Timeout),
    ]
}

fn config() -> impl Strategy<Value = TimerConfig> {
    (
        1u64..2_000,
        1u64..8_000,
        0u64..10_000,
        0u64..40_000,
        prop::option::of(0u64..500),
    )
        .prop_map(|(t1, t2, t4, d, trying)| TimerConfig {
            t1: ms(t1),
            t2: ms(t2),
            t4: ms(t4),
            timer_d: ms(d),
            trying_delay: trying.map(ms),
        })
}

fn scenario() -> impl Strategy<Value = (bool, TimerConfig, Vec<Op>)> {
    (
        any::<bool>(),
        prop_oneof![Just(TimerConfig::default()), config()],
        prop::collection::vec(op(), 0..60),
    )
}

fn check<T: Endpoint>(
    req: Message,
    reliable: bool,
    config: TimerConfig,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let mut clock = Clock::new();
    let reliability = if reliable {
        Reliability::Reliable
    } else {
        Reliability::Unreliable
    };
    let mut t = T::create(clock.now, req.clone(), reliability, config).unwrap();
    let method = req.method().unwrap().as_str().to_owned();
    let mut prev = t.state();
    let mut terminated = false;
    for op in ops {
        let now = clock.now;
        match op {
            Op::Advance(d) => {
                let now = clock.advance(ms(d));
                if t.poll_timeout().is_some_and(|at| at <= now) {
                    t.on_timeout(now);
                }
            }
            Op::Response(c) => {
                let _ = t.receive(now, response(&req, c));
            }
            Op::Retransmit => {
                let _ = t.receive(now, req.clone());
            }
            Op::Ack => {
                if let Ok(ack) = build_ack(&req, &response(&req, 486)) {
                    let _ = t.receive(now, ack);
                }
            }
            Op::Foreign => {
                let other = request(&method, "z9hG4bKforeign");
                prop_assert!(t.receive(now, response(&other, 200)).is_err());
                prop_assert!(t.receive(now, other).is_err());
            }
            Op::TuRespond(c) => {
                let _ = t.respond(now, response(&req, c));
            }
            Op::TransportError => t.on_transport_error(),
            Op::Timeout => t.on_timeout(now),
        }
        while t.poll_transmit().is_some() {}
        while let Some(e) = t.poll_event() {
            prop_assert!(!terminated, "{e:?} after Terminated");
            terminated = matches!(e, TuEvent::Terminated);
        }
        let state = t.state();
        prop_assert!(state >= prev, "{prev:?} -> {state:?}");
        prev = state;
        prop_assert_eq!(t.is_terminated(), terminated);
        if let Some(at) = t.poll_timeout() {
            prop_assert!(!terminated, "timer running after Terminated");
            prop_assert!(at >= clock.now, "deadline in the past");
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn client_invite_survives_anything((reliable, config, ops) in scenario()) {
        check::<ClientInvite>(invite(), reliable, config, ops)?;
    }

    #[test]
    fn client_non_invite_survives_anything((reliable, config, ops) in scenario()) {
        check::<ClientNonInvite>(options(), reliable, config, ops)?;
    }

    #[test]
    fn server_invite_survives_anything((reliable, config, ops) in scenario()) {
        check::<ServerInvite>(invite(), reliable, config, ops)?;
    }

    #[test]
    fn server_non_invite_survives_anything((reliable, config, ops) in scenario()) {
        check::<ServerNonInvite>(options(), reliable, config, ops)?;
    }
}
