//! What the B2BUA reports: the feed for logs, metrics and call records.

use std::net::SocketAddr;

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
    /// A request from the access side that carried credentials (Authorization or
    /// Proxy-Authorization) was refused by the PBX with 401, 407 or 403: a wrong
    /// password, or an unknown user. `account` is the digest username (the From user,
    /// or the To user of a REGISTER, when the credentials do not parse).
    AuthFailed {
        source: SocketAddr,
        account: String,
    },
}
