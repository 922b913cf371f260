//! What the B2BUA reports: the feed for logs, metrics and call records.

use std::net::SocketAddr;

use crate::policy::AlertLevel;
use crate::types::Side;

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    CallStarted {
        call: u64,
        from: Side,
    },
    CallAnswered {
        call: u64,
    },
    CallEnded {
        call: u64,
        why: &'static str,
    },
    Registered {
        aor: String,
        token: String,
        expires: u32,
    },
    Unregistered {
        aor: String,
        token: String,
    },
    BindingExpired {
        token: String,
    },
    /// A NATed phone's re-REGISTER answered by Palisade without the PBX.
    RegistrationAbsorbed {
        aor: String,
    },
    /// A phone behind NAT stopped answering keep-alives: its binding is gone.
    BindingUnreachable {
        token: String,
    },
    /// The connection a binding lived on closed.
    BindingFlowClosed {
        token: String,
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
