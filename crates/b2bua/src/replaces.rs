//! The Replaces header (RFC 3891) and the `?Replaces=` header of a Refer-To URI, which
//! name a dialog by Call-ID and tags: attended transfer. Each side of Palisade knows a
//! dialog by its own Call-ID and tags, so a value that crosses is translated to the other
//! leg of the same call, or dropped when it names no dialog Palisade holds (it would
//! otherwise carry the other side's identifiers across).

use palisade_sip::headers::CallIdParams;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// A dialog as a Replaces value names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DialogRef {
    pub(crate) call_id: String,
    pub(crate) to_tag: String,
    pub(crate) from_tag: String,
    pub(crate) early_only: bool,
}

impl DialogRef {
    /// Reads `callid;to-tag=..;from-tag=..[;early-only]`; both tags are required.
    pub(crate) fn parse(value: &str) -> Option<DialogRef> {
        let v = CallIdParams::parse(value.as_bytes()).ok()?;
        let tag = |name| {
            v.params
                .get(name)
                .flatten()
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        Some(DialogRef {
            call_id: v.call_id.to_owned(),
            to_tag: tag("to-tag")?,
            from_tag: tag("from-tag")?,
            early_only: v.params.get("early-only").is_some(),
        })
    }

    /// The header value.
    pub(crate) fn to_value(&self) -> String {
        let mut s = format!(
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        );
        if self.early_only {
            s.push_str(";early-only");
        }
        s
    }
}

/// What must be escaped in a URI header value (RFC 3261 `hvalue`: unreserved and
/// `[ ] / ? : + $` pass; `;`, `=`, `@`, `&`, `%` and the rest are escaped).
const HVALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'@')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b',');

/// The `Replaces` URI header among `headers` (the text after `?`), unescaped.
pub(crate) fn from_uri_headers(headers: &str) -> Option<String> {
    headers.split('&').find_map(|h| {
        let (name, value) = h.split_once('=')?;
        name.eq_ignore_ascii_case("Replaces")
            .then(|| percent_decode_str(value).decode_utf8().ok())
            .flatten()
            .map(|v| v.into_owned())
    })
}

/// `?Replaces=` with `value` escaped, to append to a URI.
pub(crate) fn uri_header(value: &str) -> String {
    format!("?Replaces={}", utf8_percent_encode(value, HVALUE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_a_value() {
        let r = DialogRef::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472").unwrap();
        assert_eq!(r.call_id, "425928@bobster.example.org");
        assert_eq!((r.to_tag.as_str(), r.from_tag.as_str()), ("7743", "6472"));
        assert!(!r.early_only);
        let early = DialogRef::parse("a; from-tag=1 ;TO-TAG=2;early-only").unwrap();
        assert_eq!(early.to_value(), "a;to-tag=2;from-tag=1;early-only");
        for bad in [
            "",
            ";to-tag=1;from-tag=2",
            "a;to-tag=1",
            "a;to-tag=;from-tag=2",
        ] {
            assert_eq!(DialogRef::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn uri_headers_round_trip() {
        // RFC 3891 §7.1's example, as a Refer-To carries it.
        let headers = "Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994";
        let v = from_uri_headers(&format!("X=1&{headers}")).unwrap();
        assert_eq!(v, "12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994");
        assert_eq!(uri_header(&v), format!("?{headers}"));
        assert_eq!(from_uri_headers("Other=1"), None);
    }
}
