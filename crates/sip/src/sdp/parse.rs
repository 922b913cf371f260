//! Locating lines and building the index of an SDP body.
//!
//! The body is scanned once. Each line is recorded as a byte range into the original body
//! together with its own line ending, so that unedited lines can later be copied verbatim.
//! Only `v=`, `o=`, `c=`, `m=` and `a=rtcp:` are checked strictly (see `grammar`), because
//! those are the lines a relay reads and rewrites; other lines only have to be
//! `<letter>=<value>`, and attribute names have to be tokens.

use std::net::IpAddr;
use std::ops::Range;

use memchr::memchr;

use super::grammar::{is_token, parse_connection, parse_media, parse_origin, parse_rtcp};
use super::types::AddrType;
use super::{SdpError, SdpLimits};

/// A byte range into the body. Plain indices rather than `Range` so that it is `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Span {
    /// The bytes of this span; empty rather than a panic should a span ever be stale.
    pub(super) fn slice(self, body: &[u8]) -> &[u8] {
        body.get(self.start..self.end).unwrap_or_default()
    }

    /// The span as text. Only used on spans whose UTF-8 validity was checked at parse time.
    pub(super) fn text(self, body: &[u8]) -> &str {
        std::str::from_utf8(self.slice(body)).unwrap_or_default()
    }
}

/// How a line was terminated; rewritten lines keep the ending they had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Eol {
    /// Last line of a body without a final line ending.
    None,
    Lf,
    CrLf,
}

impl Eol {
    pub(super) fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::None => b"",
            Self::Lf => b"\n",
            Self::CrLf => b"\r\n",
        }
    }
}

/// One `<type>=<value>` line.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    /// The type letter.
    pub(super) kind: u8,
    /// Offset of the type letter.
    pub(super) start: usize,
    /// Offset just past the value, before the line ending.
    pub(super) end: usize,
    pub(super) eol: Eol,
}

impl Line {
    /// The text after `<type>=`.
    pub(super) fn value(self) -> Span {
        Span {
            start: self.start + 2,
            end: self.end,
        }
    }

    /// The whole line including its ending.
    pub(super) fn full(self) -> Span {
        Span {
            start: self.start,
            end: self.end + self.eol.as_bytes().len(),
        }
    }
}

/// A literal address, or a host name kept as a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddrInfo {
    Ip(IpAddr),
    Fqdn(Span),
}

/// A parsed `c=` line or `a=rtcp:` address part.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnInfo {
    /// Index of the line this came from.
    pub(super) line: usize,
    pub(super) nettype: Span,
    pub(super) addrtype: AddrType,
    pub(super) addr: AddrInfo,
    pub(super) suffix: Option<Span>,
}

impl ConnInfo {
    pub(super) fn is_null_hold(&self) -> bool {
        matches!(self.addr, AddrInfo::Ip(ip) if ip.is_unspecified())
    }
}

/// A parsed `o=` line.
#[derive(Debug, Clone, Copy)]
pub(super) struct OriginInfo {
    pub(super) line: usize,
    pub(super) username: Span,
    pub(super) sess_id: Span,
    pub(super) version: u64,
    pub(super) version_span: Span,
    pub(super) nettype: Span,
    pub(super) addrtype: AddrType,
    pub(super) addr: AddrInfo,
    /// `<addrtype> <address>`, replaced together when the address changes.
    pub(super) addr_fields: Span,
}

/// A parsed `m=` line and the extent of its section.
#[derive(Debug, Clone, Copy)]
pub(super) struct MediaInfo {
    /// Index of the `m=` line.
    pub(super) line: usize,
    /// Index one past the last line of the section.
    pub(super) end: usize,
    pub(super) kind: Span,
    pub(super) port: u16,
    pub(super) port_span: Span,
    pub(super) port_count: Option<u16>,
    pub(super) proto: Span,
    /// Everything after the proto; may be empty.
    pub(super) formats: Span,
}

impl MediaInfo {
    pub(super) fn lines(&self) -> Range<usize> {
        self.line..self.end
    }
}

/// A parsed `a=rtcp:` line.
#[derive(Debug, Clone, Copy)]
pub(super) struct RtcpInfo {
    pub(super) line: usize,
    pub(super) port: u16,
    pub(super) conn: Option<ConnInfo>,
}

/// Everything located by [`index`]; the `Sdp` owns it next to the body.
#[derive(Debug, Clone)]
pub(super) struct Index {
    pub(super) lines: Vec<Line>,
    pub(super) origin: OriginInfo,
    /// All `c=` lines, in line order.
    pub(super) conns: Vec<ConnInfo>,
    /// All `a=rtcp:` lines, in line order.
    pub(super) rtcps: Vec<RtcpInfo>,
    pub(super) media: Vec<MediaInfo>,
    /// Index of the first `m=` line, or the line count.
    pub(super) session_end: usize,
}

/// Locates and checks every line of `body`.
pub(super) fn index(body: &[u8], limits: &SdpLimits) -> Result<Index, SdpError> {
    if body.len() > limits.max_body_len {
        return Err(SdpError::BodyTooLarge {
            len: body.len(),
            limit: limits.max_body_len,
        });
    }
    let lines = split_lines(body, limits)?;
    check_version(body, &lines)?;
    let mut builder = Builder::default();
    for (i, line) in lines.iter().enumerate().skip(1) {
        builder.line(body, limits, i, *line)?;
    }
    builder.finish(lines)
}

/// Splits the body into lines, enforcing the line limits.
///
/// Blank lines are tolerated only at the very end (some stacks append an extra CRLF);
/// they are not lines of the description and are copied through untouched.
fn split_lines(body: &[u8], limits: &SdpLimits) -> Result<Vec<Line>, SdpError> {
    let mut lines = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let (end, next, eol) = line_end(body, pos);
        if end == pos {
            return check_trailer(body, pos, lines.len()).map(|()| lines);
        }
        if lines.len() == limits.max_lines {
            return Err(SdpError::TooManyLines {
                limit: limits.max_lines,
            });
        }
        let number = lines.len() + 1;
        if end - pos > limits.max_line_len {
            return Err(SdpError::LineTooLong {
                line: number,
                limit: limits.max_line_len,
            });
        }
        let kind = check_line_shape(&body[pos..end]).ok_or(SdpError::BadLine { line: number })?;
        lines.push(Line {
            kind,
            start: pos,
            end,
            eol,
        });
        pos = next;
    }
    Ok(lines)
}

/// Finds the end of the line starting at `pos`: (content end, next line start, ending).
fn line_end(body: &[u8], pos: usize) -> (usize, usize, Eol) {
    match memchr(b'\n', &body[pos..]) {
        Some(i) => {
            let nl = pos + i;
            if nl > pos && body[nl - 1] == b'\r' {
                (nl - 1, nl + 1, Eol::CrLf)
            } else {
                (nl, nl + 1, Eol::Lf)
            }
        }
        None => (body.len(), body.len(), Eol::None),
    }
}

/// `<lowercase letter>=` and no stray CR, which could split the line differently in a
/// downstream parser than in ours.
fn check_line_shape(content: &[u8]) -> Option<u8> {
    match content {
        [kind, b'=', rest @ ..] if kind.is_ascii_lowercase() && memchr(b'\r', rest).is_none() => {
            Some(*kind)
        }
        _ => None,
    }
}

/// After the first blank line only more blank lines may follow.
fn check_trailer(body: &[u8], pos: usize, lines: usize) -> Result<(), SdpError> {
    if body[pos..].iter().all(|b| matches!(b, b'\r' | b'\n')) {
        Ok(())
    } else {
        Err(SdpError::BadLine { line: lines + 1 })
    }
}

/// RFC 8866 §5.1: the first line is `v=0`.
fn check_version(body: &[u8], lines: &[Line]) -> Result<(), SdpError> {
    let first = lines.first().ok_or(SdpError::MissingVersion)?;
    if first.kind != b'v' {
        return Err(SdpError::MissingVersion);
    }
    if first.value().slice(body) != b"0" {
        return Err(SdpError::BadVersion { line: 1 });
    }
    Ok(())
}

/// Accumulates the structure while lines are visited in order.
#[derive(Default)]
struct Builder {
    origin: Option<OriginInfo>,
    conns: Vec<ConnInfo>,
    rtcps: Vec<RtcpInfo>,
    media: Vec<MediaInfo>,
}

impl Builder {
    fn line(
        &mut self,
        body: &[u8],
        limits: &SdpLimits,
        i: usize,
        line: Line,
    ) -> Result<(), SdpError> {
        let number = i + 1;
        match line.kind {
            b'v' => Err(SdpError::BadVersion { line: number }),
            b'o' => {
                if self.origin.is_some() || !self.media.is_empty() {
                    return Err(SdpError::BadOrigin { line: number });
                }
                let origin = parse_origin(body, i, line.value());
                self.origin = Some(origin.ok_or(SdpError::BadOrigin { line: number })?);
                Ok(())
            }
            b'c' => {
                let conn = parse_connection(body, i, line.value());
                self.conns
                    .push(conn.ok_or(SdpError::BadConnection { line: number })?);
                Ok(())
            }
            b'm' => {
                if self.media.len() == limits.max_media {
                    return Err(SdpError::TooManyMedia {
                        limit: limits.max_media,
                    });
                }
                if let Some(prev) = self.media.last_mut() {
                    prev.end = i;
                }
                self.media.push(parse_media(body, i, line.value())?);
                Ok(())
            }
            b'a' => self.attribute(body, i, line.value()),
            _ => Ok(()),
        }
    }

    /// Checks that the name is a token; `a=rtcp:` is parsed because it gets rewritten.
    fn attribute(&mut self, body: &[u8], i: usize, value: Span) -> Result<(), SdpError> {
        let text = value.slice(body);
        let name_len = memchr(b':', text).unwrap_or(text.len());
        if !is_token(&text[..name_len]) {
            return Err(SdpError::BadAttribute { line: i + 1 });
        }
        if &text[..name_len] == b"rtcp" {
            if name_len == text.len() {
                return Err(SdpError::BadRtcp { line: i + 1 });
            }
            let rest = Span {
                start: value.start + name_len + 1,
                end: value.end,
            };
            self.rtcps.push(parse_rtcp(body, i, rest)?);
        }
        Ok(())
    }

    fn finish(mut self, lines: Vec<Line>) -> Result<Index, SdpError> {
        let origin = self.origin.ok_or(SdpError::MissingOrigin)?;
        if let Some(last) = self.media.last_mut() {
            last.end = lines.len();
        }
        let session_end = self.media.first().map_or(lines.len(), |m| m.line);
        Ok(Index {
            lines,
            origin,
            conns: self.conns,
            rtcps: self.rtcps,
            media: self.media,
            session_end,
        })
    }
}
