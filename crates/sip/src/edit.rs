//! Editing and building messages.
//!
//! An [`Editor`] records splices (byte range → replacement text) against the original
//! buffer and writes the result in one pass, so everything not edited stays byte for byte
//! and Content-Length always matches the body. A [`Builder`] writes new messages (responses,
//! ACKs, CANCELs, requests on the other leg of a call).

use std::net::IpAddr;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use crate::header_name::HeaderName;
use crate::message::{Message, MessageError, ParseLimits, Transport};
use crate::method::Method;
use crate::scan::{ListSplit, Scanner, offset_in};
use crate::uri::next_param;

/// What a new message's head starts with room for: the requests and responses a B2BUA
/// writes (Via, From, To, Call-ID, CSeq, Contact, a few more) fit.
const HEAD_CAPACITY: usize = 768;

/// The name that starts a Content-Length line Palisade writes.
const CONTENT_LENGTH: &[u8] = b"Content-Length: ";

/// An edit that would have produced a malformed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// A value held CR or LF other than as folding: it would inject header lines.
    #[error("line break in a header value")]
    LineBreak,
    #[error("no such header")]
    NoSuchHeader,
    #[error("no Via to edit")]
    NoVia,
}

/// Refuses values that would end the header line early (header injection).
fn check_value(value: &[u8]) -> Result<(), EditError> {
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\r'
                if value.get(i + 1) == Some(&b'\n')
                    && matches!(value.get(i + 2), Some(b' ' | b'\t')) =>
            {
                i += 3;
            }
            b'\r' | b'\n' | 0 => return Err(EditError::LineBreak),
            _ => i += 1,
        }
    }
    Ok(())
}

/// Pending edits of one message.
#[derive(Debug)]
pub struct Editor<'m> {
    msg: &'m Message,
    splices: Vec<(Range<usize>, Vec<u8>)>,
    body: Option<Bytes>,
}

impl<'m> Editor<'m> {
    pub fn new(msg: &'m Message) -> Self {
        Self {
            msg,
            splices: Vec::new(),
            body: None,
        }
    }

    fn splice(&mut self, range: Range<usize>, text: Vec<u8>) {
        // A later edit of the same bytes replaces an earlier one.
        self.splices
            .retain(|(r, _)| !(r.start < range.end && range.start < r.end));
        self.splices.push((range, text));
    }

    fn line_range(&self, index: usize) -> Result<Range<usize>, EditError> {
        self.msg
            .entries()
            .get(index)
            .map(|e| e.line_span.range())
            .ok_or(EditError::NoSuchHeader)
    }

    /// Replaces the Request-URI (requests only; ignored for responses).
    pub fn set_request_uri(&mut self, uri: &str) -> Result<(), EditError> {
        check_value(uri.as_bytes())?;
        if uri.contains([' ', '\t']) {
            return Err(EditError::LineBreak);
        }
        if let crate::message::StartLine::Request { uri: r, .. } = self.msg.start_line() {
            self.splice(r.clone(), uri.as_bytes().to_vec());
        }
        Ok(())
    }

    /// Removes the header field at `index` (its folded lines too).
    pub fn remove(&mut self, index: usize) -> Result<(), EditError> {
        let r = self.line_range(index)?;
        self.splice(r, Vec::new());
        Ok(())
    }

    /// Removes every field with this name.
    pub fn remove_all(&mut self, name: HeaderName) {
        let ranges: Vec<_> = self
            .msg
            .entries()
            .iter()
            .filter(|e| e.name == name)
            .map(|e| e.line_span.range())
            .collect();
        for r in ranges {
            self.splice(r, Vec::new());
        }
    }

    /// Replaces the value of the field at `index`, keeping its name as written.
    pub fn replace(&mut self, index: usize, value: &str) -> Result<(), EditError> {
        check_value(value.as_bytes())?;
        let e = self
            .msg
            .entries()
            .get(index)
            .ok_or(EditError::NoSuchHeader)?;
        self.splice(e.value_span.range(), value.as_bytes().to_vec());
        Ok(())
    }

    /// Inserts a field before the field at `index` (or at the end when `index` is past the
    /// last field).
    pub fn insert(&mut self, index: usize, name: HeaderName, value: &str) -> Result<(), EditError> {
        self.insert_raw(index, name.as_str(), value)
    }

    /// Inserts a field with a name of the caller's choosing.
    pub fn insert_raw(&mut self, index: usize, name: &str, value: &str) -> Result<(), EditError> {
        check_value(value.as_bytes())?;
        if name.is_empty() || !name.bytes().all(crate::scan::is_token) {
            return Err(EditError::LineBreak);
        }
        let at = match self.msg.entries().get(index) {
            Some(e) => e.line_span.range().start,
            None => self.msg.head_len() - 2,
        };
        let mut line = Vec::with_capacity(name.len() + value.len() + 4);
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b": ");
        line.extend_from_slice(value.as_bytes());
        line.extend_from_slice(b"\r\n");
        // Inserts at one point keep their order; they never replace each other.
        self.splices.push((at..at, line));
        Ok(())
    }

    /// Adds a field after all others.
    pub fn append(&mut self, name: HeaderName, value: &str) -> Result<(), EditError> {
        self.insert(usize::MAX, name, value)
    }

    /// Adds a field before all others (a new top Via, for instance).
    pub fn prepend(&mut self, name: HeaderName, value: &str) -> Result<(), EditError> {
        self.insert(0, name, value)
    }

    /// Replaces the first element of a list field (e.g. the top Via) by `element`.
    pub fn replace_first_element(
        &mut self,
        name: HeaderName,
        element: &str,
    ) -> Result<(), EditError> {
        check_value(element.as_bytes())?;
        let range = self
            .first_element_range(name)
            .ok_or(EditError::NoSuchHeader)?;
        self.splice(range, element.as_bytes().to_vec());
        Ok(())
    }

    /// Removes the first element of a list field, and the field if it held only that.
    pub fn remove_first_element(&mut self, name: HeaderName) -> Result<(), EditError> {
        let (index, e) = self
            .msg
            .entries()
            .iter()
            .enumerate()
            .find(|(_, e)| e.name == name)
            .ok_or(EditError::NoSuchHeader)?;
        let value = &self.msg.as_bytes()[e.value_span.range()];
        let mut parts = ListSplit::new(value);
        let first = parts.next().ok_or(EditError::NoSuchHeader)?;
        if parts.next().is_none() {
            return self.remove(index);
        }
        let start = e.value_span.range().start;
        let first_end = offset_in(value, first).map_or(0, |o| o + first.len());
        // Drop the element and the comma (and blanks) after it.
        let comma = value[first_end..]
            .iter()
            .position(|&c| c == b',')
            .map_or(value.len(), |p| first_end + p + 1);
        let next = comma
            + value[comma..]
                .iter()
                .take_while(|c| crate::scan::is_lws(**c))
                .count();
        self.splice(start..start + next, Vec::new());
        Ok(())
    }

    fn first_element_range(&self, name: HeaderName) -> Option<Range<usize>> {
        let e = self.msg.entries().iter().find(|e| e.name == name)?;
        let value = &self.msg.as_bytes()[e.value_span.range()];
        let first = ListSplit::new(value).next()?;
        let start = e.value_span.range().start + offset_in(value, first)?;
        Some(start..start + first.len())
    }

    /// Sets `received` and `rport` on the top Via (RFC 3261 §18.2.1, RFC 3581 §4): the
    /// address and port the request really came from.
    pub fn set_via_received(
        &mut self,
        received: IpAddr,
        rport: Option<u16>,
    ) -> Result<(), EditError> {
        let range = self
            .first_element_range(HeaderName::Via)
            .ok_or(EditError::NoVia)?;
        let element = &self.msg.as_bytes()[range.clone()];
        let received = received.to_string();
        let rport = rport.map(|p| p.to_string());
        let mut set: Vec<(&str, Option<&str>)> = vec![("received", Some(received.as_str()))];
        if let Some(p) = &rport {
            set.push(("rport", Some(p.as_str())));
        }
        let text = with_params(element, &set).ok_or(EditError::NoVia)?;
        self.splice(range, text);
        Ok(())
    }

    /// Sets the transport of the top Via (RFC 3261 §18.1.1: a request moved from UDP to
    /// TCP says so), keeping the rest of the element as written.
    pub fn set_via_transport(&mut self, token: &str) -> Result<(), EditError> {
        if token.is_empty() || !token.bytes().all(crate::scan::is_token) {
            return Err(EditError::LineBreak);
        }
        let range = self
            .first_element_range(HeaderName::Via)
            .ok_or(EditError::NoVia)?;
        let element = &self.msg.as_bytes()[range.clone()];
        let via = crate::headers::Via::parse(element).map_err(|_| EditError::NoVia)?;
        let at = offset_in(element, via.transport.as_bytes()).ok_or(EditError::NoVia)?;
        let mut text = Vec::with_capacity(element.len() + token.len());
        text.extend_from_slice(&element[..at]);
        text.extend_from_slice(token.as_bytes());
        text.extend_from_slice(&element[at + via.transport.len()..]);
        self.splice(range, text);
        Ok(())
    }

    /// Replaces the body; Content-Type is set when given, and Content-Length always.
    pub fn set_body(&mut self, body: Bytes, content_type: Option<&str>) -> Result<(), EditError> {
        if let Some(ct) = content_type {
            match self.msg.headers_named(HeaderName::ContentType).next() {
                Some(h) => self.replace(h.index, ct)?,
                None => self.append(HeaderName::ContentType, ct)?,
            }
        }
        self.body = Some(body);
        Ok(())
    }

    /// Writes the edited message. Content-Length is rewritten (or added) to match the body.
    pub fn finish(mut self) -> Bytes {
        let body = self.body.take().unwrap_or_else(|| self.msg.body_bytes());
        let len = body.len().to_string();
        match self
            .msg
            .entries()
            .iter()
            .find(|e| e.name == HeaderName::ContentLength)
            .map(|e| e.value_span.range())
        {
            Some(r)
                if !self
                    .splices
                    .iter()
                    .any(|(s, _)| s.start <= r.start && r.end <= s.end && !s.is_empty()) =>
            {
                if self.msg.as_bytes()[r.clone()] != *len.as_bytes() {
                    self.splice(r, len.into_bytes());
                }
            }
            _ => {
                let at = self.msg.head_len() - 2;
                let mut line = CONTENT_LENGTH.to_vec();
                line.extend_from_slice(len.as_bytes());
                line.extend_from_slice(b"\r\n");
                self.splices.push((at..at, line));
            }
        }
        self.splices.sort_by_key(|(r, _)| (r.start, r.end));
        let src = self.msg.as_bytes();
        let head = &src[..self.msg.head_len()];
        let extra: usize = self.splices.iter().map(|(_, t)| t.len()).sum();
        let mut out = BytesMut::with_capacity(head.len() + extra + body.len());
        let mut pos = 0;
        for (r, text) in &self.splices {
            out.put_slice(&head[pos..r.start]);
            out.put_slice(text);
            pos = r.end;
        }
        out.put_slice(&head[pos..]);
        out.put_slice(&body);
        out.freeze()
    }
}

/// Returns `element` with the given parameters set (replaced if present, else appended);
/// other parameters keep their text.
fn with_params(element: &[u8], set: &[(&str, Option<&str>)]) -> Option<Vec<u8>> {
    // Parameters start at the first ';' that is not inside brackets or quotes.
    let mut depth = 0u32;
    let start = element.iter().position(|&c| {
        match c {
            b'[' | b'<' => depth += 1,
            b']' | b'>' => depth = depth.saturating_sub(1),
            b';' if depth == 0 => return true,
            _ => {}
        }
        false
    });
    let (base, params) = match start {
        Some(i) => (&element[..i], &element[i..]),
        None => (element, &[][..]),
    };
    let mut out = base.to_vec();
    let mut scan = Scanner::new(params);
    loop {
        let from = scan.pos();
        match next_param(&mut scan) {
            None => break,
            Some(Err(())) => return None,
            Some(Ok((name, _))) => {
                if !set
                    .iter()
                    .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
                {
                    out.extend_from_slice(&params[from..scan.pos()]);
                }
            }
        }
    }
    for (name, value) in set {
        out.push(b';');
        out.extend_from_slice(name.as_bytes());
        if let Some(v) = value {
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
        }
    }
    Some(out)
}

/// The reason phrase Palisade writes for a status code.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ => match code / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

/// Writes a new message: start line, header fields in the order given, body. Content-Length
/// is added by [`Builder::build`].
#[derive(Debug)]
pub struct Builder {
    head: BytesMut,
    body: Bytes,
    error: Option<EditError>,
}

impl Builder {
    /// A request line.
    pub fn request(method: &Method, uri: &str) -> Self {
        let mut b = Self::empty();
        b.error = check_value(uri.as_bytes())
            .err()
            .or_else(|| uri.contains([' ', '\t']).then_some(EditError::LineBreak));
        b.head.put_slice(method.as_str().as_bytes());
        b.head.put_u8(b' ');
        b.head.put_slice(uri.as_bytes());
        b.head.put_slice(b" SIP/2.0\r\n");
        b
    }

    /// A status line; `reason` defaults to the standard phrase.
    pub fn response(code: u16, reason: Option<&str>) -> Self {
        let mut b = Self::empty();
        let reason = reason.unwrap_or_else(|| reason_phrase(code));
        b.error = check_value(reason.as_bytes()).err();
        b.head.put_slice(b"SIP/2.0 ");
        b.head.put_slice(code.to_string().as_bytes());
        b.head.put_u8(b' ');
        b.head.put_slice(reason.as_bytes());
        b.head.put_slice(b"\r\n");
        b
    }

    fn empty() -> Self {
        Self {
            head: BytesMut::with_capacity(HEAD_CAPACITY),
            body: Bytes::new(),
            error: None,
        }
    }

    /// Adds a header field.
    pub fn header(&mut self, name: HeaderName, value: impl AsRef<[u8]>) -> &mut Self {
        self.raw_header(name.as_str(), value)
    }

    /// Adds a header field with a name of the caller's choosing.
    pub fn raw_header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        if let Err(e) = check_value(value) {
            self.error.get_or_insert(e);
        }
        if name.is_empty() || !name.bytes().all(crate::scan::is_token) {
            self.error.get_or_insert(EditError::LineBreak);
        }
        self.head.put_slice(name.as_bytes());
        self.head.put_slice(b": ");
        self.head.put_slice(value);
        self.head.put_slice(b"\r\n");
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(&mut self, content_type: &str, body: Bytes) -> &mut Self {
        self.header(HeaderName::ContentType, content_type);
        self.body = body;
        self
    }

    /// Sets the body without a Content-Type (the caller has written one already).
    pub fn raw_body(&mut self, body: Bytes) -> &mut Self {
        self.body = body;
        self
    }

    /// The finished message bytes.
    pub fn build(self) -> Result<Bytes, EditError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        // One allocation of exactly the message's size: a transaction may keep the message
        // for 64 x T1, and the head's spare room would be kept with it.
        let length = self.body.len().to_string();
        let mut out = Vec::with_capacity(
            self.head.len() + CONTENT_LENGTH.len() + length.len() + 4 + self.body.len(),
        );
        out.extend_from_slice(&self.head);
        out.extend_from_slice(CONTENT_LENGTH);
        out.extend_from_slice(length.as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
        Ok(Bytes::from(out))
    }

    /// The finished message, parsed.
    pub fn build_message(self) -> Result<Message, BuildError> {
        let bytes = self.build()?;
        let limits = ParseLimits {
            max_message_size: usize::MAX,
            max_headers: usize::MAX,
            max_header_len: usize::MAX,
        };
        Ok(Message::parse(bytes, Transport::Stream, &limits)?)
    }
}

/// A built message that did not parse back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Parse(#[from] MessageError),
}

/// Starts a response to `req` as RFC 3261 §8.2.6 asks: Via, From, To, Call-ID and CSeq
/// copied (a To tag added when given and the request had none), and Timestamp echoed in a
/// 100 (§8.2.6.1).
pub fn response_to(req: &Message, code: u16, to_tag: Option<&str>) -> Builder {
    response_with_reason(req, code, None, to_tag)
}

/// [`response_to`] with a reason phrase of the caller's choosing (relayed from another
/// leg, for instance); `None` writes the standard phrase.
pub fn response_with_reason(
    req: &Message,
    code: u16,
    reason: Option<&str>,
    to_tag: Option<&str>,
) -> Builder {
    let mut b = Builder::response(code, reason);
    for h in req.headers() {
        match h.name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                b.header(h.name, h.value);
            }
            HeaderName::To => {
                let has_tag = req.to().is_ok_and(|t| t.tag().is_some());
                match to_tag.filter(|_| !has_tag && code > 100) {
                    Some(tag) => {
                        let mut v = h.value.to_vec();
                        v.extend_from_slice(b";tag=");
                        v.extend_from_slice(tag.as_bytes());
                        b.header(HeaderName::To, v);
                    }
                    None => {
                        b.header(HeaderName::To, h.value);
                    }
                }
            }
            HeaderName::Timestamp if code == 100 => {
                b.header(h.name, h.value);
            }
            _ => {}
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"INVITE sip:bob@10.0.0.2:5062 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Timestamp: 54\r\n\
Content-Length: 3\r\n\
\r\n\
abc";

    fn msg(b: &[u8]) -> Message {
        Message::parse(
            Bytes::copy_from_slice(b),
            Transport::Datagram,
            &ParseLimits::default(),
        )
        .unwrap()
    }

    #[test]
    fn no_edit_is_byte_identical() {
        let m = msg(REQ);
        assert_eq!(&Editor::new(&m).finish()[..], REQ);
    }

    #[test]
    fn via_received_rport_and_uri() {
        let m = msg(REQ);
        let mut e = Editor::new(&m);
        e.set_via_received("198.51.100.7".parse().unwrap(), Some(40000))
            .unwrap();
        e.set_request_uri("sip:bob@203.0.113.5").unwrap();
        let out = msg(&e.finish());
        let via = out.via().unwrap();
        assert_eq!(via.received(), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(via.rport(), Some(Some(40000)));
        assert_eq!(via.branch(), Some("z9hG4bKa"));
        assert_eq!(out.vias().count(), 2);
        assert_eq!(out.request_uri_str(), Some("sip:bob@203.0.113.5"));
        assert_eq!(out.body(), b"abc");
    }

    #[test]
    fn body_and_headers_keep_content_length_right() {
        let m = msg(REQ);
        let mut e = Editor::new(&m);
        e.set_body(Bytes::from_static(b"v=0\r\n"), Some("application/sdp"))
            .unwrap();
        e.remove_all(HeaderName::Timestamp);
        e.prepend(HeaderName::Via, "SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKnew")
            .unwrap();
        e.remove_first_element(HeaderName::Via).unwrap();
        let out = msg(&e.finish());
        assert_eq!(out.content_length(), Some(5));
        assert_eq!(out.body(), b"v=0\r\n");
        assert!(out.header(HeaderName::Timestamp).is_none());
        let branches: Vec<_> = out
            .vias()
            .map(|v| v.unwrap().branch().unwrap().to_owned())
            .collect();
        assert_eq!(branches, ["z9hG4bKnew", "z9hG4bKb"]);
        assert_eq!(
            out.content_type().unwrap().unwrap().value,
            "application/sdp"
        );
    }

    #[test]
    fn via_transport_changes_only_the_top_element() {
        let m = msg(REQ);
        let mut e = Editor::new(&m);
        e.set_via_transport("TCP").unwrap();
        let out = msg(&e.finish());
        let vias: Vec<_> = out
            .vias()
            .map(|v| v.unwrap().transport.to_owned())
            .collect();
        assert_eq!(vias, ["TCP", "UDP"]);
        assert_eq!(out.via().unwrap().branch(), Some("z9hG4bKa"));
        assert!(Editor::new(&m).set_via_transport("T\r\nX").is_err());
    }

    #[test]
    fn injection_is_refused() {
        let m = msg(REQ);
        let mut e = Editor::new(&m);
        assert_eq!(
            e.append(HeaderName::Subject, "x\r\nVia: evil"),
            Err(EditError::LineBreak)
        );
        assert!(e.append(HeaderName::Subject, "folded\r\n value").is_ok());
        let mut b = Builder::request(&Method::Options, "sip:a@b");
        b.header(HeaderName::Subject, "a\nb");
        assert_eq!(b.build(), Err(EditError::LineBreak));
    }

    #[test]
    fn response_copies_transaction_headers() {
        let m = msg(REQ);
        let r = response_to(&m, 100, Some("t")).build_message().unwrap();
        assert_eq!(r.status(), Some(100));
        assert_eq!(r.header(HeaderName::Timestamp), Some(&b"54"[..]));
        assert_eq!(r.to().unwrap().tag(), None);
        assert_eq!(r.vias().count(), 2);
        let r = response_to(&m, 486, Some("t")).build_message().unwrap();
        assert_eq!(r.to().unwrap().tag(), Some("t"));
        assert!(r.header(HeaderName::Timestamp).is_none());
        assert_eq!(r.reason(), Some(&b"Busy Here"[..]));
    }
}
