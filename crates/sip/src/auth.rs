//! Digest authentication (RFC 2617, RFC 7616, RFC 8760).
//!
//! This module parses and serializes `WWW-Authenticate` / `Proxy-Authenticate` challenges and
//! `Authorization` / `Proxy-Authorization` credentials, computes and verifies digest responses
//! and answers challenges on behalf of a client.
//!
//! It deliberately holds no policy and no state: nonces, cnonces and nonce counts are supplied by
//! the caller (this crate has no randomness and no clock), and deciding whether a nonce is fresh,
//! which realm applies or which algorithms are acceptable is left to the layer that owns
//! registrations and trunks.
//!
//! Header values come straight off the network, so every parser here is bounded by [`Limits`]:
//! malformed or hostile input yields an [`AuthError`], never a panic or an unbounded allocation.

mod algorithm;
mod challenge;
mod client;
mod credentials;
mod digest;
mod syntax;

pub use algorithm::{Algorithm, Qop, QopOptions};
pub use challenge::{Challenge, DigestChallenge};
pub use client::{Answer, answer_challenges, strongest_challenge};
pub use credentials::{Credentials, DigestCredentials};
pub use digest::{Secret, constant_time_eq, expected_response, ha1, userhash, verify_response};
pub use syntax::{AuthParam, OtherScheme};

/// Bounds applied while parsing header values received from the network.
///
/// Authentication headers are small in practice (a few hundred bytes); the limits exist so that
/// a peer cannot make the parser allocate or loop in proportion to an arbitrarily large input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum length in bytes of the whole header value.
    pub max_input_len: usize,
    /// Maximum number of `name=value` parameters.
    pub max_params: usize,
    /// Maximum length in bytes of a parameter name or of a decoded parameter value.
    pub max_value_len: usize,
}

impl Limits {
    /// Limits that comfortably fit every real-world SIP and HTTP digest header.
    pub const DEFAULT: Self = Self {
        max_input_len: 8 * 1024,
        max_params: 32,
        max_value_len: 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Everything that can go wrong while parsing, computing or answering digest authentication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The header value exceeds [`Limits::max_input_len`].
    #[error("authentication header longer than {limit} bytes")]
    TooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The header value has more than [`Limits::max_params`] parameters.
    #[error("more than {limit} authentication parameters")]
    TooManyParams {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A parameter name or value exceeds [`Limits::max_value_len`].
    #[error("authentication parameter longer than {limit} bytes")]
    ValueTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The header value does not follow the `scheme param=value, ...` grammar.
    #[error("malformed authentication header at byte {offset}: {reason}")]
    Syntax {
        /// Byte offset into the header value where parsing stopped.
        offset: usize,
        /// What was expected or found there.
        reason: &'static str,
    },
    /// A parameter value is not valid UTF-8.
    #[error("authentication parameter is not valid UTF-8")]
    InvalidUtf8,
    /// A parameter that may appear only once appeared twice.
    #[error("duplicate `{0}` parameter")]
    DuplicateParam(&'static str),
    /// A parameter required by the RFCs (or by the computation asked for) is absent.
    #[error("missing `{0}` parameter")]
    MissingParam(&'static str),
    /// A parameter is present but its value is not acceptable.
    #[error("invalid `{0}` parameter")]
    InvalidParam(&'static str),
    /// The `algorithm` parameter names an algorithm this module does not implement.
    #[error("unsupported digest algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// The `qop` parameter of credentials names a quality of protection this module does not
    /// implement.
    #[error("unsupported qop `{0}`")]
    UnsupportedQop(String),
    /// A precomputed H(A1) does not have the length of the algorithm's digest.
    #[error("precomputed H(A1) has the wrong length for {0}")]
    Ha1Length(Algorithm),
    /// With `userhash=true` the username field is a hash, so H(A1) cannot be derived from a
    /// password alone and must be supplied precomputed.
    #[error("userhash credentials need a precomputed H(A1)")]
    UserhashNeedsHa1,
    /// None of the challenges offered is a Digest challenge this module can answer.
    #[error("no usable Digest challenge")]
    NoUsableChallenge,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Parses `input` both ways and checks that whatever parses survives serialization.
    fn check_round_trip(input: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(challenge) = Challenge::parse(input) {
            let text = challenge.to_string();
            prop_assert_eq!(Challenge::parse(text.as_bytes()), Ok(challenge));
        }
        if let Ok(credentials) = Credentials::parse(input) {
            let text = credentials.to_string();
            prop_assert_eq!(Credentials::parse(text.as_bytes()), Ok(credentials));
        }
        Ok(())
    }

    /// A value for parameter `name`: usually one its field accepts, sometimes anything.
    fn value_for(name: &'static str) -> BoxedStrategy<String> {
        let free = prop_oneof![
            "[ -~]{0,12}".prop_map(|v| format!("\"{}\"", v.replace(['"', '\\'], ""))),
            "[!#-+\\--~]{1,12}",
            Just(r#""a\"b\\c""#.to_owned()),
        ];
        let typed: &[&str] = match name {
            "stale" | "userhash" => &["true", "FALSE", "\"TRUE\""],
            "algorithm" => &["MD5", "sha-256-sess", "SHA-512-256", "\"SHA-256\""],
            "qop" => &["auth", "auth-int", "\"auth,auth-int\"", "\"auth-int, x\""],
            "nc" => &["00000001", "\"0000ABCD\""],
            _ => return free.boxed(),
        };
        let typed = prop::sample::select(typed.to_vec()).prop_map(str::to_owned);
        prop_oneof![9 => typed, 1 => free].boxed()
    }

    /// Header-shaped input, so that the search reaches deep into the parsers instead of
    /// failing on the scheme name. Names are drawn without repetition and values to suit
    /// them, so that most inputs parse and actually exercise the round trip.
    fn header_like() -> impl Strategy<Value = String> {
        const NAMES: [&str; 14] = [
            "realm",
            "nonce",
            "opaque",
            "stale",
            "algorithm",
            "qop",
            "domain",
            "username",
            "uri",
            "response",
            "cnonce",
            "nc",
            "userhash",
            "x-ext",
        ];
        let scheme = prop::sample::select(vec!["Digest", "digest", "Basic"]);
        let names = prop::sample::subsequence(NAMES.to_vec(), 0..=NAMES.len()).prop_shuffle();
        (scheme, names).prop_flat_map(|(scheme, names)| {
            let params: Vec<_> = names
                .into_iter()
                .map(|name| {
                    let separator = prop::sample::select(vec![", ", ",", " ,\r\n\t", ",,"]);
                    (Just(name), value_for(name), separator)
                })
                .collect();
            params.prop_map(move |params| {
                let mut out = format!("{scheme} ");
                for (name, value, separator) in params {
                    out.push_str(&format!("{name}={value}{separator}"));
                }
                out
            })
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
            check_round_trip(&input)?;
        }

        #[test]
        fn header_like_input_round_trips(input in header_like()) {
            check_round_trip(input.as_bytes())?;
        }
    }

    #[test]
    fn oversized_input_is_rejected_before_parsing() {
        let input = format!(
            "Digest realm=\"{}\"",
            "a".repeat(Limits::DEFAULT.max_input_len)
        );
        assert_eq!(
            Challenge::parse(input.as_bytes()),
            Err(AuthError::TooLong {
                limit: Limits::DEFAULT.max_input_len
            })
        );
        let many = format!("Digest {}", "a=1,".repeat(Limits::DEFAULT.max_params + 1));
        assert_eq!(
            Credentials::parse(many.as_bytes()),
            Err(AuthError::TooManyParams {
                limit: Limits::DEFAULT.max_params
            })
        );
    }
}
