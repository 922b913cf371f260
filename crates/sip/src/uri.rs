//! URIs: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966) and other absolute URIs, which
//! are kept as opaque text so that a message carrying them still parses (RFC 4475 §3.3.4).
//!
//! All views borrow from the message buffer; nothing is decoded or copied. `%` escapes are
//! validated but left as written, because comparing or rewriting a URI must not change bytes
//! Palisade has no reason to touch.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::scan::{Scanner, is_not_uri, is_token};

/// Why a URI was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("missing or malformed URI scheme")]
    Scheme,
    #[error("malformed user part")]
    User,
    #[error("malformed host")]
    Host,
    #[error("malformed or out-of-range port")]
    Port,
    #[error("malformed URI parameter")]
    Param,
    #[error("malformed URI header")]
    Header,
    #[error("characters not allowed in a URI")]
    Chars,
}

/// A host as written in a URI or Via.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    Domain(&'a str),
    V4(Ipv4Addr),
    /// An IPv6 reference. RFC 5118 §4.10 asks receivers to tolerate the `:::` that a bug in
    /// the RFC 3261 grammar allowed, so such hosts are read as if written with `::`.
    V6(Ipv6Addr),
}

impl Host<'_> {
    /// Parses a host: `[v6]`, dotted IPv4, or a host name.
    pub fn parse(text: &str) -> Result<Host<'_>, UriError> {
        let b = text.as_bytes();
        if let [b'[', inner @ .., b']'] = b {
            return parse_v6(inner).map(Host::V6).ok_or(UriError::Host);
        }
        if b.is_empty() || b.len() > 255 {
            return Err(UriError::Host);
        }
        if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
            return text.parse().map(Host::V4).map_err(|_| UriError::Host);
        }
        let ok = b
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'));
        if !ok || b[0] == b'.' || b[0] == b'-' {
            return Err(UriError::Host);
        }
        Ok(Host::Domain(text))
    }

    /// The IP address, when the host is one.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Host::V4(a) => Some((*a).into()),
            Host::V6(a) => Some((*a).into()),
            Host::Domain(_) => None,
        }
    }
}

/// Parses an IPv6 address written with or without brackets (Via `received` may omit them).
pub(crate) fn parse_v6(text: &[u8]) -> Option<Ipv6Addr> {
    if text.len() > 64 {
        return None;
    }
    let s = std::str::from_utf8(text).ok()?;
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    if s.contains(":::") {
        return s.replacen(":::", "::", 1).parse().ok();
    }
    None
}

/// `;name[=value]` parameters, of a URI or of a header value. Stored as the raw text after
/// the first `;` and scanned on demand: most messages ask for one or two parameters, so
/// building a list up front would cost more than it saves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a [u8],
}

impl<'a> Params<'a> {
    pub(crate) fn new(raw: &'a [u8]) -> Self {
        Self { raw }
    }

    /// The parameters as written, starting with the first `;` (empty when there are none).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Iterates over `(name, value)` pairs; a quoted value is returned with its quotes.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter {
            scan: Scanner::new(self.raw),
        }
    }

    /// The value of the named parameter (case-insensitive name). `Some(None)` means the
    /// parameter is present without a value, as `lr` usually is.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// True when the named parameter is present, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Iterator over [`Params`].
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    scan: Scanner<'a>,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, value) = next_param(&mut self.scan)?.ok()?;
        Some((as_str(name)?, value.and_then(as_str)))
    }
}

fn as_str(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// Characters allowed in a parameter value: token characters plus those an IPv6 reference
/// or a URI `paramchar` adds.
const fn is_param_value(b: u8) -> bool {
    is_token(b) || matches!(b, b'[' | b']' | b':' | b'/' | b'&' | b'$' | b'(' | b')')
}

const fn is_param_name(b: u8) -> bool {
    is_token(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'$' | b'(' | b')')
}

/// One parameter as written: name and optional value (quoted values keep their quotes).
pub(crate) type RawParam<'a> = (&'a [u8], Option<&'a [u8]>);

/// Reads one `;name[=value]`; `None` at the end of input, `Some(Err)` on malformed input.
/// White space around `;` and `=` is accepted (header parameters allow it; URI parameters
/// never contain any because URIs are validated first).
pub(crate) fn next_param<'a>(scan: &mut Scanner<'a>) -> Option<Result<RawParam<'a>, ()>> {
    scan.skip_lws();
    if scan.at_end() {
        return None;
    }
    if !scan.eat(b';') {
        return Some(Err(()));
    }
    scan.skip_lws();
    let name = scan.take_while(is_param_name);
    if name.is_empty() {
        return Some(Err(()));
    }
    if !scan.eat(b'=') {
        return Some(Ok((name, None)));
    }
    scan.skip_lws();
    let value = if scan.peek() == Some(b'"') {
        scan.quoted_string()
    } else {
        let v = scan.take_while(is_param_value);
        (!v.is_empty()).then_some(v)
    };
    Some(value.map(|v| (name, Some(v))).ok_or(()))
}

/// Validates a whole parameter list; used where parameters are read from the network.
pub(crate) fn validate_params(raw: &[u8], max: usize) -> bool {
    let mut scan = Scanner::new(raw);
    let mut n = 0;
    while let Some(p) = next_param(&mut scan) {
        n += 1;
        if p.is_err() || n > max {
            return false;
        }
    }
    true
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, still %-escaped.
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    pub host: Host<'a>,
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params<'a>,
    /// The `?` headers, without the `?`.
    pub headers: Option<&'a str>,
    /// Where `host[:port]` sits inside the URI text, for rewriting it in place.
    pub host_port_range: Range<usize>,
}

/// A `tel:` URI (RFC 3966).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The number, with any visual separators as written.
    pub number: &'a str,
    pub params: Params<'a>,
}

/// Any URI, parsed as far as its scheme allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriKind<'a> {
    Sip(SipUri<'a>),
    Tel(TelUri<'a>),
    /// An absolute URI of another scheme (`isbn:`, `http:`, `soap.beep:` ...).
    Other {
        scheme: &'a str,
    },
}

/// A parsed URI together with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri<'a> {
    text: &'a str,
    kind: UriKind<'a>,
}

/// Upper bound on URI parameters, so that a hostile URI cannot make every lookup slow.
pub const MAX_URI_PARAMS: usize = 32;

impl<'a> Uri<'a> {
    /// Parses a URI; the text must be exactly the URI (no surrounding white space).
    pub fn parse(text: &'a str) -> Result<Self, UriError> {
        let b = text.as_bytes();
        if b.iter().any(|&c| is_not_uri(c)) {
            return Err(UriError::Chars);
        }
        let colon = memchr::memchr(b':', b).ok_or(UriError::Scheme)?;
        let scheme = &text[..colon];
        let sb = scheme.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(UriError::Scheme);
        }
        let rest = &text[colon + 1..];
        let kind = if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            let secure = scheme.len() == 4;
            UriKind::Sip(parse_sip(rest, colon + 1, secure)?)
        } else if scheme.eq_ignore_ascii_case("tel") {
            UriKind::Tel(parse_tel(rest)?)
        } else {
            if rest.is_empty() {
                return Err(UriError::Chars);
            }
            UriKind::Other { scheme }
        };
        Ok(Self { text, kind })
    }

    /// The URI exactly as written.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    pub fn kind(&self) -> &UriKind<'a> {
        &self.kind
    }

    /// The SIP or SIPS view, when this is one.
    pub fn sip(&self) -> Option<&SipUri<'a>> {
        match &self.kind {
            UriKind::Sip(s) => Some(s),
            _ => None,
        }
    }

    /// The URI text with `host[:port]` replaced; `None` for non-SIP URIs.
    pub fn with_host_port(&self, host: &str, port: Option<u16>) -> Option<String> {
        let sip = self.sip()?;
        let r = sip.host_port_range.clone();
        let mut out = String::with_capacity(self.text.len() + host.len() + 8);
        out.push_str(&self.text[..r.start]);
        push_host(&mut out, host);
        if let Some(p) = port {
            out.push(':');
            out.push_str(&p.to_string());
        }
        out.push_str(&self.text[r.end..]);
        Some(out)
    }
}

/// Appends a host, bracketing a bare IPv6 address.
pub fn push_host(out: &mut String, host: &str) {
    if host.contains(':') && !host.starts_with('[') {
        out.push('[');
        out.push_str(host);
        out.push(']');
    } else {
        out.push_str(host);
    }
}

fn valid_escapes(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

fn parse_sip(rest: &str, base: usize, secure: bool) -> Result<SipUri<'_>, UriError> {
    let b = rest.as_bytes();
    // The first '@' ends the user info: '@' is allowed unescaped nowhere after it.
    let (user, password, hp_start) = match memchr::memchr(b'@', b) {
        Some(at) => {
            let info = &rest[..at];
            let (user, password) = match info.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (info, None),
            };
            let user_ok = !user.is_empty()
                && user.bytes().all(|c| {
                    is_unreserved(c)
                        || matches!(
                            c,
                            b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/'
                        )
                })
                && valid_escapes(user.as_bytes());
            let pass_ok = password.is_none_or(|p| {
                p.bytes().all(|c| {
                    is_unreserved(c) || matches!(c, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
                }) && valid_escapes(p.as_bytes())
            });
            if !user_ok || !pass_ok {
                return Err(UriError::User);
            }
            (Some(user), password, at + 1)
        }
        None => (None, None, 0),
    };
    let hp = &rest[hp_start..];
    let hpb = hp.as_bytes();
    let host_end = if hpb.first() == Some(&b'[') {
        memchr::memchr(b']', hpb).ok_or(UriError::Host)? + 1
    } else {
        hpb.iter()
            .position(|&c| matches!(c, b':' | b';' | b'?'))
            .unwrap_or(hpb.len())
    };
    let host = Host::parse(&hp[..host_end])?;
    let mut pos = host_end;
    let port = if hpb.get(pos) == Some(&b':') {
        let digits_end = hpb[pos + 1..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(hpb.len(), |p| p + pos + 1);
        let port = crate::scan::parse_u64(&hpb[pos + 1..digits_end])
            .and_then(|p| u16::try_from(p).ok())
            .ok_or(UriError::Port)?;
        pos = digits_end;
        Some(port)
    } else {
        None
    };
    let host_port_range = base + hp_start..base + hp_start + pos;
    let after = &hp[pos..];
    let (params, headers) = match after.find('?') {
        Some(q) => (&after[..q], Some(&after[q + 1..])),
        None => (after, None),
    };
    if !params.is_empty() && !params.starts_with(';') {
        return Err(UriError::Chars);
    }
    if !valid_escapes(params.as_bytes()) || !validate_params(params.as_bytes(), MAX_URI_PARAMS) {
        return Err(UriError::Param);
    }
    if let Some(h) = headers {
        let ok = !h.is_empty()
            && valid_escapes(h.as_bytes())
            && h.split('&').all(|kv| {
                kv.split_once('=').is_some_and(|(k, _)| !k.is_empty())
                    && kv.bytes().all(|c| {
                        is_unreserved(c)
                            || matches!(
                                c,
                                b'%' | b'=' | b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$'
                            )
                    })
            });
        if !ok {
            return Err(UriError::Header);
        }
    }
    Ok(SipUri {
        secure,
        user,
        password,
        host,
        port,
        params: Params::new(params.as_bytes()),
        headers,
        host_port_range,
    })
}

fn parse_tel(rest: &str) -> Result<TelUri<'_>, UriError> {
    let (number, params) = match rest.find(';') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let ok = !number.is_empty()
        && number.bytes().all(|c| {
            c.is_ascii_hexdigit() || matches!(c, b'+' | b'*' | b'#' | b'-' | b'.' | b'(' | b')')
        });
    if !ok {
        return Err(UriError::User);
    }
    if !validate_params(params.as_bytes(), MAX_URI_PARAMS) {
        return Err(UriError::Param);
    }
    Ok(TelUri {
        number,
        params: Params::new(params.as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(text: &str) -> SipUri<'_> {
        Uri::parse(text).unwrap().sip().unwrap().clone()
    }

    #[test]
    fn sip_uri_parts() {
        let u = sip("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=x");
        assert!(u.secure);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, Host::V6("2001:db8::1".parse().unwrap()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.params.get("transport"), Some(Some("tcp")));
        assert_eq!(u.params.get("LR"), Some(None));
        assert_eq!(u.headers, Some("subject=x"));
    }

    #[test]
    fn rfc4475_uris() {
        let u = sip(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        );
        assert_eq!(
            u.user,
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(u.host, Host::Domain("example.com"));
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert!(sip("sip:null-%00-null@example.com").user.is_some());
        assert!(Uri::parse("sip:user@example.com?Route=%3Csip:example.com%3E").is_ok());
        assert!(Uri::parse("sip:user@example.com; lr").is_err());
        assert!(Uri::parse("sip:2001:db8::10").is_err());
        assert_eq!(sip("sip:[2001:db8::10:5070]").port, None);
        assert_eq!(sip("sip:[2001:db8::10]:5070").port, Some(5070));
        assert!(sip("sip:user@[2001:db8:::192.0.2.1]").host.ip().is_some());
        assert!(Uri::parse("sip:host:70000").is_err());
        assert!(Uri::parse("sip:bad%zzescape@host").is_err());
        assert!(matches!(
            Uri::parse("soap.beep://192.0.2.103:3002").unwrap().kind(),
            UriKind::Other {
                scheme: "soap.beep"
            }
        ));
    }

    #[test]
    fn tel_uri() {
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        let UriKind::Tel(t) = u.kind() else { panic!() };
        assert_eq!(t.number, "+1-201-555-0123");
        assert_eq!(t.params.get("phone-context"), Some(Some("example.com")));
    }

    #[test]
    fn host_port_rewrite() {
        let u = Uri::parse("sip:bob@10.0.0.5:5062;transport=udp").unwrap();
        assert_eq!(
            u.with_host_port("203.0.113.10", Some(5060)).unwrap(),
            "sip:bob@203.0.113.10:5060;transport=udp"
        );
        assert_eq!(
            u.with_host_port("2001:db8::1", None).unwrap(),
            "sip:bob@[2001:db8::1];transport=udp"
        );
    }
}
