use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use palisade_sip::edit::response_to;
use palisade_sip::{HeaderName, Message, Method, ParseLimits, Transport};

use crate::config::{B2buaConfig, SideAddrs, Upstream};
use crate::media::{MediaControl, MediaError, MediaRemote};
use crate::policy::{Admission, CallAttempt, CallPolicy, FraudAlert};
use crate::types::{Destination, Inbound, Protocol, Side, Source, Transmit};
use crate::{B2bua, Event};

/// A media relay that only allocates ports and records what it is told.
#[derive(Debug, Default)]
pub(crate) struct TestMedia {
    /// Port pairs left; `None` is unlimited.
    pub(crate) free: Option<usize>,
    next_port: u16,
    /// Open sessions: call -> each stream's RTP address per leg.
    pub(crate) sessions: HashMap<u64, Vec<[SocketAddr; 2]>>,
    /// Every set_remote: (call, leg, stream, remote).
    pub(crate) remotes: Vec<(u64, usize, usize, MediaRemote)>,
    /// Every set_hold: (call, leg, on hold).
    pub(crate) holds: Vec<(u64, usize, bool)>,
    /// Sessions closed, in order.
    pub(crate) closed: Vec<u64>,
    /// Calls reported answered, in order.
    pub(crate) answered: Vec<u64>,
    /// Sessions opened, in order.
    pub(crate) opened: Vec<u64>,
}

impl TestMedia {
    fn pair(&mut self, local: [IpAddr; 2]) -> Result<[SocketAddr; 2], MediaError> {
        if let Some(free) = &mut self.free {
            if *free < 2 {
                return Err(MediaError::Exhausted);
            }
            *free -= 2;
        }
        let base = 30000 + self.next_port;
        self.next_port += 4;
        Ok([
            SocketAddr::new(local[0], base),
            SocketAddr::new(local[1], base + 2),
        ])
    }

    /// The last remote told for (call, leg, stream).
    pub(crate) fn remote(&self, call: u64, leg: usize, stream: usize) -> Option<&MediaRemote> {
        self.remotes
            .iter()
            .rev()
            .find(|(c, l, s, _)| (*c, *l, *s) == (call, leg, stream))
            .map(|(_, _, _, r)| r)
    }
}

impl MediaControl for TestMedia {
    fn open(
        &mut self,
        call: u64,
        streams: usize,
        local: [IpAddr; 2],
    ) -> Result<Vec<[SocketAddr; 2]>, MediaError> {
        assert!(
            !self.sessions.contains_key(&call),
            "session {call} opened twice"
        );
        let saved = (self.free, self.next_port);
        let mut ports = Vec::new();
        for _ in 0..streams {
            match self.pair(local) {
                Ok(p) => ports.push(p),
                Err(e) => {
                    (self.free, self.next_port) = saved;
                    return Err(e);
                }
            }
        }
        self.sessions.insert(call, ports.clone());
        self.opened.push(call);
        Ok(ports)
    }

    fn add_stream(&mut self, call: u64) -> Result<[SocketAddr; 2], MediaError> {
        let local = {
            let s = self
                .sessions
                .get(&call)
                .expect("add_stream on an open session");
            s.first().map_or([addr(ACCESS).ip(), addr(CORE).ip()], |p| {
                [p[0].ip(), p[1].ip()]
            })
        };
        let p = self.pair(local)?;
        self.sessions.get_mut(&call).unwrap().push(p);
        Ok(p)
    }

    fn remote(&mut self, call: u64, leg: usize, stream: usize, remote: MediaRemote) {
        assert!(
            self.sessions.contains_key(&call),
            "remote on a closed session"
        );
        self.remotes.push((call, leg, stream, remote));
    }

    fn hold(&mut self, call: u64, leg: usize, on_hold: bool) {
        assert!(
            self.sessions.contains_key(&call),
            "hold on a closed session"
        );
        self.holds.push((call, leg, on_hold));
    }

    fn answered(&mut self, call: u64) {
        self.answered.push(call);
    }

    fn close(&mut self, call: u64) {
        let ports = self
            .sessions
            .remove(&call)
            .expect("close of an open session");
        if let Some(free) = &mut self.free {
            *free += 2 * ports.len();
        }
        self.closed.push(call);
    }
}

/// A call policy played by the test: admits or refuses as told, records what it is asked.
#[derive(Debug, Default)]
pub(crate) struct TestPolicy {
    /// Refuse every call with this reason.
    pub(crate) refuse: Option<String>,
    /// The duration cap given to admitted calls.
    pub(crate) max_duration: Option<Duration>,
    /// Alerts to raise with the next admission.
    pub(crate) alerts: Vec<FraudAlert>,
    /// Every admission asked: (call, account, callee).
    pub(crate) asked: Vec<(u64, Option<String>, String)>,
    pub(crate) answered: Vec<u64>,
    pub(crate) ended: Vec<u64>,
    raised: Vec<FraudAlert>,
}

impl CallPolicy for TestPolicy {
    fn admit(&mut self, _now: Instant, a: &CallAttempt<'_>) -> Admission {
        self.asked
            .push((a.call, a.account.map(str::to_owned), a.callee.to_owned()));
        self.raised.append(&mut self.alerts);
        match &self.refuse {
            Some(reason) => Admission::Refuse {
                reason: reason.clone(),
            },
            None => Admission::Admit {
                max_duration: self.max_duration,
                flagged: !self.raised.is_empty(),
            },
        }
    }

    fn answered(&mut self, _now: Instant, call: u64) {
        self.answered.push(call);
    }

    fn ended(&mut self, _now: Instant, call: u64) {
        self.ended.push(call);
    }

    fn poll_alert(&mut self) -> Option<FraudAlert> {
        self.raised.pop()
    }
}

pub(crate) const PHONE: &str = "198.51.100.7:40000";
pub(crate) const ACCESS: &str = "203.0.113.10:5060";
pub(crate) const CORE: &str = "127.0.0.1:5062";
pub(crate) const PBX: &str = "127.0.0.1:5080";
pub(crate) const PBX2: &str = "127.0.0.1:5081";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn msg(text: &str) -> Message {
    let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    Message::parse(
        Bytes::from(text),
        Transport::Datagram,
        &ParseLimits::default(),
    )
    .unwrap()
}

pub(crate) struct World {
    pub(crate) b: B2bua<u32, TestMedia, TestPolicy>,
    pub(crate) now: Instant,
    pub(crate) events: Vec<Event>,
    /// Answer upstream OPTIONS probes with 200 as they go out.
    pub(crate) answer_probes: bool,
    /// Sent messages not yet looked at.
    pending: Vec<Transmit<u32>>,
}

pub(crate) fn config(upstreams: &[&str]) -> B2buaConfig {
    let mut cfg = B2buaConfig::new(
        SideAddrs {
            listeners: vec![(Protocol::Udp, addr(ACCESS))],
            advertise: None,
        },
        SideAddrs {
            listeners: vec![(Protocol::Udp, addr(CORE))],
            advertise: None,
        },
        upstreams
            .iter()
            .map(|u| Upstream {
                name: format!("sip:{u}"),
                addr: addr(u),
                protocol: Protocol::Udp,
            })
            .collect(),
    );
    // Registration caching has tests of its own (registration.rs); the others see the
    // PBX's expiry.
    cfg.registration.nat_expires = 0;
    // Who may call has tests of its own (calling.rs); the others call from anywhere.
    cfg.calling.registered_only = false;
    cfg
}

impl World {
    /// Upstreams are probed hourly, so probes do not get in the way of a test.
    pub(crate) fn new(upstreams: &[&str]) -> Self {
        let mut cfg = config(upstreams);
        cfg.probe.interval = Duration::from_secs(3600);
        Self::with_config(cfg)
    }

    /// The recording media relay.
    pub(crate) fn media(&self) -> &TestMedia {
        self.b.media()
    }

    pub(crate) fn with_config(cfg: B2buaConfig) -> Self {
        let now = Instant::now();
        let mut w = Self {
            b: B2bua::with_policy(
                cfg,
                [42; 32],
                now,
                TestMedia::default(),
                TestPolicy::default(),
            ),
            now,
            events: Vec::new(),
            answer_probes: true,
            pending: Vec::new(),
        };
        w.take();
        w
    }

    fn is_probe(t: &Transmit<u32>) -> bool {
        t.side == Side::Core
            && t.message.method() == Some(&Method::Options)
            && t.message
                .from()
                .is_ok_and(|f| f.uri.as_str().starts_with("sip:palisade@"))
    }

    pub(crate) fn inbound(&mut self, side: Side, remote: SocketAddr, flow: u32, m: Message) {
        self.b.handle_inbound(
            self.now,
            Inbound {
                source: Source {
                    side,
                    protocol: Protocol::Udp,
                    flow,
                    remote,
                },
                message: m,
            },
        );
        while let Some(e) = self.b.poll_event() {
            self.events.push(e);
        }
    }

    pub(crate) fn phone_sends(&mut self, m: Message) {
        self.inbound(Side::Access, addr(PHONE), 1, m);
    }

    pub(crate) fn phone_sends_malformed(&mut self, bytes: &[u8], err: &palisade_sip::MessageError) {
        self.b.handle_malformed(
            Source {
                side: Side::Access,
                protocol: Protocol::Udp,
                flow: 1,
                remote: addr(PHONE),
            },
            bytes,
            err,
        );
    }

    pub(crate) fn pbx_sends(&mut self, m: Message) {
        self.pbx_sends_from(addr(PBX), m);
    }

    pub(crate) fn pbx_sends_from(&mut self, at: SocketAddr, m: Message) {
        self.inbound(Side::Core, at, 2, m);
    }

    /// Moves sent messages to `pending`, answering probes on the way.
    fn collect(&mut self) {
        loop {
            let mut probes = Vec::new();
            while let Some(t) = self.b.poll_transmit() {
                if self.answer_probes && Self::is_probe(&t) {
                    probes.push(t);
                } else {
                    self.pending.push(t);
                }
            }
            if probes.is_empty() {
                return;
            }
            for p in probes {
                let r = reply(&p.message, 200, None);
                self.pbx_sends_from(p.destination.remote(), r);
            }
        }
    }

    pub(crate) fn take(&mut self) -> Vec<Transmit<u32>> {
        self.collect();
        std::mem::take(&mut self.pending)
    }

    /// Messages sent to one side, checking each one's destination.
    pub(crate) fn sent_to(&mut self, side: Side) -> Vec<Message> {
        let all = self.take();
        for t in &all {
            assert_eq!(
                t.side, side,
                "unexpected message to {:?}: {:?}",
                t.side, t.message
            );
            match side {
                Side::Access => assert!(
                    matches!(t.destination, Destination::Flow { flow: 1, .. }),
                    "phone messages go back over its flow"
                ),
                Side::Core => assert!(matches!(
                    t.destination,
                    Destination::Address { .. } | Destination::Flow { flow: 2, .. }
                )),
            }
            assert_no_leak(side, &t.message);
        }
        all.into_iter().map(|t| t.message).collect()
    }

    /// Every message, all of which must go to `side`.
    pub(crate) fn all_sent_to(&mut self, side: Side) -> Vec<Message> {
        let all = self.take();
        let (mine, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|t| t.side == side);
        self.pending = others;
        for t in &mine {
            assert_no_leak(side, &t.message);
        }
        mine.into_iter().map(|t| t.message).collect()
    }

    /// Exactly one message to `side`.
    pub(crate) fn one_sent_to(&mut self, side: Side) -> Message {
        let mut v = self.sent_to(side);
        assert_eq!(v.len(), 1, "expected one message to {side:?}, got {v:#?}");
        v.remove(0)
    }

    pub(crate) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.b.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.b.handle_timeout(self.now);
            self.collect();
        }
        self.now = end;
        self.b.handle_timeout(self.now);
        while let Some(e) = self.b.poll_event() {
            self.events.push(e);
        }
    }
}

impl Drop for World {
    /// No media session outlives its call.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.media().sessions.len() <= self.b.calls(),
                "media sessions leaked: {:?} open for {} calls",
                self.media().sessions.keys().collect::<Vec<_>>(),
                self.b.calls()
            );
        }
    }
}

/// Topology hiding: nothing of the other side's addresses appears in a message, SDP
/// included (the media relay's addresses replace the endpoints').
pub(crate) fn assert_no_leak(toward: Side, m: &Message) {
    let text = String::from_utf8_lossy(m.as_bytes());
    let forbidden: &[&str] = match toward {
        // Ports as they appear after a host or in rport: random tags may hold the digits.
        Side::Access => &[
            "127.0.0.1",
            ":5080",
            "rport=5080",
            ":5062",
            "rport=5062",
            "pbx-internal",
            "core-call",
        ],
        Side::Core => &["198.51.100.7", "192.168.1.20", "phone-call"],
    };
    for f in forbidden {
        assert!(!text.contains(f), "{f} leaked toward {toward:?}:\n{text}");
    }
}

/// A response from a UA to `req`, with a Contact when it is a 1xx/2xx to a dialog
/// creating request.
pub(crate) fn reply(req: &Message, code: u16, to_tag: Option<&str>) -> Message {
    let mut b = response_to(req, code, to_tag);
    if (101..300).contains(&code) && req.method() == Some(&Method::Invite) {
        // Whoever answers: the phone (reached through Palisade's access address) or the PBX.
        let to_phone = req.via().unwrap().host_text == "203.0.113.10";
        b.header(
            HeaderName::Contact,
            if to_phone {
                "<sip:1001@192.168.1.20:5060>"
            } else {
                "<sip:pbx-internal@127.0.0.1:5080>"
            },
        );
    }
    b.build_message().unwrap()
}

pub(crate) const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

/// An INVITE from the phone (private addresses in Via, Contact and SDP).
pub(crate) fn phone_invite(call_id: &str, branch: &str) -> Message {
    msg(&format!(
        "INVITE sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch={branch};rport
Max-Forwards: 70
From: \"Alice\" <sip:1001@example.com>;tag=ph1
To: <sip:1002@example.com>
Call-ID: {call_id}
CSeq: 1 INVITE
Contact: <sip:1001@192.168.1.20:5060>
User-Agent: Phone/1.0
Supported: timer
Content-Type: application/sdp
Content-Length: {}

{SDP}",
        SDP.len()
    ))
}

/// An in-dialog request from the phone, given the response that set up the dialog.
pub(crate) fn phone_in_dialog(method: &str, cseq: u32, dialog: &Message, branch: &str) -> Message {
    let to = dialog.to().unwrap();
    let call_id = dialog.call_id().unwrap();
    msg(&format!(
        "{method} sip:1002@203.0.113.10 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch={branch};rport
Max-Forwards: 70
From: \"Alice\" <sip:1001@example.com>;tag=ph1
To: <sip:1002@example.com>;tag={}
Call-ID: {call_id}
CSeq: {cseq} {method}
Content-Length: 0

",
        to.tag().unwrap()
    ))
}

/// An in-dialog request from the PBX on the dialog of `invite` (which Palisade sent),
/// answered with `to_tag`.
pub(crate) fn pbx_in_dialog(
    method: &str,
    cseq: u32,
    invite: &Message,
    pbx_tag: &str,
    branch: &str,
) -> Message {
    let from = invite.from().unwrap();
    let call_id = invite.call_id().unwrap();
    msg(&format!(
        "{method} sip:palisade@127.0.0.1:5062 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5080;branch={branch}
Max-Forwards: 70
From: <sip:1002@example.com>;tag={pbx_tag}
To: <sip:1001@example.com>;tag={}
Call-ID: {call_id}
CSeq: {cseq} {method}
Content-Length: 0

",
        from.tag().unwrap()
    ))
}

pub(crate) fn has_event(w: &World, f: impl Fn(&Event) -> bool) -> bool {
    w.events.iter().any(f)
}
