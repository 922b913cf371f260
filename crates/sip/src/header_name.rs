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

impl HeaderName {
    /// Classifies a header name as written in a message (case-insensitive, compact forms).
    /// This runs for every header of every message, hence a match on the lower-cased
    /// name in a stack buffer rather than a table walk.
    pub fn from_bytes(name: &[u8]) -> Self {
        const LONGEST: usize = 19; // "proxy-authorization"
        if name.len() > LONGEST {
            return Self::Other;
        }
        let mut buf = [0u8; LONGEST];
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        match &buf[..name.len()] {
            b"via" | b"v" => Self::Via,
            b"from" | b"f" => Self::From,
            b"to" | b"t" => Self::To,
            b"call-id" | b"i" => Self::CallId,
            b"cseq" => Self::CSeq,
            b"contact" | b"m" => Self::Contact,
            b"max-forwards" => Self::MaxForwards,
            b"content-length" | b"l" => Self::ContentLength,
            b"content-type" | b"c" => Self::ContentType,
            b"content-encoding" | b"e" => Self::ContentEncoding,
            b"route" => Self::Route,
            b"record-route" => Self::RecordRoute,
            b"path" => Self::Path,
            b"expires" => Self::Expires,
            b"www-authenticate" => Self::WwwAuthenticate,
            b"proxy-authenticate" => Self::ProxyAuthenticate,
            b"authorization" => Self::Authorization,
            b"proxy-authorization" => Self::ProxyAuthorization,
            b"user-agent" => Self::UserAgent,
            b"server" => Self::Server,
            b"supported" | b"k" => Self::Supported,
            b"unsupported" => Self::Unsupported,
            b"require" => Self::Require,
            b"proxy-require" => Self::ProxyRequire,
            b"allow" => Self::Allow,
            b"allow-events" | b"u" => Self::AllowEvents,
            b"accept" => Self::Accept,
            b"event" | b"o" => Self::Event,
            b"refer-to" | b"r" => Self::ReferTo,
            b"referred-by" | b"b" => Self::ReferredBy,
            b"session-expires" | b"x" => Self::SessionExpires,
            b"min-se" => Self::MinSe,
            b"min-expires" => Self::MinExpires,
            b"subject" | b"s" => Self::Subject,
            b"timestamp" => Self::Timestamp,
            b"rseq" => Self::RSeq,
            b"rack" => Self::RAck,
            b"retry-after" => Self::RetryAfter,
            b"date" => Self::Date,
            _ => Self::Other,
        }
    }

    /// The canonical long form, used when Palisade writes a header (empty for `Other`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Via => "Via",
            Self::From => "From",
            Self::To => "To",
            Self::CallId => "Call-ID",
            Self::CSeq => "CSeq",
            Self::Contact => "Contact",
            Self::MaxForwards => "Max-Forwards",
            Self::ContentLength => "Content-Length",
            Self::ContentType => "Content-Type",
            Self::ContentEncoding => "Content-Encoding",
            Self::Route => "Route",
            Self::RecordRoute => "Record-Route",
            Self::Path => "Path",
            Self::Expires => "Expires",
            Self::WwwAuthenticate => "WWW-Authenticate",
            Self::ProxyAuthenticate => "Proxy-Authenticate",
            Self::Authorization => "Authorization",
            Self::ProxyAuthorization => "Proxy-Authorization",
            Self::UserAgent => "User-Agent",
            Self::Server => "Server",
            Self::Supported => "Supported",
            Self::Unsupported => "Unsupported",
            Self::Require => "Require",
            Self::ProxyRequire => "Proxy-Require",
            Self::Allow => "Allow",
            Self::AllowEvents => "Allow-Events",
            Self::Accept => "Accept",
            Self::Event => "Event",
            Self::ReferTo => "Refer-To",
            Self::ReferredBy => "Referred-By",
            Self::SessionExpires => "Session-Expires",
            Self::MinSe => "Min-SE",
            Self::MinExpires => "Min-Expires",
            Self::Subject => "Subject",
            Self::Timestamp => "Timestamp",
            Self::RSeq => "RSeq",
            Self::RAck => "RAck",
            Self::RetryAfter => "Retry-After",
            Self::Date => "Date",
            Self::Other => "",
        }
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
        assert_eq!(
            HeaderName::from_bytes(b"Proxy-Authorization"),
            HeaderName::ProxyAuthorization
        );
        assert_eq!(
            HeaderName::from_bytes(b"Proxy-Authorization-X"),
            HeaderName::Other
        );
    }
}
