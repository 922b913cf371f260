//! Digest algorithms and qualities of protection.

use std::fmt;

/// A digest algorithm (RFC 7616 §3.3, RFC 8760 §2).
///
/// The `-sess` variants hash the nonce and cnonce into H(A1), which lets a server hand a
/// per-session key to a third party without revealing the long-lived H(A1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`, the default when a challenge names no algorithm.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256`.
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Self; 6] = [
        Self::Md5,
        Self::Md5Sess,
        Self::Sha256,
        Self::Sha256Sess,
        Self::Sha512_256,
        Self::Sha512_256Sess,
    ];

    /// The token used in the `algorithm` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Looks an algorithm up by its token, ignoring ASCII case because deployed peers disagree
    /// on the spelling (`MD5-sess`, `MD5-SESS`, `md5`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(name))
    }

    /// Whether this is a `-sess` variant.
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Self::Md5Sess | Self::Sha256Sess | Self::Sha512_256Sess
        )
    }

    /// Length of the hex-encoded digest, which is also the length of H(A1) and of `response`.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 | Self::Md5Sess => 32,
            _ => 64,
        }
    }

    /// Relative strength of the underlying hash, used to pick among several challenges.
    ///
    /// A `-sess` variant is exactly as strong as its base hash.
    pub(super) fn strength(self) -> u8 {
        match self {
            Self::Md5 | Self::Md5Sess => 0,
            Self::Sha256 | Self::Sha256Sess => 1,
            Self::Sha512_256 | Self::Sha512_256Sess => 2,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A quality of protection (RFC 2617 §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: authentication of the method and request URI.
    Auth,
    /// `auth-int`: additionally covers the message body.
    AuthInt,
}

impl Qop {
    /// The token used in the `qop` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }

    /// Looks a qop up by its token, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Auth, Self::AuthInt]
            .into_iter()
            .find(|qop| qop.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of qualities of protection a challenge offers.
///
/// An empty set means the challenge has no `qop` parameter, which asks for the RFC 2069
/// compatible response that omits `cnonce` and `nc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct QopOptions {
    /// `auth` is offered.
    pub auth: bool,
    /// `auth-int` is offered.
    pub auth_int: bool,
}

impl QopOptions {
    /// No `qop` parameter.
    pub const NONE: Self = Self {
        auth: false,
        auth_int: false,
    };
    /// `qop="auth"`, the usual choice for SIP.
    pub const AUTH: Self = Self {
        auth: true,
        auth_int: false,
    };

    /// Whether `qop` is offered.
    pub fn contains(self, qop: Qop) -> bool {
        match qop {
            Qop::Auth => self.auth,
            Qop::AuthInt => self.auth_int,
        }
    }

    /// Adds `qop` to the set.
    pub fn insert(&mut self, qop: Qop) {
        match qop {
            Qop::Auth => self.auth = true,
            Qop::AuthInt => self.auth_int = true,
        }
    }

    /// Whether nothing is offered.
    pub fn is_empty(self) -> bool {
        !self.auth && !self.auth_int
    }

    /// The qop a client should answer with.
    ///
    /// `auth` wins over `auth-int` when both are offered: any proxy or SBC on the path that
    /// rewrites SDP would invalidate an `auth-int` response, so integrity protection of the
    /// body is only used when the server insists on it.
    pub fn preferred(self) -> Option<Qop> {
        if self.auth {
            Some(Qop::Auth)
        } else if self.auth_int {
            Some(Qop::AuthInt)
        } else {
            None
        }
    }

    /// Builds the set from a `qop-options` list such as `auth,auth-int`.
    ///
    /// Unknown entries are ignored rather than rejected so that a server can advertise future
    /// options without locking out clients that do not understand them.
    pub(super) fn parse_list(list: &str) -> Self {
        let mut options = Self::NONE;
        list.split(',')
            .filter_map(|item| Qop::from_name(item.trim_matches([' ', '\t'])))
            .for_each(|qop| options.insert(qop));
        options
    }
}

impl fmt::Display for QopOptions {
    /// Writes the comma separated list, without quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.auth, self.auth_int) {
            (true, true) => f.write_str("auth,auth-int"),
            (true, false) => f.write_str("auth"),
            (false, true) => f.write_str("auth-int"),
            (false, false) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_case_insensitively() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(Algorithm::from_name(&alg.name().to_lowercase()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("SHA-1"), None);
    }

    #[test]
    fn qop_list_ignores_unknown_and_whitespace() {
        let options = QopOptions::parse_list(" auth-int ,\tfoo, AUTH");
        assert!(options.auth && options.auth_int);
        assert_eq!(options.to_string(), "auth,auth-int");
        assert_eq!(options.preferred(), Some(Qop::Auth));
        assert!(QopOptions::parse_list("auth-conf").is_empty());
    }
}
