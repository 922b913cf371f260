//! `Authorization` and `Proxy-Authorization` header values.

use std::fmt;

use super::syntax::{self, ParamWriter, Parsed};
use super::{Algorithm, AuthError, AuthParam, Limits, OtherScheme, Qop};

/// A parsed credentials header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Digest credentials.
    Digest(DigestCredentials),
    /// Any other scheme, kept verbatim so it can be relayed or rejected.
    Other(OtherScheme),
}

impl Credentials {
    /// Parses a raw header value with [`Limits::DEFAULT`].
    pub fn parse(value: &[u8]) -> Result<Self, AuthError> {
        Self::parse_with_limits(value, &Limits::DEFAULT)
    }

    /// Parses a raw header value, which may still contain line folding.
    pub fn parse_with_limits(value: &[u8], limits: &Limits) -> Result<Self, AuthError> {
        match syntax::parse_header(value, limits)? {
            Parsed::Digest(params) => DigestCredentials::from_params(params).map(Self::Digest),
            Parsed::Other(other) => Ok(Self::Other(other)),
        }
    }

    /// The Digest credentials, if these are.
    pub fn as_digest(&self) -> Option<&DigestCredentials> {
        match self {
            Self::Digest(digest) => Some(digest),
            Self::Other(_) => None,
        }
    }
}

impl fmt::Display for Credentials {
    /// Writes the header value, without the header name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Digest(digest) => fmt::Display::fmt(digest, f),
            Self::Other(other) => fmt::Display::fmt(other, f),
        }
    }
}

/// Digest credentials (RFC 2617 §3.2.2, RFC 7616 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    /// The username, or its hash when [`userhash`](Self::userhash) is set.
    pub username: String,
    /// Protection space the client answered.
    pub realm: String,
    /// Server nonce being answered.
    pub nonce: String,
    /// The `digest-uri`; SIP uses the Request-URI.
    pub uri: String,
    /// Hex-encoded request digest.
    pub response: String,
    /// `None` when absent, which means MD5.
    pub algorithm: Option<Algorithm>,
    /// Client nonce; required with a qop and with `-sess` algorithms.
    pub cnonce: Option<String>,
    /// Echo of the challenge's opaque value.
    pub opaque: Option<String>,
    /// Chosen quality of protection; `None` for an RFC 2069 style response.
    pub qop: Option<Qop>,
    /// Nonce count, sent as eight hex digits; required with a qop.
    pub nc: Option<u32>,
    /// [`username`](Self::username) is `H(username:realm)` (RFC 7616 §3.4.4).
    pub userhash: bool,
    /// Parameters without a dedicated field, in order.
    pub extra: Vec<AuthParam>,
}

impl DigestCredentials {
    /// The algorithm to compute with: the one named, or MD5 when none is.
    pub fn effective_algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }

    fn from_params(params: Vec<AuthParam>) -> Result<Self, AuthError> {
        let mut username = None;
        let mut realm = None;
        let mut nonce = None;
        let mut uri = None;
        let mut response = None;
        let mut algorithm = None;
        let mut cnonce = None;
        let mut opaque = None;
        let mut qop = None;
        let mut nc = None;
        let mut userhash = None;
        let mut extra = Vec::new();
        for param in params {
            let value = param.value;
            match param.name.to_ascii_lowercase().as_str() {
                "username" => syntax::set_once(&mut username, value, "username")?,
                "realm" => syntax::set_once(&mut realm, value, "realm")?,
                "nonce" => syntax::set_once(&mut nonce, value, "nonce")?,
                "uri" => syntax::set_once(&mut uri, value, "uri")?,
                "response" => syntax::set_once(&mut response, value, "response")?,
                "cnonce" => syntax::set_once(&mut cnonce, value, "cnonce")?,
                "opaque" => syntax::set_once(&mut opaque, value, "opaque")?,
                "algorithm" => {
                    let parsed = syntax::parse_algorithm(value)?;
                    syntax::set_once(&mut algorithm, parsed, "algorithm")?;
                }
                "qop" => {
                    let parsed = Qop::from_name(&value).ok_or(AuthError::UnsupportedQop(value))?;
                    syntax::set_once(&mut qop, parsed, "qop")?;
                }
                "nc" => syntax::set_once(&mut nc, parse_nc(&value)?, "nc")?,
                "userhash" => {
                    let flag = syntax::parse_flag(&value, "userhash")?;
                    syntax::set_once(&mut userhash, flag, "userhash")?;
                }
                _ => extra.push(AuthParam {
                    name: param.name,
                    value,
                }),
            }
        }
        // RFC 2617 §3.2.2: cnonce and nc MUST accompany a qop; without them the response
        // cannot be checked, so the credentials are malformed rather than merely wrong.
        if qop.is_some() {
            if cnonce.is_none() {
                return Err(AuthError::MissingParam("cnonce"));
            }
            if nc.is_none() {
                return Err(AuthError::MissingParam("nc"));
            }
        }
        Ok(Self {
            username: username.ok_or(AuthError::MissingParam("username"))?,
            realm: realm.ok_or(AuthError::MissingParam("realm"))?,
            nonce: nonce.ok_or(AuthError::MissingParam("nonce"))?,
            uri: uri.ok_or(AuthError::MissingParam("uri"))?,
            response: response.ok_or(AuthError::MissingParam("response"))?,
            algorithm,
            cnonce,
            opaque,
            qop,
            nc,
            userhash: userhash.unwrap_or(false),
            extra,
        })
    }
}

/// Parses `nc-value = 8LHEX`.
///
/// Exactly eight digits are required; checking them up front also keeps `from_str_radix` from
/// accepting a leading `+`. Upper-case digits are tolerated although the RFC asks for lower case.
fn parse_nc(value: &str) -> Result<u32, AuthError> {
    if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::InvalidParam("nc"));
    }
    u32::from_str_radix(value, 16).map_err(|_| AuthError::InvalidParam("nc"))
}

/// Formats a nonce count the way it is both sent and hashed.
pub(super) fn format_nc(nc: u32) -> String {
    format!("{nc:08x}")
}

impl fmt::Display for DigestCredentials {
    /// Writes the header value, quoting `username`, `realm`, `nonce`, `uri`, `response`,
    /// `cnonce` and `opaque` and leaving `algorithm`, `qop` and `nc` as tokens
    /// (RFC 2617 §3.2.2). Some servers reject a quoted `qop`, so the distinction matters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = ParamWriter::new(f, "Digest")?;
        w.quoted("username", &self.username)?;
        w.quoted("realm", &self.realm)?;
        w.quoted("nonce", &self.nonce)?;
        w.quoted("uri", &self.uri)?;
        w.quoted("response", &self.response)?;
        if let Some(algorithm) = self.algorithm {
            w.token("algorithm", algorithm)?;
        }
        if let Some(cnonce) = &self.cnonce {
            w.quoted("cnonce", cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            w.quoted("opaque", opaque)?;
        }
        if let Some(qop) = self.qop {
            w.token("qop", qop)?;
        }
        if let Some(nc) = self.nc {
            w.token("nc", format_nc(nc))?;
        }
        if self.userhash {
            w.token("userhash", "true")?;
        }
        self.extra.iter().try_for_each(|param| w.extra(param))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC2617: &str = "Digest username=\"Mufasa\",
                 realm=\"testrealm@host.com\",
                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",
                 uri=\"/dir/index.html\",
                 qop=auth,
                 nc=00000001,
                 cnonce=\"0a4f113b\",
                 response=\"6629fae49393a05397450978507c4ef1\",
                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

    fn digest(input: &str) -> DigestCredentials {
        match Credentials::parse(input.as_bytes()).unwrap() {
            Credentials::Digest(digest) => digest,
            other => panic!("not digest: {other:?}"),
        }
    }

    #[test]
    fn parses_rfc2617_credentials() {
        let creds = digest(&RFC2617.replace('\n', "\r\n"));
        assert_eq!(creds.username, "Mufasa");
        assert_eq!(creds.realm, "testrealm@host.com");
        assert_eq!(creds.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
        assert_eq!(creds.uri, "/dir/index.html");
        assert_eq!(creds.qop, Some(Qop::Auth));
        assert_eq!(creds.nc, Some(1));
        assert_eq!(creds.cnonce.as_deref(), Some("0a4f113b"));
        assert_eq!(creds.response, "6629fae49393a05397450978507c4ef1");
        assert_eq!(
            creds.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert_eq!(creds.algorithm, None);
        assert!(!creds.userhash);
    }

    #[test]
    fn serializes_tokens_unquoted() {
        let creds = digest(RFC2617);
        assert_eq!(
            creds.to_string(),
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             response=\"6629fae49393a05397450978507c4ef1\", cnonce=\"0a4f113b\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001"
        );
    }

    #[test]
    fn round_trips() {
        let input = "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"n\", \
                     uri=\"sip:bob@biloxi.com\", response=\"abc\", algorithm=\"sha-256-SESS\", \
                     cnonce=c, qop=\"auth-int\", nc=0000FFFF, userhash=false, x=\"y,z\"";
        let first = Credentials::parse(input.as_bytes()).unwrap();
        assert_eq!(first.as_digest().and_then(|d| d.nc), Some(0xffff));
        let text = first.to_string();
        assert_eq!(Credentials::parse(text.as_bytes()).unwrap(), first);
    }

    #[test]
    fn nc_must_be_eight_hex_digits() {
        assert_eq!(parse_nc("0000000a"), Ok(10));
        assert_eq!(parse_nc("FFFFFFFF"), Ok(u32::MAX));
        for bad in ["1", "000000001", "+0000001", "0000000g", ""] {
            assert_eq!(parse_nc(bad), Err(AuthError::InvalidParam("nc")), "{bad}");
        }
    }

    #[test]
    fn rejects_incomplete_credentials() {
        let parse = |s: &str| Credentials::parse(s.as_bytes()).map(|_| ());
        let base = "Digest username=u, realm=r, nonce=n, uri=sip:x, response=0";
        assert_eq!(parse(base), Ok(()));
        assert_eq!(
            parse(&format!("{base}, qop=auth, nc=00000001")),
            Err(AuthError::MissingParam("cnonce"))
        );
        assert_eq!(
            parse(&format!("{base}, qop=auth, cnonce=c")),
            Err(AuthError::MissingParam("nc"))
        );
        assert_eq!(
            parse(&format!("{base}, qop=auth-conf")),
            Err(AuthError::UnsupportedQop("auth-conf".into()))
        );
        assert_eq!(
            parse("Digest realm=r, nonce=n, uri=sip:x, response=0"),
            Err(AuthError::MissingParam("username"))
        );
    }

    #[test]
    fn rfc4475_regaut01_unknown_scheme() {
        for value in [
            "NoOneKnowsThisScheme opaque-data=here",
            "NoOneKnowsThisScheme token=line, nonce=SerQ/hgdtmCFIdASpZzeuGhe6ErRP/42ra9i0/DGmPS5",
        ] {
            let creds = Credentials::parse(value.as_bytes()).unwrap();
            let Credentials::Other(other) = &creds else {
                panic!("expected another scheme");
            };
            assert_eq!(other.name(), "NoOneKnowsThisScheme");
            assert_eq!(creds.to_string(), value);
        }
        let creds = Credentials::parse(
            b"NoOneKnowsThisScheme token=line,\r\n nonce=SerQ/hgdtmCFIdASpZzeuGhe6ErRP/42ra9i0/DGmPS5",
        )
        .unwrap();
        let Credentials::Other(other) = creds else {
            panic!("expected another scheme");
        };
        let params = other.params().unwrap();
        assert_eq!(params.len(), 2);
        assert_eq!(params[0].name, "token");
        assert_eq!(params[0].value, "line");
        assert_eq!(params[1].name, "nonce");
        assert_eq!(
            params[1].value,
            "SerQ/hgdtmCFIdASpZzeuGhe6ErRP/42ra9i0/DGmPS5"
        );
    }
}
