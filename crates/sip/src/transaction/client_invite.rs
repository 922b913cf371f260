//! The INVITE client transaction (RFC 3261 §17.1.1, as updated by RFC 6026 §8.4).
//!
//! ```text
//!  Calling ──1xx──▶ Proceeding
//!  Calling, Proceeding ──2xx──▶ Accepted ──Timer M──▶ Terminated
//!  Calling, Proceeding ──300-699, send ACK──▶ Completed ──Timer D──▶ Terminated
//!  Calling ──Timer B, Timeout──▶ Terminated
//! ```

use std::time::Instant;

use crate::edit::Builder;
use crate::header_name::HeaderName;
use crate::message::Message;
use crate::method::Method;

use super::timers::{Reliability, Retransmit, Timer, TimerConfig, earliest};
use super::{Outbox, TransactionError, TransactionKey, TuEvent, transaction_plumbing};

/// States of [`ClientInvite`], in the order they can be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientInviteState {
    /// The INVITE was sent; retransmitted on timer A over unreliable transports.
    Calling,
    /// A provisional response arrived; retransmissions stop (§17.1.1.2).
    Proceeding,
    /// A 2xx arrived (RFC 6026): further 2xx responses go to the TU until timer M.
    Accepted,
    /// A 300-699 arrived and was ACKed; retransmissions of it are re-ACKed until timer D.
    Completed,
    Terminated,
}

/// An INVITE client transaction.
#[derive(Debug)]
pub struct ClientInvite {
    key: TransactionKey,
    /// Until the final response: it is retransmitted and the ACK for a non-2xx is built
    /// from it; Accepted and Completed linger (64*T1, timer D) without it.
    request: Option<Message>,
    /// The ACK for the non-2xx final response, kept to answer its retransmissions.
    ack: Option<Message>,
    state: ClientInviteState,
    reliability: Reliability,
    config: TimerConfig,
    timer_a: Retransmit,
    timer_b: Timer,
    timer_d: Timer,
    timer_m: Timer,
    out: Outbox,
}

impl ClientInvite {
    /// Starts the transaction: the INVITE is queued for sending at once, timer B starts,
    /// and on unreliable transports timer A (§17.1.1.2).
    pub fn new(
        now: Instant,
        request: Message,
        reliability: Reliability,
        config: TimerConfig,
    ) -> Result<Self, TransactionError> {
        match request.method() {
            Some(Method::Invite) => {}
            Some(_) => return Err(TransactionError::WrongMethod),
            None => return Err(TransactionError::NotARequest),
        }
        let key = TransactionKey::for_client(&request)?;
        // Everything the ACK for a non-2xx response copies from the INVITE (§17.1.1.3) is
        // checked now, so that no response can later leave the transaction unable to ACK.
        if request.header(HeaderName::From).is_none()
            || request.header(HeaderName::CallId).is_none()
            || request.cseq().is_err()
            || request.request_uri_str().is_none()
        {
            return Err(TransactionError::Ack);
        }
        let mut t = Self {
            key,
            request: Some(request.clone()),
            ack: None,
            state: ClientInviteState::Calling,
            reliability,
            config,
            timer_a: Retransmit::default(),
            timer_b: Timer::default(),
            timer_d: Timer::default(),
            timer_m: Timer::default(),
            out: Outbox::default(),
        };
        t.out.send(request);
        if !reliability.is_reliable() {
            t.timer_a.start(now, config.t1);
        }
        t.timer_b.set(now, config.transaction_timeout());
        Ok(t)
    }

    /// The INVITE this transaction sends, until a final response arrives.
    pub fn request(&self) -> Option<&Message> {
        self.request.as_ref()
    }

    /// A response the transport layer matched to this transaction.
    pub fn on_response(&mut self, now: Instant, response: Message) -> Result<(), TransactionError> {
        use ClientInviteState as S;
        let code = response.status().ok_or(TransactionError::NotAResponse)?;
        if !self.key.matches_response(&response) {
            return Err(TransactionError::Mismatch);
        }
        match (self.state, code) {
            (S::Terminated, _) => return Err(TransactionError::WrongState),
            (S::Calling | S::Proceeding, 100..=199) => {
                self.state = S::Proceeding;
                self.timer_a.clear();
                // Timer B only guards Calling; in Proceeding the TU decides how long to
                // wait (timer C in a proxy, §16.6).
                self.timer_b.clear();
                self.out.tell(TuEvent::Response(response));
            }
            (S::Calling | S::Proceeding, 200..=299) => {
                self.state = S::Accepted;
                self.request = None;
                self.timer_a.clear();
                self.timer_b.clear();
                self.timer_m.set(now, self.config.transaction_timeout());
                self.out.tell(TuEvent::Response(response));
            }
            (S::Calling | S::Proceeding, _) => {
                // Build the ACK before changing anything: a response we cannot ACK (no To)
                // is refused and the transaction keeps waiting.
                let invite = self.request.as_ref().ok_or(TransactionError::WrongState)?;
                let ack = build_ack(invite, &response)?;
                self.request = None;
                self.state = S::Completed;
                self.timer_a.clear();
                self.timer_b.clear();
                self.out.send(ack.clone());
                self.ack = Some(ack);
                self.out.tell(TuEvent::Response(response));
                let linger = self.reliability.linger(self.config.timer_d);
                if linger.is_zero() {
                    self.terminate();
                } else {
                    self.timer_d.set(now, linger);
                }
            }
            // A 2xx from another fork, or a retransmission: the TU must see each one to
            // ACK it (RFC 6026 §8.4). A 2xx after a non-2xx (a forking proxy racing) is
            // passed up too, since nothing else would ever acknowledge it.
            (S::Accepted | S::Completed, 200..=299) => {
                self.out.tell(TuEvent::Response(response));
            }
            (S::Completed, 300..) => {
                // A retransmitted final response: our ACK was lost (§17.1.1.2).
                if let Some(ack) = &self.ack {
                    self.out.send(ack.clone());
                }
                self.out.tell(TuEvent::RetransmissionAbsorbed);
            }
            // Late provisional responses, or a non-2xx after a 2xx: nothing to do.
            (S::Accepted | S::Completed, _) => {}
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        use ClientInviteState as S;
        if self.timer_b.take_expired(now) && self.state == S::Calling {
            self.out.tell(TuEvent::Timeout);
            self.terminate();
            return;
        }
        if self.timer_d.take_expired(now) || self.timer_m.take_expired(now) {
            self.terminate();
            return;
        }
        // Timer A doubles without a cap; timer B ends it after 64*T1 (§17.1.1.2).
        if self.state == S::Calling
            && self.timer_a.fire(now, None)
            && let Some(invite) = &self.request
        {
            self.out.send(invite.clone());
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        earliest([
            self.timer_a.at(),
            self.timer_b.at(),
            self.timer_d.at(),
            self.timer_m.at(),
        ])
    }

    fn terminate(&mut self) {
        self.state = ClientInviteState::Terminated;
        self.timer_a.clear();
        self.timer_b.clear();
        self.timer_d.clear();
        self.timer_m.clear();
        self.out.tell(TuEvent::Terminated);
    }
}

transaction_plumbing!(ClientInvite, ClientInviteState);

/// The ACK for a non-2xx final response (§17.1.1.3): Request-URI, Call-ID, From and the
/// CSeq number of the INVITE, method ACK; To from the response (with its tag); only the
/// INVITE's top Via; and the INVITE's Route header fields, so the ACK takes the same path.
pub(crate) fn build_ack(invite: &Message, response: &Message) -> Result<Message, TransactionError> {
    let uri = invite.request_uri_str().ok_or(TransactionError::Ack)?;
    let via = invite
        .values(HeaderName::Via)
        .next()
        .ok_or(TransactionError::Ack)?;
    let from = invite
        .header(HeaderName::From)
        .ok_or(TransactionError::Ack)?;
    let to = response
        .header(HeaderName::To)
        .ok_or(TransactionError::Ack)?;
    let call_id = invite
        .header(HeaderName::CallId)
        .ok_or(TransactionError::Ack)?;
    let seq = invite.cseq().map_err(|_| TransactionError::Ack)?.seq;
    let mut b = Builder::request(&Method::Ack, uri);
    b.header(HeaderName::Via, via);
    b.header(
        HeaderName::MaxForwards,
        invite.header(HeaderName::MaxForwards).unwrap_or(b"70"),
    );
    for route in invite.headers_named(HeaderName::Route) {
        b.header(HeaderName::Route, route.value);
    }
    b.header(HeaderName::From, from);
    b.header(HeaderName::To, to);
    b.header(HeaderName::CallId, call_id);
    b.header(HeaderName::CSeq, format!("{seq} ACK"));
    b.build_message().map_err(|_| TransactionError::Ack)
}
