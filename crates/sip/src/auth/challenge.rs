//! `WWW-Authenticate` and `Proxy-Authenticate` header values.

use std::fmt;

use super::syntax::{self, ParamWriter, Parsed};
use super::{Algorithm, AuthError, AuthParam, Limits, OtherScheme, QopOptions};

/// A parsed challenge header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// A Digest challenge.
    Digest(DigestChallenge),
    /// Any other scheme, kept verbatim so it can be relayed or ignored.
    Other(OtherScheme),
}

impl Challenge {
    /// Parses a raw header value with [`Limits::DEFAULT`].
    pub fn parse(value: &[u8]) -> Result<Self, AuthError> {
        Self::parse_with_limits(value, &Limits::DEFAULT)
    }

    /// Parses a raw header value, which may still contain line folding.
    pub fn parse_with_limits(value: &[u8], limits: &Limits) -> Result<Self, AuthError> {
        match syntax::parse_header(value, limits)? {
            Parsed::Digest(params) => DigestChallenge::from_params(params).map(Self::Digest),
            Parsed::Other(other) => Ok(Self::Other(other)),
        }
    }

    /// The Digest challenge, if this is one.
    pub fn as_digest(&self) -> Option<&DigestChallenge> {
        match self {
            Self::Digest(digest) => Some(digest),
            Self::Other(_) => None,
        }
    }
}

impl fmt::Display for Challenge {
    /// Writes the header value, without the header name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Digest(digest) => fmt::Display::fmt(digest, f),
            Self::Other(other) => fmt::Display::fmt(other, f),
        }
    }
}

/// A Digest challenge (RFC 2617 §3.2.1, RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    /// Protection space; also part of A1, so it must match the credentials database.
    pub realm: String,
    /// Space separated URIs sharing the protection space.
    pub domain: Option<String>,
    /// Server nonce.
    pub nonce: String,
    /// Opaque server state the client must echo back unchanged.
    pub opaque: Option<String>,
    /// The previous request used a stale nonce but the right password, so the client may retry
    /// without prompting the user.
    pub stale: bool,
    /// `None` when the parameter was absent, which means MD5; kept distinct so that a relayed
    /// challenge is not changed.
    pub algorithm: Option<Algorithm>,
    /// Offered qualities of protection; empty for an RFC 2069 style challenge.
    pub qop: QopOptions,
    /// The server accepts a hashed username (RFC 7616 §3.4.4).
    pub userhash: bool,
    /// Parameters without a dedicated field (`charset`, extensions), in order.
    pub extra: Vec<AuthParam>,
}

impl DigestChallenge {
    /// A minimal challenge: MD5 implied, no qop, no opaque.
    pub fn new(realm: impl Into<String>, nonce: impl Into<String>) -> Self {
        Self {
            realm: realm.into(),
            domain: None,
            nonce: nonce.into(),
            opaque: None,
            stale: false,
            algorithm: None,
            qop: QopOptions::NONE,
            userhash: false,
            extra: Vec::new(),
        }
    }

    /// The algorithm to compute with: the one named, or MD5 when none is (RFC 2617 §3.2.1).
    pub fn effective_algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }

    fn from_params(params: Vec<AuthParam>) -> Result<Self, AuthError> {
        let mut realm = None;
        let mut domain = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut stale = None;
        let mut algorithm = None;
        let mut qop = None;
        let mut userhash = None;
        let mut extra = Vec::new();
        for param in params {
            let value = param.value;
            match param.name.to_ascii_lowercase().as_str() {
                "realm" => syntax::set_once(&mut realm, value, "realm")?,
                "domain" => syntax::set_once(&mut domain, value, "domain")?,
                "nonce" => syntax::set_once(&mut nonce, value, "nonce")?,
                "opaque" => syntax::set_once(&mut opaque, value, "opaque")?,
                "stale" => {
                    let flag = syntax::parse_flag(&value, "stale")?;
                    syntax::set_once(&mut stale, flag, "stale")?;
                }
                "algorithm" => {
                    let parsed = syntax::parse_algorithm(value)?;
                    syntax::set_once(&mut algorithm, parsed, "algorithm")?;
                }
                "qop" => {
                    syntax::set_once(&mut qop, QopOptions::parse_list(&value), "qop")?;
                }
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
        Ok(Self {
            realm: realm.ok_or(AuthError::MissingParam("realm"))?,
            domain,
            nonce: nonce.ok_or(AuthError::MissingParam("nonce"))?,
            opaque,
            stale: stale.unwrap_or(false),
            algorithm,
            qop: qop.unwrap_or_default(),
            userhash: userhash.unwrap_or(false),
            extra,
        })
    }
}

impl fmt::Display for DigestChallenge {
    /// Writes the header value, quoting `realm`, `domain`, `nonce`, `opaque` and `qop` as
    /// RFC 2617 §3.2.1 requires.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = ParamWriter::new(f, "Digest")?;
        w.quoted("realm", &self.realm)?;
        if let Some(domain) = &self.domain {
            w.quoted("domain", domain)?;
        }
        w.quoted("nonce", &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            w.quoted("opaque", opaque)?;
        }
        if self.stale {
            w.token("stale", "TRUE")?;
        }
        if let Some(algorithm) = self.algorithm {
            w.token("algorithm", algorithm)?;
        }
        if !self.qop.is_empty() {
            w.quoted("qop", &self.qop.to_string())?;
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

    fn digest(input: &str) -> DigestChallenge {
        match Challenge::parse(input.as_bytes()).unwrap() {
            Challenge::Digest(digest) => digest,
            other => panic!("not digest: {other:?}"),
        }
    }

    #[test]
    fn parses_a_full_challenge() {
        let challenge = digest(
            "Digest realm=\"atlanta.com\", domain=\"sip:ss1.carrier.com\", \
             nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=FALSE, \
             algorithm=SHA-256, qop=\"auth,auth-int\", charset=UTF-8",
        );
        assert_eq!(challenge.realm, "atlanta.com");
        assert_eq!(challenge.domain.as_deref(), Some("sip:ss1.carrier.com"));
        assert_eq!(challenge.nonce, "f84f1cec41e6cbe5aea9c8e88d359");
        assert_eq!(challenge.opaque.as_deref(), Some(""));
        assert!(!challenge.stale);
        assert_eq!(challenge.algorithm, Some(Algorithm::Sha256));
        assert!(challenge.qop.auth && challenge.qop.auth_int);
        assert_eq!(
            challenge.extra,
            vec![AuthParam {
                name: "charset".into(),
                value: "UTF-8".into()
            }]
        );
    }

    #[test]
    fn names_are_case_insensitive_and_defaults_apply() {
        let challenge = digest("dIgEsT REALM=r, Nonce=\"n\", STALE=true");
        assert_eq!(challenge.realm, "r");
        assert!(challenge.stale);
        assert_eq!(challenge.algorithm, None);
        assert_eq!(challenge.effective_algorithm(), Algorithm::Md5);
        assert!(challenge.qop.is_empty());
    }

    #[test]
    fn rejects_incomplete_or_contradictory_challenges() {
        let parse = |s: &str| Challenge::parse(s.as_bytes());
        assert_eq!(
            parse("Digest nonce=n"),
            Err(AuthError::MissingParam("realm"))
        );
        assert_eq!(
            parse("Digest realm=r"),
            Err(AuthError::MissingParam("nonce"))
        );
        assert_eq!(
            parse("Digest realm=r, nonce=a, Nonce=b"),
            Err(AuthError::DuplicateParam("nonce"))
        );
        assert_eq!(
            parse("Digest realm=r, nonce=n, algorithm=SHA-1"),
            Err(AuthError::UnsupportedAlgorithm("SHA-1".into()))
        );
        assert_eq!(
            parse("Digest realm=r, nonce=n, stale=maybe"),
            Err(AuthError::InvalidParam("stale"))
        );
    }

    #[test]
    fn serializes_with_rfc_quoting() {
        let mut challenge = DigestChallenge::new("biloxi.com", "a\"b");
        challenge.opaque = Some("o".into());
        challenge.stale = true;
        challenge.algorithm = Some(Algorithm::Sha256Sess);
        challenge.qop = QopOptions::AUTH;
        assert_eq!(
            challenge.to_string(),
            "Digest realm=\"biloxi.com\", nonce=\"a\\\"b\", opaque=\"o\", stale=TRUE, \
             algorithm=SHA-256-sess, qop=\"auth\""
        );
    }

    #[test]
    fn round_trips() {
        let input = "Digest realm=\"we \\\"quote\\\"\", domain=\"sip:a sip:b\", nonce=abc/def=, \
                     opaque=\"x\", stale=true, algorithm=md5-sess, qop=\"auth-int\", \
                     userhash=TRUE, Ext=\"two words\", ext2=tok";
        let first = Challenge::parse(input.as_bytes()).unwrap();
        let text = first.to_string();
        assert_eq!(Challenge::parse(text.as_bytes()).unwrap(), first);
    }

    #[test]
    fn other_scheme_is_not_an_error() {
        let challenge = Challenge::parse(b"Basic realm=\"WallyWorld\"").unwrap();
        let Challenge::Other(other) = &challenge else {
            panic!("expected another scheme");
        };
        assert_eq!(other.name(), "Basic");
        assert!(challenge.as_digest().is_none());
        assert_eq!(challenge.to_string(), "Basic realm=\"WallyWorld\"");
    }
}
