//! SIP transactions (RFC 3261 §17) as sans-IO state machines.
//!
//! Each machine is driven the way `quinn-proto` drives a connection: the caller passes in
//! what happened (a message matched to the transaction, a response from the transaction
//! user, a deadline reached) together with the current time, then drains what the machine
//! wants done:
//!
//! * [`Transaction::poll_transmit`]: messages to put on the wire, in order;
//! * [`Transaction::poll_event`]: what to tell the transaction user (TU);
//! * [`Transaction::poll_timeout`]: when to call [`Transaction::on_timeout`] next.
//!
//! No machine reads a clock, touches a socket or allocates on a timer tick beyond cloning
//! the message it retransmits (a [`Message`] shares its buffer).
//!
//! The four machines are [`ClientInvite`] (§17.1.1), [`ClientNonInvite`] (§17.1.2),
//! [`ServerInvite`] (§17.2.1) and [`ServerNonInvite`] (§17.2.2). Both INVITE machines follow
//! RFC 6026: a 2xx moves them to an Accepted state that lasts 64*T1 (timers L and M)
//! instead of terminating them, so 2xx retransmissions reach the TU (client side) and
//! INVITE retransmissions are absorbed instead of looking like new requests (server side).
//!
//! [`TransactionKey`] tells which transaction a message belongs to, and
//! [`TransactionTable`] keeps transactions by key.

mod client_invite;
mod client_non_invite;
mod key;
mod server_invite;
mod server_non_invite;
mod table;
mod timers;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Instant;

use crate::message::Message;

pub use client_invite::{ClientInvite, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use key::{KeyError, LegacyKey, TransactionKey};
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};
pub use table::TransactionTable;
pub use timers::{Reliability, TimerConfig};

/// What a transaction tells its user.
#[derive(Debug, Clone)]
pub enum TuEvent {
    /// A response for the TU (client side): each provisional response, the final
    /// response, and in the Accepted state every further 2xx, since each must be ACKed
    /// by the TU (RFC 6026 §8.4).
    Response(Message),
    /// An ACK received in the INVITE server's Accepted state: it acknowledges a 2xx, which
    /// is the TU's business (RFC 6026 §8.7).
    Ack(Message),
    /// A retransmission was absorbed: a request the server already has, or a final
    /// response the client already passed up. Informational; the machine has done what
    /// the RFC asks (usually resending its last response or the ACK).
    RetransmissionAbsorbed,
    /// Timer B, F or H fired: no final response (client) or no ACK (server) in time
    /// (§17.1.1.2, §17.1.2.2, §17.2.1).
    Timeout,
    /// The caller reported that sending failed (§17.1.4, §17.2.4).
    TransportError,
    /// The transaction reached Terminated; it can be dropped. Always the last event.
    Terminated,
}

/// A call the machine refused; its state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("expected a request")]
    NotARequest,
    #[error("expected a response")]
    NotAResponse,
    #[error("wrong method for this transaction")]
    WrongMethod,
    #[error("message does not belong to this transaction")]
    Mismatch,
    #[error("not allowed in the current state")]
    WrongState,
    /// The INVITE or the response lacks a header the ACK copies (§17.1.1.3).
    #[error("an ACK could not be built from this message")]
    Ack,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// What all four machines have in common: their outputs and their clock input.
pub trait Transaction {
    /// The machine's state; its order is the order states are entered, so a state never
    /// compares less than an earlier one.
    type State: Copy + Ord + std::fmt::Debug;

    fn key(&self) -> &TransactionKey;
    fn state(&self) -> Self::State;
    fn is_terminated(&self) -> bool;

    /// Handles every deadline that `now` has reached. Calling it early does nothing.
    fn on_timeout(&mut self, now: Instant);

    /// The transport could not send a message of this transaction: the transaction
    /// terminates and reports [`TuEvent::TransportError`] (§17.1.4, §17.2.4).
    fn on_transport_error(&mut self);

    /// The next message to send, if any.
    fn poll_transmit(&mut self) -> Option<Message>;

    /// The next event for the TU, if any.
    fn poll_event(&mut self) -> Option<TuEvent>;

    /// When [`Transaction::on_timeout`] should next be called; `None` when no timer runs.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// Queued outputs of a machine.
///
/// A queue gives its buffer back once it has been drained: a transaction outlives its last
/// message by up to 64 x T1 (absorbing retransmissions), and two empty queues of the
/// smallest size a queue grows to would be about a kilobyte of each lingering transaction,
/// which at thousands of calls a second is most of the process.
#[derive(Debug, Default)]
struct Outbox {
    transmits: VecDeque<Message>,
    events: VecDeque<TuEvent>,
}

impl Outbox {
    fn send(&mut self, msg: Message) {
        self.transmits.push_back(msg);
    }

    fn tell(&mut self, event: TuEvent) {
        self.events.push_back(event);
    }

    fn next_transmit(&mut self) -> Option<Message> {
        pop_releasing(&mut self.transmits)
    }

    fn next_event(&mut self) -> Option<TuEvent> {
        pop_releasing(&mut self.events)
    }
}

/// The front of `queue`; an emptied queue lets go of its buffer.
fn pop_releasing<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    front
}

/// Implements [`Transaction`]'s plumbing for a machine with fields `key`, `state`, `out`
/// and methods `next_deadline`, `handle_timeout`, `terminate`.
macro_rules! transaction_plumbing {
    ($ty:ty, $state:ty) => {
        impl $crate::transaction::Transaction for $ty {
            type State = $state;

            fn key(&self) -> &$crate::transaction::TransactionKey {
                &self.key
            }

            fn state(&self) -> $state {
                self.state
            }

            fn is_terminated(&self) -> bool {
                self.state == <$state>::Terminated
            }

            fn on_timeout(&mut self, now: std::time::Instant) {
                self.handle_timeout(now);
            }

            fn on_transport_error(&mut self) {
                if self.state != <$state>::Terminated {
                    self.out.tell($crate::transaction::TuEvent::TransportError);
                    self.terminate();
                }
            }

            fn poll_transmit(&mut self) -> Option<$crate::message::Message> {
                self.out.next_transmit()
            }

            fn poll_event(&mut self) -> Option<$crate::transaction::TuEvent> {
                self.out.next_event()
            }

            fn poll_timeout(&self) -> Option<std::time::Instant> {
                self.next_deadline()
            }
        }
    };
}
use transaction_plumbing;
