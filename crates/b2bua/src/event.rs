//! What the B2BUA reports: the feed for logs, metrics and call records.

use std::net::SocketAddr;

use crate::policy::AlertLevel;
use crate::registrar::Token;
use crate::types::Side;

/// Who ended a call: one of its sides (a BYE, a CANCEL, a rejection from there), or
/// Palisade itself (no upstream, no media ports, a timeout, a drain deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    Side(Side),
    Palisade,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new call (or subscription dialog). Times are stamped by the IO layer.
    CallStarted {
        call: u64,
        /// The side the first request came from: leg 0.
        from: Side,
        /// The Call-ID on leg 0, as the caller knows the call.
        call_id: String,
        /// The From URI of the first request.
        caller: String,
        /// Its Request-URI: what was dialled.
        callee: String,
        /// Where leg 0's request came from, and where leg 1 is sent.
        remotes: [SocketAddr; 2],
    },
    /// The other side accepted the call with a 2xx.
    CallAnswered {
        call: u64,
        /// Leg 1's remote at answer: the upstream that took the call after any failover.
        remote: SocketAddr,
    },
    CallEnded {
        call: u64,
        why: &'static str,
        by: EndedBy,
        /// The final status sent to the caller when the call ended before an answer
        /// (rejections, no upstream, no media), or `None`.
        status: Option<u16>,
    },
    Registered {
        aor: String,
        token: Token,
        expires: u32,
    },
    Unregistered {
        aor: String,
        token: Token,
    },
    BindingExpired {
        token: Token,
    },
    /// A NATed phone's re-REGISTER answered by Palisade without the PBX.
    RegistrationAbsorbed {
        aor: String,
    },
    /// A phone behind NAT stopped answering keep-alives: its binding is gone.
    BindingUnreachable {
        token: Token,
    },
    /// The connection a binding lived on closed.
    BindingFlowClosed {
        token: Token,
    },
    UpstreamDown {
        upstream: String,
    },
    UpstreamUp {
        upstream: String,
    },
    /// A message refused by validation.
    Rejected {
        side: Side,
        why: &'static str,
    },
    /// An access-side INVITE refused with 403: from a source that holds no binding and is
    /// not a trusted network, or by the call policy (destination, limits, blocked account).
    CallRefused {
        /// The number the call would have had: its record's `call`.
        call: u64,
        call_id: String,
        /// The From URI.
        caller: String,
        source: SocketAddr,
        /// The account of the binding it came from, if any.
        account: Option<String>,
        /// The Request-URI user dialled.
        callee: String,
        reason: String,
    },
    /// The account an admitted access-side call is charged to: the user of the binding
    /// its INVITE came from; `None` for a trusted trunk. `flagged`: a fraud rule's warning
    /// threshold was crossed by this call.
    CallAccount {
        call: u64,
        account: Option<String>,
        flagged: bool,
    },
    /// A fraud rule's threshold was crossed; at `Critical` the account is blocked.
    FraudAlert {
        level: AlertLevel,
        account: String,
        rule: String,
        what: &'static str,
        value: u64,
        threshold: u64,
        call: u64,
        callee: String,
    },
    /// A REGISTER refused with 403 by Palisade: its digest username is not the user of
    /// the AOR it registers (registration hijacking).
    RegisterRefused {
        source: SocketAddr,
        aor: String,
        username: String,
    },
    /// A request from the access side that carried credentials (Authorization or
    /// Proxy-Authorization) was refused by the PBX with 401, 407 or 403: a wrong
    /// password, or an unknown user. `account` is the digest username (the From user,
    /// or the To user of a REGISTER, when the credentials do not parse).
    AuthFailed {
        source: SocketAddr,
        account: String,
    },
}
