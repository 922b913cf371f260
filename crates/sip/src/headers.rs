//! Typed views of the header values an SBC reads. Each parser takes one header value (or one
//! element of a comma-separated list) and borrows from it.

use crate::method::Method;
use crate::scan::{ListSplit, Scanner, is_lws, is_token, is_word, parse_u32, trim_lws};
use crate::uri::{Host, MAX_URI_PARAMS, Params, Uri, parse_v6, validate_params};

/// Why a header value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("malformed value")]
    Syntax,
    #[error("number out of range")]
    Overflow,
    #[error("malformed URI: {0}")]
    Uri(#[from] crate::uri::UriError),
}

fn utf8(b: &[u8]) -> Result<&str, ValueError> {
    std::str::from_utf8(b).map_err(|_| ValueError::Syntax)
}

/// Parses the parameters that follow a value, requiring the whole rest to be parameters.
fn trailing_params(rest: &[u8]) -> Result<Params<'_>, ValueError> {
    if validate_params(rest, MAX_URI_PARAMS) {
        Ok(Params::new(rest))
    } else {
        Err(ValueError::Syntax)
    }
}

/// One Via value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    pub protocol: &'a str,
    pub version: &'a str,
    pub transport: &'a str,
    /// The sent-by host as written (IPv6 with brackets).
    pub host_text: &'a str,
    pub host: Host<'a>,
    pub port: Option<u16>,
    pub params: Params<'a>,
}

/// The RFC 3261 branch prefix that promises a globally unique branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

impl<'a> Via<'a> {
    /// Parses one Via element (not a comma-separated list).
    pub fn parse(value: &'a [u8]) -> Result<Self, ValueError> {
        let mut s = Scanner::new(value);
        let protocol = s.token().ok_or(ValueError::Syntax)?;
        if !s.eat(b'/') {
            return Err(ValueError::Syntax);
        }
        let version = s.token().ok_or(ValueError::Syntax)?;
        if !s.eat(b'/') {
            return Err(ValueError::Syntax);
        }
        let transport = s.token().ok_or(ValueError::Syntax)?;
        if !s.skip_lws() {
            return Err(ValueError::Syntax);
        }
        let host_bytes = if s.peek() == Some(b'[') {
            let rest = s.rest();
            let end = memchr::memchr(b']', rest).ok_or(ValueError::Syntax)? + 1;
            for _ in 0..end {
                s.bump();
            }
            &rest[..end]
        } else {
            s.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
        };
        let host_text = utf8(host_bytes)?;
        let host = Host::parse(host_text)?;
        let port = if s.eat(b':') {
            s.skip_lws();
            let digits = s.take_while(|c| c.is_ascii_digit());
            let p = parse_u32(digits).ok_or(ValueError::Overflow)?;
            Some(u16::try_from(p).map_err(|_| ValueError::Overflow)?)
        } else {
            None
        };
        let params = trailing_params(s.rest())?;
        Ok(Self {
            protocol: utf8(protocol)?,
            version: utf8(version)?,
            transport: utf8(transport)?,
            host_text,
            host,
            port,
            params,
        })
    }

    /// The branch parameter, if any.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }

    /// True when the branch carries the RFC 3261 magic cookie and something after it
    /// (RFC 4475 §3.2.1: a bare `z9hG4bK` identifies nothing).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }

    /// The `received` parameter as an address (brackets optional, RFC 5118 §4.5).
    pub fn received(&self) -> Option<std::net::IpAddr> {
        let v = self.params.get("received")??;
        let v = v.trim_start_matches('[').trim_end_matches(']');
        v.parse::<std::net::Ipv4Addr>()
            .ok()
            .map(Into::into)
            .or_else(|| parse_v6(v.as_bytes()).map(Into::into))
    }

    /// `rport`: `None` when absent, `Some(None)` when requested without a value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }
}

/// A display name, URI and parameters: From, To, Contact, Route, Record-Route, Path,
/// Refer-To, Referred-By.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written: quoted (with its quotes) or a run of tokens.
    pub display: Option<&'a str>,
    pub uri: Uri<'a>,
    /// Whether the URI was enclosed in `<>`.
    pub angle: bool,
    /// Header parameters after the URI (`tag`, `expires`, `q` ...).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses `name-addr` or `addr-spec`, then header parameters.
    pub fn parse(value: &'a [u8]) -> Result<Self, ValueError> {
        let mut s = Scanner::new(value);
        s.skip_lws();
        let display = if s.peek() == Some(b'"') {
            let q = s.quoted_string().ok_or(ValueError::Syntax)?;
            s.skip_lws();
            if s.peek() != Some(b'<') {
                return Err(ValueError::Syntax);
            }
            Some(utf8(q)?)
        } else {
            // A run of tokens and white space ending at '<' is a display name; anything
            // else is an addr-spec, whose parameters may hold a quoted '<'.
            let rest = s.rest();
            let run = rest
                .iter()
                .take_while(|&&c| is_token(c) || is_lws(c))
                .count();
            if rest.get(run) == Some(&b'<') {
                let dn = trim_lws(&rest[..run]);
                for _ in 0..run {
                    s.bump();
                }
                (!dn.is_empty()).then(|| utf8(dn)).transpose()?
            } else {
                None
            }
        };
        if s.peek() == Some(b'<') {
            s.bump();
            let rest = s.rest();
            let gt = memchr::memchr(b'>', rest).ok_or(ValueError::Syntax)?;
            let uri = Uri::parse(utf8(&rest[..gt])?)?;
            let params = trailing_params(&rest[gt + 1..])?;
            return Ok(Self {
                display,
                uri,
                angle: true,
                params,
            });
        }
        // addr-spec: the URI ends at the first ';' (which starts header parameters) or white
        // space; a URI with '?' or ',' must have been enclosed in <> (RFC 3261 §20).
        let rest = s.rest();
        let end = rest
            .iter()
            .position(|&c| c == b';' || is_lws(c))
            .unwrap_or(rest.len());
        let uri_bytes = &rest[..end];
        if uri_bytes.contains(&b'?') || uri_bytes.contains(&b',') {
            return Err(ValueError::Syntax);
        }
        let uri = Uri::parse(utf8(uri_bytes)?)?;
        let params = trailing_params(&rest[end..])?;
        Ok(Self {
            display: None,
            uri,
            angle: false,
            params,
        })
    }

    /// The `tag` parameter (From, To).
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }
}

/// A Contact header value: `*` or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactValue<'a> {
    /// `Contact: *`, which only a REGISTER removing all bindings may carry.
    Star,
    Address(NameAddr<'a>),
}

impl<'a> ContactValue<'a> {
    /// Parses one Contact element.
    pub fn parse(value: &'a [u8]) -> Result<Self, ValueError> {
        if trim_lws(value) == b"*" {
            Ok(Self::Star)
        } else {
            NameAddr::parse(value).map(Self::Address)
        }
    }
}

/// CSeq: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`; a number beyond 2^32-1 is an error (RFC 3261 asks for
    /// less than 2^31; the extra range is tolerated, a wrap never is).
    pub fn parse(value: &[u8]) -> Result<Self, ValueError> {
        let mut s = Scanner::new(value);
        s.skip_lws();
        let digits = s.take_while(|c| c.is_ascii_digit());
        let seq = parse_u32(digits).ok_or(if digits.is_empty() {
            ValueError::Syntax
        } else {
            ValueError::Overflow
        })?;
        if !s.skip_lws() {
            return Err(ValueError::Syntax);
        }
        let m = s.token().ok_or(ValueError::Syntax)?;
        s.skip_lws();
        if !s.at_end() {
            return Err(ValueError::Syntax);
        }
        Ok(Self {
            seq,
            method: Method::from_bytes(m).ok_or(ValueError::Syntax)?,
        })
    }
}

/// Validates a Call-ID (`word ["@" word]`) and returns it trimmed.
pub fn parse_call_id(value: &[u8]) -> Result<&str, ValueError> {
    let v = trim_lws(value);
    let ok = !v.is_empty() && v.iter().all(|&c| is_word(c) || c == b'@');
    if ok { utf8(v) } else { Err(ValueError::Syntax) }
}

/// A header that is just a number (Max-Forwards, Expires, Content-Length, Min-Expires).
pub fn parse_number(value: &[u8]) -> Result<u32, ValueError> {
    let v = trim_lws(value);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(ValueError::Syntax);
    }
    parse_u32(v).ok_or(ValueError::Overflow)
}

/// A token followed by parameters: Event, Session-Expires (`1800;refresher=uac`),
/// Content-Type (`application/sdp;charset=x`, where the token includes the `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenParams<'a> {
    pub value: &'a str,
    pub params: Params<'a>,
}

impl<'a> TokenParams<'a> {
    pub fn parse(value: &'a [u8]) -> Result<Self, ValueError> {
        let mut s = Scanner::new(value);
        s.skip_lws();
        let start = s.pos();
        let first = s.token().ok_or(ValueError::Syntax)?;
        let mut end = start + first.len();
        if s.eat(b'/') {
            s.token().ok_or(ValueError::Syntax)?;
            end = s.pos();
        }
        let text = &s.input()[start..end];
        // Media types carry white space around '/' only when folded; keep them verbatim.
        Ok(Self {
            value: utf8(text)?,
            params: trailing_params(s.rest())?,
        })
    }

    /// The value as a number (Session-Expires).
    pub fn number(&self) -> Result<u32, ValueError> {
        parse_number(self.value.as_bytes())
    }
}

/// A Call-ID followed by parameters: the Replaces header (RFC 3891),
/// `call-id;to-tag=...;from-tag=...[;early-only]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallIdParams<'a> {
    pub call_id: &'a str,
    pub params: Params<'a>,
}

impl<'a> CallIdParams<'a> {
    pub fn parse(value: &'a [u8]) -> Result<Self, ValueError> {
        let v = trim_lws(value);
        let end = v.iter().position(|&c| c == b';').unwrap_or(v.len());
        Ok(Self {
            call_id: parse_call_id(&v[..end])?,
            params: trailing_params(&v[end..])?,
        })
    }
}

/// The tokens of a comma-separated list of option tags or methods (Supported, Require,
/// Proxy-Require, Unsupported, Allow).
pub fn tokens(value: &[u8]) -> impl Iterator<Item = Result<&str, ValueError>> {
    ListSplit::new(value).filter(|t| !t.is_empty()).map(|t| {
        if t.iter().all(|&c| is_token(c)) {
            utf8(t)
        } else {
            Err(ValueError::Syntax)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::UriKind;

    #[test]
    fn call_id_with_params() {
        let r =
            CallIdParams::parse(b" 425928@bobster.example.org;to-tag=7743;from-tag=6472").unwrap();
        assert_eq!(r.call_id, "425928@bobster.example.org");
        assert_eq!(r.params.get("to-tag"), Some(Some("7743")));
        assert_eq!(r.params.get("early-only"), None);
        assert!(CallIdParams::parse(b"a b;to-tag=1").is_err());
        assert!(CallIdParams::parse(b";to-tag=1").is_err());
    }

    #[test]
    fn via_with_folding_and_lws() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::V4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse(
            b"SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
        )
        .unwrap();
        assert_eq!(v.host_text, "spindle.example.com");
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn via_ipv6_received_and_rport() {
        let v = Via::parse(
            b"SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255;rport;branch=z9hG4bKas3",
        )
        .unwrap();
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.received(), Some("2001:db8::9:255".parse().unwrap()));
        assert_eq!(v.rport(), Some(None));
        let v = Via::parse(b"SIP/2.0/UDP 10.0.0.1;rport=5070;received=[2001:db8::9:255]").unwrap();
        assert_eq!(v.rport(), Some(Some(5070)));
        assert!(v.received().is_some());
        assert!(Via::parse(b"SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse(b"SIP/2.0/UDP host:99999").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(
            b"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(n.tag(), Some("98asjd8"));
        assert!(n.angle);
        let n = NameAddr::parse(b"\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
            .unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
        assert!(!n.angle);
        let n = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display, Some("caller"));
        let n = NameAddr::parse(b"isbn:2983792873").unwrap();
        assert!(matches!(n.uri.kind(), UriKind::Other { .. }));
        // RFC 4475 §3.1.2: unterminated quote, spaces in <>, unquoted comma, addr-spec with '?'.
        assert!(NameAddr::parse(b"\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse(b"\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse(b"Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(NameAddr::parse(b"sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse(b"\"Joe\" <sip:joe@example.org>;;;;").is_err());
        // A quoted parameter value may hold '<' after an addr-spec (found by proptest).
        let n = NameAddr::parse(br#"sip:alice@example.com;x="<""#).unwrap();
        assert!(!n.angle && n.display.is_none());
        assert_eq!(n.uri.as_str(), "sip:alice@example.com");
        assert_eq!(n.params.get("x"), Some(Some(r#""<""#)));
    }

    #[test]
    fn cseq_and_numbers() {
        let c = CSeq::parse(b"0009\r\n  INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert_eq!(
            CSeq::parse(b"36893488147419103232 REGISTER"),
            Err(ValueError::Overflow)
        );
        assert!(CSeq::parse(b"1INVITE").is_err());
        assert_eq!(parse_number(b" 0068"), Ok(68));
        assert_eq!(parse_number(b"-999"), Err(ValueError::Syntax));
    }

    #[test]
    fn token_params_and_lists() {
        let t = TokenParams::parse(b"1800;refresher=uac").unwrap();
        assert_eq!(t.number(), Ok(1800));
        assert_eq!(t.params.get("refresher"), Some(Some("uac")));
        let t = TokenParams::parse(b"application/sdp").unwrap();
        assert_eq!(t.value, "application/sdp");
        let v: Vec<_> = tokens(b"100rel, timer ,replaces")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(v, ["100rel", "timer", "replaces"]);
    }
}
