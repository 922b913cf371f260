//! Answering challenges as a client (a UAC, or the SBC registering towards a trunk).

use super::digest::{self, Secret};
use super::{AuthError, Challenge, DigestChallenge, DigestCredentials};

/// Everything a client contributes when answering a challenge.
///
/// `cnonce` and `nc` come from the caller because this crate has no source of randomness and
/// keeps no state: the caller generates a fresh random cnonce and counts how many times it has
/// used each server nonce.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The real username; hashed automatically when the challenge asks for `userhash`.
    pub username: &'a str,
    /// Password, or H(A1) precomputed for the algorithm of the challenge being answered.
    pub secret: Secret<'a>,
    /// Method of the request being authorized (for SIP, the CSeq method).
    pub method: &'a str,
    /// The `digest-uri`; for SIP, the Request-URI.
    pub uri: &'a str,
    /// Message body, only hashed for `qop=auth-int`.
    pub body: &'a [u8],
    /// Client nonce; must be non-empty when a qop or a `-sess` algorithm is in use.
    pub cnonce: &'a str,
    /// Nonce count: 1 for the first request with a given server nonce.
    pub nc: u32,
}

impl DigestChallenge {
    /// Builds the credentials answering this challenge.
    ///
    /// The qop is chosen by [`QopOptions::preferred`](super::QopOptions::preferred). The
    /// algorithm parameter is echoed exactly as offered, so a challenge without one gets an
    /// answer without one. Serialize the result with `to_string()` to get the header value.
    pub fn answer(&self, answer: &Answer<'_>) -> Result<DigestCredentials, AuthError> {
        let algorithm = self.effective_algorithm();
        let qop = self.qop.preferred();
        let needs_cnonce = qop.is_some() || algorithm.is_session();
        if needs_cnonce && answer.cnonce.is_empty() {
            return Err(AuthError::MissingParam("cnonce"));
        }
        let username = if self.userhash {
            digest::userhash(algorithm, answer.username, &self.realm)
        } else {
            answer.username.to_owned()
        };
        let mut credentials = DigestCredentials {
            username,
            realm: self.realm.clone(),
            nonce: self.nonce.clone(),
            uri: answer.uri.to_owned(),
            response: String::new(),
            algorithm: self.algorithm,
            cnonce: needs_cnonce.then(|| answer.cnonce.to_owned()),
            opaque: self.opaque.clone(),
            qop,
            nc: qop.map(|_| answer.nc),
            userhash: self.userhash,
            extra: Vec::new(),
        };
        // H(A1) is derived from the real username even when a hash of it is sent.
        let base_ha1 = match answer.secret {
            Secret::Password(password) => {
                digest::ha1(algorithm, answer.username, &self.realm, password)
            }
            Secret::Ha1(ha1) => ha1.to_owned(),
        };
        credentials.response = digest::expected_response(
            &credentials,
            Secret::Ha1(&base_ha1),
            answer.method,
            answer.body,
        )?;
        Ok(credentials)
    }
}

/// Picks the Digest challenge with the strongest algorithm, preferring the earliest on a tie.
///
/// Keeping the server's order on ties follows RFC 8760 §2.4, which has clients use the topmost
/// header field they support. Challenges in other schemes are skipped; challenges naming an
/// unsupported algorithm never parse as Digest in the first place.
pub fn strongest_challenge<'c>(
    challenges: impl IntoIterator<Item = &'c Challenge>,
) -> Option<&'c DigestChallenge> {
    challenges
        .into_iter()
        .filter_map(Challenge::as_digest)
        .fold(
            None,
            |best: Option<&DigestChallenge>, candidate| match best {
                Some(best)
                    if best.effective_algorithm().strength()
                        >= candidate.effective_algorithm().strength() =>
                {
                    Some(best)
                }
                _ => Some(candidate),
            },
        )
}

/// Answers the strongest Digest challenge among `challenges`.
///
/// A response usually carries several `WWW-Authenticate` headers with one algorithm each
/// (RFC 8760 §2.4); pass them all here.
pub fn answer_challenges<'c>(
    challenges: impl IntoIterator<Item = &'c Challenge>,
    answer: &Answer<'_>,
) -> Result<DigestCredentials, AuthError> {
    strongest_challenge(challenges)
        .ok_or(AuthError::NoUsableChallenge)?
        .answer(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Algorithm, Credentials, Qop, QopOptions, verify_response};

    const RFC7616_CHALLENGES: [&str; 2] = [
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, \
         nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, \
         nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
    ];

    fn rfc7616_answer() -> Answer<'static> {
        Answer {
            username: "Mufasa",
            secret: Secret::Password("Circle of Life"),
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            nc: 1,
        }
    }

    fn challenges(values: &[&str]) -> Vec<Challenge> {
        values
            .iter()
            .map(|v| Challenge::parse(v.as_bytes()).unwrap())
            .collect()
    }

    /// RFC 7616 §3.9.1: the client picks SHA-256 over MD5 and produces the published response.
    #[test]
    fn answers_rfc7616_with_the_strongest_algorithm() {
        let offered = challenges(&RFC7616_CHALLENGES);
        let creds = answer_challenges(&offered, &rfc7616_answer()).unwrap();
        assert_eq!(creds.algorithm, Some(Algorithm::Sha256));
        assert_eq!(
            creds.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(
            creds.to_string(),
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", uri=\"/dir/index.html\", \
             response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
             algorithm=SHA-256, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", qop=auth, nc=00000001"
        );

        let md5_only = challenges(&RFC7616_CHALLENGES[1..]);
        let creds = answer_challenges(&md5_only, &rfc7616_answer()).unwrap();
        assert_eq!(creds.response, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn strongest_prefers_the_first_on_ties_and_skips_other_schemes() {
        let offered = challenges(&[
            "Basic realm=\"x\"",
            "Digest realm=a, nonce=n, algorithm=MD5",
            "Digest realm=b, nonce=n, algorithm=SHA-256-sess",
            "Digest realm=c, nonce=n, algorithm=SHA-256",
        ]);
        assert_eq!(
            strongest_challenge(&offered).map(|c| c.realm.as_str()),
            Some("b")
        );
        assert_eq!(strongest_challenge(&offered[..1]), None);
        assert_eq!(
            answer_challenges(&offered[..1], &rfc7616_answer()),
            Err(AuthError::NoUsableChallenge)
        );
    }

    /// A registrar challenging a REGISTER and verifying the answer, end to end.
    #[test]
    fn sip_register_round_trip() {
        let mut challenge =
            DigestChallenge::new("biloxi.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093");
        challenge.qop = QopOptions::AUTH;
        challenge.algorithm = Some(Algorithm::Sha256);
        let header = Challenge::Digest(challenge).to_string();

        let offered = challenges(&[header.as_str()]);
        let answer = Answer {
            username: "bob",
            secret: Secret::Password("zanzibar"),
            method: "REGISTER",
            uri: "sip:biloxi.com",
            body: b"",
            cnonce: "0a4f113b",
            nc: 1,
        };
        let sent = answer_challenges(&offered, &answer).unwrap().to_string();

        let Credentials::Digest(received) = Credentials::parse(sent.as_bytes()).unwrap() else {
            panic!("expected digest credentials");
        };
        assert_eq!(received.qop, Some(Qop::Auth));
        let stored = digest::ha1(Algorithm::Sha256, "bob", "biloxi.com", "zanzibar");
        assert!(verify_response(&received, Secret::Ha1(&stored), "REGISTER", b"").unwrap());
        assert!(!verify_response(&received, Secret::Ha1(&stored), "INVITE", b"").unwrap());
    }

    #[test]
    fn rfc2069_challenge_gets_rfc2069_answer() {
        let offered = challenges(&[
            "Digest realm=\"biloxi.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"",
        ]);
        let answer = Answer {
            username: "bob",
            secret: Secret::Password("zanzibar"),
            method: "REGISTER",
            uri: "sip:biloxi.com",
            body: b"",
            cnonce: "",
            nc: 1,
        };
        let creds = answer_challenges(&offered, &answer).unwrap();
        assert_eq!(creds.response, "4441045a8075db3ead543693997e2a0e");
        assert_eq!((creds.cnonce, creds.nc, creds.qop), (None, None, None));
    }

    #[test]
    fn auth_int_only_when_required() {
        let offered = challenges(&["Digest realm=r, nonce=n, qop=\"auth-int\""]);
        let answer = Answer {
            body: b"v=0\r\n",
            ..rfc7616_answer()
        };
        let creds = answer_challenges(&offered, &answer).unwrap();
        assert_eq!(creds.qop, Some(Qop::AuthInt));
        let password = Secret::Password("Circle of Life");
        assert!(verify_response(&creds, password, "GET", b"v=0\r\n").unwrap());
        assert!(!verify_response(&creds, password, "GET", b"v=1\r\n").unwrap());

        let no_cnonce = Answer {
            cnonce: "",
            ..answer
        };
        assert_eq!(
            answer_challenges(&offered, &no_cnonce),
            Err(AuthError::MissingParam("cnonce"))
        );
    }

    #[test]
    fn userhash_sends_hashed_username() {
        let offered = challenges(&[
            "Digest realm=\"api@example.org\", nonce=n, qop=auth, algorithm=SHA-512-256, userhash=true",
        ]);
        let creds = answer_challenges(&offered, &rfc7616_answer()).unwrap();
        assert!(creds.userhash);
        assert_eq!(
            creds.username,
            digest::userhash(Algorithm::Sha512_256, "Mufasa", "api@example.org")
        );
        let stored = digest::ha1(
            Algorithm::Sha512_256,
            "Mufasa",
            "api@example.org",
            "Circle of Life",
        );
        assert!(verify_response(&creds, Secret::Ha1(&stored), "GET", b"").unwrap());
    }
}
