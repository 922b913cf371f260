//! The one header edit the transport makes itself: the top Via's transport when a large
//! request moves from UDP to TCP (RFC 3261 §18.1.1).

use bytes::Bytes;
use palisade_sip::{Message, ParseLimits, Transport};

/// Whether the bytes look like a request rather than a response.
pub(crate) fn looks_like_request(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .unwrap_or(bytes.len());
    let rest = &bytes[start..];
    !rest.is_empty() && !rest.starts_with(b"SIP/")
}

/// The message with the transport of its top Via set to `token`, or `None` when it has no
/// top Via that can be read (the caller then sends the bytes as they are).
pub(crate) fn with_via_transport(bytes: &Bytes, token: &str) -> Option<Bytes> {
    let limits = ParseLimits {
        max_message_size: bytes.len().max(ParseLimits::default().max_message_size),
        max_headers: 1024,
        max_header_len: 65_535,
    };
    let msg = Message::parse(bytes.clone(), Transport::Datagram, &limits).ok()?;
    let mut editor = msg.edit();
    editor.set_via_transport(token).ok()?;
    Some(editor.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_top_via_transport() {
        let msg = Bytes::from_static(
            b"INVITE sip:b@example.com SIP/2.0\r\n\
Via: SIP / 2.0 / UDP 10.0.0.1:5060;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.2\r\n\
Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bK3\r\n\
Content-Length: 0\r\n\r\n",
        );
        let out = with_via_transport(&msg, "TCP").unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("Via: SIP / 2.0 / TCP 10.0.0.1:5060;branch=z9hG4bK1, SIP/2.0/UDP"));
        assert!(text.contains("Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bK3\r\n"));
        assert_eq!(out.len(), msg.len());
    }

    #[test]
    fn requests_and_responses() {
        assert!(looks_like_request(b"\r\nOPTIONS sip:a SIP/2.0\r\n"));
        assert!(!looks_like_request(b"SIP/2.0 200 OK\r\n"));
        assert!(!looks_like_request(b"\r\n"));
        assert!(with_via_transport(&Bytes::from_static(b"garbage"), "TCP").is_none());
    }
}
