//! SIP messages: located once, read lazily, written back byte for byte.
//!
//! Parsing finds the start line and each header line and records their positions in the
//! original buffer; it does not interpret header values beyond Content-Length, which framing
//! needs. Typed accessors parse a value when asked. A message that is not edited is written
//! out as the very bytes that arrived.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::header_name::HeaderName;
use crate::headers::{CSeq, ContactValue, NameAddr, TokenParams, ValueError, Via};
use crate::method::Method;
use crate::scan::{ListSplit, is_token, parse_u64};
use crate::uri::Uri;

/// Size and count limits applied while parsing; everything from the network is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest whole message, head and body, in bytes.
    pub max_message_size: usize,
    /// Most header fields (lines, counting folded continuations as part of their field).
    pub max_headers: usize,
    /// Longest header field, including its folded continuation lines, and start line.
    pub max_header_len: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_message_size: 65_535,
            max_headers: 128,
            max_header_len: 8_192,
        }
    }
}

/// How a message arrived, which decides what Content-Length means (RFC 3261 §18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: one message per datagram; without Content-Length the body runs to its end,
    /// octets beyond Content-Length are ignored.
    Datagram,
    /// TCP/TLS: Content-Length is mandatory and delimits the message.
    Stream,
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    #[error("header field longer than {0} bytes")]
    HeaderTooLong(usize),
    #[error("header section not terminated")]
    Incomplete,
    #[error("malformed start line")]
    StartLine,
    #[error("unsupported SIP version")]
    Version,
    #[error("malformed status code")]
    Status,
    #[error("malformed header line")]
    HeaderLine,
    #[error("malformed Content-Length")]
    ContentLength,
    #[error("more than one Content-Length")]
    MultipleContentLength,
    #[error("Content-Length required on a stream transport")]
    MissingContentLength,
    #[error("body shorter than Content-Length")]
    BodyTruncated,
}

/// What an element should do with a message it cannot accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Answer with this status code (statelessly if need be).
    Respond(u16),
    /// Discard silently: responses are never answered, and some requests are not worth it.
    Drop,
}

/// A parse failure together with whether the bytes looked like a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct MessageError {
    pub kind: ParseError,
    /// The start line looked like a request (so a response may be sent).
    pub request: bool,
}

impl MessageError {
    /// The response this error calls for. A broken response is always dropped; a request is
    /// answered 505 for a foreign SIP version and 400 otherwise.
    pub fn verdict(&self) -> Verdict {
        match (self.request, self.kind) {
            (false, _) => Verdict::Drop,
            (true, ParseError::Version) => Verdict::Respond(505),
            (true, ParseError::TooLarge(_)) => Verdict::Respond(513),
            (true, _) => Verdict::Respond(400),
        }
    }
}

/// A byte range in the message buffer. `u32` keeps header entries small; messages are far
/// below 4 GiB because of [`ParseLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(r: Range<usize>) -> Self {
        // Callers only build spans inside a buffer bounded by max_message_size.
        Self {
            start: u32::try_from(r.start).unwrap_or(u32::MAX),
            end: u32::try_from(r.end).unwrap_or(u32::MAX),
        }
    }

    pub(crate) fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: Range<usize> },
    Response { code: u16, reason: Range<usize> },
}

/// One header field's position: its whole line(s), its name and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderEntry {
    pub(crate) name: HeaderName,
    pub(crate) name_span: Span,
    /// From the first non-blank octet after the colon to the last non-blank before the
    /// final CRLF; folded continuations are inside it.
    pub(crate) value_span: Span,
    /// The whole field including its final CRLF.
    pub(crate) line_span: Span,
}

/// A borrowed header field.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub name: HeaderName,
    /// The name as written (`v`, `MaX-fOrWaRdS` ...).
    pub raw_name: &'a [u8],
    pub value: &'a [u8],
    /// Position among all header fields, for edits.
    pub index: usize,
}

/// The located start line and header fields of a message.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) start: StartLine,
    /// Shared, not copied, by the clones of a message (a transaction, its outbox and the
    /// engine each hold one): the entries never change after the parse.
    pub(crate) headers: Arc<[HeaderEntry]>,
    /// Bytes up to and including the empty line.
    pub(crate) len: usize,
    pub(crate) content_length: Option<usize>,
}

/// Finds line ends in one pass over the buffer. Lines end in CRLF; a bare CR or LF is
/// refused rather than guessed at. One iterator for the whole head amortizes the vector
/// search set-up that a separate search per (short) header line would pay every time.
struct LineEnds<'a> {
    buf: &'a [u8],
    it: memchr::Memchr2<'a>,
}

impl<'a> LineEnds<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            it: memchr::memchr2_iter(b'\r', b'\n', buf),
        }
    }

    /// The index of the next line's CR; `None` when the buffer ends first.
    fn next_end(&mut self) -> Result<Option<usize>, ParseError> {
        let Some(at) = self.it.next() else {
            return Ok(None);
        };
        match (self.buf[at], self.buf.get(at + 1)) {
            (b'\r', Some(b'\n')) => {
                self.it.next();
                Ok(Some(at))
            }
            (b'\r', None) => Ok(None),
            _ => Err(ParseError::HeaderLine),
        }
    }
}

fn parse_version(v: &[u8]) -> Result<(), ParseError> {
    if v.len() < 5 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(ParseError::StartLine);
    }
    let (major, minor) = match memchr::memchr(b'.', &v[4..]) {
        Some(dot) => (&v[4..4 + dot], &v[5 + dot..]),
        None => return Err(ParseError::StartLine),
    };
    match (parse_u64(major), parse_u64(minor)) {
        (Some(2), Some(0)) => Ok(()),
        (Some(_), Some(_)) => Err(ParseError::Version),
        _ => Err(ParseError::StartLine),
    }
}

/// Parses the start line `buf[..end]`; single spaces separate its elements (RFC 4475
/// §3.1.2.9-10: extra or trailing spaces are refused, never forwarded).
fn parse_start_line(buf: &[u8], end: usize) -> Result<StartLine, ParseError> {
    let line = &buf[..end];
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::StartLine)?;
        parse_version(&line[..sp1])?;
        let rest = &line[sp1 + 1..];
        let (code, reason_start) = match memchr::memchr(b' ', rest) {
            Some(sp2) => (&rest[..sp2], sp1 + 1 + sp2 + 1),
            // "SIP/2.0 100" without the separating space is tolerated as an empty reason.
            None => (rest, end),
        };
        if code.len() != 3 {
            return Err(ParseError::Status);
        }
        let code = parse_u64(code)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (100..=699).contains(c))
            .ok_or(ParseError::Status)?;
        let reason = reason_start..end;
        if buf[reason.clone()].iter().any(|&c| c < 0x20 && c != b'\t') {
            return Err(ParseError::StartLine);
        }
        return Ok(StartLine::Response { code, reason });
    }
    let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::StartLine)?;
    let sp2 = memchr::memrchr(b' ', line).ok_or(ParseError::StartLine)?;
    if sp2 <= sp1 + 1 {
        return Err(ParseError::StartLine);
    }
    let method = Method::from_bytes(&line[..sp1]).ok_or(ParseError::StartLine)?;
    let uri = sp1 + 1..sp2;
    if line[uri.clone()]
        .iter()
        .any(|&c| c == b' ' || c == b'\t' || c < 0x21 || c == 0x7f)
    {
        return Err(ParseError::StartLine);
    }
    parse_version(&line[sp2 + 1..])?;
    Ok(StartLine::Request { method, uri })
}

/// True when the start line of `buf` looks like a request rather than a response.
fn looks_like_request(buf: &[u8]) -> bool {
    !(buf.len() >= 4 && buf[..4].eq_ignore_ascii_case(b"SIP/"))
}

/// Locates the start line and header fields of `buf`.
pub(crate) fn parse_head(buf: &[u8], limits: &ParseLimits) -> Result<Head, ParseError> {
    let window = &buf[..buf.len().min(limits.max_message_size)];
    let mut lines = LineEnds::new(window);
    let Some(start_end) = lines.next_end()? else {
        return Err(if buf.len() > limits.max_message_size {
            ParseError::TooLarge(limits.max_message_size)
        } else {
            ParseError::Incomplete
        });
    };
    if start_end > limits.max_header_len {
        return Err(ParseError::HeaderTooLong(limits.max_header_len));
    }
    let start = parse_start_line(window, start_end)?;
    let mut headers: Vec<HeaderEntry> = Vec::with_capacity(24);
    let mut content_length = None;
    let mut pos = start_end + 2;
    loop {
        let Some(end) = lines.next_end()? else {
            return Err(if buf.len() > limits.max_message_size {
                ParseError::TooLarge(limits.max_message_size)
            } else {
                ParseError::Incomplete
            });
        };
        if end == pos {
            finish_content_length(window, headers.last(), &mut content_length)?;
            // A message can outlive its parse by half a minute (a transaction keeps its
            // request and last response 64 x T1): the index keeps only the entries it has,
            // not the room for 24.
            return Ok(Head {
                start,
                headers: Arc::from(headers),
                len: end + 2,
                content_length,
            });
        }
        if matches!(window[pos], b' ' | b'\t') {
            // A folded continuation of the previous field.
            let last = headers.last_mut().ok_or(ParseError::HeaderLine)?;
            let value_end = trim_end(window, pos, end);
            if value_end > pos && last.value_span.start == last.value_span.end {
                // The value starts on this line ("Route:\r\n <sip:...>").
                let first = pos
                    + window[pos..end]
                        .iter()
                        .take_while(|c| matches!(c, b' ' | b'\t'))
                        .count();
                last.value_span = Span::new(first..value_end);
            } else if value_end > pos {
                last.value_span = Span::new(last.value_span.start as usize..value_end);
            }
            last.line_span = Span::new(last.line_span.start as usize..end + 2);
            if end + 2 - last.line_span.start as usize > limits.max_header_len {
                return Err(ParseError::HeaderTooLong(limits.max_header_len));
            }
        } else {
            finish_content_length(window, headers.last(), &mut content_length)?;
            if headers.len() >= limits.max_headers {
                return Err(ParseError::TooManyHeaders(limits.max_headers));
            }
            if end - pos > limits.max_header_len {
                return Err(ParseError::HeaderTooLong(limits.max_header_len));
            }
            headers.push(parse_header_line(window, pos, end)?);
        }
        pos = end + 2;
    }
}

/// The end of `buf[from..end]` without trailing blanks.
fn trim_end(buf: &[u8], from: usize, mut end: usize) -> usize {
    while end > from && matches!(buf[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    end
}

/// Reads Content-Length once its field is complete (it may be folded).
fn finish_content_length(
    buf: &[u8],
    last: Option<&HeaderEntry>,
    content_length: &mut Option<usize>,
) -> Result<(), ParseError> {
    let Some(h) = last.filter(|h| h.name == HeaderName::ContentLength) else {
        return Ok(());
    };
    if content_length.is_some() {
        return Err(ParseError::MultipleContentLength);
    }
    let n = crate::headers::parse_number(&buf[h.value_span.range()])
        .map_err(|_| ParseError::ContentLength)?;
    *content_length = Some(n as usize);
    Ok(())
}

fn parse_header_line(buf: &[u8], pos: usize, end: usize) -> Result<HeaderEntry, ParseError> {
    let line = &buf[pos..end];
    let name_len = line.iter().take_while(|&&c| is_token(c)).count();
    if name_len == 0 {
        return Err(ParseError::HeaderLine);
    }
    let mut i = name_len;
    while i < line.len() && matches!(line[i], b' ' | b'\t') {
        i += 1;
    }
    if line.get(i) != Some(&b':') {
        return Err(ParseError::HeaderLine);
    }
    i += 1;
    while i < line.len() && matches!(line[i], b' ' | b'\t') {
        i += 1;
    }
    let value_end = trim_end(buf, pos + i, end);
    Ok(HeaderEntry {
        name: HeaderName::from_bytes(&line[..name_len]),
        name_span: Span::new(pos..pos + name_len),
        value_span: Span::new(pos + i..value_end),
        line_span: Span::new(pos..end + 2),
    })
}

/// Why a typed header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("{0:?} header missing")]
    Missing(HeaderName),
    #[error("{0:?} header appears more than once")]
    Multiple(HeaderName),
    #[error("{0:?} header malformed: {1}")]
    Malformed(HeaderName, ValueError),
}

/// A parsed SIP message over a shared buffer.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Bytes,
    head: Head,
}

impl Message {
    /// Parses one message. `Transport::Datagram` follows RFC 3261 §18.3: trailing octets
    /// after Content-Length are ignored and dropped from the message.
    pub fn parse(
        buf: Bytes,
        transport: Transport,
        limits: &ParseLimits,
    ) -> Result<Self, MessageError> {
        // CRLFs before the start line are ignored (RFC 3261 §7.5).
        let skip = buf
            .iter()
            .take_while(|&&c| c == b'\r' || c == b'\n')
            .count();
        let buf = buf.slice(skip..);
        let request = looks_like_request(&buf);
        let err = |kind| MessageError { kind, request };
        if buf.len() > limits.max_message_size && transport == Transport::Datagram {
            return Err(err(ParseError::TooLarge(limits.max_message_size)));
        }
        let head = parse_head(&buf, limits).map_err(err)?;
        let body_len = match (head.content_length, transport) {
            (Some(n), _) => n,
            (None, Transport::Datagram) => buf.len() - head.len,
            (None, Transport::Stream) => return Err(err(ParseError::MissingContentLength)),
        };
        let total = head
            .len
            .checked_add(body_len)
            .ok_or(err(ParseError::ContentLength))?;
        if total > limits.max_message_size {
            return Err(err(ParseError::TooLarge(limits.max_message_size)));
        }
        if total > buf.len() {
            return Err(err(ParseError::BodyTruncated));
        }
        Ok(Self::from_head(buf.slice(..total), head))
    }

    /// What can be read of a request that failed to parse, to answer it with the status
    /// code its error calls for: its header fields under a stand-in request line, without
    /// its body. `None` when even the header section cannot be read; such a request can
    /// only be dropped. RFC 4475 expects answers to requests with malformed start lines
    /// (§3.1.2.7-10) or lengths (§3.1.2.2-3), which a strict parse refuses.
    pub fn salvage_request(buf: &[u8], limits: &ParseLimits) -> Option<Self> {
        let skip = buf
            .iter()
            .take_while(|&&c| c == b'\r' || c == b'\n')
            .count();
        let buf = buf.get(skip..)?;
        if !looks_like_request(buf) {
            return None;
        }
        let first_end = memchr::memmem::find(buf, b"\r\n")?;
        let head_end = memchr::memmem::find(buf, b"\r\n\r\n").unwrap_or(buf.len());
        let headers = buf.get(first_end + 2..head_end)?;
        // Content-Length is what failed in some of these messages: leave it out.
        let mut text = Vec::with_capacity(headers.len() + 40);
        text.extend_from_slice(b"OPTIONS sip:invalid SIP/2.0\r\n");
        let mut rest = headers;
        while !rest.is_empty() {
            let end = memchr::memmem::find(rest, b"\r\n").unwrap_or(rest.len());
            let line = &rest[..end];
            let name_end = line.iter().position(|&c| c == b':').unwrap_or(line.len());
            let name = crate::scan::trim_lws(&line[..name_end]);
            if HeaderName::from_bytes(name) != HeaderName::ContentLength {
                text.extend_from_slice(line);
                text.extend_from_slice(b"\r\n");
            }
            rest = rest.get(end + 2..).unwrap_or_default();
        }
        text.extend_from_slice(b"\r\n");
        let head = parse_head(&text, limits).ok()?;
        Some(Self::from_head(Bytes::from(text), head))
    }

    pub(crate) fn from_head(buf: Bytes, head: Head) -> Self {
        Self { buf, head }
    }

    /// Starts editing this message; see [`crate::edit::Editor`].
    pub fn edit(&self) -> crate::edit::Editor<'_> {
        crate::edit::Editor::new(self)
    }

    /// The message exactly as it will be sent.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    pub fn start_line(&self) -> &StartLine {
        &self.head.start
    }

    pub fn is_request(&self) -> bool {
        matches!(self.head.start, StartLine::Request { .. })
    }

    /// The request method, or `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.head.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI text, for requests.
    pub fn request_uri_str(&self) -> Option<&str> {
        match &self.head.start {
            StartLine::Request { uri, .. } => std::str::from_utf8(&self.buf[uri.clone()]).ok(),
            StartLine::Response { .. } => None,
        }
    }

    /// The parsed Request-URI, for requests.
    pub fn request_uri(&self) -> Option<Result<Uri<'_>, ValueError>> {
        self.request_uri_str()
            .map(|s| Uri::parse(s).map_err(ValueError::from))
    }

    /// The status code, for responses.
    pub fn status(&self) -> Option<u16> {
        match self.head.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase, for responses (UTF-8 is allowed, so these are bytes).
    pub fn reason(&self) -> Option<&[u8]> {
        match &self.head.start {
            StartLine::Response { reason, .. } => Some(&self.buf[reason.clone()]),
            StartLine::Request { .. } => None,
        }
    }

    /// The body (possibly empty).
    pub fn body(&self) -> &[u8] {
        &self.buf[self.head.len..]
    }

    /// The body as a shared slice, without copying.
    pub fn body_bytes(&self) -> Bytes {
        self.buf.slice(self.head.len..)
    }

    /// Length of the start line and header section, including the empty line.
    pub fn head_len(&self) -> usize {
        self.head.len
    }

    pub(crate) fn entries(&self) -> &[HeaderEntry] {
        &self.head.headers
    }

    fn header_at(&self, index: usize, e: &HeaderEntry) -> Header<'_> {
        Header {
            name: e.name,
            raw_name: &self.buf[e.name_span.range()],
            value: &self.buf[e.value_span.range()],
            index,
        }
    }

    /// All header fields in order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> {
        self.head
            .headers
            .iter()
            .enumerate()
            .map(|(i, e)| self.header_at(i, e))
    }

    /// The header fields with the given name, in order.
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = Header<'_>> {
        self.head
            .headers
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.name == name)
            .map(|(i, e)| self.header_at(i, e))
    }

    /// The header fields with the given name as written (for unknown headers;
    /// case-insensitive).
    pub fn headers_by_raw_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Header<'a>> {
        self.headers()
            .filter(move |h| h.raw_name.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// The value of the first field with the given name.
    pub fn header(&self, name: HeaderName) -> Option<&[u8]> {
        self.headers_named(name).next().map(|h| h.value)
    }

    /// The elements of every field with the given name, comma-separated lists split.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> {
        self.headers_named(name)
            .flat_map(|h| ListSplit::new(h.value))
    }

    /// The value of a header that must appear at most once.
    fn single(&self, name: HeaderName) -> Result<&[u8], HeaderError> {
        let mut it = self.headers_named(name);
        let first = it.next().ok_or(HeaderError::Missing(name))?;
        if it.next().is_some() {
            return Err(HeaderError::Multiple(name));
        }
        Ok(first.value)
    }

    fn typed<'a, T>(
        &'a self,
        name: HeaderName,
        parse: impl FnOnce(&'a [u8]) -> Result<T, ValueError>,
    ) -> Result<T, HeaderError> {
        parse(self.single(name)?).map_err(|e| HeaderError::Malformed(name, e))
    }

    /// The topmost Via element.
    pub fn via(&self) -> Result<Via<'_>, HeaderError> {
        let v = self
            .values(HeaderName::Via)
            .next()
            .ok_or(HeaderError::Missing(HeaderName::Via))?;
        Via::parse(v).map_err(|e| HeaderError::Malformed(HeaderName::Via, e))
    }

    /// Every Via element, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ValueError>> {
        self.values(HeaderName::Via).map(Via::parse)
    }

    pub fn from(&self) -> Result<NameAddr<'_>, HeaderError> {
        self.typed(HeaderName::From, NameAddr::parse)
    }

    pub fn to(&self) -> Result<NameAddr<'_>, HeaderError> {
        self.typed(HeaderName::To, NameAddr::parse)
    }

    pub fn call_id(&self) -> Result<&str, HeaderError> {
        self.typed(HeaderName::CallId, crate::headers::parse_call_id)
    }

    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        self.typed(HeaderName::CSeq, CSeq::parse)
    }

    /// Max-Forwards; `None` when absent (RFC 2543 peers omit it).
    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        self.optional_number(HeaderName::MaxForwards)
    }

    /// Expires; `None` when absent.
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        self.optional_number(HeaderName::Expires)
    }

    fn optional_number(&self, name: HeaderName) -> Result<Option<u32>, HeaderError> {
        match self.typed(name, crate::headers::parse_number) {
            Ok(n) => Ok(Some(n)),
            Err(HeaderError::Missing(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The Content-Length value that framed this message, if it had one.
    pub fn content_length(&self) -> Option<usize> {
        self.head.content_length
    }

    pub fn content_type(&self) -> Option<Result<TokenParams<'_>, HeaderError>> {
        self.optional(HeaderName::ContentType, TokenParams::parse)
    }

    pub fn event(&self) -> Option<Result<TokenParams<'_>, HeaderError>> {
        self.optional(HeaderName::Event, TokenParams::parse)
    }

    pub fn session_expires(&self) -> Option<Result<TokenParams<'_>, HeaderError>> {
        self.optional(HeaderName::SessionExpires, TokenParams::parse)
    }

    pub fn min_se(&self) -> Option<Result<TokenParams<'_>, HeaderError>> {
        self.optional(HeaderName::MinSe, TokenParams::parse)
    }

    pub fn refer_to(&self) -> Option<Result<NameAddr<'_>, HeaderError>> {
        self.optional(HeaderName::ReferTo, NameAddr::parse)
    }

    fn optional<'a, T>(
        &'a self,
        name: HeaderName,
        parse: impl FnOnce(&'a [u8]) -> Result<T, ValueError>,
    ) -> Option<Result<T, HeaderError>> {
        match self.typed(name, parse) {
            Err(HeaderError::Missing(_)) => None,
            r => Some(r),
        }
    }

    /// Contact elements, in order.
    pub fn contacts(&self) -> impl Iterator<Item = Result<ContactValue<'_>, ValueError>> {
        self.values(HeaderName::Contact).map(ContactValue::parse)
    }

    /// Route, Record-Route or Path elements, in order.
    pub fn name_addrs(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<NameAddr<'_>, ValueError>> {
        self.values(name).map(NameAddr::parse)
    }

    /// The option tags or tokens of a list header (Supported, Require, Allow ...).
    pub fn tokens(&self, name: HeaderName) -> impl Iterator<Item = Result<&str, ValueError>> {
        self.headers_named(name)
            .flat_map(|h| crate::headers::tokens(h.value))
    }

    /// The challenges of a WWW-Authenticate or Proxy-Authenticate header, in order.
    pub fn challenges(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<crate::auth::Challenge, crate::auth::AuthError>> {
        self.headers_named(name)
            .map(|h| crate::auth::Challenge::parse(h.value))
    }

    /// The credentials of an Authorization or Proxy-Authorization header, in order.
    pub fn credentials(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<crate::auth::Credentials, crate::auth::AuthError>> {
        self.headers_named(name)
            .map(|h| crate::auth::Credentials::parse(h.value))
    }

    /// A free-text header such as User-Agent or Server, when it is valid UTF-8.
    pub fn text(&self, name: HeaderName) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@10.0.0.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    fn parse(b: &[u8]) -> Result<Message, MessageError> {
        Message::parse(
            Bytes::copy_from_slice(b),
            Transport::Datagram,
            &ParseLimits::default(),
        )
    }

    #[test]
    fn request_basics() {
        let m = parse(INVITE).unwrap();
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(m.request_uri_str(), Some("sip:bob@example.com"));
        assert_eq!(m.via().unwrap().branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(m.from().unwrap().tag(), Some("1928301774"));
        assert_eq!(m.to().unwrap().tag(), None);
        assert_eq!(m.call_id().unwrap(), "a84b4c76e66710@pc33.example.com");
        assert_eq!(m.cseq().unwrap().seq, 314159);
        assert_eq!(m.max_forwards().unwrap(), Some(70));
        assert_eq!(m.body(), b"v=0\n");
        assert_eq!(&m.as_bytes()[..], INVITE);
    }

    #[test]
    fn auth_headers_read_typed() {
        let m = parse(b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nAuthorization: Digest username=\"1001\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\", response=\"00112233445566778899aabbccddeeff\"\r\nProxy-Authorization: NoOneKnowsThisScheme token=x\r\nContent-Length: 0\r\n\r\n").unwrap();
        let c = m
            .credentials(HeaderName::Authorization)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(c.as_digest().unwrap().username, "1001");
        let other = m
            .credentials(HeaderName::ProxyAuthorization)
            .next()
            .unwrap()
            .unwrap();
        assert!(other.as_digest().is_none());
        assert_eq!(m.challenges(HeaderName::WwwAuthenticate).count(), 0);
    }

    #[test]
    fn datagram_trailing_octets_are_ignored() {
        let mut b = INVITE.to_vec();
        b.extend_from_slice(b"garbage");
        let m = parse(&b).unwrap();
        assert_eq!(&m.as_bytes()[..], INVITE);
    }

    #[test]
    fn stream_requires_content_length() {
        let b = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n";
        let e = Message::parse(
            Bytes::from_static(b),
            Transport::Stream,
            &ParseLimits::default(),
        );
        assert_eq!(e.unwrap_err().kind, ParseError::MissingContentLength);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = ParseLimits {
            max_headers: 3,
            ..ParseLimits::default()
        };
        let e = Message::parse(Bytes::from_static(INVITE), Transport::Datagram, &limits);
        assert_eq!(e.unwrap_err().kind, ParseError::TooManyHeaders(3));
        let limits = ParseLimits {
            max_message_size: 100,
            ..ParseLimits::default()
        };
        let e = Message::parse(Bytes::from_static(INVITE), Transport::Datagram, &limits);
        assert!(matches!(e.unwrap_err().kind, ParseError::TooLarge(100)));
    }

    #[test]
    fn salvage_keeps_what_a_response_needs() {
        let bad = b"INVITE  sip:a@b  SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: -999\r\n\r\nbody";
        assert!(parse(bad).is_err());
        let m = Message::salvage_request(bad, &ParseLimits::default()).unwrap();
        assert_eq!(m.via().unwrap().branch(), Some("z9hG4bK1"));
        assert_eq!(m.call_id().unwrap(), "c");
        assert!(m.header(HeaderName::ContentLength).is_none());
        assert!(
            Message::salvage_request(b"SIP/2.0 200 OK\r\n\r\n", &ParseLimits::default()).is_none()
        );
        assert!(Message::salvage_request(b"\xff\xfe", &ParseLimits::default()).is_none());
    }

    #[test]
    fn start_line_errors() {
        assert_eq!(
            parse(b"SIP/2.0 4294967301 x\r\n\r\n")
                .unwrap_err()
                .verdict(),
            Verdict::Drop
        );
        let e = parse(b"OPTIONS sip:a@b SIP/7.0\r\n\r\n").unwrap_err();
        assert_eq!(e.verdict(), Verdict::Respond(505));
        assert_eq!(
            parse(b"INVITE  sip:a@b SIP/2.0\r\n\r\n").unwrap_err().kind,
            ParseError::StartLine
        );
        assert_eq!(
            parse(b"INVITE sip:a@b SIP/2.0 \r\n\r\n").unwrap_err().kind,
            ParseError::StartLine
        );
        let m = parse(b"SIP/2.0 100 \r\n\r\n").unwrap();
        assert_eq!((m.status(), m.reason()), (Some(100), Some(&b""[..])));
    }
}
