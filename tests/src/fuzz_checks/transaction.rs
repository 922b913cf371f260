//! Random event sequences into the four transaction machines.
//!
//! The input is read as a script: which machine, which transport, then a series of
//! operations (advance the clock, feed a response or a retransmission, time out, fail the
//! transport, answer as the TU). Whatever the script, no machine may panic, its state may
//! only move forward, and its next deadline is never in the past once it has handled
//! everything due.

use std::time::{Duration, Instant};

use bytes::Bytes;
use palisade_sip::edit::response_to;
use palisade_sip::transaction::{
    ClientInvite, ClientNonInvite, Reliability, ServerInvite, ServerNonInvite, TimerConfig,
    Transaction,
};
use palisade_sip::{Message, ParseLimits, Transport};

fn message(text: &str) -> Message {
    Message::parse(
        Bytes::from(text.replace('\n', "\r\n")),
        Transport::Datagram,
        &ParseLimits::default(),
    )
    .unwrap()
}

fn request(method: &str) -> Message {
    message(&format!(
        "{method} sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKfuzz
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a
To: <sip:bob@example.com>
Call-ID: fuzz-call
CSeq: 1 {method}
Content-Length: 0

"
    ))
}

/// Status codes the script picks from: provisional, success, every failure class.
const CODES: [u16; 8] = [100, 180, 183, 200, 302, 404, 503, 603];

/// Reads the script one byte at a time, yielding zeros when it runs out.
struct Script<'a> {
    data: &'a [u8],
}

impl Script<'_> {
    fn next(&mut self) -> Option<u8> {
        let (first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*first)
    }
}

/// Drains what a machine wants sent and reported.
fn drain<T: Transaction>(t: &mut T) {
    while t.poll_transmit().is_some() {}
    while t.poll_event().is_some() {}
}

/// Handles every deadline due at `now`. Each timeout must move the deadline past `now`
/// within a few rounds: a machine that keeps asking for a timeout it has already had
/// would spin its caller.
fn expire<T: Transaction>(t: &mut T, now: Instant) {
    for _ in 0..16 {
        match t.poll_timeout() {
            Some(d) if d <= now => {
                t.on_timeout(now);
                drain(t);
            }
            _ => return,
        }
    }
    panic!("deadline stays in the past after repeated timeouts");
}

/// Runs the script against every machine kind; a state never moves backward.
pub fn transaction(data: &[u8]) {
    let mut s = Script { data };
    let kind = s.next().unwrap_or(0) % 4;
    let reliability = if s.next().unwrap_or(0).is_multiple_of(2) {
        Reliability::Unreliable
    } else {
        Reliability::Reliable
    };
    let config = TimerConfig::default();
    let mut now = Instant::now();
    let invite = request("INVITE");
    let options = request("OPTIONS");
    let ack = request("ACK");
    macro_rules! run {
        ($machine:expr, $feed:expr) => {{
            let mut t = $machine;
            let mut last = t.state();
            drain(&mut t);
            while let Some(op) = s.next() {
                let arg = s.next().unwrap_or(0);
                match op % 4 {
                    0 => now += Duration::from_millis(u64::from(arg) * 97),
                    1 => expire(&mut t, now),
                    2 => t.on_transport_error(),
                    _ => {
                        let code = CODES[usize::from(arg) % CODES.len()];
                        #[allow(clippy::redundant_closure_call)]
                        ($feed)(&mut t, now, code, arg);
                    }
                }
                drain(&mut t);
                let state = t.state();
                assert!(state >= last, "state went back from {last:?} to {state:?}");
                last = state;
            }
        }};
    }
    match kind {
        0 => run!(
            ClientInvite::new(now, invite.clone(), reliability, config).unwrap(),
            |t: &mut ClientInvite, now, code, arg: u8| {
                let tag = (!arg.is_multiple_of(3)).then_some("b");
                let r = response_to(&invite, code, tag).build_message().unwrap();
                let _ = t.on_response(now, r);
            }
        ),
        1 => run!(
            ClientNonInvite::new(now, options.clone(), reliability, config).unwrap(),
            |t: &mut ClientNonInvite, now, code, _arg| {
                let r = response_to(&options, code, Some("b"))
                    .build_message()
                    .unwrap();
                let _ = t.on_response(now, r);
            }
        ),
        2 => run!(
            ServerInvite::new(now, invite.clone(), reliability, config).unwrap(),
            |t: &mut ServerInvite, now, code, arg: u8| match arg % 3 {
                0 => {
                    let _ = t.on_request(now, invite.clone());
                }
                1 => {
                    let _ = t.on_request(now, ack.clone());
                }
                _ => {
                    let r = response_to(&invite, code, Some("b"))
                        .build_message()
                        .unwrap();
                    let _ = t.send_response(now, r);
                }
            }
        ),
        _ => run!(
            ServerNonInvite::new(now, options.clone(), reliability, config).unwrap(),
            |t: &mut ServerNonInvite, now, code, arg: u8| {
                if arg.is_multiple_of(2) {
                    let _ = t.on_request(now, options.clone());
                } else {
                    let r = response_to(&options, code, Some("b"))
                        .build_message()
                        .unwrap();
                    let _ = t.send_response(now, r);
                }
            }
        ),
    }
}
