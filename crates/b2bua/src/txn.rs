//! One type for the two server machines and one for the two client machines, so the
//! engine can keep each kind in one table.

use std::time::Instant;

use palisade_sip::Message;
use palisade_sip::Method;
use palisade_sip::transaction::{
    ClientInvite, ClientNonInvite, Reliability, ServerInvite, ServerNonInvite, TimerConfig,
    Transaction, TransactionError, TransactionKey, TuEvent,
};

/// A server transaction.
#[derive(Debug)]
pub(crate) enum ServerTxn {
    Invite(Box<ServerInvite>),
    NonInvite(Box<ServerNonInvite>),
}

/// A client transaction.
#[derive(Debug)]
pub(crate) enum ClientTxn {
    Invite(Box<ClientInvite>),
    NonInvite(Box<ClientNonInvite>),
}

macro_rules! dispatch {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            Self::Invite($t) => $e,
            Self::NonInvite($t) => $e,
        }
    };
}

impl ServerTxn {
    pub(crate) fn new(
        now: Instant,
        req: Message,
        reliability: Reliability,
        timers: TimerConfig,
    ) -> Result<Self, TransactionError> {
        Ok(match req.method() {
            Some(Method::Invite) => {
                Self::Invite(Box::new(ServerInvite::new(now, req, reliability, timers)?))
            }
            _ => Self::NonInvite(Box::new(ServerNonInvite::new(
                now,
                req,
                reliability,
                timers,
            )?)),
        })
    }

    pub(crate) fn request(&self) -> Option<&Message> {
        dispatch!(self, t => t.request())
    }

    pub(crate) fn key(&self) -> &TransactionKey {
        dispatch!(self, t => t.key())
    }

    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        msg: Message,
    ) -> Result<(), TransactionError> {
        dispatch!(self, t => t.send_response(now, msg))
    }

    pub(crate) fn on_request(
        &mut self,
        now: Instant,
        msg: Message,
    ) -> Result<(), TransactionError> {
        dispatch!(self, t => t.on_request(now, msg))
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) {
        dispatch!(self, t => t.on_timeout(now))
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Message> {
        dispatch!(self, t => t.poll_transmit())
    }

    pub(crate) fn poll_event(&mut self) -> Option<TuEvent> {
        dispatch!(self, t => t.poll_event())
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        dispatch!(self, t => t.poll_timeout())
    }

    /// Whether a final response has been sent.
    pub(crate) fn has_final(&self) -> bool {
        use palisade_sip::transaction::{ServerInviteState as I, ServerNonInviteState as N};
        match self {
            Self::Invite(t) => !matches!(t.state(), I::Proceeding),
            Self::NonInvite(t) => !matches!(t.state(), N::Trying | N::Proceeding),
        }
    }
}

impl ClientTxn {
    pub(crate) fn new(
        now: Instant,
        req: Message,
        reliability: Reliability,
        timers: TimerConfig,
    ) -> Result<Self, TransactionError> {
        Ok(match req.method() {
            Some(Method::Invite) => {
                Self::Invite(Box::new(ClientInvite::new(now, req, reliability, timers)?))
            }
            _ => Self::NonInvite(Box::new(ClientNonInvite::new(
                now,
                req,
                reliability,
                timers,
            )?)),
        })
    }

    pub(crate) fn request(&self) -> Option<&Message> {
        dispatch!(self, t => t.request())
    }

    pub(crate) fn key(&self) -> &TransactionKey {
        dispatch!(self, t => t.key())
    }

    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        msg: Message,
    ) -> Result<(), TransactionError> {
        dispatch!(self, t => t.on_response(now, msg))
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) {
        dispatch!(self, t => t.on_timeout(now))
    }

    pub(crate) fn on_transport_error(&mut self) {
        dispatch!(self, t => t.on_transport_error())
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Message> {
        dispatch!(self, t => t.poll_transmit())
    }

    pub(crate) fn poll_event(&mut self) -> Option<TuEvent> {
        dispatch!(self, t => t.poll_event())
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        dispatch!(self, t => t.poll_timeout())
    }
}
