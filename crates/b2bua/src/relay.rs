//! Which headers cross from one leg to the other.
//!
//! Topology hiding starts here: only headers on an allow-list are copied. Everything that
//! names a hop (Via, Route, Record-Route, Contact, Path), identifies a dialog (Call-ID,
//! tags, CSeq) or is unknown is dropped, so nothing Palisade does not understand can carry
//! an address across. Each leg gets its own versions of the dropped headers.

use palisade_sip::HeaderName;
use palisade_sip::Message;
use palisade_sip::edit::Builder;

use crate::config::HeaderPolicy;

/// Known headers that are end-to-end and carry no topology.
fn crosses(name: HeaderName) -> bool {
    use HeaderName::*;
    matches!(
        name,
        ContentType
            | ContentEncoding
            | Supported
            | Unsupported
            | Require
            | Allow
            | AllowEvents
            | Accept
            | Event
            | ReferTo
            | ReferredBy
            | SessionExpires
            | MinSe
            | MinExpires
            | Expires
            | Subject
            | RSeq
            | RetryAfter
            | Date
            | WwwAuthenticate
            | ProxyAuthenticate
            | Authorization
            | ProxyAuthorization
    )
}

/// Unknown (to [`HeaderName`]) headers that are end-to-end and carry no topology.
const CROSSING_OTHERS: &[&str] = &[
    "Accept-Language",
    "Accept-Encoding",
    "Alert-Info",
    "Call-Info",
    "Content-Disposition",
    "Content-Language",
    "Diversion",
    "In-Reply-To",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Priority",
    "Privacy",
    "Reason",
    "Replaces",
    "Subscription-State",
    "History-Info",
    "Recv-Info",
    "Info-Package",
    "Identity",
];

/// Copies the end-to-end headers of `src` into `out`, applying `agents` to Server and
/// User-Agent.
pub(crate) fn copy_headers(src: &Message, out: &mut Builder, agents: &HeaderPolicy) {
    for h in src.headers() {
        let pass = match h.name {
            HeaderName::Other => CROSSING_OTHERS
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(h.raw_name)),
            HeaderName::Server | HeaderName::UserAgent => match agents {
                HeaderPolicy::Hide => false,
                HeaderPolicy::Pass => true,
                HeaderPolicy::Set(text) => {
                    out.header(h.name, text.as_bytes());
                    false
                }
            },
            // RAck carries the other leg's CSeq number; the caller writes its own.
            HeaderName::RAck => false,
            name => crosses(name),
        };
        if pass {
            match h.name {
                HeaderName::Other => {
                    if let Ok(name) = std::str::from_utf8(h.raw_name) {
                        out.raw_header(name, h.value);
                    }
                }
                name => {
                    out.header(name, h.value);
                }
            }
        }
    }
}

/// Copies the body, with its Content-Type, when there is one.
pub(crate) fn copy_body(src: &Message, out: &mut Builder) {
    let body = src.body_bytes();
    if !body.is_empty() {
        // Content-Type was copied with the headers; only the bytes are set here.
        out.raw_body(body);
    }
}
