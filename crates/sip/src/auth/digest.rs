//! Request-digest computation and verification (RFC 2617 §3.2.2, RFC 7616 §3.4).

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

use super::credentials::format_nc;
use super::{Algorithm, AuthError, DigestCredentials, Qop};

/// What the verifier (or client) knows about the user's password.
#[derive(Clone, Copy)]
pub enum Secret<'a> {
    /// The clear-text password.
    Password(&'a str),
    /// The hex-encoded `H(username:realm:password)` for the algorithm in use, as returned by
    /// [`ha1`]. Storing this instead of the password is what most registrars do; note that it is
    /// algorithm-specific, so an MD5 H(A1) cannot verify SHA-256 credentials.
    Ha1(&'a str),
}

impl fmt::Debug for Secret<'_> {
    /// Redacts the secret so that it never ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::Ha1(_) => f.write_str("Ha1(<redacted>)"),
        }
    }
}

/// Computes the base `H(username:realm:password)`.
///
/// For `-sess` algorithms this is the long-lived part; the per-nonce session key is derived
/// from it during [`expected_response`].
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    hash(algorithm, &[username, realm, password].map(str::as_bytes))
}

/// Computes the hashed username `H(username:realm)` of RFC 7616 §3.4.4.
pub fn userhash(algorithm: Algorithm, username: &str, realm: &str) -> String {
    hash(algorithm, &[username, realm].map(str::as_bytes))
}

/// Computes the `response` that `credentials` should carry for a request with `method` and
/// `body` (the body only matters for `qop=auth-int`).
///
/// With [`Secret::Password`] the username in `credentials` is used for A1, which is impossible
/// when `userhash` is set; look the user up and pass [`Secret::Ha1`] instead.
pub fn expected_response(
    credentials: &DigestCredentials,
    secret: Secret<'_>,
    method: &str,
    body: &[u8],
) -> Result<String, AuthError> {
    let algorithm = credentials.effective_algorithm();
    let base_ha1 = match secret {
        Secret::Password(_) if credentials.userhash => return Err(AuthError::UserhashNeedsHa1),
        Secret::Password(password) => ha1(
            algorithm,
            &credentials.username,
            &credentials.realm,
            password,
        ),
        Secret::Ha1(ha1) if ha1.len() == algorithm.hex_len() => ha1.to_ascii_lowercase(),
        Secret::Ha1(_) => return Err(AuthError::Ha1Length(algorithm)),
    };
    let session_ha1 = session_ha1(algorithm, base_ha1, credentials)?;
    let ha2 = ha2(algorithm, credentials.qop, method, &credentials.uri, body);
    let nonce = credentials.nonce.as_bytes();
    let response = match credentials.qop {
        Some(qop) => {
            let cnonce = required(&credentials.cnonce, "cnonce")?;
            let nc = format_nc(credentials.nc.ok_or(AuthError::MissingParam("nc"))?);
            hash(
                algorithm,
                &[
                    session_ha1.as_bytes(),
                    nonce,
                    nc.as_bytes(),
                    cnonce.as_bytes(),
                    qop.name().as_bytes(),
                    ha2.as_bytes(),
                ],
            )
        }
        // RFC 2069 compatibility: no qop means no cnonce and no nonce count in the digest.
        None => hash(algorithm, &[session_ha1.as_bytes(), nonce, ha2.as_bytes()]),
    };
    Ok(response)
}

/// Checks the `response` of `credentials` in constant time.
///
/// Only the digest is checked. Whether the nonce is one this server issued and is still fresh,
/// whether the realm and URI are the expected ones and whether the algorithm is acceptable are
/// policy decisions for the caller.
pub fn verify_response(
    credentials: &DigestCredentials,
    secret: Secret<'_>,
    method: &str,
    body: &[u8],
) -> Result<bool, AuthError> {
    let expected = expected_response(credentials, secret, method, body)?;
    // Hex is case-insensitive; lower-casing the client's value first leaks nothing secret.
    let received = credentials.response.to_ascii_lowercase();
    Ok(constant_time_eq(expected.as_bytes(), received.as_bytes()))
}

/// Compares two byte strings in time that depends only on their lengths.
///
/// A short-circuiting comparison would let an attacker learn the expected digest byte by byte
/// from response timings. Lengths are not secret here: the digest length follows from the
/// algorithm.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimizer from turning the fold back into an early-exit comparison.
    std::hint::black_box(difference) == 0
}

/// Derives the H(A1) actually used in the digest, adding the nonces for `-sess` algorithms.
fn session_ha1(
    algorithm: Algorithm,
    base_ha1: String,
    credentials: &DigestCredentials,
) -> Result<String, AuthError> {
    if !algorithm.is_session() {
        return Ok(base_ha1);
    }
    let cnonce = required(&credentials.cnonce, "cnonce")?;
    Ok(hash(
        algorithm,
        &[
            base_ha1.as_bytes(),
            credentials.nonce.as_bytes(),
            cnonce.as_bytes(),
        ],
    ))
}

/// Computes H(A2): `method:uri`, plus `:H(body)` for `auth-int`.
fn ha2(algorithm: Algorithm, qop: Option<Qop>, method: &str, uri: &str, body: &[u8]) -> String {
    let (method, uri) = (method.as_bytes(), uri.as_bytes());
    match qop {
        Some(Qop::AuthInt) => {
            let body_hash = hash(algorithm, &[body]);
            hash(algorithm, &[method, uri, body_hash.as_bytes()])
        }
        Some(Qop::Auth) | None => hash(algorithm, &[method, uri]),
    }
}

fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, AuthError> {
    value
        .as_deref()
        .filter(|value| !value.is_empty())
        .ok_or(AuthError::MissingParam(name))
}

/// Hashes `parts` joined by `:` and hex-encodes the result, as `H()` and `KD()` both need.
fn hash(algorithm: Algorithm, parts: &[&[u8]]) -> String {
    match algorithm {
        Algorithm::Md5 | Algorithm::Md5Sess => hash_with::<Md5>(parts),
        Algorithm::Sha256 | Algorithm::Sha256Sess => hash_with::<Sha256>(parts),
        Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => hash_with::<Sha512_256>(parts),
    }
}

fn hash_with<D: Digest>(parts: &[&[u8]]) -> String {
    let mut hasher = D::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part);
    }
    to_lower_hex(&hasher.finalize())
}

fn to_lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Credentials;

    fn digest(input: &str) -> DigestCredentials {
        match Credentials::parse(input.as_bytes()).unwrap() {
            Credentials::Digest(digest) => digest,
            other => panic!("not digest: {other:?}"),
        }
    }

    /// RFC 2617 §3.5.
    #[test]
    fn rfc2617_example() {
        let creds = digest(
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
             response=\"6629fae49393a05397450978507c4ef1\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        );
        let password = Secret::Password("Circle Of Life");
        assert_eq!(
            expected_response(&creds, password, "GET", b"").unwrap(),
            "6629fae49393a05397450978507c4ef1"
        );
        assert!(verify_response(&creds, password, "GET", b"").unwrap());
        assert!(!verify_response(&creds, Secret::Password("circle of life"), "GET", b"").unwrap());
        assert!(!verify_response(&creds, password, "POST", b"").unwrap());

        let stored = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert!(verify_response(&creds, Secret::Ha1(&stored), "GET", b"").unwrap());
        let upper = stored.to_ascii_uppercase();
        assert!(verify_response(&creds, Secret::Ha1(&upper), "GET", b"").unwrap());
    }

    fn rfc7616_credentials(algorithm: Algorithm, response: &str) -> DigestCredentials {
        digest(&format!(
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
             algorithm={algorithm}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"{response}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        ))
    }

    /// RFC 7616 §3.9.1.
    #[test]
    fn rfc7616_examples() {
        for (algorithm, response) in [
            (
                Algorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
            (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
        ] {
            let creds = rfc7616_credentials(algorithm, response);
            let password = Secret::Password("Circle of Life");
            assert_eq!(
                expected_response(&creds, password, "GET", b"").unwrap(),
                response
            );
            assert!(verify_response(&creds, password, "GET", b"").unwrap());
        }
    }

    /// RFC 3261 style REGISTER without qop, and with qop / -sess / auth-int; expected values
    /// computed independently with Python's hashlib.
    #[test]
    fn sip_register_examples() {
        let base = "Digest username=\"bob\", realm=\"biloxi.com\", \
                    nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:biloxi.com\", \
                    response=\"0\"";
        let password = Secret::Password("zanzibar");
        let cases = [
            ("", b"".as_slice(), "4441045a8075db3ead543693997e2a0e"),
            (
                ", qop=auth, nc=00000002, cnonce=\"0a4f113b\"",
                b"".as_slice(),
                "bef6c26ce562c084baeb1c500569a239",
            ),
            (
                ", algorithm=MD5-sess, qop=auth, nc=00000002, cnonce=\"0a4f113b\"",
                b"".as_slice(),
                "ba0da55136e50a1d07109569ec2e6ca3",
            ),
            (
                ", algorithm=SHA-256, qop=auth-int, nc=00000001, cnonce=\"0a4f113b\"",
                b"v=0\r\n".as_slice(),
                "36ba2f6e54ec92aaffb7babad9d9d6eac56cb1de8626a7c7b889a19120505eae",
            ),
            (
                ", algorithm=SHA-512-256-sess, qop=auth, nc=00000001, cnonce=\"0a4f113b\"",
                b"".as_slice(),
                "d4d982175dbbf48bfe8ada69e6a51f82c872e88fe8ff37627b13b15108fba843",
            ),
        ];
        for (suffix, body, expected) in cases {
            let creds = digest(&format!("{base}{suffix}"));
            assert_eq!(
                expected_response(&creds, password, "REGISTER", body).unwrap(),
                expected,
                "{suffix}"
            );
        }
    }

    #[test]
    fn missing_inputs_are_errors() {
        let mut creds = rfc7616_credentials(Algorithm::Sha256Sess, "");
        creds.cnonce = None;
        let password = Secret::Password("Circle of Life");
        assert_eq!(
            expected_response(&creds, password, "GET", b""),
            Err(AuthError::MissingParam("cnonce"))
        );
        creds.cnonce = Some("c".into());
        creds.nc = None;
        assert_eq!(
            expected_response(&creds, password, "GET", b""),
            Err(AuthError::MissingParam("nc"))
        );
        assert_eq!(
            expected_response(&creds, Secret::Ha1("abcd"), "GET", b""),
            Err(AuthError::Ha1Length(Algorithm::Sha256Sess))
        );
        creds.userhash = true;
        assert_eq!(
            expected_response(&creds, password, "GET", b""),
            Err(AuthError::UserhashNeedsHa1)
        );
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        assert_eq!(
            format!("{:?}", Secret::Password("hunter2")),
            "Password(<redacted>)"
        );
    }
}
