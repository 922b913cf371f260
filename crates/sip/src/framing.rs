//! Framing of SIP over stream transports (TCP, TLS): RFC 3261 §18.3 and RFC 5626 §3.5.1.
//!
//! Bytes are pushed in as they arrive; complete messages, and the CRLF keep-alives of
//! RFC 5626 (a double CRLF "ping", a single CRLF "pong"), come out. Content-Length is
//! mandatory on streams. Any error means framing is lost: the caller closes the connection.

use bytes::BytesMut;

use crate::message::{Head, Message, MessageError, ParseError, ParseLimits, parse_head};

/// One unit read from a stream.
#[derive(Debug, Clone)]
pub enum Frame {
    Message(Message),
    /// `CRLFCRLF`: the peer asks for a pong.
    Ping,
    /// `CRLF`: the answer to a ping.
    Pong,
}

/// Reassembles messages from a byte stream.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: ParseLimits,
    /// How far the search for the end of the header section has got, so that a head
    /// arriving a few bytes at a time is not rescanned from the start each time.
    searched: usize,
    /// The located head of a message whose body is still arriving, and the message length.
    pending: Option<(Head, usize)>,
    /// Whether this end sent pings and so expects pongs (see [`StreamFramer::expect_pongs`]).
    expect_pongs: bool,
}

impl StreamFramer {
    pub fn new(limits: ParseLimits) -> Self {
        Self {
            buf: BytesMut::new(),
            limits,
            searched: 0,
            pending: None,
            expect_pongs: false,
        }
    }

    /// For the end that sends pings: a CRLF at the end of the buffer is a pong at once. On
    /// the other end it may be the first half of a ping split across reads, so by default a
    /// trailing lone CRLF waits for the next bytes.
    pub fn expect_pongs(mut self) -> Self {
        self.expect_pongs = true;
        self
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends received bytes. Refuses to hold more than two maximum-size messages, which
    /// bounds memory even if the caller forgets to drain frames.
    pub fn push(&mut self, data: &[u8]) -> Result<(), MessageError> {
        if self.buf.len() + data.len() > self.limits.max_message_size.saturating_mul(2) {
            return Err(MessageError {
                kind: ParseError::TooLarge(self.limits.max_message_size),
                request: true,
            });
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, MessageError> {
        if self.pending.is_none() {
            if let Some(f) = self.keepalive() {
                return Ok(Some(f));
            }
            if self.buf.starts_with(b"\r") && self.buf.len() < 4 {
                return Ok(None);
            }
            if !self.head_complete()? {
                return Ok(None);
            }
            let request = !self.buf.starts_with(b"SIP/");
            let err = |kind| MessageError { kind, request };
            let head = parse_head(&self.buf, &self.limits).map_err(err)?;
            let body = head
                .content_length
                .ok_or(err(ParseError::MissingContentLength))?;
            let total = head.len + body;
            if total > self.limits.max_message_size {
                return Err(err(ParseError::TooLarge(self.limits.max_message_size)));
            }
            self.pending = Some((head, total));
        }
        match self.pending.take() {
            Some((head, total)) if self.buf.len() >= total => {
                let bytes = self.buf.split_to(total).freeze();
                self.searched = 0;
                Ok(Some(Frame::Message(Message::from_head(bytes, head))))
            }
            other => {
                self.pending = other;
                Ok(None)
            }
        }
    }

    /// Consumes a leading keep-alive, if there is one.
    fn keepalive(&mut self) -> Option<Frame> {
        if self.buf.starts_with(b"\r\n\r\n") {
            let _ = self.buf.split_to(4);
            return Some(Frame::Ping);
        }
        // A lone CRLF is a pong, unless it may be the first half of a ping still arriving.
        let lone = self.buf.starts_with(b"\r\n")
            && match self.buf.get(2) {
                None => self.expect_pongs,
                Some(c) => *c != b'\r',
            };
        if lone {
            let _ = self.buf.split_to(2);
            return Some(Frame::Pong);
        }
        None
    }

    /// Whether the buffer holds a whole header section; errors when it cannot within limits.
    fn head_complete(&mut self) -> Result<bool, MessageError> {
        let from = self.searched.saturating_sub(3);
        if memchr::memmem::find(&self.buf[from..], b"\r\n\r\n").is_some() {
            return Ok(true);
        }
        self.searched = self.buf.len();
        if self.buf.len() > self.limits.max_message_size {
            return Err(MessageError {
                kind: ParseError::TooLarge(self.limits.max_message_size),
                request: !self.buf.starts_with(b"SIP/"),
            });
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n\
Content-Length: 5\r\n\
\r\n\
hello";

    fn frames(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut f = StreamFramer::new(ParseLimits::default());
        let mut out = Vec::new();
        for c in chunks {
            f.push(c).unwrap();
            while let Some(fr) = f.next_frame().unwrap() {
                out.push(fr);
            }
        }
        out
    }

    #[test]
    fn byte_at_a_time_and_pipelined() {
        let mut all = b"\r\n\r\n".to_vec();
        all.extend_from_slice(OPTIONS);
        all.extend_from_slice(OPTIONS);
        all.extend_from_slice(b"\r\nOPTIONS");
        let chunks: Vec<&[u8]> = all.chunks(1).collect();
        let out = frames(&chunks);
        assert!(matches!(out[0], Frame::Ping));
        assert!(matches!(&out[1], Frame::Message(m) if m.body() == b"hello"));
        assert!(matches!(&out[2], Frame::Message(m) if &m.as_bytes()[..] == OPTIONS));
        assert!(matches!(out[3], Frame::Pong));
        assert_eq!(out.len(), 4);
        let out = frames(&[&all]);
        assert_eq!(out.len(), 4);
        let mut f = StreamFramer::new(ParseLimits::default());
        f.push(b"\r\n").unwrap();
        assert!(f.next_frame().unwrap().is_none(), "may be half a ping");
        f.push(b"\r\n").unwrap();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Ping)));
        let mut f = StreamFramer::new(ParseLimits::default()).expect_pongs();
        f.push(b"\r\n").unwrap();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Pong)));
    }

    #[test]
    fn missing_length_and_oversize_are_errors() {
        let mut f = StreamFramer::new(ParseLimits::default());
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
            .unwrap();
        assert_eq!(
            f.next_frame().unwrap_err().kind,
            ParseError::MissingContentLength
        );

        let limits = ParseLimits {
            max_message_size: 64,
            ..ParseLimits::default()
        };
        let mut f = StreamFramer::new(limits);
        f.push(&[b'A'; 100]).unwrap();
        assert!(matches!(
            f.next_frame().unwrap_err().kind,
            ParseError::TooLarge(64)
        ));
        let mut f = StreamFramer::new(limits);
        assert!(f.push(&[b'A'; 200]).is_err());
    }

    #[test]
    fn waits_for_the_body() {
        let mut f = StreamFramer::new(ParseLimits::default());
        f.push(&OPTIONS[..OPTIONS.len() - 2]).unwrap();
        assert!(f.next_frame().unwrap().is_none());
        f.push(&OPTIONS[OPTIONS.len() - 2..]).unwrap();
        assert!(matches!(f.next_frame().unwrap(), Some(Frame::Message(_))));
        assert_eq!(f.buffered(), 0);
    }
}
