//! Which headers cross from one leg to the other.
//!
//! Topology hiding starts here: only headers on an allow-list are copied. Everything that
//! names a hop (Via, Route, Record-Route, Contact, Path), identifies a dialog (Call-ID,
//! tags, CSeq) or is unknown is dropped, so nothing Palisade does not understand can carry
//! an address across. Each leg gets its own versions of the dropped headers.

use std::net::SocketAddr;

use palisade_sip::HeaderName;
use palisade_sip::Message;
use palisade_sip::edit::Builder;
use palisade_sip::headers::NameAddr;

use crate::config::{HeaderPolicy, SideAddrs};
use crate::types::{Protocol, Side};

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
    "In-Reply-To",
    "Organization",
    "Priority",
    "Privacy",
    "Reason",
    "Subscription-State",
    "Recv-Info",
    "Info-Package",
    "Identity",
];

/// Copies the end-to-end headers of `src` into `out`, for a message sent to the `toward`
/// side, applying `agents` to Server and User-Agent.
pub(crate) fn copy_headers(src: &Message, out: &mut Builder, toward: Side, agents: &HeaderPolicy) {
    for h in src.headers() {
        let pass = match h.name {
            // Credentials are for the PBX. Those of a PBX-side phone (its ACK repeats the
            // Proxy-Authorization of its INVITE) name the PBX's realm and must not reach
            // the access side.
            HeaderName::Authorization | HeaderName::ProxyAuthorization => toward == Side::Core,
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

/// Translates a Replaces value (RFC 3891) from the side a message came from to the side
/// it goes to; `None` when it names no dialog Palisade holds.
pub(crate) type MapReplaces<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Copies Refer-To and Referred-By (RFC 3515, 3892) with their SIP URIs pointed at `addr`:
/// Palisade's own address toward the phone, so that the transfer's new call comes through
/// Palisade, and the PBX's toward the core. Their URI headers go, but for a `?Replaces=`
/// that `replaces` translates (attended transfer); `maddr` and `transport` go; `protocol`
/// sets a transport of its own. A URI of another scheme (`tel:`) crosses as it is; a value
/// that does not parse does not. A Replaces header crosses translated, or not at all.
pub(crate) fn copy_referral(
    src: &Message,
    out: &mut Builder,
    addr: SocketAddr,
    protocol: Protocol,
    replaces: MapReplaces<'_>,
) {
    for name in [HeaderName::ReferTo, HeaderName::ReferredBy] {
        for h in src.headers_named(name) {
            let mapped = (name == HeaderName::ReferTo)
                .then(|| refer_to_replaces(h.value))
                .flatten()
                .and_then(|v| replaces(&v));
            if let Some(v) = rehost_with(h.value, addr, protocol, mapped.as_deref()) {
                out.header(name, v);
            }
        }
    }
    for h in src.headers_by_raw_name("Replaces") {
        if let Some(v) = std::str::from_utf8(h.value).ok().and_then(replaces) {
            out.raw_header("Replaces", v);
        }
    }
    // Identity headers name a user at a host; the user crosses, the host is the one the
    // receiving side already talks to. (History-Info, a list of the core's internal
    // retargets, does not cross at all.)
    for name in IDENTITY {
        for h in src.headers_by_raw_name(name) {
            if let Some(v) = rehost(h.value, addr, protocol) {
                out.raw_header(name, v);
            }
        }
    }
}

/// Identity headers that carry a name-addr whose host must not cross (RFC 3325, 5806).
const IDENTITY: [&str; 3] = ["P-Asserted-Identity", "P-Preferred-Identity", "Diversion"];

/// The Replaces URI header of a Refer-To value, unescaped.
fn refer_to_replaces(value: &[u8]) -> Option<String> {
    let na = NameAddr::parse(value).ok()?;
    let (_, headers) = na.uri.as_str().split_once('?')?;
    crate::replaces::from_uri_headers(headers)
}

/// A name-addr whose SIP URI now points at `addr`.
pub(crate) fn rehost(value: &[u8], addr: SocketAddr, protocol: Protocol) -> Option<String> {
    rehost_with(value, addr, protocol, None)
}

/// [`rehost`], with `replaces` as the URI's only header.
fn rehost_with(
    value: &[u8],
    addr: SocketAddr,
    protocol: Protocol,
    replaces: Option<&str>,
) -> Option<String> {
    let na = NameAddr::parse(value).ok()?;
    let Some(sip) = na.uri.sip() else {
        return std::str::from_utf8(value).ok().map(str::to_owned);
    };
    let text = na.uri.as_str();
    let range = sip.host_port_range.clone();
    let mut uri = String::with_capacity(text.len() + 24);
    uri.push_str(text.get(..range.start)?);
    uri.push_str(&SideAddrs::host_port(addr));
    let rest = text.get(range.end..)?;
    let params = rest.split('?').next().unwrap_or_default();
    for p in params.split(';').filter(|p| !p.is_empty()) {
        let name = p.split('=').next().unwrap_or_default();
        if name.eq_ignore_ascii_case("transport") || name.eq_ignore_ascii_case("maddr") {
            continue;
        }
        uri.push(';');
        uri.push_str(p);
    }
    if protocol != Protocol::Udp {
        uri.push_str(";transport=");
        uri.push_str(&protocol.via_token().to_ascii_lowercase());
    }
    if let Some(r) = replaces {
        uri.push_str(&crate::replaces::uri_header(r));
    }
    let mut out = String::with_capacity(uri.len() + 32);
    if let Some(d) = na.display {
        out.push_str(d);
        out.push(' ');
    }
    out.push('<');
    out.push_str(&uri);
    out.push('>');
    crate::leg::push_params(&mut out, &na, &[]);
    Some(out)
}
