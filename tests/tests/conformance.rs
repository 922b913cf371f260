//! RFC 4475 and RFC 5118 torture tests: every message of both corpora gets the verdict the
//! RFCs call for. Parsing, then the validation every request or response passes, must
//! accept the valid messages and give the invalid ones the right answer (a status code to
//! send, or a silent drop); none may panic.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use bytes::Bytes;
use palisade_sip::headers::ContactValue;
use palisade_sip::validate::{check_request, check_response, unsupported_requirements};
use palisade_sip::{HeaderName, Message, Method, ParseLimits, Transport, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Accept,
    Respond(u16),
    Drop,
}

fn corpus(path: &str) -> Bytes {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/corpus")
        .join(path);
    Bytes::from(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// Parses a datagram and runs the validation its kind calls for.
fn verdict(bytes: Bytes) -> (Expect, Option<Message>) {
    let msg = match Message::parse(bytes, Transport::Datagram, &ParseLimits::default()) {
        Ok(m) => m,
        Err(e) => {
            return (
                match e.verdict() {
                    Verdict::Respond(c) => Expect::Respond(c),
                    Verdict::Drop => Expect::Drop,
                },
                None,
            );
        }
    };
    let checked = if msg.is_request() {
        check_request(&msg)
    } else {
        check_response(&msg)
    };
    let e = match checked {
        Ok(()) => Expect::Accept,
        Err(r) => match r.verdict {
            Verdict::Respond(c) => Expect::Respond(c),
            Verdict::Drop => Expect::Drop,
        },
    };
    (e, Some(msg))
}

const RFC4475: &[(&str, Expect)] = {
    use Expect::*;
    &[
        // §3.1.1 valid messages
        ("wsinv", Accept),
        ("intmeth", Accept),
        ("esc01", Accept),
        ("escnull", Accept),
        ("esc02", Accept),
        ("lwsdisp", Accept),
        ("longreq", Accept),
        ("dblreq", Accept),
        ("semiuri", Accept),
        ("transports", Accept),
        ("mpart01", Accept),
        ("unreason", Accept),
        ("noreason", Accept),
        // §3.1.2 invalid messages
        ("badinv01", Respond(400)),
        ("clerr", Respond(400)),
        ("ncl", Respond(400)),
        ("scalar02", Respond(400)),
        ("scalarlg", Drop),
        ("quotbal", Respond(400)),
        ("ltgtruri", Respond(400)),
        ("lwsruri", Respond(400)),
        ("lwsstart", Respond(400)),
        ("trws", Respond(400)),
        ("escruri", Respond(400)),
        // The Date header is not interpreted; ignoring it is one of the RFC's choices.
        ("baddate", Accept),
        ("regbadct", Respond(400)),
        ("badaspec", Respond(400)),
        ("baddn", Respond(400)),
        ("badvers", Respond(505)),
        ("mismatch01", Respond(400)),
        ("mismatch02", Respond(501)),
        ("bigcode", Drop),
        // §3.2 transaction layer: parses; matched by the RFC 2543 rules
        ("badbranch", Accept),
        // §3.3 application layer
        ("insuf", Respond(400)),
        ("unkscm", Respond(416)),
        ("novelsc", Respond(416)),
        ("unksm2", Accept),
        // Valid; the B2BUA then answers 420 for its Proxy-Require (crates/palisade/tests).
        ("bext01", Accept),
        ("invut", Accept),
        ("regaut01", Accept),
        ("multi01", Respond(400)),
        ("mcl01", Respond(400)),
        ("bcast", Drop),
        // Relayed requests only: an OPTIONS for Palisade itself is answered (RFC 3261 §16.3).
        ("zeromf", Respond(483)),
        ("cparam01", Accept),
        ("cparam02", Accept),
        ("regescrt", Accept),
        ("sdp01", Accept),
        // §3.4 backward compatibility
        ("inv2543", Accept),
        // In the archive but in no section: not a valid message. It has no Via, so the
        // running service cannot send the 400 and drops it.
        ("test", Respond(400)),
    ]
};

#[test]
fn rfc4475_verdicts() {
    let mut failures = Vec::new();
    for (name, expect) in RFC4475 {
        let (got, _) = verdict(corpus(&format!("rfc4475/{name}.dat")));
        if got != *expect {
            failures.push(format!("{name}: expected {expect:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rfc4475_file_has_a_verdict() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/corpus/rfc4475");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".dat") {
            assert!(
                RFC4475.iter().any(|(n, _)| *n == stem),
                "{name} has no expected verdict"
            );
        }
    }
    // The copy with the final empty line restored is refused for its display name too.
    let (got, _) = verdict(corpus("rfc4475/baddn.crlf-fixed.alt"));
    assert_eq!(got, Expect::Respond(400));
}

fn accepted(path: &str) -> Message {
    let (e, m) = verdict(corpus(path));
    assert_eq!(e, Expect::Accept, "{path}");
    m.unwrap()
}

#[test]
fn valid_messages_read_as_the_rfc_describes() {
    let m = accepted("rfc4475/wsinv.dat");
    assert_eq!(m.to().unwrap().tag(), Some("1918181833n"));
    assert_eq!(m.from().unwrap().tag(), Some("98asjd8"));
    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.cseq().unwrap().seq, 9);
    let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let Some(Ok(ContactValue::Address(c))) = m.contacts().next() else {
        panic!()
    };
    assert_eq!(c.params.get("q"), Some(Some("0.33")));
    assert_eq!(m.body().len(), 150);
    assert_eq!(m.header(HeaderName::Subject), Some(&b""[..]));
    assert_eq!(
        m.headers_by_raw_name("NewFangledHeader")
            .next()
            .unwrap()
            .value,
        b"newfangled value\r\n continued newfangled value"
    );

    let m = accepted("rfc4475/esc02.dat");
    assert_eq!(m.method(), Some(&Method::Other("RE%47IST%45R".into())));
    assert_eq!(m.contacts().count(), 2, "C%6Fntact is not Contact");

    let m = accepted("rfc4475/intmeth.dat");
    assert!(!m.method().unwrap().is_known());

    // §3.1.1.8: the REGISTER is handled, the trailing INVITE-like octets are not part of it.
    let m = accepted("rfc4475/dblreq.dat");
    assert_eq!(m.method(), Some(&Method::Register));
    assert!(m.as_bytes().ends_with(b"Content-Length: 0\r\n\r\n"));

    let m = accepted("rfc4475/unreason.dat");
    assert_eq!(m.status(), Some(200));
    assert!(std::str::from_utf8(m.reason().unwrap()).is_ok());

    let m = accepted("rfc4475/badbranch.dat");
    assert!(!m.via().unwrap().has_rfc3261_branch());

    let m = accepted("rfc4475/inv2543.dat");
    assert_eq!(m.max_forwards().unwrap(), None);
    assert!(m.content_length().is_none() && !m.body().is_empty());

    // §3.3.12/13: a contact parameter versus a URI parameter.
    let m = accepted("rfc4475/cparam01.dat");
    let Some(Ok(ContactValue::Address(c))) = m.contacts().next() else {
        panic!()
    };
    assert!(c.params.contains("unknownparam"));
    assert!(c.uri.sip().unwrap().params.is_empty());
    let m = accepted("rfc4475/cparam02.dat");
    let Some(Ok(ContactValue::Address(c))) = m.contacts().next() else {
        panic!()
    };
    assert!(c.params.is_empty());
    assert!(c.uri.sip().unwrap().params.contains("unknownparam"));
    let m = accepted("rfc4475/regescrt.dat");
    let Some(Ok(ContactValue::Address(c))) = m.contacts().next() else {
        panic!()
    };
    assert_eq!(
        c.uri.sip().unwrap().headers,
        Some("Route=%3Csip:sip.example.com%3E")
    );

    // §3.3.5: both lists of unknown extensions come back for the 420.
    let m = accepted("rfc4475/bext01.dat");
    assert_eq!(unsupported_requirements(&m, &["100rel", "timer"]).len(), 4);
}

const RFC5118: &[(&str, Expect)] = {
    use Expect::*;
    &[
        ("ipv6-good", Accept),
        ("ipv6-bad", Respond(400)),
        ("port-ambiguous", Accept),
        ("port-unambiguous", Accept),
        ("via-received-param-with-delim", Accept),
        ("via-received-param-no-delim", Accept),
        ("ipv6-in-sdp", Accept),
        ("mult-ip-in-header", Accept),
        ("mult-ip-in-sdp", Accept),
        ("ipv4-mapped-ipv6", Accept),
        ("ipv6-bug-abnf-3-colons", Accept),
        ("ipv6-correct-abnf-2-colons", Accept),
    ]
};

#[test]
fn rfc5118_verdicts() {
    let mut failures = Vec::new();
    for (name, expect) in RFC5118 {
        let (got, _) = verdict(corpus(&format!("rfc5118/wire/{name}.dat")));
        if got != *expect {
            failures.push(format!("{name}: expected {expect:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let m = accepted("rfc5118/wire/port-ambiguous.dat");
    let uri = m.request_uri().unwrap().unwrap();
    assert_eq!(
        uri.sip().unwrap().port,
        None,
        "the port is inside the brackets"
    );
    let m = accepted("rfc5118/wire/port-unambiguous.dat");
    let uri = m.request_uri().unwrap().unwrap();
    assert_eq!(uri.sip().unwrap().port, Some(5070));
    for f in [
        "via-received-param-with-delim",
        "via-received-param-no-delim",
    ] {
        let m = accepted(&format!("rfc5118/wire/{f}.dat"));
        assert_eq!(
            m.via().unwrap().received(),
            Some("2001:db8::9:255".parse().unwrap()),
            "{f}"
        );
    }
}
