//! Request and response validation (RFC 3261 §8.2, §16.3): the checks every message passes
//! before the transaction layer or the B2BUA sees it, with the answer each failure calls for.
//!
//! Parsing only locates header fields; this is where the ones every element relies on are
//! read and found sound. What is left to the application (which methods, extensions and
//! body types it supports) is not decided here.

use std::net::IpAddr;

use crate::header_name::HeaderName;
use crate::headers::ContactValue;
use crate::message::{HeaderError, Message, Verdict};
use crate::method::Method;
use crate::uri::{Host, UriKind};

/// Why a message was refused, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub verdict: Verdict,
    /// A short reason for logs and counters.
    pub why: &'static str,
}

fn reject(code: u16, why: &'static str) -> Rejection {
    Rejection {
        verdict: Verdict::Respond(code),
        why,
    }
}

fn drop_it(why: &'static str) -> Rejection {
    Rejection {
        verdict: Verdict::Drop,
        why,
    }
}

fn bad_request(e: HeaderError) -> Rejection {
    reject(
        400,
        match e {
            HeaderError::Missing(_) => "missing mandatory header",
            HeaderError::Multiple(_) => "repeated single-valued header",
            HeaderError::Malformed(..) => "malformed header",
        },
    )
}

/// Checks a request. `Ok` means the mandatory headers are present once, well formed and
/// consistent; the caller may still refuse the method, extensions or body.
pub fn check_request(msg: &Message) -> Result<(), Rejection> {
    let method = msg.method().ok_or(drop_it("not a request"))?;
    let uri = msg
        .request_uri()
        .ok_or(drop_it("not a request"))?
        .map_err(|_| reject(400, "malformed Request-URI"))?;
    match uri.kind() {
        UriKind::Sip(sip) if sip.headers.is_some() => {
            // RFC 3261 §19.1.5: headers are not allowed in a Request-URI; never turn them
            // into real header fields (RFC 4475 §3.1.2.11).
            return Err(reject(400, "headers in Request-URI"));
        }
        UriKind::Sip(_) | UriKind::Tel(_) => {}
        UriKind::Other { .. } => return Err(reject(416, "unsupported URI scheme")),
    }
    msg.to().map_err(bad_request)?;
    msg.from().map_err(bad_request)?;
    msg.call_id().map_err(bad_request)?;
    let cseq = msg.cseq().map_err(bad_request)?;
    check_vias(msg)?;
    if cseq.method != *method {
        // RFC 4475 §3.1.2.18: for a method we do not know, 501 says more than 400.
        let code = if method.is_known() { 400 } else { 501 };
        return Err(reject(code, "CSeq method does not match the request"));
    }
    let max_forwards = msg.max_forwards().map_err(bad_request)?;
    msg.expires().map_err(bad_request)?;
    check_contacts(msg, method)?;
    if max_forwards == Some(0) {
        return Err(reject(483, "Max-Forwards exhausted"));
    }
    Ok(())
}

fn check_vias(msg: &Message) -> Result<(), Rejection> {
    let mut n = 0;
    for via in msg.vias() {
        via.map_err(|_| reject(400, "malformed Via"))?;
        n += 1;
    }
    if n == 0 {
        return Err(reject(400, "missing Via"));
    }
    Ok(())
}

fn check_contacts(msg: &Message, method: &Method) -> Result<(), Rejection> {
    let mut star = false;
    let mut n = 0;
    for c in msg.contacts() {
        n += 1;
        match c.map_err(|_| reject(400, "malformed Contact"))? {
            ContactValue::Star => star = true,
            ContactValue::Address(_) => {}
        }
    }
    // RFC 3261 §10.2.2: `*` only in REGISTER, alone, with Expires: 0.
    if star && (*method != Method::Register || n > 1 || msg.expires().ok().flatten() != Some(0)) {
        return Err(reject(400, "invalid Contact: *"));
    }
    Ok(())
}

/// Checks a response. Responses are never answered: every failure is a silent drop.
pub fn check_response(msg: &Message) -> Result<(), Rejection> {
    if msg.is_request() {
        return Err(drop_it("not a response"));
    }
    let malformed = |_| drop_it("malformed response");
    msg.via().map_err(malformed)?;
    msg.to().map_err(malformed)?;
    msg.from().map_err(malformed)?;
    msg.call_id().map_err(malformed)?;
    msg.cseq().map_err(malformed)?;
    for via in msg.vias() {
        let via = via.map_err(|_| drop_it("malformed response"))?;
        // RFC 4475 §3.3.10: a Via that points at a broadcast or multicast address would
        // make whoever sends the response on an amplifier.
        let maddr = via
            .params
            .get("maddr")
            .flatten()
            .and_then(|m| Host::parse(m).ok())
            .and_then(|h| h.ip());
        if [via.host.ip(), via.received(), maddr]
            .into_iter()
            .flatten()
            .any(is_broadcast_like)
        {
            return Err(drop_it("Via points at a broadcast or multicast address"));
        }
    }
    Ok(())
}

fn is_broadcast_like(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_broadcast() || a.is_multicast() || a.is_unspecified(),
        IpAddr::V6(a) => a.is_multicast() || a.is_unspecified(),
    }
}

/// The option tags in Require (and Proxy-Require, which a B2BUA acting for the far end
/// also enforces) that are not in `supported`: a non-empty result calls for 420 with an
/// Unsupported header listing them (RFC 3261 §8.2.2.3).
pub fn unsupported_requirements<'m>(msg: &'m Message, supported: &[&str]) -> Vec<&'m str> {
    [HeaderName::Require, HeaderName::ProxyRequire]
        .into_iter()
        .flat_map(|h| msg.tokens(h))
        .filter_map(Result::ok)
        .filter(|t| !supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect()
}
