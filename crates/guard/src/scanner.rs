//! Fingerprints of SIP scanners: what their requests say about themselves, and the
//! shape of the identifiers they generate (which clones keep when they change the
//! User-Agent).

use palisade_sip::{HeaderName, Message};

/// Names scanners put in User-Agent or From, lower case.
const NAMES: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "pplsip",
    "sundayddr",
    "iwar",
    "sip-scan",
    "siparmyknife",
    "sipptk",
    "voipsec",
];

/// Why a request looks like a scanner's, or `None`.
pub(crate) fn fingerprint(msg: &Message) -> Option<&'static str> {
    for name in [HeaderName::UserAgent, HeaderName::From] {
        if let Some(v) = msg.header(name)
            && contains_name(v)
        {
            return Some(if name == HeaderName::UserAgent {
                "scanner user agent"
            } else {
                "scanner name in From"
            });
        }
    }
    if let Ok(from) = msg.from()
        && from.tag().is_some_and(sipvicious_tag)
    {
        return Some("sipvicious tag");
    }
    if msg.call_id().is_ok_and(all_digits)
        && msg
            .via()
            .ok()
            .and_then(|v| v.params.get("branch").flatten())
            .is_some_and(|b| b.strip_prefix("z9hG4bK-").is_some_and(all_digits))
    {
        return Some("sipvicious branch and Call-ID");
    }
    None
}

fn contains_name(value: &[u8]) -> bool {
    NAMES.iter().any(|n| {
        value
            .windows(n.len())
            .any(|w| w.eq_ignore_ascii_case(n.as_bytes()))
    })
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// sipvicious's `createTag`: the hex encoding of `DATA \x01 DIGITS`, where DATA is the
/// extension or user:password being tried.
fn sipvicious_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    if b.len() < 6 || !b.len().is_multiple_of(2) || !b.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    let decoded: Vec<u8> = b
        .chunks_exact(2)
        .filter_map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect();
    let Some(sep) = decoded.iter().position(|&c| c == 1) else {
        return false;
    };
    let (data, digits) = (&decoded[..sep], &decoded[sep + 1..]);
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && data.iter().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        // createTag("100") with random 1234567.
        let tag: String = b"100\x011234567"
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(sipvicious_tag(&tag));
        assert!(!sipvicious_tag("a6f3b2c19d"));
        assert!(!sipvicious_tag("1234abcd"));
        assert!(!sipvicious_tag("as9d8f7"));
    }
}
