//! The non-INVITE server transaction (RFC 3261 §17.2.2).
//!
//! ```text
//!  Trying ──1xx from TU──▶ Proceeding ──200-699 from TU──▶ Completed ──Timer J──▶ Terminated
//!    └──────────200-699 from TU─────────────────────────────▲
//! ```

use std::time::Instant;

use crate::message::Message;
use crate::method::Method;

use super::timers::{Reliability, Timer, TimerConfig};
use super::{Outbox, TransactionError, TransactionKey, TuEvent, transaction_plumbing};

/// States of [`ServerNonInvite`], in the order they can be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerNonInviteState {
    /// Waiting for the TU; request retransmissions are discarded.
    Trying,
    /// A provisional response was sent; request retransmissions get it again.
    Proceeding,
    /// The final response was sent; request retransmissions get it again until timer J.
    Completed,
    Terminated,
}

/// A non-INVITE server transaction (also used for CANCEL, §9.2).
#[derive(Debug)]
pub struct ServerNonInvite {
    key: TransactionKey,
    /// Until the final response: Completed lingers 64*T1 with only that response, which
    /// is all a retransmitted request needs.
    request: Option<Message>,
    last_response: Option<Message>,
    state: ServerNonInviteState,
    reliability: Reliability,
    config: TimerConfig,
    timer_j: Timer,
    out: Outbox,
}

impl ServerNonInvite {
    /// Creates the transaction for a received request, which the caller hands to the TU.
    pub fn new(
        _now: Instant,
        request: Message,
        reliability: Reliability,
        config: TimerConfig,
    ) -> Result<Self, TransactionError> {
        match request.method() {
            Some(Method::Invite | Method::Ack) => return Err(TransactionError::WrongMethod),
            Some(_) => {}
            None => return Err(TransactionError::NotARequest),
        }
        Ok(Self {
            key: TransactionKey::for_server(&request)?,
            request: Some(request),
            last_response: None,
            state: ServerNonInviteState::Trying,
            reliability,
            config,
            timer_j: Timer::default(),
            out: Outbox::default(),
        })
    }

    /// The request that created this transaction, until the final response is sent.
    pub fn request(&self) -> Option<&Message> {
        self.request.as_ref()
    }

    /// A response from the TU: provisional ones until the final one (§17.2.2).
    pub fn send_response(
        &mut self,
        now: Instant,
        response: Message,
    ) -> Result<(), TransactionError> {
        use ServerNonInviteState as S;
        let code = response.status().ok_or(TransactionError::NotAResponse)?;
        match (self.state, code) {
            (S::Trying | S::Proceeding, 100..=199) => self.state = S::Proceeding,
            (S::Trying | S::Proceeding, _) => self.state = S::Completed,
            (S::Completed | S::Terminated, _) => return Err(TransactionError::WrongState),
        }
        self.out.send(response.clone());
        self.last_response = Some(response);
        if self.state == S::Completed {
            self.request = None;
            // Timer J: 64*T1 to absorb retransmissions over UDP, none over a reliable
            // transport.
            let linger = self.reliability.linger(self.config.transaction_timeout());
            if linger.is_zero() {
                self.terminate();
            } else {
                self.timer_j.set(now, linger);
            }
        }
        Ok(())
    }

    /// A retransmission of the request, matched by the transport layer.
    pub fn on_request(&mut self, _now: Instant, request: Message) -> Result<(), TransactionError> {
        use ServerNonInviteState as S;
        request.method().ok_or(TransactionError::NotARequest)?;
        if TransactionKey::for_server(&request)? != self.key {
            return Err(TransactionError::Mismatch);
        }
        match self.state {
            S::Terminated => return Err(TransactionError::WrongState),
            S::Trying => {}
            S::Proceeding | S::Completed => {
                if let Some(r) = &self.last_response {
                    self.out.send(r.clone());
                }
            }
        }
        self.out.tell(TuEvent::RetransmissionAbsorbed);
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.timer_j.take_expired(now) {
            self.terminate();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timer_j.at()
    }

    fn terminate(&mut self) {
        self.state = ServerNonInviteState::Terminated;
        self.timer_j.clear();
        self.out.tell(TuEvent::Terminated);
    }
}

transaction_plumbing!(ServerNonInvite, ServerNonInviteState);
