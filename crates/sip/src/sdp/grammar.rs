//! The grammar of the fields a relay reads and rewrites: `o=`, `c=`, `m=` and `a=rtcp:`
//! (RFC 8866 §9, RFC 3605). Each parser works on a span of the body and returns spans, so
//! nothing is copied.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use memchr::memchr;

use super::SdpError;
use super::parse::{AddrInfo, ConnInfo, MediaInfo, OriginInfo, RtcpInfo, Span};
use super::types::AddrType;

/// Splits a span on spaces, tolerating runs of them.
pub(super) struct Tokens<'a> {
    bytes: &'a [u8],
    base: usize,
    pos: usize,
}

impl<'a> Tokens<'a> {
    pub(super) fn new(body: &'a [u8], span: Span) -> Self {
        Self {
            bytes: span.slice(body),
            base: span.start,
            pos: 0,
        }
    }

    fn skip_spaces(&mut self) {
        while self.bytes.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    /// Whatever has not been consumed yet, without leading spaces.
    fn rest(&mut self) -> Span {
        self.skip_spaces();
        Span {
            start: self.base + self.pos,
            end: self.base + self.bytes.len(),
        }
    }
}

impl Iterator for Tokens<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        self.skip_spaces();
        let remaining = self.bytes.get(self.pos..).filter(|r| !r.is_empty())?;
        let len = memchr(b' ', remaining).unwrap_or(remaining.len());
        let start = self.base + self.pos;
        self.pos += len;
        Some(Span {
            start,
            end: start + len,
        })
    }
}

/// RFC 8866 `token`.
pub(super) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_char(b))
}

fn is_token_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x27 | 0x2a..=0x2b | 0x2d..=0x2e | 0x30..=0x39 | 0x41..=0x5a | 0x5e..=0x7e)
}

/// A non-empty string of decimal digits, without wrapping.
pub(super) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let digit = u64::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        acc.checked_mul(10)?.checked_add(digit)
    })
}

/// Why a port failed to parse: garbage is a malformed line, a big number is out of range.
enum PortError {
    NotNumber,
    OutOfRange,
}

fn parse_port(s: &[u8]) -> Result<u16, PortError> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(PortError::NotNumber);
    }
    parse_u64(s)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or(PortError::OutOfRange)
}

/// A host name as RFC 1123 allows it. At least one letter is required so that malformed
/// IP literals such as `010.0.0.1` are not mistaken for names.
fn is_hostname(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().any(u8::is_ascii_alphabetic)
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// An address of the family `addrtype` says, or a host name. A literal of the other
/// family is rejected: it would be unclear which one to believe.
fn parse_address(body: &[u8], addrtype: AddrType, span: Span) -> Option<AddrInfo> {
    let text = std::str::from_utf8(span.slice(body)).ok()?;
    let literal = match addrtype {
        AddrType::Ip4 => text.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        AddrType::Ip6 => text.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
    };
    if let Some(ip) = literal {
        return Some(AddrInfo::Ip(ip));
    }
    if text.parse::<IpAddr>().is_ok() || !is_hostname(text.as_bytes()) {
        return None;
    }
    Some(AddrInfo::Fqdn(span))
}

/// `<nettype> <addrtype> <address>[/suffix]`, shared by `c=` and `a=rtcp:`.
fn parse_conn_fields(
    body: &[u8],
    line: usize,
    nettype: Span,
    addrtype: Span,
    addr: Span,
) -> Option<ConnInfo> {
    if !is_token(nettype.slice(body)) {
        return None;
    }
    let addrtype = AddrType::parse(addrtype.slice(body))?;
    let (addr, suffix) = match memchr(b'/', addr.slice(body)) {
        Some(slash) => {
            let at = addr.start + slash;
            let suffix = Span {
                start: at + 1,
                end: addr.end,
            };
            if !is_multicast_suffix(suffix.slice(body)) {
                return None;
            }
            (Span { end: at, ..addr }, Some(suffix))
        }
        None => (addr, None),
    };
    Some(ConnInfo {
        line,
        nettype,
        addrtype,
        addr: parse_address(body, addrtype, addr)?,
        suffix,
    })
}

/// `ttl[/number]` or `number`: one or two numbers separated by `/`.
fn is_multicast_suffix(s: &[u8]) -> bool {
    let mut parts = 0;
    s.split(|&b| b == b'/').all(|part| {
        parts += 1;
        parts <= 2 && parse_u64(part).is_some()
    })
}

pub(super) fn parse_connection(body: &[u8], line: usize, value: Span) -> Option<ConnInfo> {
    let mut tokens = Tokens::new(body, value);
    let (nettype, addrtype, addr) = (tokens.next()?, tokens.next()?, tokens.next()?);
    if tokens.next().is_some() {
        return None;
    }
    parse_conn_fields(body, line, nettype, addrtype, addr)
}

pub(super) fn parse_origin(body: &[u8], line: usize, value: Span) -> Option<OriginInfo> {
    std::str::from_utf8(value.slice(body)).ok()?;
    let mut tokens = Tokens::new(body, value);
    let username = tokens.next()?;
    let sess_id = tokens.next()?;
    let version_span = tokens.next()?;
    let version = parse_u64(version_span.slice(body))?;
    let nettype = tokens.next()?;
    let addrtype_span = tokens.next()?;
    let addr_span = tokens.next()?;
    if tokens.next().is_some() || !is_token(nettype.slice(body)) {
        return None;
    }
    let addrtype = AddrType::parse(addrtype_span.slice(body))?;
    Some(OriginInfo {
        line,
        username,
        sess_id,
        version,
        version_span,
        nettype,
        addrtype,
        addr: parse_address(body, addrtype, addr_span)?,
        addr_fields: Span {
            start: addrtype_span.start,
            end: addr_span.end,
        },
    })
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`
///
/// Formats are not required: a few stacks omit them on rejected (port 0) streams.
pub(super) fn parse_media(body: &[u8], line: usize, value: Span) -> Result<MediaInfo, SdpError> {
    let bad = SdpError::BadMedia { line: line + 1 };
    let mut tokens = Tokens::new(body, value);
    let kind = tokens.next().ok_or(bad.clone())?;
    let port_field = tokens.next().ok_or(bad.clone())?;
    let proto = tokens.next().ok_or(bad.clone())?;
    let formats = tokens.rest();
    let proto_ok = proto.slice(body).split(|&b| b == b'/').all(is_token);
    let formats_ok = formats
        .slice(body)
        .iter()
        .all(|&b| b == b' ' || is_token_char(b));
    if !is_token(kind.slice(body)) || !proto_ok || !formats_ok {
        return Err(bad);
    }
    let (port_span, port_count) = split_port_count(body, port_field, line)?;
    let port = parse_port(port_span.slice(body)).map_err(|e| port_error(e, line))?;
    Ok(MediaInfo {
        line,
        end: line + 1,
        kind,
        port,
        port_span,
        port_count,
        proto,
        formats,
    })
}

/// Splits `port/count`; the count must be a positive 16-bit number.
fn split_port_count(
    body: &[u8],
    field: Span,
    line: usize,
) -> Result<(Span, Option<u16>), SdpError> {
    let Some(slash) = memchr(b'/', field.slice(body)) else {
        return Ok((field, None));
    };
    let at = field.start + slash;
    let count = Span {
        start: at + 1,
        end: field.end,
    };
    let count = parse_port(count.slice(body))
        .ok()
        .filter(|c| *c > 0)
        .ok_or(SdpError::BadMedia { line: line + 1 })?;
    Ok((Span { end: at, ..field }, Some(count)))
}

fn port_error(e: PortError, line: usize) -> SdpError {
    match e {
        PortError::NotNumber => SdpError::BadMedia { line: line + 1 },
        PortError::OutOfRange => SdpError::PortOutOfRange { line: line + 1 },
    }
}

/// `<port> [<nettype> <addrtype> <address>]` after `a=rtcp:` (RFC 3605).
pub(super) fn parse_rtcp(body: &[u8], line: usize, value: Span) -> Result<RtcpInfo, SdpError> {
    let bad = SdpError::BadRtcp { line: line + 1 };
    let mut tokens = Tokens::new(body, value);
    let port = tokens.next().ok_or(bad.clone())?;
    let port = parse_port(port.slice(body)).map_err(|e| match e {
        PortError::NotNumber => bad.clone(),
        PortError::OutOfRange => SdpError::PortOutOfRange { line: line + 1 },
    })?;
    let conn = match (tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
        (None, ..) => None,
        (Some(nettype), Some(addrtype), Some(addr), None) => {
            Some(parse_conn_fields(body, line, nettype, addrtype, addr).ok_or(bad)?)
        }
        _ => return Err(bad),
    };
    Ok(RtcpInfo { line, port, conn })
}
