//! The non-INVITE client transaction (RFC 3261 §17.1.2).
//!
//! ```text
//!  Trying ──1xx──▶ Proceeding ──200-699──▶ Completed ──Timer K──▶ Terminated
//!    └─────────200-699──────────────────────▲
//!    └─Timer F (Timeout), from Trying or Proceeding───────────────▶ Terminated
//! ```

use std::time::Instant;

use crate::message::Message;
use crate::method::Method;

use super::timers::{Reliability, Retransmit, Timer, TimerConfig, earliest};
use super::{Outbox, TransactionError, TransactionKey, TuEvent, transaction_plumbing};

/// States of [`ClientNonInvite`], in the order they can be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientNonInviteState {
    /// The request was sent; retransmitted on timer E with a doubling interval up to T2.
    Trying,
    /// A provisional response arrived; timer E keeps retransmitting, every T2.
    Proceeding,
    /// A final response arrived; its retransmissions are absorbed until timer K.
    Completed,
    Terminated,
}

/// A non-INVITE client transaction (also used for CANCEL, §9.1).
#[derive(Debug)]
pub struct ClientNonInvite {
    key: TransactionKey,
    /// Until the final response, for retransmissions; Completed lingers (timer K)
    /// without it.
    request: Option<Message>,
    state: ClientNonInviteState,
    reliability: Reliability,
    config: TimerConfig,
    timer_e: Retransmit,
    timer_f: Timer,
    timer_k: Timer,
    out: Outbox,
}

impl ClientNonInvite {
    /// Starts the transaction: the request is queued for sending at once, timer F
    /// starts, and on unreliable transports timer E (§17.1.2.2).
    pub fn new(
        now: Instant,
        request: Message,
        reliability: Reliability,
        config: TimerConfig,
    ) -> Result<Self, TransactionError> {
        match request.method() {
            Some(Method::Invite | Method::Ack) => return Err(TransactionError::WrongMethod),
            Some(_) => {}
            None => return Err(TransactionError::NotARequest),
        }
        let key = TransactionKey::for_client(&request)?;
        let mut t = Self {
            key,
            request: Some(request.clone()),
            state: ClientNonInviteState::Trying,
            reliability,
            config,
            timer_e: Retransmit::default(),
            timer_f: Timer::default(),
            timer_k: Timer::default(),
            out: Outbox::default(),
        };
        t.out.send(request);
        if !reliability.is_reliable() {
            t.timer_e.start(now, config.t1);
        }
        t.timer_f.set(now, config.transaction_timeout());
        Ok(t)
    }

    /// The request this transaction sends, until a final response arrives.
    pub fn request(&self) -> Option<&Message> {
        self.request.as_ref()
    }

    /// A response the transport layer matched to this transaction.
    pub fn on_response(&mut self, now: Instant, response: Message) -> Result<(), TransactionError> {
        use ClientNonInviteState as S;
        let code = response.status().ok_or(TransactionError::NotAResponse)?;
        if !self.key.matches_response(&response) {
            return Err(TransactionError::Mismatch);
        }
        match (self.state, code) {
            (S::Terminated, _) => return Err(TransactionError::WrongState),
            (S::Trying | S::Proceeding, 100..=199) => {
                self.state = S::Proceeding;
                self.out.tell(TuEvent::Response(response));
            }
            (S::Trying | S::Proceeding, _) => {
                self.state = S::Completed;
                self.request = None;
                self.timer_e.clear();
                self.timer_f.clear();
                self.out.tell(TuEvent::Response(response));
                let linger = self.reliability.linger(self.config.t4);
                if linger.is_zero() {
                    self.terminate();
                } else {
                    self.timer_k.set(now, linger);
                }
            }
            (S::Completed, 200..) => self.out.tell(TuEvent::RetransmissionAbsorbed),
            (S::Completed, _) => {}
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        use ClientNonInviteState as S;
        if self.timer_f.take_expired(now) {
            self.out.tell(TuEvent::Timeout);
            self.terminate();
            return;
        }
        if self.timer_k.take_expired(now) {
            self.terminate();
            return;
        }
        let fired = match self.state {
            S::Trying => self.timer_e.fire(now, Some(self.config.t2)),
            S::Proceeding => self.timer_e.fire_fixed(now, self.config.t2),
            S::Completed | S::Terminated => false,
        };
        if fired && let Some(request) = &self.request {
            self.out.send(request.clone());
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        earliest([self.timer_e.at(), self.timer_f.at(), self.timer_k.at()])
    }

    fn terminate(&mut self) {
        self.state = ClientNonInviteState::Terminated;
        self.timer_e.clear();
        self.timer_f.clear();
        self.timer_k.clear();
        self.out.tell(TuEvent::Terminated);
    }
}

transaction_plumbing!(ClientNonInvite, ClientNonInviteState);
