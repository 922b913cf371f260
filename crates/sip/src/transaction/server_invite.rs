//! The INVITE server transaction (RFC 3261 §17.2.1, as updated by RFC 6026 §8.5-8.7).
//!
//! ```text
//!  Proceeding ──2xx from TU──▶ Accepted ──Timer L──▶ Terminated
//!      └──300-699 from TU──▶ Completed ──ACK──▶ Confirmed ──Timer I──▶ Terminated
//!                               └──Timer H (Timeout)──────────────────▶ Terminated
//! ```
//!
//! RFC 6026 replaces "a 2xx terminates the transaction" by the Accepted state: retransmitted
//! INVITEs keep matching this transaction and are absorbed for 64*T1 (timer L) rather than
//! reaching the TU as new requests, and the TU's own 2xx retransmissions (§13.3.1.4) still
//! go out through it.

use std::time::Instant;

use crate::edit::response_to;
use crate::message::Message;
use crate::method::Method;

use super::timers::{Reliability, Retransmit, Timer, TimerConfig, earliest};
use super::{Outbox, TransactionError, TransactionKey, TuEvent, transaction_plumbing};

/// States of [`ServerInvite`], in the order they can be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerInviteState {
    /// Waiting for the TU's final response; INVITE retransmissions get the last
    /// provisional response again.
    Proceeding,
    /// The TU sent a 2xx (RFC 6026); INVITE retransmissions are absorbed until timer L.
    Accepted,
    /// A 300-699 was sent; retransmitted on timer G until the ACK or timer H.
    Completed,
    /// The ACK arrived; further ACKs are absorbed until timer I.
    Confirmed,
    Terminated,
}

/// An INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    key: TransactionKey,
    /// The key the ACK will carry if it differs from `key` (RFC 2543 peers, whose ACK
    /// holds our To tag; see [`TransactionKey::ack_alias`]).
    ack_key: Option<TransactionKey>,
    /// Until the final response: Accepted and Completed linger (64*T1) with nothing that
    /// needs the INVITE, and it is the largest message of a call.
    request: Option<Message>,
    /// The response sent last: what an INVITE retransmission is answered with in
    /// Proceeding and Completed (none is kept in Accepted).
    last_response: Option<Message>,
    state: ServerInviteState,
    reliability: Reliability,
    config: TimerConfig,
    timer_trying: Timer,
    timer_g: Retransmit,
    timer_h: Timer,
    timer_i: Timer,
    timer_l: Timer,
    out: Outbox,
}

impl ServerInvite {
    /// Creates the transaction for a received INVITE, which the caller hands to the TU.
    /// If [`TimerConfig::trying_delay`] is set, a 100 Trying goes out when it elapses
    /// without a response from the TU (§17.2.1).
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
        let key = TransactionKey::for_server(&request)?;
        let mut timer_trying = Timer::default();
        if let Some(delay) = config.trying_delay {
            timer_trying.set(now, delay);
        }
        Ok(Self {
            key,
            ack_key: None,
            request: Some(request),
            last_response: None,
            state: ServerInviteState::Proceeding,
            reliability,
            config,
            timer_trying,
            timer_g: Retransmit::default(),
            timer_h: Timer::default(),
            timer_i: Timer::default(),
            timer_l: Timer::default(),
            out: Outbox::default(),
        })
    }

    /// The INVITE that created this transaction, until the final response is sent.
    pub fn request(&self) -> Option<&Message> {
        self.request.as_ref()
    }

    /// The extra key under which the ACK for our final response will arrive, once that
    /// response is sent; only RFC 2543 requests have one. A table should map it to this
    /// transaction too (see [`super::TransactionTable::alias`]).
    pub fn ack_key(&self) -> Option<&TransactionKey> {
        self.ack_key.as_ref()
    }

    /// A response from the TU. Provisional responses are allowed in Proceeding, 2xx in
    /// Proceeding and Accepted (the TU retransmits its 2xx itself, §13.3.1.4), 300-699
    /// only in Proceeding.
    pub fn send_response(
        &mut self,
        now: Instant,
        response: Message,
    ) -> Result<(), TransactionError> {
        use ServerInviteState as S;
        let code = response.status().ok_or(TransactionError::NotAResponse)?;
        match (self.state, code) {
            (S::Proceeding, 100..=199) => {}
            (S::Proceeding, 200..=299) => {
                self.state = S::Accepted;
                self.timer_l.set(now, self.config.transaction_timeout());
                self.set_ack_key(&response);
            }
            (S::Accepted, 200..=299) => {}
            (S::Proceeding, _) => {
                self.state = S::Completed;
                if !self.reliability.is_reliable() {
                    self.timer_g.start(now, self.config.t1);
                }
                self.timer_h.set(now, self.config.transaction_timeout());
                self.set_ack_key(&response);
            }
            _ => return Err(TransactionError::WrongState),
        }
        self.timer_trying.clear();
        if self.state != S::Proceeding {
            self.request = None;
        }
        // Accepted answers nothing itself (the TU retransmits its 2xx), and lingers 64*T1:
        // the response would only be kept alive that long for nothing.
        self.last_response = match self.state {
            S::Accepted => None,
            _ => Some(response.clone()),
        };
        self.out.send(response);
        Ok(())
    }

    fn set_ack_key(&mut self, response: &Message) {
        let tag = response.to().ok().and_then(|t| t.tag());
        self.ack_key = self.key.ack_alias(tag);
    }

    /// A request the transport layer matched to this transaction: a retransmitted INVITE
    /// or an ACK.
    pub fn on_request(&mut self, now: Instant, request: Message) -> Result<(), TransactionError> {
        use ServerInviteState as S;
        let method = request.method().ok_or(TransactionError::NotARequest)?;
        let is_ack = match method {
            Method::Invite => false,
            Method::Ack => true,
            _ => return Err(TransactionError::WrongMethod),
        };
        let key = TransactionKey::for_server(&request)?;
        if key != self.key && Some(&key) != self.ack_key.as_ref() {
            return Err(TransactionError::Mismatch);
        }
        match (self.state, is_ack) {
            (S::Terminated, _) => return Err(TransactionError::WrongState),
            // §17.2.1: a retransmitted INVITE gets the last provisional response, or in
            // Completed the final response, again.
            (S::Proceeding | S::Completed, false) => {
                if let Some(r) = &self.last_response {
                    self.out.send(r.clone());
                }
                self.out.tell(TuEvent::RetransmissionAbsorbed);
            }
            // RFC 6026 §8.7: absorbed, not passed to the TU; the TU's 2xx retransmissions
            // answer it.
            (S::Accepted | S::Confirmed, false) => self.out.tell(TuEvent::RetransmissionAbsorbed),
            (S::Completed, true) => {
                self.state = S::Confirmed;
                self.timer_g.clear();
                self.timer_h.clear();
                let linger = self.reliability.linger(self.config.t4);
                if linger.is_zero() {
                    self.terminate();
                } else {
                    self.timer_i.set(now, linger);
                }
            }
            (S::Confirmed, true) => self.out.tell(TuEvent::RetransmissionAbsorbed),
            // An ACK for the 2xx that matched (an RFC 2543 peer reusing the INVITE's Via):
            // it is the TU's (RFC 6026 §8.7).
            (S::Accepted, true) => self.out.tell(TuEvent::Ack(request)),
            // An ACK before any final response acknowledges nothing.
            (S::Proceeding, true) => {}
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        use ServerInviteState as S;
        if self.timer_h.take_expired(now) && self.state == S::Completed {
            // No ACK: a transaction failure for the TU (§17.2.1).
            self.out.tell(TuEvent::Timeout);
            self.terminate();
            return;
        }
        if self.timer_i.take_expired(now) || self.timer_l.take_expired(now) {
            self.terminate();
            return;
        }
        if self.state == S::Completed
            && self.timer_g.fire(now, Some(self.config.t2))
            && let Some(r) = &self.last_response
        {
            self.out.send(r.clone());
        }
        if self.timer_trying.take_expired(now)
            && self.state == S::Proceeding
            && self.last_response.is_none()
        {
            self.send_trying();
        }
    }

    /// The 100 Trying the transaction sends on the TU's behalf (§17.2.1, §8.2.6.1). A
    /// request whose headers cannot be copied into a response simply gets none.
    fn send_trying(&mut self) {
        let Some(request) = &self.request else {
            return;
        };
        if let Ok(trying) = response_to(request, 100, None).build_message() {
            self.out.send(trying.clone());
            self.last_response = Some(trying);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        earliest([
            self.timer_trying.at(),
            self.timer_g.at(),
            self.timer_h.at(),
            self.timer_i.at(),
            self.timer_l.at(),
        ])
    }

    fn terminate(&mut self) {
        self.state = ServerInviteState::Terminated;
        self.timer_trying.clear();
        self.timer_g.clear();
        self.timer_h.clear();
        self.timer_i.clear();
        self.timer_l.clear();
        self.out.tell(TuEvent::Terminated);
    }
}

transaction_plumbing!(ServerInvite, ServerInviteState);
