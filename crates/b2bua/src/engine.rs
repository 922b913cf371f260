//! The B2BUA engine: routes each message to a transaction, a call or a registration, and
//! turns what happens on one leg into what must happen on the other.
//!
//! Driven like the transaction machines it owns: [`B2bua::handle_inbound`] and
//! [`B2bua::handle_timeout`] take the current time, [`B2bua::poll_transmit`] hands out
//! what to send and [`B2bua::poll_timeout`] says when to call again.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use palisade_sip::edit::{Builder, response_to, response_with_reason};
use palisade_sip::headers::ContactValue;
use palisade_sip::sdp::{Sdp, SdpLimits};
use palisade_sip::transaction::{Reliability, TransactionKey, TransactionTable, TuEvent};
use palisade_sip::validate::{check_request, check_response};
use palisade_sip::{HeaderName, Message, Method, Verdict};

use crate::call::Ending;
use crate::call::{Call, CallState, CancelState, OkRetransmit};
use crate::config::{B2buaConfig, SideAddrs};
use crate::event::{EndedBy, Event};
use crate::ids::IdGen;
use crate::leg::{Leg, carries_contact, contact_value, party_without_tag, push_params};
use crate::media::{BodyError, MediaControl, NoMedia, has_sdp, on_hold, remote_of, rewrite};
use crate::policy::{Admission, CallAttempt, CallPolicy, OpenPolicy};
use crate::registrar::{Binding, Registrar, Token};
use crate::relay::{copy_body, copy_headers, copy_referral, rehost};
use crate::replaces::DialogRef;
use crate::timers::Timers;
use crate::txn::{ClientTxn, ServerTxn};
use crate::types::{Destination, Inbound, Protocol, Side, Source, Transmit};
use crate::upstream::UpstreamState;

/// Why a server transaction exists.
#[derive(Debug, Clone)]
enum ServerCtx {
    /// Answered by Palisade itself.
    Local,
    /// The request that started a call, on the call's leg 0.
    CallStart { call: u64 },
    /// An in-dialog request being relayed to the other leg.
    InDialog { call: u64 },
    /// A request relayed outside any dialog (REGISTER, MESSAGE, OPTIONS ...).
    Relay,
}

#[derive(Debug)]
struct ServerEntry<F> {
    txn: ServerTxn,
    reply: Destination<F>,
    side: Side,
    ctx: ServerCtx,
    /// The deadline the timers hold for this transaction, so that draining it again
    /// does not push the same deadline twice.
    armed: Option<Instant>,
}

/// A registration relayed to the PBX: what to remember until its response.
#[derive(Debug, Clone)]
struct RegisterCtx<F> {
    aor: String,
    /// (token, the phone's contact URI) for each contact of the request.
    contacts: Vec<(Token, String)>,
    star: bool,
    phone: Destination<F>,
    /// The phone is behind NAT and registration caching applies: the PBX was asked for
    /// `core_expires`, the phone is told `nat_expires`.
    cached: bool,
}

/// A response to a client transaction, or the stand-in for one that never came.
#[derive(Debug, Clone)]
struct Reply {
    message: Message,
    /// Made up by Palisade: the transaction timed out or the transport failed. Only
    /// these, and a 503, say that an upstream cannot take requests; a 408 the PBX sent
    /// itself proves it alive.
    synthetic: bool,
}

impl Reply {
    fn upstream_failed(&self) -> bool {
        self.synthetic || self.message.status() == Some(503)
    }
}

/// Why a client transaction exists.
#[derive(Debug, Clone)]
enum ClientCtx<F> {
    /// The request on leg 1 that a call started with.
    CallStart { call: u64 },
    /// A relayed request whose response goes back to a server transaction.
    Relay {
        server: TransactionKey,
        call: Option<u64>,
        register: Option<Box<RegisterCtx<F>>>,
        upstream: Option<usize>,
    },
    /// A request of Palisade's own inside a call (BYE, CANCEL).
    Own { call: u64 },
    /// An OPTIONS health probe.
    Probe { upstream: usize },
    /// An OPTIONS keep-alive to a phone behind NAT.
    KeepAlive { token: Token },
}

#[derive(Debug)]
struct ClientEntry<F> {
    txn: ClientTxn,
    dest: Destination<F>,
    side: Side,
    ctx: ClientCtx<F>,
    /// As [`ServerEntry::armed`].
    armed: Option<Instant>,
}

/// Something with a deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TimerRef {
    Server(TransactionKey),
    Client(TransactionKey),
    Call(u64),
    Binding(Token),
    Probe(usize),
    /// A probe's answer is due: an upstream that has not answered by then failed it.
    ProbeTimeout(usize),
    /// Time to ping the phone of a binding behind NAT.
    KeepAlive(Token),
}

/// Identifies a dialog from Palisade's side: side, Call-ID and our tag.
type DialogKey = (Side, String, String);

/// The B2BUA. `F` is the IO layer's flow handle, `M` the media relay it anchors SDP at,
/// `P` the policy that admits access-side calls.
#[derive(Debug)]
pub struct B2bua<F, M = NoMedia, P = OpenPolicy> {
    cfg: B2buaConfig,
    media: M,
    policy: P,
    ids: IdGen,
    /// Boxed, as `calls`: tens of thousands of transactions linger 64 x T1 at a steady
    /// call rate, and a table of pointer-sized slots doubles (and rehashes) a few
    /// megabytes, not tens.
    servers: TransactionTable<Box<ServerEntry<F>>>,
    clients: TransactionTable<Box<ClientEntry<F>>>,
    /// Boxed: a call is over a kilobyte, and a table holds up to twice as many slots as
    /// entries; slots of a pointer keep the empty ones cheap.
    calls: HashMap<u64, Box<Call<F>>>,
    next_call: u64,
    dialogs: HashMap<DialogKey, (u64, usize)>,
    registrar: Registrar<F>,
    upstreams: Vec<UpstreamState>,
    timers: Timers<TimerRef>,
    /// The deadlines' count at which the dead ones are dropped (`compact_timers`).
    timers_compact_at: usize,
    /// Ringing deadlines. Every call has one and they all lie `invite_timeout` ahead, so
    /// a queue in arrival order is in deadline order: no lookup needed for the most common
    /// timer, and an answered call's entry costs a pop when it comes due.
    ring_deadlines: VecDeque<(Instant, u64)>,
    outbox: VecDeque<Transmit<F>>,
    events: VecDeque<Event>,
    draining: bool,
    /// REGISTERs answered by Palisade without the PBX (registration caching).
    registrations_absorbed: u64,
    /// Set by the IO layer while the messages it hands over waited too long: new calls
    /// get 503.
    overloaded: bool,
}

/// The longest session interval Palisade asks a PBX for after its 422 (a day, as
/// `calls.session_timer.default_interval`).
const MAX_SESSION_INTERVAL: u32 = 86_400;

/// The timers are never compacted below this many deadlines: a few thousand dead
/// entries cost little, and compacting them often would cost more.
const TIMERS_COMPACT_MIN: usize = 4096;

/// The Session-Expires Palisade adds to the first request of a call toward `side`, if it
/// adds one (`insert`: `B2buaConfig::session_insert`). RFC 4028 §7.4: a phone that asks
/// for no session timer gets one refreshed by the PBX (refresher=uas: the phone did not
/// say it supports timers), and Palisade ends the call when the refreshes stop.
fn session_to_insert(insert: Option<u32>, first: &Message, side: Side) -> Option<u32> {
    let secs = insert?;
    (side == Side::Core
        && first.method() == Some(&Method::Invite)
        && first.session_expires().is_none())
    .then_some(secs)
}

/// Max-Forwards for a request relayed from one that had `incoming`.
fn decrement(incoming: Option<u32>) -> u32 {
    incoming.map_or(70, |m| m.saturating_sub(1).min(70))
}

fn reliability(p: Protocol) -> Reliability {
    if p.is_stream() {
        Reliability::Reliable
    } else {
        Reliability::Unreliable
    }
}

impl<F: Clone + PartialEq + std::fmt::Debug> B2bua<F, NoMedia> {
    /// A B2BUA without a media relay: SDP crosses unchanged. `seed` must be secret and
    /// random: every tag, branch and Call-ID Palisade writes is derived from it.
    pub fn new(cfg: B2buaConfig, seed: [u8; 32], now: Instant) -> Self {
        Self::with_media(cfg, seed, now, NoMedia)
    }
}

impl<F: Clone + PartialEq + std::fmt::Debug, M: MediaControl> B2bua<F, M, OpenPolicy> {
    /// A B2BUA that anchors every call's media at `media`, and admits every call that
    /// [`B2buaConfig::calling`] lets through.
    pub fn with_media(cfg: B2buaConfig, seed: [u8; 32], now: Instant, media: M) -> Self {
        Self::with_policy(cfg, seed, now, media, OpenPolicy)
    }
}

impl<F: Clone + PartialEq + std::fmt::Debug, M: MediaControl, P: CallPolicy> B2bua<F, M, P> {
    /// A B2BUA that anchors every call's media at `media` and asks `policy` before an
    /// access-side call starts.
    pub fn with_policy(
        cfg: B2buaConfig,
        seed: [u8; 32],
        now: Instant,
        media: M,
        policy: P,
    ) -> Self {
        let upstreams = cfg
            .upstreams
            .iter()
            .cloned()
            .map(|u| UpstreamState::new(u, now))
            .collect::<Vec<_>>();
        let mut me = Self {
            cfg,
            media,
            policy,
            ids: IdGen::new(seed),
            servers: TransactionTable::new(),
            clients: TransactionTable::new(),
            calls: HashMap::new(),
            next_call: 1,
            dialogs: HashMap::new(),
            registrar: Registrar::default(),
            upstreams,
            timers: Timers::new(now),
            timers_compact_at: TIMERS_COMPACT_MIN,
            ring_deadlines: VecDeque::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            draining: false,
            registrations_absorbed: 0,
            overloaded: false,
        };
        for i in 0..me.upstreams.len() {
            me.schedule(now, TimerRef::Probe(i));
        }
        me
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<F>> {
        self.outbox.pop_front()
    }

    /// The next thing that happened, for logs, metrics and call records.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`B2bua::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timers = self.timers.next_due();
        let ring = self.ring_deadlines.front().map(|(t, _)| *t);
        match (timers, ring) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The media relay.
    pub fn media(&self) -> &M {
        &self.media
    }

    /// The media relay, for the IO layer to poll (media timeouts).
    pub fn media_mut(&mut self) -> &mut M {
        &mut self.media
    }

    /// The call policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The call policy, for the IO layer to feed (rules reloaded, the wall clock).
    pub fn policy_mut(&mut self) -> &mut P {
        &mut self.policy
    }

    /// Active calls.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// The binding table.
    pub fn registrar(&self) -> &Registrar<F> {
        &self.registrar
    }

    /// Upstream health, in failover order.
    pub fn upstreams(&self) -> &[UpstreamState] {
        &self.upstreams
    }

    /// Open transactions (server, client); both drop to zero when traffic stops.
    pub fn transactions(&self) -> (usize, usize) {
        (self.servers.len(), self.clients.len())
    }

    /// REGISTERs answered without disturbing the PBX, since start.
    pub fn registrations_absorbed(&self) -> u64 {
        self.registrations_absorbed
    }

    /// Stops taking new calls; calls in progress go on.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    /// Whether Palisade is behind on its input (the IO layer decides, from how long the
    /// message about to be handled waited): while it is, new calls are refused with 503
    /// and Retry-After, and everything else (responses, in-dialog requests, registrations)
    /// is still handled, so calls in progress survive an overload.
    pub fn set_overloaded(&mut self, overloaded: bool) {
        self.overloaded = overloaded;
    }

    fn schedule(&mut self, at: Instant, what: TimerRef) {
        self.timers.schedule(at, what);
        if self.timers.len() >= self.timers_compact_at {
            self.compact_timers();
        }
    }

    /// Drops the deadlines of what no longer exists. A deadline stays in its bucket when
    /// what it times ends first (finding it there would cost a search), and is skipped when it
    /// comes due; but a call that ended keeps its session-expiry deadline, up to half an
    /// hour away, and the timers would grow with every call of that half hour instead of with
    /// the calls and transactions alive. Compacting when they have doubled since the
    /// last time keeps the cost at a constant per deadline.
    fn compact_timers(&mut self) {
        let (calls, servers, clients, registrar) =
            (&self.calls, &self.servers, &self.clients, &self.registrar);
        self.timers.retain(|what| match what {
            TimerRef::Server(key) => servers.get(key).is_some(),
            TimerRef::Client(key) => clients.get(key).is_some(),
            TimerRef::Call(id) => calls.contains_key(id),
            TimerRef::Binding(token) | TimerRef::KeepAlive(token) => registrar.get(token).is_some(),
            TimerRef::Probe(_) | TimerRef::ProbeTimeout(_) => true,
        });
        self.timers_compact_at = (2 * self.timers.len()).max(TIMERS_COMPACT_MIN);
    }

    /// Deadlines held, live or not.
    #[cfg(test)]
    pub(crate) fn timers_pending(&self) -> usize {
        self.timers.len()
    }

    /// Calls that still hold their first request.
    #[cfg(test)]
    pub(crate) fn first_requests_held(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.first_request.is_some())
            .count()
    }

    /// Ringing deadlines held, live or not.
    #[cfg(test)]
    pub(crate) fn ring_deadlines_pending(&self) -> usize {
        self.ring_deadlines.len()
    }

    /// Queues a call's ringing deadline. An answered or ended call leaves its entry
    /// behind, and at a steady rate those would be the whole queue: every call of the
    /// last `invite_timeout` (three minutes). Once the queue holds twice as many entries
    /// as there are calls, the dead ones are dropped, so that it follows the calls up,
    /// not the call rate; each drop costs no more than the pushes since the last one.
    fn push_ring_deadline(&mut self, at: Instant, id: u64) {
        if self.ring_deadlines.len() >= (2 * self.calls.len()).max(TIMERS_COMPACT_MIN) {
            let calls = &self.calls;
            self.ring_deadlines
                .retain(|(_, id)| calls.get(id).is_some_and(|c| c.ring_deadline.is_some()));
        }
        self.ring_deadlines.push_back((at, id));
    }

    fn emit(&mut self, side: Side, destination: Destination<F>, message: Message) {
        self.outbox.push_back(Transmit {
            side,
            destination,
            message,
        });
    }

    // ----- input -------------------------------------------------------------------

    /// Handles a message from the network.
    pub fn handle_inbound(&mut self, now: Instant, inbound: Inbound<F>) {
        if inbound.message.is_request() {
            self.on_request(now, inbound);
        } else {
            self.on_response(now, inbound);
        }
    }

    /// Handles bytes that did not parse. A request whose error calls for an answer (400,
    /// 505, 513) gets one when its header fields can be read; everything else is dropped.
    pub fn handle_malformed(
        &mut self,
        source: Source<F>,
        bytes: &[u8],
        error: &palisade_sip::MessageError,
    ) {
        self.events.push_back(Event::Rejected {
            side: source.side,
            why: "unparseable",
        });
        let Verdict::Respond(code) = error.verdict() else {
            return;
        };
        let Some(req) = Message::salvage_request(bytes, &self.cfg.parse_limits) else {
            return;
        };
        // The response copies From and To as written; what must be sound is the Via it
        // is routed by and the CSeq that says it is not an ACK (never answered).
        let readable = req.via().is_ok()
            && req.header(HeaderName::From).is_some()
            && req.header(HeaderName::To).is_some()
            && req.call_id().is_ok()
            && req.cseq().is_ok_and(|c| c.method != Method::Ack);
        if readable {
            let inbound = Inbound {
                source,
                message: req,
            };
            self.stateless_reply(&inbound, code);
        }
    }

    /// Handles every deadline up to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.ring_deadlines.front() {
            if at > now {
                break;
            }
            self.ring_deadlines.pop_front();
            if self
                .calls
                .get(&id)
                .is_some_and(|c| c.ring_deadline.is_some())
            {
                self.call_timer(now, id);
            }
        }
        while let Some(due) = self.timers.pop_due(now) {
            for (at, what) in due {
                self.timer(now, at, what);
            }
        }
    }

    /// One deadline `at` of `what` has come (a transaction's may be stale: see [`fire`]).
    fn timer(&mut self, now: Instant, at: Instant, what: TimerRef) {
        match what {
            TimerRef::Server(key) => {
                let due = self.servers.get_mut(&key).is_some_and(|e| {
                    fire_txn(&mut e.armed, at, now, e.txn.poll_timeout(), |now| {
                        e.txn.on_timeout(now);
                    })
                });
                if due {
                    self.drain_server(now, &key);
                }
            }
            TimerRef::Client(key) => {
                let due = self.clients.get_mut(&key).is_some_and(|e| {
                    fire_txn(&mut e.armed, at, now, e.txn.poll_timeout(), |now| {
                        e.txn.on_timeout(now);
                    })
                });
                if due {
                    self.drain_client(now, &key);
                }
            }
            TimerRef::Call(id) => self.call_timer(now, id),
            TimerRef::Binding(token) => {
                if self.registrar.expire(&token, now) {
                    self.events.push_back(Event::BindingExpired { token });
                }
            }
            TimerRef::Probe(i) => self.probe(now, i),
            TimerRef::KeepAlive(token) => self.keepalive(now, token),
            TimerRef::ProbeTimeout(i) => self.probe_timeout(now, i),
        }
    }

    /// The media relay saw no packets on call `id` for longer than its timeout: an
    /// established call is ended with BYE on both legs. A call still ringing is left be.
    pub fn handle_media_timeout(&mut self, now: Instant, id: u64) {
        let established = self
            .calls
            .get(&id)
            .is_some_and(|c| matches!(c.state, CallState::Answered | CallState::Confirmed));
        if established {
            self.hang_up(now, id, "media timeout");
        }
    }

    /// Ends every call now (the drain deadline passed): BYE on both legs of an answered
    /// call; a call still ringing gets 503 toward the caller and CANCEL toward the callee.
    /// Each call's `CallEnded` names `why` and Palisade.
    pub fn end_all_calls(&mut self, now: Instant, why: &'static str) {
        let mut ids: Vec<u64> = self.calls.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(call) = self.calls.get(&id) else {
                continue;
            };
            match call.state {
                CallState::Answered | CallState::Confirmed => self.hang_up(now, id, why),
                CallState::Ending | CallState::Ended => {
                    self.end_call(now, id, Ending::new(why, EndedBy::Palisade));
                }
                _ => {
                    let skey = call.leg0_start.clone();
                    let tag = Some(call.legs[0].local_tag.clone());
                    self.respond_code_tagged(now, &skey, 503, tag);
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.cancel = CancelState::Pending;
                    }
                    self.send_cancel(now, id);
                    let e = Ending::new(why, EndedBy::Palisade).status(503);
                    self.end_call(now, id, e);
                }
            }
        }
    }

    /// A TCP or TLS connection closed: registrations made over it can no longer be reached
    /// (the phone reconnects and registers again), so they go.
    pub fn handle_flow_closed(&mut self, flow: &F, remote: SocketAddr) {
        let gone = self.registrar.remove_flow(flow, remote);
        for token in gone {
            self.events.push_back(Event::BindingFlowClosed { token });
        }
    }

    /// The IO layer could not deliver to `dest` (connection refused or closed): client
    /// transactions sending there fail at once instead of timing out.
    pub fn handle_transport_error(&mut self, now: Instant, dest: &Destination<F>) {
        let keys: Vec<TransactionKey> = self
            .clients
            .iter()
            .filter(|(_, e)| e.dest == *dest)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(e) = self.clients.get_mut(&k) {
                e.txn.on_transport_error();
            }
            self.drain_client(now, &k);
        }
    }

    // ----- transactions ------------------------------------------------------------

    fn new_server(
        &mut self,
        now: Instant,
        inbound: &Inbound<F>,
        ctx: ServerCtx,
    ) -> Option<TransactionKey> {
        let txn = ServerTxn::new(
            now,
            inbound.message.clone(),
            reliability(inbound.source.protocol),
            self.cfg.timers,
        )
        .ok()?;
        let key = txn.key().clone();
        let invite_ack = match &txn {
            ServerTxn::Invite(t) => t.ack_key().cloned(),
            ServerTxn::NonInvite(_) => None,
        };
        self.servers.insert(
            key.clone(),
            Box::new(ServerEntry {
                txn,
                reply: inbound.source.reply_destination(),
                side: inbound.source.side,
                ctx,
                armed: None,
            }),
        );
        if let Some(alias) = invite_ack {
            self.servers.alias(alias, key.clone());
        }
        self.drain_server(now, &key);
        Some(key)
    }

    /// Sends a response through a server transaction.
    fn respond(&mut self, now: Instant, key: &TransactionKey, response: Message) {
        if let Some(e) = self.servers.get_mut(key) {
            let _ = e.txn.send_response(now, response);
        }
        self.drain_server(now, key);
    }

    fn respond_code(&mut self, now: Instant, key: &TransactionKey, code: u16) {
        self.respond_code_tagged(now, key, code, None);
    }

    /// Answers with `code` and the To tag `tag`, or a fresh one. Every response to one
    /// request carries the same tag (RFC 3261 §8.2.6.2): a call's leg 0 passes its own.
    fn respond_code_tagged(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        code: u16,
        tag: Option<String>,
    ) {
        let Some(request) = self.servers.get(key).and_then(|e| e.txn.request()) else {
            return;
        };
        let tag = tag.unwrap_or_else(|| self.ids.tag());
        let mut b = response_to(request, code, Some(&tag));
        if code == 503 {
            b.header(HeaderName::RetryAfter, self.cfg.retry_after.to_string());
        }
        if let Ok(m) = b.build_message() {
            self.respond(now, key, m);
        }
    }

    fn drain_server(&mut self, now: Instant, key: &TransactionKey) {
        let mut acks = Vec::new();
        let Some(e) = self.servers.get_mut(key) else {
            return;
        };
        let mut out = Vec::new();
        while let Some(m) = e.txn.poll_transmit() {
            out.push(m);
        }
        let mut terminated = false;
        while let Some(ev) = e.txn.poll_event() {
            match ev {
                TuEvent::Ack(m) => acks.push(m),
                TuEvent::Terminated => terminated = true,
                _ => {}
            }
        }
        let arm = rearm(&mut e.armed, e.txn.poll_timeout(), now);
        let (side, reply, ctx) = (e.side, e.reply.clone(), e.ctx.clone());
        for m in out {
            self.emit(side, reply.clone(), m);
        }
        if terminated {
            self.servers.remove(key);
        } else if let Some(t) = arm {
            self.schedule(t, TimerRef::Server(key.clone()));
        }
        for ack in acks {
            if let ServerCtx::CallStart { call } | ServerCtx::InDialog { call } = ctx {
                self.ack_for_2xx(now, call, side, &ack);
            }
        }
    }

    fn new_client(
        &mut self,
        now: Instant,
        side: Side,
        dest: Destination<F>,
        request: Message,
        ctx: ClientCtx<F>,
    ) -> Option<TransactionKey> {
        let txn =
            ClientTxn::new(now, request, reliability(dest.protocol()), self.cfg.timers).ok()?;
        let key = txn.key().clone();
        self.clients.insert(
            key.clone(),
            Box::new(ClientEntry {
                txn,
                dest,
                side,
                ctx,
                armed: None,
            }),
        );
        self.drain_client(now, &key);
        Some(key)
    }

    fn drain_client(&mut self, now: Instant, key: &TransactionKey) {
        let Some(e) = self.clients.get_mut(key) else {
            return;
        };
        let mut out = Vec::new();
        while let Some(m) = e.txn.poll_transmit() {
            out.push(m);
        }
        let mut events = Vec::new();
        while let Some(ev) = e.txn.poll_event() {
            events.push(ev);
        }
        let arm = rearm(&mut e.armed, e.txn.poll_timeout(), now);
        let (side, dest, ctx) = (e.side, e.dest.clone(), e.ctx.clone());
        // None once the final response is in: only a failure before it needs the request.
        let request = e.txn.request().cloned();
        for m in out {
            self.emit(side, dest.clone(), m);
        }
        let mut terminated = false;
        for ev in events {
            match ev {
                TuEvent::Response(message) => self.client_response(
                    now,
                    &ctx,
                    Reply {
                        message,
                        synthetic: false,
                    },
                ),
                TuEvent::Timeout => self.client_failure(now, &ctx, request.as_ref(), 408),
                TuEvent::TransportError => {
                    self.client_failure(now, &ctx, request.as_ref(), 503);
                }
                TuEvent::Terminated => terminated = true,
                TuEvent::Ack(_) | TuEvent::RetransmissionAbsorbed => {}
            }
        }
        if terminated {
            self.clients.remove(key);
        } else if let Some(t) = arm {
            self.schedule(t, TimerRef::Client(key.clone()));
        }
    }

    /// A client transaction ended without a final response: act as if `code` had come
    /// back. One that failed after its final response (a transport error on a later
    /// send) has been answered already, and has let go of its request.
    fn client_failure(
        &mut self,
        now: Instant,
        ctx: &ClientCtx<F>,
        request: Option<&Message>,
        code: u16,
    ) {
        let Some(Ok(message)) = request.map(|r| response_to(r, code, None).build_message()) else {
            return;
        };
        self.client_response(
            now,
            ctx,
            Reply {
                message,
                synthetic: true,
            },
        );
    }

    // ----- requests ----------------------------------------------------------------

    fn stateless_reply(&mut self, inbound: &Inbound<F>, code: u16) {
        let tag = self.ids.tag();
        if let Ok(m) = response_to(&inbound.message, code, Some(&tag)).build_message() {
            self.emit(inbound.source.side, inbound.source.reply_destination(), m);
        }
    }

    fn on_request(&mut self, now: Instant, inbound: Inbound<F>) {
        let msg = &inbound.message;
        let Some(method) = msg.method().cloned() else {
            return;
        };
        if let Err(rejection) = check_request(msg) {
            // RFC 3261 §16.3 step 3 and RFC 4475 §3.3.11: an OPTIONS whose Max-Forwards is
            // spent may still be answered by its final recipient, which Palisade is when
            // it is addressed to Palisade itself.
            let own_options = rejection.verdict == Verdict::Respond(483)
                && method == Method::Options
                && self.addressed_to_us(msg);
            if !own_options {
                self.events.push_back(Event::Rejected {
                    side: inbound.source.side,
                    why: rejection.why,
                });
                if let (Verdict::Respond(code), false) = (rejection.verdict, method == Method::Ack)
                {
                    self.stateless_reply(&inbound, code);
                }
                return;
            }
        }
        // Palisade relays Require end to end (the far UA decides), but it is the proxy of
        // every Proxy-Require and supports no proxy extension (RFC 3261 §16.3 step 5).
        if method != Method::Ack && method != Method::Cancel {
            let unsupported: Vec<&str> = msg
                .tokens(HeaderName::ProxyRequire)
                .filter_map(Result::ok)
                .collect();
            if !unsupported.is_empty() {
                let tag = self.ids.tag();
                let mut b = response_to(msg, 420, Some(&tag));
                b.header(HeaderName::Unsupported, unsupported.join(", "));
                if let Ok(m) = b.build_message() {
                    self.emit(inbound.source.side, inbound.source.reply_destination(), m);
                }
                return;
            }
        }
        let Ok(key) = TransactionKey::for_server(msg) else {
            if method != Method::Ack {
                self.stateless_reply(&inbound, 400);
            }
            return;
        };
        // A retransmission, or the ACK of a non-2xx final response.
        if self.servers.get(&key).is_some() {
            if let Some(e) = self.servers.get_mut(&key) {
                let _ = e.txn.on_request(now, inbound.message.clone());
            }
            self.drain_server(now, &key);
            return;
        }
        let to_tag = msg.to().ok().and_then(|t| t.tag().map(str::to_owned));
        match (&method, to_tag) {
            (Method::Ack, Some(tag)) => {
                if let Some((call, _)) = self.dialog_of(inbound.source.side, msg, &tag) {
                    self.ack_for_2xx(now, call, inbound.source.side, msg);
                }
            }
            (Method::Ack, None) => {}
            (Method::Cancel, _) => self.on_cancel(now, &inbound, &key),
            (_, Some(tag)) => self.in_dialog(now, &inbound, &tag),
            (Method::Invite | Method::Subscribe, None) => self.start_call(now, &inbound),
            (Method::Register, None) => self.register(now, &inbound),
            (Method::Options, None) if self.addressed_to_us(msg) => {
                if let Some(k) = self.new_server(now, &inbound, ServerCtx::Local) {
                    self.answer_options(now, &k);
                }
            }
            (_, None) => self.relay_out_of_dialog(now, &inbound),
        }
    }

    /// An OPTIONS without a user part is a keep-alive or probe addressed to Palisade.
    fn addressed_to_us(&self, msg: &Message) -> bool {
        msg.request_uri()
            .and_then(Result::ok)
            .and_then(|u| u.sip().map(|s| s.user.is_none()))
            .unwrap_or(false)
    }

    fn answer_options(&mut self, now: Instant, key: &TransactionKey) {
        let Some(request) = self.servers.get(key).and_then(|e| e.txn.request()) else {
            return;
        };
        let tag = self.ids.tag();
        let mut b = response_to(request, 200, Some(&tag));
        b.header(HeaderName::Allow, ALLOW);
        b.header(HeaderName::Accept, "application/sdp");
        b.header(HeaderName::Supported, "replaces, timer");
        if let Ok(m) = b.build_message() {
            self.respond(now, key, m);
        }
    }

    fn dialog_of(&self, side: Side, msg: &Message, local_tag: &str) -> Option<(u64, usize)> {
        let call_id = msg.call_id().ok()?;
        self.dialogs
            .get(&(side, call_id.to_owned(), local_tag.to_owned()))
            .copied()
    }

    /// The upstream to use: the first one up at or after `from`.
    fn pick_upstream(&self, from: usize) -> Option<usize> {
        (from..self.upstreams.len()).find(|&i| self.upstreams[i].up)
    }

    fn upstream_dest(&self, i: usize) -> Option<Destination<F>> {
        let u = &self.upstreams.get(i)?.upstream;
        Some(Destination::Address {
            side: Side::Core,
            protocol: u.protocol,
            addr: u.addr,
        })
    }

    fn side_addrs(&self, side: Side) -> &SideAddrs {
        match side {
            Side::Access => &self.cfg.access,
            Side::Core => &self.cfg.core,
        }
    }

    fn agents(&self, toward: Side) -> &crate::config::HeaderPolicy {
        match toward {
            Side::Access => &self.cfg.toward_access,
            Side::Core => &self.cfg.toward_core,
        }
    }

    // ----- registration ------------------------------------------------------------

    fn register(&mut self, now: Instant, inbound: &Inbound<F>) {
        if inbound.source.side != Side::Access {
            self.stateless_reply(inbound, 405);
            return;
        }
        let Some(skey) = self.new_server(now, inbound, ServerCtx::Relay) else {
            return;
        };
        if let Some((aor, username)) = hijack_attempt(&inbound.message) {
            // Credentials of one account registering another's AOR: refused here, whatever
            // the PBX would say, so that a stolen password cannot divert someone's calls.
            self.respond_code(now, &skey, 403);
            self.events.push_back(Event::RegisterRefused {
                source: inbound.source.remote,
                aor,
                username,
            });
            return;
        }
        let requested = requested_expires(&inbound.message, self.cfg.registration.default_expires);
        let min = self.cfg.registration.min_expires;
        if requested > 0 && requested < min {
            // RFC 3261 §10.3 step 7: too brief, and how brief it may be.
            let tag = self.ids.tag();
            let mut b = response_to(&inbound.message, 423, Some(&tag));
            b.header(HeaderName::MinExpires, min.to_string());
            if let Ok(m) = b.build_message() {
                self.respond(now, &skey, m);
            }
            return;
        }
        let cached = self.cfg.registration.nat_expires > 0
            && behind_nat(&inbound.message, &inbound.source)
            && requested > 0;
        if cached && self.absorb_register(now, inbound, &skey) {
            return;
        }
        let Some(up) = self.pick_upstream(0) else {
            self.respond_code(now, &skey, 503);
            return;
        };
        self.send_register(
            now,
            inbound.message.clone(),
            inbound.source.reply_destination(),
            skey,
            up,
            cached,
        );
    }

    /// Answers a NATed phone's re-REGISTER without the PBX when every contact is bound on
    /// this very flow and the PBX's registration has well over two refresh periods left.
    /// The phone's refreshes then only keep its NAT binding open. Returns whether it did.
    fn absorb_register(
        &mut self,
        now: Instant,
        inbound: &Inbound<F>,
        skey: &TransactionKey,
    ) -> bool {
        let req = &inbound.message;
        let Ok(to) = req.to() else {
            return false;
        };
        let aor = to.uri.as_str().to_owned();
        let nat = self.cfg.registration.nat_expires;
        let margin = Duration::from_secs(2 * u64::from(nat));
        let flow = inbound.source.reply_destination();
        let mut contacts = Vec::new();
        for c in req.contacts() {
            let Ok(ContactValue::Address(na)) = c else {
                return false;
            };
            let uri = na.uri.as_str().to_owned();
            let token = self.binding_token(&aor, &uri);
            let fresh = self.registrar.get(&token).is_some_and(|b| {
                same_flow(&b.destination, &flow) && b.core_expires_at > now + margin
            });
            if !fresh {
                return false;
            }
            contacts.push((token, uri));
        }
        if contacts.is_empty() {
            return false;
        }
        let expires_at = now + Duration::from_secs(u64::from(nat)) + REGISTER_GRACE;
        for (token, _) in &contacts {
            if let Some(b) = self.registrar.get_mut(token) {
                b.expires_at = expires_at;
            }
            self.schedule(expires_at, TimerRef::Binding(*token));
        }
        let tag = self.ids.tag();
        let mut b = response_to(req, 200, Some(&tag));
        for (_, uri) in &contacts {
            b.header(HeaderName::Contact, format!("<{uri}>;expires={nat}"));
        }
        if let Ok(m) = b.build_message() {
            self.respond(now, skey, m);
        }
        self.registrations_absorbed += 1;
        self.events.push_back(Event::RegistrationAbsorbed { aor });
        true
    }

    fn send_register(
        &mut self,
        now: Instant,
        req: Message,
        phone: Destination<F>,
        skey: TransactionKey,
        up: usize,
        cached: bool,
    ) {
        let Some(dest) = self.upstream_dest(up) else {
            return;
        };
        let Some(local) = self.side_addrs(Side::Core).contact_addr(dest.protocol()) else {
            return;
        };
        let (Ok(to), Ok(from), Ok(call_id), Ok(cseq)) =
            (req.to(), req.from(), req.call_id(), req.cseq())
        else {
            return;
        };
        let aor = to.uri.as_str().to_owned();
        let mut contacts = Vec::new();
        let mut contact_values = Vec::new();
        let mut star = false;
        for c in req.contacts().filter_map(Result::ok) {
            match c {
                ContactValue::Star => star = true,
                ContactValue::Address(na) => {
                    let uri = na.uri.as_str().to_owned();
                    let token = self.binding_token(&aor, &uri);
                    let mut v = contact_value(local, dest.protocol(), Some(&token.to_string()));
                    // A phone behind NAT: the PBX keeps the binding for core_expires, and
                    // the phone refreshes it with Palisade far more often. Otherwise the
                    // expiry asked for, cut to max_expires.
                    let reg = &self.cfg.registration;
                    let asked = na
                        .params
                        .get("expires")
                        .flatten()
                        .and_then(|e| e.parse::<u32>().ok())
                        .or(req.expires().ok().flatten());
                    let expires = if cached {
                        Some(reg.core_expires)
                    } else {
                        asked
                            .filter(|e| *e > reg.max_expires)
                            .map(|_| reg.max_expires)
                    };
                    match expires {
                        Some(e) => {
                            push_params(&mut v, &na, &["expires"]);
                            v.push_str(&format!(";expires={e}"));
                        }
                        None => push_params(&mut v, &na, &[]),
                    }
                    contact_values.push(v);
                    contacts.push((token, uri));
                }
            }
        }
        let branch = self.ids.branch();
        let uri = req.request_uri_str().unwrap_or("sip:invalid");
        let mut b = Builder::request(&Method::Register, uri);
        b.header(
            HeaderName::Via,
            crate::leg::via_value(local, dest.protocol(), &branch),
        );
        b.header(
            HeaderName::MaxForwards,
            decrement(req.max_forwards().ok().flatten()).to_string(),
        );
        let tag = self
            .ids
            .derive(b"reg-tag", from.tag().unwrap_or("").as_bytes(), 8);
        b.header(
            HeaderName::From,
            format!("{};tag={tag}", party_without_tag(&from)),
        );
        b.header(HeaderName::To, party_without_tag(&to));
        // The same phone registration keeps the same Call-ID toward the PBX, as RFC 3261
        // §10.2.4 asks, without Palisade storing a mapping.
        let core_call_id = self.ids.derive(b"reg-call-id", call_id.as_bytes(), 16);
        b.header(HeaderName::CallId, core_call_id);
        b.header(HeaderName::CSeq, format!("{} REGISTER", cseq.seq));
        if star {
            b.header(HeaderName::Contact, "*");
        }
        for v in &contact_values {
            b.header(HeaderName::Contact, v);
        }
        copy_headers(&req, &mut b, Side::Core, self.agents(Side::Core));
        copy_body(&req, &mut b);
        let Ok(msg) = b.build_message() else {
            self.respond_code(now, &skey, 500);
            return;
        };
        let ctx = ClientCtx::Relay {
            server: skey,
            call: None,
            register: Some(Box::new(RegisterCtx {
                aor,
                contacts,
                star,
                phone,
                cached,
            })),
            upstream: Some(up),
        };
        self.new_client(now, Side::Core, dest, msg, ctx);
    }

    /// The token that stands for a phone's contact in the Contact Palisade registers.
    fn binding_token(&self, aor: &str, contact: &str) -> Token {
        let mut input = Vec::with_capacity(aor.len() + contact.len() + 1);
        input.extend_from_slice(aor.as_bytes());
        input.push(0);
        input.extend_from_slice(contact.as_bytes());
        Token::new(self.ids.derive_bytes(b"binding", &input))
    }

    /// The PBX answered a REGISTER: update bindings on 2xx, then answer the phone.
    fn register_response(
        &mut self,
        now: Instant,
        reg: &RegisterCtx<F>,
        skey: &TransactionKey,
        resp: &Message,
    ) {
        let code = resp.status().unwrap_or(500);
        let mut granted: Vec<(Token, u32)> = Vec::new();
        if (200..300).contains(&code) {
            let default = resp
                .expires()
                .ok()
                .flatten()
                .unwrap_or(self.cfg.registration.default_expires);
            for c in resp.contacts().filter_map(Result::ok) {
                let ContactValue::Address(na) = c else {
                    continue;
                };
                let Some(user) = na.uri.sip().and_then(|s| s.user) else {
                    continue;
                };
                let Some(user) = Token::parse(user) else {
                    continue;
                };
                if let Some((token, _)) = reg.contacts.iter().find(|(t, _)| *t == user) {
                    let expires = na
                        .params
                        .get("expires")
                        .flatten()
                        .and_then(|e| e.parse().ok())
                        .unwrap_or(default);
                    granted.push((*token, expires));
                }
            }
            if reg.star {
                self.registrar.remove_aor(&reg.aor);
            }
            for (token, contact) in &reg.contacts {
                match granted.iter().find(|(t, _)| t == token) {
                    Some((_, expires)) if *expires > 0 => {
                        let core_expires_at = now + Duration::from_secs(u64::from(*expires));
                        let expires_at = if reg.cached {
                            let phone = (*expires).min(self.cfg.registration.nat_expires);
                            now + Duration::from_secs(u64::from(phone)) + REGISTER_GRACE
                        } else {
                            core_expires_at
                        };
                        let pinged = self.registrar.get(token).is_some_and(|b| b.nat);
                        self.registrar.upsert(
                            *token,
                            Binding {
                                aor: reg.aor.clone(),
                                contact: contact.clone(),
                                destination: reg.phone.clone(),
                                expires_at,
                                core_expires_at,
                                nat: reg.cached,
                            },
                        );
                        let interval = self.cfg.registration.keepalive_interval;
                        if reg.cached && !pinged && !interval.is_zero() {
                            self.schedule(now + interval, TimerRef::KeepAlive(*token));
                        }
                        self.schedule(expires_at, TimerRef::Binding(*token));
                        self.events.push_back(Event::Registered {
                            aor: reg.aor.clone(),
                            token: *token,
                            expires: *expires,
                        });
                    }
                    _ => {
                        if self.registrar.remove(token).is_some() {
                            self.events.push_back(Event::Unregistered {
                                aor: reg.aor.clone(),
                                token: *token,
                            });
                        }
                    }
                }
            }
        }
        let Some(req) = self
            .servers
            .get(skey)
            .and_then(|e| e.txn.request())
            .cloned()
        else {
            return;
        };
        let tag = self.ids.tag();
        let reason = resp.reason().and_then(|r| std::str::from_utf8(r).ok());
        let mut b = response_with_reason(&req, code, reason, Some(&tag));
        if (200..300).contains(&code) {
            // The phone sees its own contacts, with what the PBX granted (a phone behind
            // NAT: no more than nat_expires, so that it refreshes its NAT binding).
            for (token, contact) in &reg.contacts {
                if let Some((_, expires)) = granted.iter().find(|(t, _)| t == token) {
                    let expires = if reg.cached && *expires > 0 {
                        (*expires).min(self.cfg.registration.nat_expires)
                    } else {
                        *expires
                    };
                    b.header(
                        HeaderName::Contact,
                        format!("<{contact}>;expires={expires}"),
                    );
                }
            }
        }
        copy_headers(resp, &mut b, Side::Access, self.agents(Side::Access));
        copy_body(resp, &mut b);
        if let Ok(m) = b.build_message() {
            self.respond(now, skey, m);
        }
    }

    // ----- out-of-dialog relay -----------------------------------------------------

    /// MESSAGE, OPTIONS to a user, NOTIFY or PUBLISH outside a dialog: a one-off relay.
    fn relay_out_of_dialog(&mut self, now: Instant, inbound: &Inbound<F>) {
        let Some(skey) = self.new_server(now, inbound, ServerCtx::Relay) else {
            return;
        };
        let Some((dest, uri, upstream)) = self.route_new_request(inbound) else {
            self.respond_code(now, &skey, self.no_route_code(inbound.source.side));
            return;
        };
        let leg = match self.new_leg(
            inbound.source.side.other(),
            &inbound.message,
            dest.clone(),
            uri,
        ) {
            Some(l) => l,
            None => return,
        };
        let req = &inbound.message;
        let method = req.method().cloned().unwrap_or(Method::Options);
        let branch = self.ids.branch();
        let mut b = leg.request(
            &method,
            &leg.remote_target,
            leg.local_cseq,
            &branch,
            decrement(req.max_forwards().ok().flatten()),
        );
        let (refer_addr, refer_proto) = referral_target(&leg);
        copy_headers(req, &mut b, leg.side, self.agents(leg.side));
        copy_referral(req, &mut b, refer_addr, refer_proto, &|v| {
            self.map_replaces(leg.side.other(), v)
        });
        copy_body(req, &mut b);
        let Ok(msg) = b.build_message() else {
            return;
        };
        let ctx = ClientCtx::Relay {
            server: skey,
            call: None,
            register: None,
            upstream,
        };
        self.new_client(now, leg.side, dest, msg, ctx);
    }

    fn no_route_code(&self, from: Side) -> u16 {
        match from {
            // No PBX reachable.
            Side::Access => 503,
            // A user that is not registered (any more).
            Side::Core => 404,
        }
    }

    /// Where a new request from `inbound.source.side` goes on the other side, with the
    /// Request-URI to use there: the first healthy upstream for the access side, the
    /// phone's registered flow for the core side. Never an address taken from the
    /// message itself.
    fn route_new_request(
        &self,
        inbound: &Inbound<F>,
    ) -> Option<(Destination<F>, String, Option<usize>)> {
        let uri = inbound.message.request_uri()?.ok()?;
        match inbound.source.side {
            Side::Access => {
                let up = self.pick_upstream(0)?;
                let dest = self.upstream_dest(up)?;
                Some((
                    dest,
                    self.core_uri(uri.sip().and_then(|s| s.user), up),
                    Some(up),
                ))
            }
            Side::Core => {
                let b = self.registrar.find(uri.sip()?.user?)?;
                Some((b.destination.clone(), b.contact.clone(), None))
            }
        }
    }

    /// The Request-URI toward an upstream: the user as dialled, the upstream's address.
    fn core_uri(&self, user: Option<&str>, up: usize) -> String {
        let Some(u) = self.upstreams.get(up) else {
            return String::from("sip:invalid");
        };
        let hp = SideAddrs::host_port(u.upstream.addr);
        let mut s = match user {
            Some(user) => format!("sip:{user}@{hp}"),
            None => format!("sip:{hp}"),
        };
        if u.upstream.protocol != Protocol::Udp {
            s.push_str(";transport=");
            s.push_str(&u.upstream.protocol.via_token().to_ascii_lowercase());
        }
        s
    }

    /// A leg on `side` for a request that arrived on the other side: fresh Call-ID and
    /// tag, the same parties.
    fn new_leg(
        &mut self,
        side: Side,
        req: &Message,
        dest: Destination<F>,
        request_uri: String,
    ) -> Option<Leg<F>> {
        let local_addr = self.side_addrs(side).contact_addr(dest.protocol())?;
        let from = req.from().ok()?;
        let to = req.to().ok()?;
        let mut local_party = party_without_tag(&from);
        let mut remote_party = party_without_tag(&to);
        if side == Side::Access {
            // Toward a phone, From and To name Palisade, not the PBX: the caller's URI
            // gets Palisade's host and port, and the callee is the address-of-record it
            // registered (the To of a PBX may hold the token Contact it called).
            local_party = rehost(local_party.as_bytes(), local_addr, Protocol::Udp)?;
            remote_party = match self.binding_of(req) {
                Some(aor) => format!("<{aor}>"),
                None => rehost(remote_party.as_bytes(), local_addr, Protocol::Udp)?,
            };
        }
        Some(Leg {
            side,
            call_id: self.ids.call_id(),
            local_tag: self.ids.tag(),
            remote_tag: None,
            local_party,
            remote_party,
            local_cseq: 1,
            remote_target: request_uri,
            route_set: Vec::new(),
            destination: dest,
            local_addr,
        })
    }

    /// The address-of-record of the binding a request from the PBX is addressed to.
    fn binding_of(&self, req: &Message) -> Option<String> {
        let uri = req.request_uri()?.ok()?;
        self.registrar.find(uri.sip()?.user?).map(|b| b.aor.clone())
    }

    // ----- calls -------------------------------------------------------------------

    fn start_call(&mut self, now: Instant, inbound: &Inbound<F>) {
        if self.draining || self.overloaded || self.calls.len() >= self.cfg.max_calls {
            if let Some(k) = self.new_server(now, inbound, ServerCtx::Local) {
                self.respond_code(now, &k, 503);
            }
            return;
        }
        let req = &inbound.message;
        // RFC 4028 §5: a session interval below Min-SE is refused with 422, naming it.
        let too_brief = req
            .session_expires()
            .and_then(Result::ok)
            .and_then(|se| se.number().ok())
            .is_some_and(|se| se < self.cfg.min_se);
        if too_brief {
            if let Some(k) = self.new_server(now, inbound, ServerCtx::Local)
                && let Some(request) = self.servers.get(&k).and_then(|e| e.txn.request())
            {
                let tag = self.ids.tag();
                let mut b = response_to(request, 422, Some(&tag));
                b.header(HeaderName::MinSe, self.cfg.min_se.to_string());
                if let Ok(m) = b.build_message() {
                    self.respond(now, &k, m);
                }
            }
            return;
        }
        let id = self.next_call;
        self.next_call += 1;
        let Some(skey) = self.new_server(now, inbound, ServerCtx::CallStart { call: id }) else {
            return;
        };
        let caller = if inbound.source.side == Side::Access && req.method() == Some(&Method::Invite)
        {
            match self.caller_account(inbound) {
                Ok(account) => Some(account),
                Err(reason) => {
                    self.refuse_call(now, id, &skey, inbound, None, reason.to_owned());
                    return;
                }
            }
        } else {
            None
        };
        let Some((dest, uri, upstream)) = self.route_new_request(inbound) else {
            let code = self.no_route_code(inbound.source.side);
            self.respond_code(now, &skey, code);
            return;
        };
        let (Ok(from), Ok(to), Some(local_addr)) = (
            req.from(),
            req.to(),
            self.side_addrs(inbound.source.side)
                .contact_addr(inbound.source.protocol),
        ) else {
            self.respond_code(now, &skey, 400);
            return;
        };
        let leg0 = Leg {
            side: inbound.source.side,
            call_id: req.call_id().unwrap_or_default().to_owned(),
            local_tag: self.ids.tag(),
            remote_tag: from.tag().map(str::to_owned),
            local_party: party_without_tag(&to),
            remote_party: party_without_tag(&from),
            local_cseq: 0,
            remote_target: first_contact(req).unwrap_or_else(|| from.uri.as_str().to_owned()),
            route_set: req
                .headers_named(HeaderName::RecordRoute)
                .filter_map(|h| std::str::from_utf8(h.value).ok().map(str::to_owned))
                .collect(),
            destination: inbound.source.reply_destination(),
            local_addr,
        };
        let remotes = [inbound.source.remote, dest.remote()];
        let caller_uri = from.uri.as_str().to_owned();
        let Some(leg1) = self.new_leg(inbound.source.side.other(), req, dest, uri) else {
            self.respond_code(now, &skey, 500);
            return;
        };
        let mut call = Call::new(id, leg0, leg1, req.clone(), skey.clone(), upstream);
        let mut charged = None;
        if let Some(account) = caller {
            let callee = req
                .request_uri()
                .and_then(Result::ok)
                .and_then(|u| u.sip().and_then(|s| s.user.map(str::to_owned)))
                .unwrap_or_default();
            let attempt = CallAttempt {
                call: id,
                account: account.as_deref(),
                source: inbound.source.remote,
                callee: &callee,
            };
            let admission = self.policy.admit(now, &attempt);
            self.policy_alerts();
            match admission {
                Admission::Refuse { reason } => {
                    self.refuse_call(now, id, &skey, inbound, account, reason);
                    return;
                }
                Admission::Admit {
                    max_duration,
                    flagged,
                } => {
                    call.max_duration = max_duration;
                    charged = Some(Event::CallAccount {
                        call: id,
                        account,
                        flagged,
                    });
                }
            }
        }
        call.ring_deadline = Some(now + self.cfg.invite_timeout);
        self.push_ring_deadline(now + self.cfg.invite_timeout, id);
        self.index_leg(&call, 0);
        self.index_leg(&call, 1);
        self.calls.insert(id, Box::new(call));
        self.events.push_back(Event::CallStarted {
            call: id,
            from: inbound.source.side,
            call_id: req.call_id().unwrap_or_default().to_owned(),
            caller: caller_uri,
            callee: req.request_uri_str().unwrap_or_default().to_owned(),
            remotes,
        });
        // After CallStarted: what consumes the events knows the call by then.
        self.events.extend(charged);
        self.send_call_start(now, id);
    }

    /// A Replaces value that came from side `from`, translated to the other leg of the
    /// dialog it names: its Call-ID and tags there, in the same roles (the tag that was
    /// Palisade's on `from` becomes the peer's tag on the other leg, as the party Palisade
    /// stands in for). Both tags must match the dialog; otherwise `None`.
    fn map_replaces(&self, from: Side, value: &str) -> Option<String> {
        let r = DialogRef::parse(value)?;
        let lookup = |ours: &str, theirs: &str| {
            let &(id, i) = self
                .dialogs
                .get(&(from, r.call_id.clone(), ours.to_owned()))?;
            let call = self.calls.get(&id)?;
            (call.legs[i].remote_tag.as_deref() == Some(theirs)).then(|| &call.legs[1 - i])
        };
        let (other, ours_was_to) = match lookup(&r.to_tag, &r.from_tag) {
            Some(l) => (l, true),
            None => (lookup(&r.from_tag, &r.to_tag)?, false),
        };
        let remote = other.remote_tag.clone()?;
        let local = other.local_tag.clone();
        let (to_tag, from_tag) = if ours_was_to {
            (remote, local)
        } else {
            (local, remote)
        };
        Some(
            DialogRef {
                call_id: other.call_id.clone(),
                to_tag,
                from_tag,
                early_only: r.early_only,
            }
            .to_value(),
        )
    }

    /// The account of an access-side INVITE: the user of the binding of the flow it came
    /// over, `None` from a trusted network (or from anywhere when registered-only calling
    /// is off); an error (the reason) when it may not call at all.
    fn caller_account(&self, inbound: &Inbound<F>) -> Result<Option<String>, &'static str> {
        let flow = inbound.source.reply_destination();
        if let Some(b) = self.registrar.on_flow(&flow) {
            let user = palisade_sip::uri::Uri::parse(&b.aor)
                .ok()
                .and_then(|u| u.sip().and_then(|s| s.user.map(str::to_owned)))
                .unwrap_or_else(|| b.aor.clone());
            return Ok(Some(user));
        }
        let ip = inbound.source.remote.ip();
        let trusted = self.cfg.calling.trusted.iter().any(|n| n.contains(&ip));
        if trusted || !self.cfg.calling.registered_only {
            Ok(None)
        } else {
            Err("source not registered")
        }
    }

    /// Answers an access-side INVITE 403 and reports it.
    fn refuse_call(
        &mut self,
        now: Instant,
        call: u64,
        skey: &TransactionKey,
        inbound: &Inbound<F>,
        account: Option<String>,
        reason: String,
    ) {
        self.respond_code(now, skey, 403);
        let callee = inbound
            .message
            .request_uri()
            .and_then(Result::ok)
            .and_then(|u| u.sip().and_then(|s| s.user.map(str::to_owned)))
            .unwrap_or_default();
        let req = &inbound.message;
        self.events.push_back(Event::CallRefused {
            call,
            call_id: req.call_id().unwrap_or_default().to_owned(),
            caller: req
                .from()
                .map(|f| f.uri.as_str().to_owned())
                .unwrap_or_default(),
            source: inbound.source.remote,
            account,
            callee,
            reason,
        });
    }

    /// Moves the policy's fraud alerts to the event feed.
    fn policy_alerts(&mut self) {
        while let Some(a) = self.policy.poll_alert() {
            self.events.push_back(Event::FraudAlert {
                level: a.level,
                account: a.account,
                rule: a.rule,
                what: a.what,
                value: a.value,
                threshold: a.threshold,
                call: a.call,
                callee: a.callee,
            });
        }
    }

    fn index_leg(&mut self, call: &Call<F>, i: usize) {
        let leg = &call.legs[i];
        self.dialogs.insert(
            (leg.side, leg.call_id.clone(), leg.local_tag.clone()),
            (call.id, i),
        );
    }

    fn unindex_leg(&mut self, call: &Call<F>, i: usize) {
        let leg = &call.legs[i];
        self.dialogs
            .remove(&(leg.side, leg.call_id.clone(), leg.local_tag.clone()));
    }

    /// Sends the call's first request on leg 1.
    fn send_call_start(&mut self, now: Instant, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(req) = call.first_request.clone() else {
            return;
        };
        let method = req.method().cloned().unwrap_or(Method::Invite);
        let min_se = call.session_min_se;
        let leg = &call.legs[1];
        let branch = self.ids.branch();
        let mut b = leg.request(
            &method,
            &leg.remote_target,
            leg.local_cseq,
            &branch,
            decrement(req.max_forwards().ok().flatten()),
        );
        let dest = leg.destination.clone();
        let side = leg.side;
        let (refer_addr, refer_proto) = referral_target(leg);
        copy_headers(&req, &mut b, side, self.agents(side));
        copy_referral(&req, &mut b, refer_addr, refer_proto, &|v| {
            self.map_replaces(side.other(), v)
        });
        // After the PBX's 422, its Min-SE is asked for.
        if let Some(secs) = session_to_insert(self.cfg.session_insert, &req, side) {
            let secs = min_se.unwrap_or(secs);
            b.header(HeaderName::SessionExpires, format!("{secs};refresher=uas"));
            if min_se.is_some() {
                b.header(HeaderName::MinSe, secs.to_string());
            }
        }
        if let Err(e) = self.put_body(id, 0, &req, &mut b) {
            let (code, why) = match e {
                BodyError::Media(_) => (503, "no media ports"),
                BodyError::Invalid => (488, "unreadable SDP"),
            };
            if let Some(skey) = self.calls.get(&id).map(|c| c.leg0_start.clone()) {
                let tag = self.leg0_tag(id);
                self.respond_code_tagged(now, &skey, code, tag);
            }
            self.end_call(now, id, Ending::new(why, EndedBy::Palisade).status(code));
            return;
        }
        let Ok(msg) = b.build_message() else {
            return;
        };
        if let Some(k) = self.new_client(now, side, dest, msg, ClientCtx::CallStart { call: id })
            && let Some(call) = self.calls.get_mut(&id)
        {
            call.leg1_start = Some(k);
        }
    }

    /// A response on leg 1 to the call's first request.
    fn call_start_response(&mut self, now: Instant, id: u64, resp: Message, failed: bool) {
        let code = resp.status().unwrap_or(500);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if code == 100 {
            return;
        }
        if call.state == CallState::Ended {
            // Leg 0 is gone: a late 2xx is answered with ACK and BYE, a failure ends it.
            if (200..300).contains(&code) {
                let e = Ending::new("cancelled after answer", self.caller(id));
                self.ack_and_bye_leg1(now, id, &resp, e);
            } else if code < 200 && call.cancel == CancelState::Pending {
                self.send_cancel(now, id);
            } else if code >= 300 {
                self.end_call(now, id, Ending::new("cancelled", self.caller(id)));
            }
            return;
        }
        // RFC 4028 §7.4: the PBX wants a longer session interval than the one Palisade
        // inserted for a phone that asked for none. The phone would not know what to make
        // of a 422 about a header it never sent: Palisade asks again, once, with the PBX's
        // Min-SE (up to a day).
        if code == 422
            && call.session_min_se.is_none()
            && let Some(up) = call.upstream
            && let Some(min) = resp
                .min_se()
                .and_then(Result::ok)
                .and_then(|m| m.number().ok())
                .filter(|m| *m <= MAX_SESSION_INTERVAL)
            && let Some(first) = &call.first_request
            && session_to_insert(self.cfg.session_insert, first, call.legs[1].side).is_some()
        {
            call.session_min_se = Some(min);
            self.retarget_call(now, id, up);
            return;
        }
        // Failover: a PBX that cannot take the call makes Palisade try the next one.
        if failed && !call.has_remote_answer && call.upstream.is_some() {
            let failed = call.upstream.unwrap_or(0);
            let skey = call.leg0_start.clone();
            if let Some(u) = self.upstreams.get_mut(failed)
                && u.failure(&self.cfg.probe)
            {
                self.events.push_back(Event::UpstreamDown {
                    upstream: u.upstream.name.clone(),
                });
            }
            if let Some(next) = self.pick_upstream(failed + 1) {
                self.retarget_call(now, id, next);
                return;
            }
            let tag = self.leg0_tag(id);
            self.respond_code_tagged(now, &skey, 503, tag);
            let e = Ending::new("no upstream", EndedBy::Palisade).status(503);
            self.end_call(now, id, e);
            return;
        }
        if let Some(up) = call.upstream
            && let Some(u) = self.upstreams.get_mut(up)
            && u.success(&self.cfg.probe)
        {
            self.events.push_back(Event::UpstreamUp {
                upstream: u.upstream.name.clone(),
            });
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if code < 300 && resp.to().is_ok_and(|t| t.tag().is_some()) {
            call.has_remote_answer = true;
            call.legs[1].learn_from_response(&resp);
        }
        if code < 200 {
            if call.cancel == CancelState::Pending {
                self.send_cancel(now, id);
                return;
            }
            let Some(first) = call.first_request.clone() else {
                return;
            };
            let skey = call.leg0_start.clone();
            // A provisional whose SDP the relay cannot take is not relayed.
            if let Ok(Some(m)) = self.relay_response(id, 0, &first, &resp) {
                self.respond(now, &skey, m);
            }
            return;
        }
        if (200..300).contains(&code) {
            if matches!(
                call.state,
                CallState::Answered | CallState::Confirmed | CallState::Ending
            ) {
                // A retransmitted 2xx: our ACK was lost, send it again.
                if let Some(ack) = call.last_ack[1].clone() {
                    let (side, dest) = (call.legs[1].side, call.legs[1].destination.clone());
                    self.emit(side, dest, ack);
                }
                return;
            }
            if call.cancel != CancelState::None {
                // CANCEL crossed the 2xx: the caller is gone, close leg 1.
                let e = Ending::new("cancelled after answer", self.caller(id));
                self.ack_and_bye_leg1(now, id, &resp, e);
                return;
            }
            // The last use of the first request: the call is answered.
            let Some(first) = call.first_request.take() else {
                return;
            };
            let is_invite = first.method() == Some(&Method::Invite);
            call.state = if is_invite {
                CallState::Answered
            } else {
                CallState::Confirmed
            };
            call.ring_deadline = None;
            call.leg1_invite_cseq = Some(call.legs[1].local_cseq);
            let remote = call.legs[1].destination.remote();
            let m = match self.relay_response(id, 0, &first, &resp) {
                Ok(Some(m)) => m,
                Ok(None) => return,
                Err(_) => {
                    // A late offer the relay has no ports for: the caller gets 503 and
                    // the callee's answered leg is closed.
                    let skey = call_leg0_start(&self.calls, id);
                    let tag = self.leg0_tag(id);
                    if let Some(k) = skey {
                        self.respond_code_tagged(now, &k, 503, tag);
                    }
                    let e = Ending::new("no media ports", EndedBy::Palisade).status(503);
                    self.ack_and_bye_leg1(now, id, &resp, e);
                    return;
                }
            };
            self.events
                .push_back(Event::CallAnswered { call: id, remote });
            self.media.answered(id);
            self.policy.answered(now, id);
            self.policy_alerts();
            if let Some(call) = self.calls.get_mut(&id)
                && let Some(max) = call.max_duration
            {
                // The duration cap counts from the answer, as the call is billed.
                call.duration_deadline = Some(now + max);
                self.schedule(now + max, TimerRef::Call(id));
            }
            if let Some(c) = self.calls.get(&id) {
                let k = c.leg0_start.clone();
                self.respond(now, &k, m.clone());
            }
            if is_invite {
                self.start_ok_retransmit(now, id, 0, m);
                self.refresh_session_timer(now, id, &resp);
            } else {
                self.subscription_guard(now, id, &first, &resp);
            }
            return;
        }
        // 3xx-6xx: the call failed.
        let Some(first) = call.first_request.clone() else {
            return;
        };
        let skey = call.leg0_start.clone();
        let callee = EndedBy::Side(call.legs[1].side);
        if let Ok(Some(m)) = self.relay_response(id, 0, &first, &resp) {
            self.respond(now, &skey, m);
        }
        self.end_call(now, id, Ending::new("rejected", callee).status(code));
    }

    /// Re-sends the call's first request to another upstream, on a fresh leg 1.
    fn retarget_call(&mut self, now: Instant, id: u64, up: usize) {
        let Some(dest) = self.upstream_dest(up) else {
            return;
        };
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Some(first) = call.first_request.clone() else {
            return;
        };
        let user = first
            .request_uri()
            .and_then(Result::ok)
            .and_then(|u| u.sip().and_then(|s| s.user.map(str::to_owned)));
        let uri = self.core_uri(user.as_deref(), up);
        let Some(leg) = self.new_leg(Side::Core, &first, dest, uri) else {
            return;
        };
        if let Some(mut call) = self.calls.remove(&id) {
            self.unindex_leg(&call, 1);
            call.legs[1] = leg;
            call.upstream = Some(up);
            self.index_leg(&call, 1);
            self.calls.insert(id, call);
        }
        self.send_call_start(now, id);
    }

    /// Builds a response for leg `to_leg` of a call from a response that arrived on the
    /// other leg, for the request `req` that leg `to_leg` sent us. `Err` when its SDP could
    /// not be anchored at the relay.
    fn relay_response(
        &mut self,
        id: u64,
        to_leg: usize,
        req: &Message,
        resp: &Message,
    ) -> Result<Option<Message>, BodyError> {
        let Some(call) = self.calls.get(&id) else {
            return Ok(None);
        };
        let leg = &call.legs[to_leg];
        let (Some(code), Some(method)) = (resp.status(), req.method()) else {
            return Ok(None);
        };
        let reason = resp.reason().and_then(|r| std::str::from_utf8(r).ok());
        let mut b = response_with_reason(req, code, reason, Some(&leg.local_tag));
        if code > 100 && code < 300 && carries_contact(method) {
            b.header(
                HeaderName::Contact,
                contact_value(leg.local_addr, leg.destination.protocol(), None),
            );
            // RFC 3261 §12.1.1: the Record-Route of the request goes back in the response.
            for h in req.headers_named(HeaderName::RecordRoute) {
                b.header(HeaderName::RecordRoute, h.value);
            }
        }
        let (refer_addr, refer_proto) = referral_target(leg);
        copy_headers(resp, &mut b, leg.side, self.agents(leg.side));
        copy_referral(resp, &mut b, refer_addr, refer_proto, &|v| {
            self.map_replaces(leg.side.other(), v)
        });
        self.put_body(id, 1 - to_leg, resp, &mut b)?;
        Ok(b.build_message().ok())
    }

    /// Sets the body of a message going to the other leg from `src`, which came from leg
    /// `from` of call `id`: SDP anchored at the relay, anything else as it is.
    fn put_body(
        &mut self,
        id: u64,
        from: usize,
        src: &Message,
        b: &mut Builder,
    ) -> Result<(), BodyError> {
        match self.media_body(id, from, src)? {
            // Content-Type was copied with the headers; only the bytes are set here.
            Some(body) => {
                b.raw_body(body);
            }
            None => copy_body(src, b),
        }
        Ok(())
    }

    /// The SDP of `src` (from leg `from` of call `id`) rewritten for the other leg, after
    /// the relay has heard what it says: a session opened at the first SDP, a stream
    /// added for each new m-line, each stream's remote and the hold state of leg `from`.
    /// `None` when there is no SDP or no relay: the body crosses as it is.
    fn media_body(
        &mut self,
        id: u64,
        from: usize,
        src: &Message,
    ) -> Result<Option<Bytes>, BodyError> {
        if !self.media.enabled() || !has_sdp(src) {
            return Ok(None);
        }
        let sdp = Sdp::parse(src.body(), &SdpLimits::default())?;
        let Some(call) = self.calls.get(&id) else {
            return Ok(None);
        };
        let to = 1 - from;
        let source = call.legs[from].destination.remote().ip();
        let mut bind = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); 2];
        let mut advertised = bind;
        for (i, leg) in call.legs.iter().enumerate() {
            let addrs = self.side_addrs(leg.side);
            bind[i] = addrs
                .bound_addr(leg.destination.protocol())
                .map_or(leg.local_addr.ip(), |a| a.ip());
            advertised[i] = leg.local_addr.ip();
        }
        let (open, mut ports) = (call.media.open, call.media.ports.clone());
        if !open {
            ports = self.media.open(id, sdp.media_count(), bind)?;
        }
        let mut added = Ok(());
        while ports.len() < sdp.media_count() {
            match self.media.add_stream(id) {
                Ok(p) => ports.push(p),
                Err(e) => {
                    added = Err(e);
                    break;
                }
            }
        }
        if let Some(call) = self.calls.get_mut(&id) {
            call.media.open = true;
            call.media.ports.clone_from(&ports);
        }
        added?;
        for m in sdp.media_sections() {
            if let Some(r) = remote_of(&m, source) {
                self.media.remote(id, from, m.index(), r);
            }
        }
        self.media.hold(id, from, on_hold(&sdp));
        Ok(Some(rewrite(&sdp, advertised[to], &ports, to)?))
    }

    /// Starts retransmitting a 2xx to an INVITE on leg `leg` until its ACK (RFC 3261
    /// §13.3.1.4): the UAS core, not the transaction, owns this.
    fn start_ok_retransmit(&mut self, now: Instant, id: u64, leg: usize, ok: Message) {
        let t1 = self.cfg.timers.t1;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let reliable = call.legs[leg].destination.protocol().is_stream();
        call.ok_retransmit = Some(OkRetransmit {
            leg,
            message: ok,
            next: now + t1,
            interval: t1,
            give_up: now + 64 * t1,
            reliable,
        });
        self.schedule(now + t1, TimerRef::Call(id));
    }

    fn refresh_session_timer(&mut self, now: Instant, id: u64, msg: &Message) {
        let Some(Ok(se)) = msg.session_expires() else {
            return;
        };
        let Ok(secs) = se.number() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        // RFC 4028 §10: without a refresh, the session ends at the interval (minus the
        // refresher's margin; Palisade waits the whole interval plus a little).
        let at = now + Duration::from_secs(u64::from(secs)) + Duration::from_secs(32);
        call.session_deadline = Some(at);
        self.schedule(at, TimerRef::Call(id));
    }

    /// A subscription that is neither refreshed nor terminated by NOTIFY is forgotten
    /// when it expires (RFC 6665 §4.1.2.1), with a margin for the final NOTIFY.
    fn subscription_guard(&mut self, now: Instant, id: u64, req: &Message, resp: &Message) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let expires = [resp, req]
            .into_iter()
            .find_map(|m| m.expires().ok().flatten())
            .unwrap_or(3600);
        let at = now + Duration::from_secs(u64::from(expires)) + Duration::from_secs(32);
        call.session_deadline = Some(at);
        self.schedule(at, TimerRef::Call(id));
    }

    /// Timers of a call: ringing timeout, 2xx retransmission, session expiry.
    fn call_timer(&mut self, now: Instant, id: u64) {
        let t2 = self.cfg.timers.t2;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(r) = &mut call.ok_retransmit {
            if now >= r.give_up {
                // The caller never ACKed: it is gone.
                call.ok_retransmit = None;
                self.hang_up(now, id, "no ACK");
                return;
            }
            if now >= r.next {
                let (leg, msg) = (r.leg, r.message.clone());
                r.interval = (r.interval * 2).min(t2);
                r.next = now + r.interval;
                let next = if r.reliable { r.give_up } else { r.next };
                let side = call.legs[leg].side;
                let dest = call.legs[leg].destination.clone();
                if !r.reliable {
                    self.emit(side, dest, msg);
                }
                self.schedule(next, TimerRef::Call(id));
            }
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.ring_deadline.is_some_and(|d| d <= now) {
            call.ring_deadline = None;
            let skey = call.leg0_start.clone();
            let tag = Some(call.legs[0].local_tag.clone());
            call.cancel = CancelState::Pending;
            call.ending = Some(Ending::new("no answer", EndedBy::Palisade).status(408));
            self.respond_code_tagged(now, &skey, 408, tag);
            self.send_cancel(now, id);
            return;
        }
        if call.cancel_deadline.is_some_and(|d| d <= now) {
            // Leg 1's INVITE never got its final response after the CANCEL: it is taken
            // as cancelled, and its transaction dropped (RFC 3261 §9.1).
            call.cancel_deadline = None;
            if let Some(k) = call.leg1_start.clone() {
                self.clients.remove(&k);
            }
            let caller = EndedBy::Side(call.legs[0].side);
            self.end_call(now, id, Ending::new("cancelled", caller));
            return;
        }
        if call.duration_deadline.is_some_and(|d| d <= now) {
            call.duration_deadline = None;
            self.hang_up(now, id, "duration limit");
            return;
        }
        if call.session_deadline.is_some_and(|d| d <= now) {
            call.session_deadline = None;
            if call.subscription {
                let e = Ending::new("subscription expired", EndedBy::Palisade);
                self.end_call(now, id, e);
            } else {
                self.hang_up(now, id, "session expired");
            }
        }
    }

    /// CANCEL from leg 0: answer it, end leg 0 with 487, and cancel leg 1.
    fn on_cancel(&mut self, now: Instant, inbound: &Inbound<F>, cancel_key: &TransactionKey) {
        let target = cancel_key.cancel_target();
        let call = target.as_ref().and_then(|k| match self.servers.get(k) {
            Some(e) => match e.ctx {
                ServerCtx::CallStart { call } => Some((call, e.txn.has_final())),
                _ => None,
            },
            None => None,
        });
        let Some(k) = self.new_server(now, inbound, ServerCtx::Local) else {
            return;
        };
        let Some((id, answered)) = call else {
            self.respond_code(now, &k, 481);
            return;
        };
        // The 200 for the CANCEL carries the tag of the INVITE's responses (RFC 3261 §9.2).
        let tag = self.leg0_tag(id);
        self.respond_code_tagged(now, &k, 200, tag.clone());
        if answered {
            // CANCEL crossed a final response: nothing left to cancel (RFC 3261 §9.2).
            return;
        }
        if let Some(t) = target {
            self.respond_code_tagged(now, &t, 487, tag);
        }
        if let Some(call) = self.calls.get_mut(&id) {
            call.cancel = CancelState::Pending;
            call.state = CallState::Ended;
            let caller = EndedBy::Side(call.legs[0].side);
            call.ending = Some(Ending::new("cancelled", caller).status(487));
        }
        self.send_cancel(now, id);
    }

    /// The To tag of leg 0's responses.
    fn leg0_tag(&self, id: u64) -> Option<String> {
        self.calls.get(&id).map(|c| c.legs[0].local_tag.clone())
    }

    /// Sends CANCEL on leg 1 once it has had a provisional response (RFC 3261 §9.1);
    /// before that, the CANCEL waits.
    fn send_cancel(&mut self, now: Instant, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.state = CallState::Ended;
        let Some(ckey) = call.leg1_start.clone() else {
            return;
        };
        let Some(entry) = self.clients.get(&ckey) else {
            // Leg 1 already finished.
            self.end_call(now, id, Ending::new("cancelled", self.caller(id)));
            return;
        };
        let provisional = matches!(&entry.txn, ClientTxn::Invite(t) if {
            use palisade_sip::transaction::{ClientInviteState as S, Transaction};
            t.state() == S::Proceeding
        });
        // A transaction in Proceeding still holds its INVITE.
        let (true, Some(invite)) = (provisional, entry.txn.request().cloned()) else {
            return;
        };
        let dest = entry.dest.clone();
        let side = entry.side;
        if let Some(m) = cancel_for(&invite) {
            self.new_client(now, side, dest, m, ClientCtx::Own { call: id });
        }
        let deadline = now + 64 * self.cfg.timers.t1;
        if let Some(call) = self.calls.get_mut(&id) {
            call.cancel = CancelState::Sent;
            call.cancel_deadline = Some(deadline);
        }
        self.schedule(deadline, TimerRef::Call(id));
    }

    /// The side and destination of a call's leg, while the call exists.
    fn leg_target(&self, id: u64, leg: usize) -> Option<(Side, Destination<F>)> {
        let l = self.calls.get(&id)?.legs.get(leg)?;
        Some((l.side, l.destination.clone()))
    }

    /// Leg 1 answered after the call was abandoned: ACK and BYE it.
    fn ack_and_bye_leg1(&mut self, now: Instant, id: u64, resp: &Message, ending: Ending) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.legs[1].learn_from_response(resp);
        let cseq = resp
            .cseq()
            .map(|c| c.seq)
            .unwrap_or(call.legs[1].local_cseq);
        if let Some(ack) = self.ack_on(id, 1, cseq, None)
            && let Some((side, dest)) = self.leg_target(id, 1)
        {
            self.emit(side, dest, ack);
        }
        self.send_bye(now, id, 1);
        self.end_call(now, id, ending);
    }

    fn ack_on(
        &mut self,
        id: u64,
        leg: usize,
        cseq: u32,
        body_from: Option<&Message>,
    ) -> Option<Message> {
        let branch = self.ids.branch();
        let call = self.calls.get(&id)?;
        let l = &call.legs[leg];
        let mut b = l.request(&Method::Ack, &l.remote_target, cseq, &branch, 70);
        if let Some(src) = body_from {
            copy_headers(src, &mut b, l.side, self.agents(l.side));
            // An answer the relay cannot take leaves the ACK without it.
            let _ = self.put_body(id, 1 - leg, src, &mut b);
        }
        b.build_message().ok()
    }

    fn send_bye(&mut self, now: Instant, id: u64, leg: usize) {
        let branch = self.ids.branch();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let l = &mut call.legs[leg];
        if l.remote_tag.is_none() {
            return;
        }
        let cseq = l.next_cseq();
        let b = l.request(&Method::Bye, &l.remote_target, cseq, &branch, 70);
        let (side, dest) = (l.side, l.destination.clone());
        if let Ok(m) = b.build_message() {
            self.new_client(now, side, dest, m, ClientCtx::Own { call: id });
        }
    }

    /// Palisade ends an established call itself: BYE on both legs.
    fn hang_up(&mut self, now: Instant, id: u64, why: &'static str) {
        self.send_bye(now, id, 0);
        self.send_bye(now, id, 1);
        self.end_call(now, id, Ending::new(why, EndedBy::Palisade));
    }

    /// The side a call came from, as who ended it.
    fn caller(&self, id: u64) -> EndedBy {
        self.calls
            .get(&id)
            .map_or(EndedBy::Palisade, |c| EndedBy::Side(c.legs[0].side))
    }

    /// Forgets a call. Transactions still running finish on their own. An ending decided
    /// earlier (a CANCEL, the ringing timeout) is the one reported.
    fn end_call(&mut self, now: Instant, id: u64, ending: Ending) {
        if let Some(call) = self.calls.remove(&id) {
            if call.media.open {
                self.media.close(id);
            }
            self.policy.ended(now, id);
            self.policy_alerts();
            self.unindex_leg(&call, 0);
            self.unindex_leg(&call, 1);
            let e = call.ending.unwrap_or(ending);
            self.events.push_back(Event::CallEnded {
                call: id,
                why: e.why,
                by: e.by,
                status: e.status,
            });
        }
    }

    /// An ACK for a 2xx arrived on `side`: stop retransmitting, and ACK the other leg.
    fn ack_for_2xx(&mut self, now: Instant, id: u64, side: Side, ack: &Message) {
        let _ = now;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(from_leg) = call.legs.iter().position(|l| l.side == side) else {
            return;
        };
        if call
            .ok_retransmit
            .as_ref()
            .is_some_and(|r| r.leg == from_leg)
        {
            call.ok_retransmit = None;
        }
        if call.state == CallState::Answered {
            call.state = CallState::Confirmed;
        }
        let other = 1 - from_leg;
        let Some(cseq) = call.pending_ack[other].take() else {
            return;
        };
        if let Some(m) = self.ack_on(id, other, cseq, Some(ack))
            && let Some((side, dest)) = self.leg_target(id, other)
        {
            self.emit(side, dest, m.clone());
            if let Some(c) = self.calls.get_mut(&id) {
                c.last_ack[other] = Some(m);
            }
        }
    }

    /// An in-dialog request: relay it to the other leg.
    fn in_dialog(&mut self, now: Instant, inbound: &Inbound<F>, local_tag: &str) {
        let msg = &inbound.message;
        let Some((id, from_leg)) = self.dialog_of(inbound.source.side, msg, local_tag) else {
            if let Some(k) = self.new_server(now, inbound, ServerCtx::Local) {
                self.respond_code(now, &k, 481);
            }
            return;
        };
        let Some(skey) = self.new_server(now, inbound, ServerCtx::InDialog { call: id }) else {
            return;
        };
        let method = msg.method().cloned().unwrap_or(Method::Options);
        let branch = self.ids.branch();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if matches!(method, Method::Invite | Method::Update) {
            call.legs[from_leg].learn_target(msg);
        }
        if call.legs[from_leg].remote_tag.is_none() {
            // A NOTIFY can establish a subscription's dialog before the SUBSCRIBE's 2xx
            // (RFC 6665 §4.1.2.4).
            call.legs[from_leg].remote_tag =
                msg.from().ok().and_then(|f| f.tag().map(str::to_owned));
            call.legs[from_leg].learn_target(msg);
        }
        if method == Method::Bye {
            call.state = CallState::Ending;
        }
        let to = 1 - from_leg;
        let cseq = call.legs[to].next_cseq();
        let l = &call.legs[to];
        let mut b = l.request(
            &method,
            &l.remote_target,
            cseq,
            &branch,
            decrement(msg.max_forwards().ok().flatten()),
        );
        if method == Method::Prack {
            // RAck names the reliable provisional by RSeq and by the INVITE's CSeq on
            // this leg (RFC 3262 §7.2).
            if let (Some(rack), Some(invite_cseq)) = (
                msg.header(HeaderName::RAck)
                    .and_then(|v| std::str::from_utf8(v).ok()),
                call.leg1_invite_cseq.or(Some(l.local_cseq)),
            ) {
                let rseq = rack.split_whitespace().next().unwrap_or("1");
                let invite_cseq = if to == 1 {
                    invite_cseq
                } else {
                    call.first_cseq
                };
                b.header(HeaderName::RAck, format!("{rseq} {invite_cseq} INVITE"));
            }
        }
        if method == Method::Invite {
            call.pending_ack[to] = None;
        }
        let (side, dest) = (l.side, l.destination.clone());
        let (refer_addr, refer_proto) = referral_target(l);
        copy_headers(msg, &mut b, side, self.agents(side));
        copy_referral(msg, &mut b, refer_addr, refer_proto, &|v| {
            self.map_replaces(side.other(), v)
        });
        if self.put_body(id, from_leg, msg, &mut b).is_err() {
            // No ports for a new stream, or an offer that cannot be read.
            self.respond_code(now, &skey, 488);
            return;
        }
        let Ok(out) = b.build_message() else {
            self.respond_code(now, &skey, 500);
            return;
        };
        let ctx = ClientCtx::Relay {
            server: skey,
            call: Some(id),
            register: None,
            upstream: None,
        };
        self.new_client(now, side, dest, out, ctx);
    }

    // ----- responses ---------------------------------------------------------------

    fn on_response(&mut self, now: Instant, inbound: Inbound<F>) {
        if check_response(&inbound.message).is_err() {
            self.events.push_back(Event::Rejected {
                side: inbound.source.side,
                why: "malformed response",
            });
            return;
        }
        let Ok(key) = TransactionKey::for_client(&inbound.message) else {
            return;
        };
        if self.clients.get(&key).is_none() {
            // A 2xx retransmission after the INVITE transaction ended: re-send our ACK.
            self.stray_2xx(&inbound);
            return;
        }
        if let Some(e) = self.clients.get_mut(&key) {
            let _ = e.txn.on_response(now, inbound.message);
        }
        self.drain_client(now, &key);
    }

    fn stray_2xx(&mut self, inbound: &Inbound<F>) {
        let msg = &inbound.message;
        let is_invite_2xx = msg.status().is_some_and(|c| (200..300).contains(&c))
            && msg.cseq().is_ok_and(|c| c.method == Method::Invite);
        if !is_invite_2xx {
            return;
        }
        let Some(tag) = msg.from().ok().and_then(|f| f.tag().map(str::to_owned)) else {
            return;
        };
        if let Some((id, leg)) = self.dialog_of(inbound.source.side, msg, &tag) {
            self.resend_ack(id, leg, None);
        }
    }

    /// Sends leg `leg`'s last ACK again (a 2xx was retransmitted: the ACK was lost), if it
    /// acknowledged the INVITE numbered `cseq` (any, when `None`).
    fn resend_ack(&mut self, id: u64, leg: usize, cseq: Option<u32>) {
        let ack = self
            .calls
            .get(&id)
            .and_then(|c| c.last_ack.get(leg)?.clone());
        let Some(ack) = ack.filter(|a| cseq.is_none_or(|n| a.cseq().is_ok_and(|c| c.seq == n)))
        else {
            return;
        };
        if let Some((side, dest)) = self.leg_target(id, leg) {
            self.emit(side, dest, ack);
        }
    }

    fn client_response(&mut self, now: Instant, ctx: &ClientCtx<F>, reply: Reply) {
        let failed = reply.upstream_failed();
        let unanswered = reply.synthetic;
        let resp = reply.message;
        if !unanswered {
            self.note_auth_failure(ctx, &resp);
        }
        match ctx {
            ClientCtx::KeepAlive { token } => {
                // Any answer, even a refusal, shows the NAT binding is open. No answer at
                // all (or a transport error) means the phone is gone, and so is its binding.
                if unanswered && self.registrar.remove(token).is_some() {
                    self.events
                        .push_back(Event::BindingUnreachable { token: *token });
                }
            }
            ClientCtx::CallStart { call } => self.call_start_response(now, *call, resp, failed),
            ClientCtx::Probe { upstream } => self.probe_response(*upstream, &resp, failed),
            ClientCtx::Own { call } => {
                let is_bye = resp.cseq().is_ok_and(|c| c.method == Method::Bye);
                let code = resp.status().unwrap_or(500);
                if is_bye && code >= 200 {
                    let e = Ending::new("hung up by Palisade", EndedBy::Palisade);
                    self.end_call(now, *call, e);
                }
            }
            ClientCtx::Relay {
                server,
                call,
                register,
                upstream,
            } => {
                if let Some(up) = upstream {
                    self.note_upstream(*up, failed);
                }
                if let Some(reg) = register {
                    if failed && let Some(next) = upstream.and_then(|u| self.pick_upstream(u + 1)) {
                        self.retry_register(now, server, reg, next);
                        return;
                    }
                    self.register_response(now, reg, server, &resp);
                    return;
                }
                match call {
                    Some(id) => self.relay_in_dialog_response(now, *id, server, &resp),
                    None => self.relay_plain_response(now, server, &resp),
                }
            }
        }
    }

    /// Reports a phone's credentials refused by the PBX, for brute-force detection. A 401
    /// or 407 to a request without credentials is the usual first step of digest
    /// authentication and is not reported.
    fn note_auth_failure(&mut self, ctx: &ClientCtx<F>, resp: &Message) {
        if !matches!(resp.status(), Some(401 | 403 | 407)) {
            return;
        }
        let server = match ctx {
            ClientCtx::Relay { server, .. } => Some(server.clone()),
            ClientCtx::CallStart { call } => call_leg0_start(&self.calls, *call),
            _ => None,
        };
        let Some(e) = server.and_then(|k| self.servers.get(&k)) else {
            return;
        };
        if e.side != Side::Access {
            return;
        }
        let Some(req) = e.txn.request() else {
            return;
        };
        let creds = [HeaderName::Authorization, HeaderName::ProxyAuthorization]
            .into_iter()
            .flat_map(|h| req.credentials(h))
            .collect::<Vec<_>>();
        if creds.is_empty() {
            return;
        }
        let digest_user = creds
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .find_map(|c| c.as_digest().map(|d| d.username.clone()));
        let claimed = || {
            let party = if req.method() == Some(&Method::Register) {
                req.to().ok()
            } else {
                req.from().ok()
            };
            party.and_then(|p| p.uri.sip().and_then(|s| s.user.map(str::to_owned)))
        };
        let account = digest_user.or_else(claimed).unwrap_or_default();
        self.events.push_back(Event::AuthFailed {
            source: e.reply.remote(),
            account,
        });
    }

    fn note_upstream(&mut self, up: usize, failed: bool) {
        let cfg = self.cfg.probe;
        let Some(u) = self.upstreams.get_mut(up) else {
            return;
        };
        let changed = if failed {
            u.failure(&cfg).then(|| Event::UpstreamDown {
                upstream: u.upstream.name.clone(),
            })
        } else {
            u.success(&cfg).then(|| Event::UpstreamUp {
                upstream: u.upstream.name.clone(),
            })
        };
        if let Some(ev) = changed {
            self.events.push_back(ev);
        }
    }

    fn retry_register(
        &mut self,
        now: Instant,
        server: &TransactionKey,
        reg: &RegisterCtx<F>,
        next: usize,
    ) {
        let Some(req) = self
            .servers
            .get(server)
            .and_then(|e| e.txn.request())
            .cloned()
        else {
            return;
        };
        self.send_register(
            now,
            req,
            reg.phone.clone(),
            server.clone(),
            next,
            reg.cached,
        );
    }

    /// A response to a relayed out-of-dialog request.
    fn relay_plain_response(&mut self, now: Instant, server: &TransactionKey, resp: &Message) {
        let Some(e) = self.servers.get(server) else {
            return;
        };
        let code = resp.status().unwrap_or(500);
        if code == 100 {
            return;
        }
        let toward = e.side;
        // None once answered: a second final response has nowhere to go.
        let Some(req) = e.txn.request().cloned() else {
            return;
        };
        // As `referral_target`: Palisade itself toward the phone, the sender toward the core.
        let protocol = e.reply.protocol();
        let refer_addr = match toward {
            Side::Access => self.side_addrs(Side::Access).contact_addr(protocol),
            Side::Core => Some(e.reply.remote()),
        };
        let tag = self.ids.tag();
        let reason = resp.reason().and_then(|r| std::str::from_utf8(r).ok());
        let mut b = response_with_reason(&req, code, reason, Some(&tag));
        copy_headers(resp, &mut b, toward, self.agents(toward));
        if let Some(addr) = refer_addr {
            copy_referral(resp, &mut b, addr, protocol, &|v| {
                self.map_replaces(toward.other(), v)
            });
        }
        copy_body(resp, &mut b);
        if let Ok(m) = b.build_message() {
            self.respond(now, server, m);
        }
    }

    /// A response to a relayed in-dialog request.
    fn relay_in_dialog_response(
        &mut self,
        now: Instant,
        id: u64,
        server: &TransactionKey,
        resp: &Message,
    ) {
        let code = resp.status().unwrap_or(500);
        if code == 100 {
            return;
        }
        let Some(e) = self.servers.get(server) else {
            return;
        };
        let side = e.side;
        // None once answered: this side gets Palisade's own 2xx retransmissions until its
        // ACK, and a 2xx the other side retransmits means that the ACK it was sent was lost.
        let Some(req) = e.txn.request().cloned() else {
            let invite_2xx = resp
                .cseq()
                .ok()
                .filter(|c| (200..300).contains(&code) && c.method == Method::Invite);
            let other = self
                .calls
                .get(&id)
                .and_then(|c| c.legs.iter().position(|l| l.side != side));
            if let (Some(cseq), Some(leg)) = (invite_2xx, other) {
                self.resend_ack(id, leg, Some(cseq.seq));
            }
            return;
        };
        let method = req.method().cloned().unwrap_or(Method::Options);
        let Some(call) = self.calls.get_mut(&id) else {
            // The call ended meanwhile (BYE crossing): answer with what came back.
            self.relay_plain_response(now, server, resp);
            return;
        };
        let Some(to_leg) = call.legs.iter().position(|l| l.side == side) else {
            return;
        };
        let other = 1 - to_leg;
        if (200..300).contains(&code) && matches!(method, Method::Invite | Method::Update) {
            call.legs[other].learn_target(resp);
        }
        if (200..300).contains(&code) && method == Method::Invite {
            // The other leg's 2xx is ACKed when this leg's ACK arrives.
            call.pending_ack[other] = resp.cseq().ok().map(|c| c.seq);
        }
        let m = match self.relay_response(id, to_leg, &req, resp) {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(_) => {
                self.respond_code(now, server, 500);
                return;
            }
        };
        self.respond(now, server, m.clone());
        if (200..300).contains(&code) && method == Method::Invite {
            self.start_ok_retransmit(now, id, to_leg, m);
        }
        if (200..300).contains(&code) && matches!(method, Method::Invite | Method::Update) {
            self.refresh_session_timer(now, id, resp);
        }
        if method == Method::Bye && code >= 200 {
            self.end_call(now, id, Ending::new("hung up", EndedBy::Side(side)));
        }
        if method == Method::Notify
            && code >= 200
            && subscription_terminated(&req)
            && self.is_subscription(id)
        {
            // A NOTIFY in an INVITE dialog (the outcome of a REFER) ends the implicit
            // subscription, not the call.
            let e = Ending::new("subscription terminated", EndedBy::Side(side));
            self.end_call(now, id, e);
        }
        if method == Method::Subscribe && (200..300).contains(&code) {
            self.subscription_guard(now, id, &req, resp);
        }
    }

    /// Whether a call is a subscription (started with SUBSCRIBE) rather than a session.
    fn is_subscription(&self, id: u64) -> bool {
        self.calls.get(&id).is_some_and(|c| c.subscription)
    }

    // ----- reconfiguration ---------------------------------------------------------

    /// Takes a reloaded configuration without dropping a call, a registration or a
    /// transaction. Everything applies to what happens next: the upstream list (an
    /// upstream kept by name keeps its health and its calls; a new one starts optimistic
    /// and is probed at once), probing, who may call, the call limit, header policies,
    /// registration times and Min-SE. Palisade's own addresses (bound listeners), the
    /// transaction timers and the ringing timeout stay as they were: the first are
    /// sockets, and the running transactions and ringing calls were timed by the others.
    pub fn reconfigure(&mut self, now: Instant, mut cfg: B2buaConfig) {
        cfg.access = self.cfg.access.clone();
        cfg.core = self.cfg.core.clone();
        cfg.timers = self.cfg.timers;
        cfg.invite_timeout = self.cfg.invite_timeout;
        let mut old: Vec<Option<UpstreamState>> = std::mem::take(&mut self.upstreams)
            .into_iter()
            .map(Some)
            .collect();
        // Where each old upstream went: calls, relayed transactions and probes follow it.
        let mut moved: Vec<Option<usize>> = vec![None; old.len()];
        for (i, u) in cfg.upstreams.iter().enumerate() {
            let kept = old
                .iter()
                .position(|o| o.as_ref().is_some_and(|o| o.upstream == *u));
            let state = match kept {
                Some(j) => {
                    moved[j] = Some(i);
                    old[j].take()
                }
                None => None,
            };
            self.upstreams
                .push(state.unwrap_or_else(|| UpstreamState::new(u.clone(), now)));
        }
        for call in self.calls.values_mut() {
            call.upstream = call.upstream.and_then(|j| moved.get(j).copied().flatten());
        }
        let mut orphans = Vec::new();
        for (key, e) in self.clients.iter_mut() {
            match &mut e.ctx {
                ClientCtx::Relay { upstream, .. } => {
                    *upstream = upstream.and_then(|j| moved.get(j).copied().flatten());
                }
                ClientCtx::Probe { upstream } => match moved.get(*upstream).copied().flatten() {
                    Some(i) => *upstream = i,
                    None => orphans.push(key.clone()),
                },
                _ => {}
            }
        }
        // A probe of an upstream that is gone: its answer no longer means anything.
        for key in orphans {
            self.clients.remove(&key);
        }
        // Probe timers name upstreams by position: schedule them afresh for the new list.
        self.timers
            .retain(|what| !matches!(what, TimerRef::Probe(_) | TimerRef::ProbeTimeout(_)));
        for i in 0..self.upstreams.len() {
            let (next, due) = {
                let u = &self.upstreams[i];
                (u.next_probe, u.probing.as_ref().map(|(_, due)| *due))
            };
            self.schedule(next.max(now), TimerRef::Probe(i));
            if let Some(due) = due {
                self.schedule(due, TimerRef::ProbeTimeout(i));
            }
        }
        self.cfg = cfg;
    }

    // ----- upstream probes ---------------------------------------------------------

    fn probe(&mut self, now: Instant, i: usize) {
        let interval = self.cfg.probe.interval;
        let Some(dest) = self.upstream_dest(i) else {
            return;
        };
        let Some(local) = self.side_addrs(Side::Core).contact_addr(dest.protocol()) else {
            return;
        };
        if let Some(u) = self.upstreams.get_mut(i) {
            u.next_probe = now + interval;
        }
        self.schedule(now + interval, TimerRef::Probe(i));
        if self.upstreams.get(i).is_some_and(|u| u.probing.is_some()) {
            return;
        }
        let branch = self.ids.branch();
        let tag = self.ids.tag();
        let call_id = self.ids.call_id();
        let uri = self.core_uri(None, i);
        let mut b = Builder::request(&Method::Options, &uri);
        b.header(
            HeaderName::Via,
            crate::leg::via_value(local, dest.protocol(), &branch),
        );
        b.header(HeaderName::MaxForwards, "70");
        let me = format!("<sip:palisade@{}>", SideAddrs::host_port(local));
        b.header(HeaderName::From, format!("{me};tag={tag}"));
        b.header(HeaderName::To, format!("<{uri}>"));
        b.header(HeaderName::CallId, call_id);
        b.header(HeaderName::CSeq, "1 OPTIONS");
        let Ok(m) = b.build_message() else {
            return;
        };
        let key = self.new_client(now, Side::Core, dest, m, ClientCtx::Probe { upstream: i });
        let due = now + self.cfg.probe.timeout;
        if let Some(u) = self.upstreams.get_mut(i) {
            u.probing = key.map(|k| (k, due));
        }
        self.schedule(due, TimerRef::ProbeTimeout(i));
    }

    /// Pings a NATed phone over its flow to keep its NAT binding open and to learn that it
    /// is still there.
    fn keepalive(&mut self, now: Instant, token: Token) {
        let interval = self.cfg.registration.keepalive_interval;
        let Some(b) = self.registrar.get(&token) else {
            return;
        };
        if interval.is_zero() || !b.nat {
            return;
        }
        let (dest, contact) = (b.destination.clone(), b.contact.clone());
        let Some(local) = self.side_addrs(Side::Access).contact_addr(dest.protocol()) else {
            return;
        };
        let branch = self.ids.branch();
        let tag = self.ids.tag();
        let call_id = self.ids.call_id();
        let mut b = Builder::request(&Method::Options, &contact);
        b.header(
            HeaderName::Via,
            crate::leg::via_value(local, dest.protocol(), &branch),
        );
        b.header(HeaderName::MaxForwards, "70");
        b.header(
            HeaderName::From,
            format!("<sip:palisade@{}>;tag={tag}", SideAddrs::host_port(local)),
        );
        b.header(HeaderName::To, format!("<{contact}>"));
        b.header(HeaderName::CallId, call_id);
        b.header(HeaderName::CSeq, "1 OPTIONS");
        if let Ok(m) = b.build_message() {
            self.new_client(now, Side::Access, dest, m, ClientCtx::KeepAlive { token });
        }
        self.schedule(now + interval, TimerRef::KeepAlive(token));
    }

    /// The probe went unanswered for `probe.timeout`: a failure. Its transaction is
    /// abandoned, so a late answer does not count as well.
    fn probe_timeout(&mut self, now: Instant, i: usize) {
        // The timer may belong to an earlier probe that was answered; only the probe in
        // flight, once due, counts.
        let Some(u) = self.upstreams.get_mut(i) else {
            return;
        };
        let Some((key, _)) = u.probing.take_if(|(_, due)| *due <= now) else {
            return;
        };
        self.clients.remove(&key);
        self.note_upstream(i, true);
    }

    fn probe_response(&mut self, i: usize, resp: &Message, failed: bool) {
        if resp.status().unwrap_or(500) < 200 {
            return;
        }
        if let Some(u) = self.upstreams.get_mut(i) {
            u.probing = None;
        }
        self.note_upstream(i, failed);
    }
}

/// Whether a transaction's next deadline must go into the timers: only when it is
/// earlier than the one already there. A later entry left behind is recognised as
/// stale when it pops (see [`fire`]).
fn rearm(armed: &mut Option<Instant>, next: Option<Instant>, now: Instant) -> Option<Instant> {
    let next = next?.max(now);
    if armed.is_some_and(|a| a <= next) {
        return None;
    }
    *armed = Some(next);
    Some(next)
}

/// A timer entry for a transaction come due at `at`: true when it is the armed deadline,
/// false for an entry an earlier deadline replaced (or a duplicate of one already fired).
fn fire(armed: &mut Option<Instant>, at: Instant) -> bool {
    if *armed == Some(at) {
        *armed = None;
        true
    } else {
        false
    }
}

/// A transaction's timer entry come due at `at`: when it is the armed deadline, the
/// transaction is told the time if its own next deadline (`next`) has passed; true when it
/// is to be drained.
fn fire_txn(
    armed: &mut Option<Instant>,
    at: Instant,
    now: Instant,
    next: Option<Instant>,
    on_timeout: impl FnOnce(Instant),
) -> bool {
    if !fire(armed, at) {
        return false;
    }
    if next.is_some_and(|t| t <= now) {
        on_timeout(now);
    }
    true
}

/// The leg 0 server transaction of a call.
fn call_leg0_start<F>(calls: &HashMap<u64, Box<Call<F>>>, id: u64) -> Option<TransactionKey> {
    calls.get(&id).map(|c| c.leg0_start.clone())
}

/// Methods Palisade relays.
const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY, SUBSCRIBE, MESSAGE";

fn first_contact(req: &Message) -> Option<String> {
    req.contacts().find_map(|c| match c {
        Ok(ContactValue::Address(na)) => Some(na.uri.as_str().to_owned()),
        _ => None,
    })
}

/// Whether a NOTIFY ends its subscription (`Subscription-State: terminated`).
fn subscription_terminated(notify: &Message) -> bool {
    notify
        .headers_by_raw_name("Subscription-State")
        .next()
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("terminated"))
        })
}

/// How long past its expiry a phone's binding is kept, for a refresh that is a little late.
const REGISTER_GRACE: Duration = Duration::from_secs(10);

/// Whether a request comes from behind a NAT: its top Via names another address or port
/// than the packet came from, or its Contact holds a private address.
fn behind_nat<F>(req: &Message, source: &Source<F>) -> bool {
    let via_differs = req.via().is_ok_and(|v| {
        let port = v.port.unwrap_or(source.protocol.default_port());
        v.host.ip() != Some(source.remote.ip()) || port != source.remote.port()
    });
    let private_contact = req.contacts().any(|c| match c {
        Ok(ContactValue::Address(na)) => na
            .uri
            .sip()
            .and_then(|s| s.host.ip())
            .is_some_and(is_private),
        _ => false,
    });
    via_differs || private_contact
}

/// RFC 1918, RFC 6598 (carrier-grade NAT), link-local and IPv6 unique-local addresses.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private() || a.is_link_local() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => (a.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The expiry a REGISTER asks for: its first contact's `expires`, else its Expires header,
/// else `default`.
fn requested_expires(req: &Message, default: u32) -> u32 {
    let contact = req.contacts().find_map(|c| match c {
        Ok(ContactValue::Address(na)) => na
            .params
            .get("expires")
            .flatten()
            .and_then(|e| e.parse().ok()),
        _ => None,
    });
    contact
        .or_else(|| req.expires().ok().flatten())
        .unwrap_or(default)
}

/// A REGISTER whose digest credentials name another user than the AOR it registers: the
/// (AOR, username) when so. A username written as `user@domain` names `user`. Hashed
/// usernames (RFC 7616 userhash) cannot be compared and are left to the PBX.
fn hijack_attempt(req: &Message) -> Option<(String, String)> {
    let to = req.to().ok()?;
    let user = to.uri.sip().and_then(|s| s.user);
    [HeaderName::Authorization, HeaderName::ProxyAuthorization]
        .into_iter()
        .flat_map(|h| req.credentials(h))
        .filter_map(Result::ok)
        .filter_map(|c| c.as_digest().cloned())
        .filter(|d| !d.userhash)
        .find(|d| {
            let name = d.username.split('@').next().unwrap_or("");
            Some(d.username.as_str()) != user && Some(name) != user
        })
        .map(|d| (to.uri.as_str().to_owned(), d.username))
}

/// Whether two destinations are the same flow (the same socket and remote, or the same
/// connection).
fn same_flow<F: PartialEq>(a: &Destination<F>, b: &Destination<F>) -> bool {
    a == b
}

/// Where Refer-To and Referred-By point on a leg: Palisade itself toward the phone, the
/// PBX toward the core.
fn referral_target<F>(leg: &Leg<F>) -> (SocketAddr, Protocol) {
    let protocol = leg.destination.protocol();
    match leg.side {
        Side::Access => (leg.local_addr, protocol),
        Side::Core => (leg.destination.remote(), protocol),
    }
}

/// A CANCEL for an INVITE Palisade sent (RFC 3261 §9.1): same Request-URI, Call-ID, From,
/// To, CSeq number and top Via, and the same Route.
fn cancel_for(invite: &Message) -> Option<Message> {
    let uri = invite.request_uri_str()?;
    let mut b = Builder::request(&Method::Cancel, uri);
    let via = invite.values(HeaderName::Via).next()?;
    b.header(HeaderName::Via, via);
    b.header(HeaderName::MaxForwards, "70");
    b.header(HeaderName::From, invite.header(HeaderName::From)?);
    b.header(HeaderName::To, invite.header(HeaderName::To)?);
    b.header(HeaderName::CallId, invite.header(HeaderName::CallId)?);
    b.header(
        HeaderName::CSeq,
        format!("{} CANCEL", invite.cseq().ok()?.seq),
    );
    for h in invite.headers_named(HeaderName::Route) {
        b.header(HeaderName::Route, h.value);
    }
    b.build_message().ok()
}
