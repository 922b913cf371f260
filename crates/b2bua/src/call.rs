//! A call: two legs and what links them.

use std::time::Instant;

use palisade_sip::transaction::TransactionKey;
use palisade_sip::{Message, Method};

use crate::event::EndedBy;
use crate::leg::Leg;
use crate::media::CallMedia;

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// The first request is on its way; provisional responses may have come back.
    Proceeding,
    /// A 2xx went to leg 0; its ACK has not arrived yet.
    Answered,
    /// Established.
    Confirmed,
    /// A BYE is in flight.
    Ending,
    /// Leg 0 is gone (cancelled or timed out); leg 1 is being closed.
    Ended,
}

/// Whether leg 1 must be (or was) cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelState {
    None,
    /// Waiting for a provisional response before the CANCEL can go (RFC 3261 §9.1).
    Pending,
    Sent,
}

/// A 2xx to an INVITE that Palisade retransmits until the ACK comes (RFC 3261 §13.3.1.4).
#[derive(Debug, Clone)]
pub(crate) struct OkRetransmit {
    pub(crate) leg: usize,
    pub(crate) message: Message,
    pub(crate) next: Instant,
    pub(crate) interval: std::time::Duration,
    pub(crate) give_up: Instant,
    /// On TCP/TLS the 2xx is not resent, but the ACK is still awaited.
    pub(crate) reliable: bool,
}

/// A call (or subscription): leg 0 is where the first request came from, leg 1 where
/// Palisade sent it on.
#[derive(Debug)]
pub(crate) struct Call<F> {
    pub(crate) id: u64,
    pub(crate) legs: [Leg<F>; 2],
    pub(crate) state: CallState,
    /// The first request as it arrived on leg 0, until its final response: what failover,
    /// a 422 retry and the relayed responses need. An answered call does not keep it (it
    /// is the largest message of most calls, and a call may last hours).
    pub(crate) first_request: Option<Message>,
    /// The first request was a SUBSCRIBE: this is a subscription, not a session.
    pub(crate) subscription: bool,
    /// The CSeq number of the first request (for the RAck of a PRACK toward leg 0).
    pub(crate) first_cseq: u32,
    /// Its server transaction on leg 0.
    pub(crate) leg0_start: TransactionKey,
    /// The client transaction that carries it on leg 1.
    pub(crate) leg1_start: Option<TransactionKey>,
    /// The upstream leg 1 goes to, for failover.
    pub(crate) upstream: Option<usize>,
    /// Leg 1 answered with a tag (a provisional with a tag, or a 2xx).
    pub(crate) has_remote_answer: bool,
    pub(crate) cancel: CancelState,
    pub(crate) ok_retransmit: Option<OkRetransmit>,
    /// For each leg: the CSeq of an INVITE of ours whose 2xx awaits the ACK that the
    /// other leg's ACK will trigger.
    pub(crate) pending_ack: [Option<u32>; 2],
    /// The last ACK sent on each leg, re-sent when the 2xx is retransmitted.
    pub(crate) last_ack: [Option<Message>; 2],
    /// CSeq of the INVITE on leg 1 (for PRACK's RAck).
    pub(crate) leg1_invite_cseq: Option<u32>,
    pub(crate) ring_deadline: Option<Instant>,
    /// When a CANCEL went to leg 1: if its INVITE has no final response by then, it is
    /// taken as cancelled (RFC 3261 §9.1, 64 × T1).
    pub(crate) cancel_deadline: Option<Instant>,
    pub(crate) session_deadline: Option<Instant>,
    /// The session interval Palisade asks the PBX for in place of
    /// `calls.session_timer.default_interval`: the Min-SE of the PBX's 422 to the first
    /// try (RFC 4028 §7.4). Set once: a second 422 reaches the phone.
    pub(crate) session_min_se: Option<u32>,
    /// The call's media session in the relay.
    pub(crate) media: CallMedia,
    /// The longest the call may last once answered (the call policy's cap).
    pub(crate) max_duration: Option<std::time::Duration>,
    /// When an answered call reaches `max_duration` and is hung up.
    pub(crate) duration_deadline: Option<Instant>,
    /// Why the call is ending, when that was decided before it ended (a CANCEL from the
    /// caller, the ringing timeout): the call record names that, not the last step.
    pub(crate) ending: Option<Ending>,
}

/// Why a call ended, who ended it, and the final status the caller got, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ending {
    pub(crate) why: &'static str,
    pub(crate) by: EndedBy,
    pub(crate) status: Option<u16>,
}

impl Ending {
    pub(crate) fn new(why: &'static str, by: EndedBy) -> Self {
        Self {
            why,
            by,
            status: None,
        }
    }

    pub(crate) fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}

impl<F> Call<F> {
    pub(crate) fn new(
        id: u64,
        leg0: Leg<F>,
        leg1: Leg<F>,
        first_request: Message,
        leg0_start: TransactionKey,
        upstream: Option<usize>,
    ) -> Self {
        let leg1_cseq = leg1.local_cseq;
        Self {
            id,
            legs: [leg0, leg1],
            state: CallState::Proceeding,
            subscription: first_request.method() == Some(&Method::Subscribe),
            first_cseq: first_request.cseq().map(|c| c.seq).unwrap_or(1),
            first_request: Some(first_request),
            leg0_start,
            leg1_start: None,
            upstream,
            has_remote_answer: false,
            cancel: CancelState::None,
            ok_retransmit: None,
            // Leg 1's 2xx to the first INVITE is ACKed when leg 0's ACK arrives.
            pending_ack: [None, Some(leg1_cseq)],
            last_ack: [None, None],
            leg1_invite_cseq: Some(leg1_cseq),
            ring_deadline: None,
            cancel_deadline: None,
            session_deadline: None,
            session_min_se: None,
            media: CallMedia::default(),
            max_duration: None,
            duration_deadline: None,
            ending: None,
        }
    }
}
