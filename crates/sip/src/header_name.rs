//! Header field names, with RFC 3261 §7.3.3 compact forms folded into their long forms.

/// The headers the core gives typed access to. Anything else is [`HeaderName::Other`] and
/// is kept byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    ContentLength,
    ContentType,
    ContentEncoding,
    Route,
    RecordRoute,
    Path,
    Expires,
    WwwAuthenticate,
    ProxyAuthenticate,
    Authorization,
    ProxyAuthorization,
    UserAgent,
    Server,
    Supported,
    Unsupported,
    Require,
    ProxyRequire,
    Allow,
    AllowEvents,
    Accept,
    Event,
    ReferTo,
    ReferredBy,
    SessionExpires,
    MinSe,
    MinExpires,
    Subject,
    Timestamp,
    RSeq,
    RAck,
    RetryAfter,
    Date,
    /// An unknown header; its name is read from the message.
    Other,
}

/// (lower-case long form, compact form, canonical spelling, variant)
const TABLE: &[(&str, Option<u8>, &str, HeaderName)] = &[
    ("via", Some(b'v'), "Via", HeaderName::Via),
    ("from", Some(b'f'), "From", HeaderName::From),
    ("to", Some(b't'), "To", HeaderName::To),
    ("call-id", Some(b'i'), "Call-ID", HeaderName::CallId),
    ("cseq", None, "CSeq", HeaderName::CSeq),
    ("contact", Some(b'm'), "Contact", HeaderName::Contact),
    (
        "max-forwards",
        None,
        "Max-Forwards",
        HeaderName::MaxForwards,
    ),
    (
        "content-length",
        Some(b'l'),
        "Content-Length",
        HeaderName::ContentLength,
    ),
    (
        "content-type",
        Some(b'c'),
        "Content-Type",
        HeaderName::ContentType,
    ),
    (
        "content-encoding",
        Some(b'e'),
        "Content-Encoding",
        HeaderName::ContentEncoding,
    ),
    ("route", None, "Route", HeaderName::Route),
    (
        "record-route",
        None,
        "Record-Route",
        HeaderName::RecordRoute,
    ),
    ("path", None, "Path", HeaderName::Path),
    ("expires", None, "Expires", HeaderName::Expires),
    (
        "www-authenticate",
        None,
        "WWW-Authenticate",
        HeaderName::WwwAuthenticate,
    ),
    (
        "proxy-authenticate",
        None,
        "Proxy-Authenticate",
        HeaderName::ProxyAuthenticate,
    ),
    (
        "authorization",
        None,
        "Authorization",
        HeaderName::Authorization,
    ),
    (
        "proxy-authorization",
        None,
        "Proxy-Authorization",
        HeaderName::ProxyAuthorization,
    ),
    ("user-agent", None, "User-Agent", HeaderName::UserAgent),
    ("server", None, "Server", HeaderName::Server),
    ("supported", Some(b'k'), "Supported", HeaderName::Supported),
    ("unsupported", None, "Unsupported", HeaderName::Unsupported),
    ("require", None, "Require", HeaderName::Require),
    (
        "proxy-require",
        None,
        "Proxy-Require",
        HeaderName::ProxyRequire,
    ),
    ("allow", None, "Allow", HeaderName::Allow),
    (
        "allow-events",
        Some(b'u'),
        "Allow-Events",
        HeaderName::AllowEvents,
    ),
    ("accept", None, "Accept", HeaderName::Accept),
    ("event", Some(b'o'), "Event", HeaderName::Event),
    ("refer-to", Some(b'r'), "Refer-To", HeaderName::ReferTo),
    (
        "referred-by",
        Some(b'b'),
        "Referred-By",
        HeaderName::ReferredBy,
    ),
    (
        "session-expires",
        Some(b'x'),
        "Session-Expires",
        HeaderName::SessionExpires,
    ),
    ("min-se", None, "Min-SE", HeaderName::MinSe),
    ("min-expires", None, "Min-Expires", HeaderName::MinExpires),
    ("subject", Some(b's'), "Subject", HeaderName::Subject),
    ("timestamp", None, "Timestamp", HeaderName::Timestamp),
    ("rseq", None, "RSeq", HeaderName::RSeq),
    ("rack", None, "RAck", HeaderName::RAck),
    ("retry-after", None, "Retry-After", HeaderName::RetryAfter),
    ("date", None, "Date", HeaderName::Date),
];

impl HeaderName {
    /// Classifies a header name as written in a message (case-insensitive, compact forms).
    pub fn from_bytes(name: &[u8]) -> Self {
        if let [c] = name {
            let c = c.to_ascii_lowercase();
            return TABLE
                .iter()
                .find(|e| e.1 == Some(c))
                .map_or(Self::Other, |e| e.3);
        }
        // Lengths differ for most entries, so the comparison is usually one length check.
        TABLE
            .iter()
            .find(|e| e.0.len() == name.len() && e.0.as_bytes().eq_ignore_ascii_case(name))
            .map_or(Self::Other, |e| e.3)
    }

    /// The canonical long form, used when Palisade writes a header.
    pub fn as_str(self) -> &'static str {
        TABLE.iter().find(|e| e.3 == self).map_or("", |e| e.2)
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn compact_and_case_insensitive() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"L"), HeaderName::ContentLength);
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"q"), HeaderName::Other);
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
    }
}
