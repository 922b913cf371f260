//! Fixtures shared by the transaction tests: a virtual clock, message builders, a
//! deterministic PRNG, and a lossy simulated link between a client and a server
//! transaction, in the style of quinn-proto's test `Pair`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::edit::response_to;
use crate::message::{Message, ParseLimits, Transport};
use crate::transaction::{
    ClientInvite, ClientNonInvite, Reliability, ServerInvite, ServerNonInvite, TimerConfig,
    Transaction, TransactionError, TuEvent,
};

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Time that only moves when a test says so.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub(super) base: Instant,
    pub(super) now: Instant,
}

impl Clock {
    pub(super) fn new() -> Self {
        let base = Instant::now();
        Self { base, now: base }
    }

    pub(super) fn advance(&mut self, d: Duration) -> Instant {
        self.now += d;
        self.now
    }

    /// Moves to `t` unless that is in the past.
    pub(super) fn advance_to(&mut self, t: Instant) -> Instant {
        self.now = self.now.max(t);
        self.now
    }

    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    pub(super) fn offset(&self, t: Instant) -> Duration {
        t - self.base
    }
}

/// xorshift64*: deterministic, seedable, no dependencies.
#[derive(Debug, Clone)]
pub(super) struct XorShift(u64);

impl XorShift {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `percent`/100.
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

pub(super) fn parse(b: &[u8]) -> Message {
    Message::parse(
        Bytes::copy_from_slice(b),
        Transport::Datagram,
        &ParseLimits::default(),
    )
    .unwrap()
}

/// A request with two Route header fields (the ACK must copy them) and a second Via
/// (the ACK must not).
pub(super) fn request(method: &str, branch: &str) -> Message {
    parse(
        format!(
            "{method} sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}, SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKlower\r\n\
Max-Forwards: 69\r\n\
Route: <sip:p1.example.com;lr>\r\n\
Route: <sip:p2.example.com;lr>\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: call-1@192.0.2.1\r\n\
CSeq: 7 {method}\r\n\
Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
}

pub(super) fn invite() -> Message {
    request("INVITE", "z9hG4bKinv1")
}

pub(super) fn options() -> Message {
    request("OPTIONS", "z9hG4bKopt1")
}

/// A response to `req` with To tag `srv`.
pub(super) fn response(req: &Message, code: u16) -> Message {
    response_to(req, code, Some("srv")).build_message().unwrap()
}

/// The first line of a message, for logs and assertions.
pub(super) fn start_line(m: &Message) -> String {
    let b = m.as_bytes();
    let end = b.iter().position(|&c| c == b'\r').unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Drains everything a machine wants to send.
pub(super) fn transmits<T: Transaction>(t: &mut T) -> Vec<Message> {
    std::iter::from_fn(|| t.poll_transmit()).collect()
}

/// Drains everything a machine wants to tell its TU.
pub(super) fn events<T: Transaction>(t: &mut T) -> Vec<TuEvent> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

/// What a machine did over time: (time from the clock's base, start line) of each
/// message sent, and (time, event) of each event.
pub(super) type Trace = (Vec<(Duration, String)>, Vec<(Duration, TuEvent)>);

/// Runs a machine alone, firing its timers until it has none left or `limit` passes;
/// returns when (from the clock's base) each message was sent, and the events.
pub(super) fn run_alone<T: Transaction>(t: &mut T, clock: &mut Clock, limit: Duration) -> Trace {
    let mut sent = Vec::new();
    let mut evs = Vec::new();
    loop {
        for m in transmits(t) {
            sent.push((clock.elapsed(), start_line(&m)));
        }
        for e in events(t) {
            evs.push((clock.elapsed(), e));
        }
        match t.poll_timeout() {
            Some(at) if clock.offset(at) <= limit => {
                let now = clock.advance_to(at);
                t.on_timeout(now);
            }
            _ => return (sent, evs),
        }
    }
}

/// Gaps between consecutive times.
pub(super) fn gaps(times: &[Duration]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// One machine as the simulated network and TU see it.
pub(super) trait Endpoint: Transaction + Sized {
    fn create(
        now: Instant,
        msg: Message,
        reliability: Reliability,
        config: TimerConfig,
    ) -> Result<Self, TransactionError>;
    /// A message from the network.
    fn receive(&mut self, now: Instant, msg: Message) -> Result<(), TransactionError>;
    /// A response from the TU (server side).
    fn respond(&mut self, now: Instant, msg: Message) -> Result<(), TransactionError>;
}

macro_rules! endpoint {
    ($ty:ty, receive = $recv:ident, respond = $resp:expr) => {
        impl Endpoint for $ty {
            fn create(
                now: Instant,
                msg: Message,
                reliability: Reliability,
                config: TimerConfig,
            ) -> Result<Self, TransactionError> {
                <$ty>::new(now, msg, reliability, config)
            }
            fn receive(&mut self, now: Instant, msg: Message) -> Result<(), TransactionError> {
                self.$recv(now, msg)
            }
            fn respond(&mut self, now: Instant, msg: Message) -> Result<(), TransactionError> {
                let f: fn(&mut Self, Instant, Message) -> Result<(), TransactionError> = $resp;
                f(self, now, msg)
            }
        }
    };
}

endpoint!(
    ClientInvite,
    receive = on_response,
    respond = |_, _, _| Err(TransactionError::WrongState)
);
endpoint!(
    ClientNonInvite,
    receive = on_response,
    respond = |_, _, _| Err(TransactionError::WrongState)
);
endpoint!(
    ServerInvite,
    receive = on_request,
    respond = ServerInvite::send_response
);
endpoint!(
    ServerNonInvite,
    receive = on_request,
    respond = ServerNonInvite::send_response
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Client,
    Server,
}

/// One message put on the wire.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub(super) at: Duration,
    pub(super) from: Side,
    pub(super) line: String,
    pub(super) dropped: bool,
    pub(super) msg: Message,
}

/// Decides whether the n-th message (from 0) in one direction is lost.
pub(super) type LossFn = Box<dyn FnMut(usize, &Message) -> bool>;

pub(super) fn lossless() -> LossFn {
    Box::new(|_, _| false)
}

pub(super) fn drop_first(n: usize) -> LossFn {
    Box::new(move |i, _| i < n)
}

pub(super) fn drop_random(seed: u64, percent: u64) -> LossFn {
    let mut rng = XorShift::new(seed);
    Box::new(move |_, _| rng.chance(percent))
}

/// A client transaction and the server transaction its request creates, joined by a link
/// with fixed latency and scripted loss; the server's TU answers on a script.
pub(super) struct Pair<C, S> {
    pub(super) clock: Clock,
    pub(super) client: C,
    pub(super) server: Option<S>,
    /// The request the server was created with: its TU answers it (the server itself
    /// lets go of it at its final response, and a TU may retransmit its 2xx after that).
    server_request: Option<Message>,
    pub(super) reliability: Reliability,
    pub(super) config: TimerConfig,
    pub(super) latency: Duration,
    pub(super) loss_to_server: LossFn,
    pub(super) loss_to_client: LossFn,
    counts: [usize; 2],
    to_server: VecDeque<(Instant, Message)>,
    to_client: VecDeque<(Instant, Message)>,
    /// The server TU's responses: (time from the start, status code).
    pub(super) tu_script: VecDeque<(Duration, u16)>,
    pub(super) sent: Vec<Sent>,
    pub(super) events: Vec<(Duration, Side, TuEvent)>,
}

impl<C: Endpoint, S: Endpoint> Pair<C, S> {
    pub(super) fn new(request: Message, reliability: Reliability) -> Self {
        let clock = Clock::new();
        let config = TimerConfig::default();
        let client = C::create(clock.now, request, reliability, config).unwrap();
        Self {
            clock,
            client,
            server: None,
            server_request: None,
            reliability,
            config,
            latency: ms(10),
            loss_to_server: lossless(),
            loss_to_client: lossless(),
            counts: [0; 2],
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            tu_script: VecDeque::new(),
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn flush(&mut self) {
        let now = self.clock.now;
        let at = self.clock.elapsed();
        while let Some(m) = self.client.poll_transmit() {
            let dropped = (self.loss_to_server)(self.counts[0], &m);
            self.counts[0] += 1;
            if !dropped {
                self.to_server.push_back((now + self.latency, m.clone()));
            }
            self.sent.push(Sent {
                at,
                from: Side::Client,
                line: start_line(&m),
                dropped,
                msg: m,
            });
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push((at, Side::Client, e));
        }
        let Some(server) = &mut self.server else {
            return;
        };
        while let Some(m) = server.poll_transmit() {
            let dropped = (self.loss_to_client)(self.counts[1], &m);
            self.counts[1] += 1;
            if !dropped {
                self.to_client.push_back((now + self.latency, m.clone()));
            }
            self.sent.push(Sent {
                at,
                from: Side::Server,
                line: start_line(&m),
                dropped,
                msg: m,
            });
        }
        while let Some(e) = server.poll_event() {
            self.events.push((at, Side::Server, e));
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let script = self
            .server
            .as_ref()
            .and_then(|_| self.tu_script.front())
            .map(|(d, _)| self.clock.base + *d);
        [
            self.client.poll_timeout(),
            self.server.as_ref().and_then(|s| s.poll_timeout()),
            self.to_server.front().map(|(t, _)| *t),
            self.to_client.front().map(|(t, _)| *t),
            script,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances to the next thing that happens and handles it; false when nothing is left.
    pub(super) fn step(&mut self) -> bool {
        self.flush();
        let Some(t) = self.next_time() else {
            return false;
        };
        let now = self.clock.advance_to(t);
        while self.to_server.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, m)) = self.to_server.pop_front() else {
                break;
            };
            match &mut self.server {
                None => {
                    self.server_request = Some(m.clone());
                    self.server = Some(S::create(now, m, self.reliability, self.config).unwrap())
                }
                // A terminated server refuses; a real element would start a new one.
                Some(s) => {
                    let _ = s.receive(now, m);
                }
            }
        }
        while self.to_client.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, m)) = self.to_client.pop_front() else {
                break;
            };
            let _ = self.client.receive(now, m);
        }
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.on_timeout(now);
        }
        if let (Some(s), Some(request)) = (&mut self.server, &self.server_request) {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.on_timeout(now);
            }
            while self
                .tu_script
                .front()
                .is_some_and(|(d, _)| self.clock.base + *d <= now)
            {
                let Some((_, code)) = self.tu_script.pop_front() else {
                    break;
                };
                let r = response(request, code);
                s.respond(now, r).unwrap();
            }
        }
        self.flush();
        true
    }

    /// Runs until neither side has anything left to do.
    pub(super) fn run(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the pair never settled");
    }

    /// Start lines sent by `from`, with their times and whether they were lost.
    pub(super) fn sent_by(&self, from: Side) -> Vec<&Sent> {
        self.sent.iter().filter(|s| s.from == from).collect()
    }

    pub(super) fn times_sent(&self, from: Side, line_prefix: &str) -> Vec<Duration> {
        self.sent
            .iter()
            .filter(|s| s.from == from && s.line.starts_with(line_prefix))
            .map(|s| s.at)
            .collect()
    }

    pub(super) fn events_of(&self, side: Side) -> Vec<&TuEvent> {
        self.events
            .iter()
            .filter(|(_, s, _)| *s == side)
            .map(|(_, _, e)| e)
            .collect()
    }
}
