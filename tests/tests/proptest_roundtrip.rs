//! Property tests over generated, grammatically valid input: URIs, name-addr values, Via
//! values and whole messages parse to exactly the parts they were built from, and what is
//! written back is byte for byte what came in.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use palisade_sip::headers::{NameAddr, Via};
use palisade_sip::uri::{Host, Uri, UriKind};
use palisade_sip::{Message, ParseLimits, Transport};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// A host as generated: its text and the value the parser must read from it.
#[derive(Debug, Clone)]
enum GenHost {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Domain(String),
}

impl GenHost {
    fn text(&self) -> String {
        match self {
            Self::V4(a) => a.to_string(),
            Self::V6(a) => format!("[{a}]"),
            Self::Domain(d) => d.clone(),
        }
    }

    fn matches(&self, host: &Host<'_>) -> bool {
        match (self, host) {
            (Self::V4(a), Host::V4(b)) => a == b,
            (Self::V6(a), Host::V6(b)) => a == b,
            (Self::Domain(a), Host::Domain(b)) => a == b,
            _ => false,
        }
    }
}

fn host() -> impl Strategy<Value = GenHost> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(GenHost::V4),
        any::<Ipv6Addr>().prop_map(GenHost::V6),
        // Labels, then an alphabetic top-level label so the name is never read as IPv4.
        (
            prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?", 0..4),
            "[a-zA-Z]{1,6}",
        )
            .prop_map(|(mut labels, top)| {
                labels.push(top);
                GenHost::Domain(labels.join("."))
            }),
    ]
}

/// `%XX`, with either case of hex digit.
fn escape() -> impl Strategy<Value = String> {
    "%[0-9a-fA-F]{2}"
}

/// A string of single characters from `chars` and escapes.
fn escaped(chars: &'static str, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![4 => chars, 1 => escape()], len).prop_map(|v| v.concat())
}

/// `;name[=value]` parameters as (name, value).
type GenParams = Vec<(String, Option<String>)>;

fn params_text(params: &GenParams) -> String {
    params
        .iter()
        .map(|(n, v)| match v {
            Some(v) => format!(";{n}={v}"),
            None => format!(";{n}"),
        })
        .collect()
}

fn uri_params() -> impl Strategy<Value = GenParams> {
    let name = prop_oneof![
        prop::sample::select(vec!["transport", "lr", "user", "maddr", "ttl", "method"])
            .prop_map(str::to_owned),
        escaped("[a-zA-Z0-9.!~*_+-]", 1..8),
    ];
    let value = escaped("[a-zA-Z0-9.!~*_+:/&$\\[\\]-]", 1..10);
    prop::collection::vec((name, prop::option::of(value)), 0..5)
}

/// A `sip:`/`sips:` or `tel:` URI and what each of its parts must read back as.
#[derive(Debug, Clone)]
struct GenUri {
    text: String,
    kind: GenKind,
}

#[derive(Debug, Clone)]
enum GenKind {
    Sip {
        secure: bool,
        user: Option<String>,
        password: Option<String>,
        host: GenHost,
        port: Option<u16>,
        params: GenParams,
        headers: Option<String>,
    },
    Tel {
        number: String,
        params: GenParams,
    },
}

impl GenUri {
    /// True when the URI can stand as an addr-spec, outside `<>` (RFC 3261 §20.10).
    fn bare_ok(&self) -> bool {
        !self.text.contains([';', '?', ','])
    }
}

fn sip_uri() -> impl Strategy<Value = GenUri> {
    let user = escaped("[a-zA-Z0-9\\-_.!~*'()&=+$,;?/]", 1..12);
    let password = escaped("[a-zA-Z0-9\\-_.!~*'()&=+$,]", 0..8);
    let userinfo = prop::option::of((user, prop::option::of(password)));
    let header = (
        "[a-zA-Z][a-zA-Z0-9]{0,6}",
        escaped("[a-zA-Z0-9\\-_.!~*'()/?:+$=\\[\\]]", 0..10),
    )
        .prop_map(|(n, v)| format!("{n}={v}"));
    let headers = prop::option::of(prop::collection::vec(header, 1..4).prop_map(|h| h.join("&")));
    let scheme = prop::sample::select(vec!["sip", "sips", "SIP", "sIpS"]);
    (
        scheme,
        userinfo,
        host(),
        prop::option::of(any::<u16>()),
        uri_params(),
        headers,
    )
        .prop_map(|(scheme, userinfo, host, port, params, headers)| {
            let mut text = format!("{scheme}:");
            if let Some((user, password)) = &userinfo {
                text.push_str(user);
                if let Some(p) = password {
                    text.push(':');
                    text.push_str(p);
                }
                text.push('@');
            }
            text.push_str(&host.text());
            if let Some(p) = port {
                text.push_str(&format!(":{p}"));
            }
            text.push_str(&params_text(&params));
            if let Some(h) = &headers {
                text.push('?');
                text.push_str(h);
            }
            let (user, password) = userinfo.unzip();
            GenUri {
                text,
                kind: GenKind::Sip {
                    secure: scheme.len() == 4,
                    user,
                    password: password.flatten(),
                    host,
                    port,
                    params,
                    headers,
                },
            }
        })
}

fn tel_uri() -> impl Strategy<Value = GenUri> {
    let number = prop_oneof![
        "\\+[0-9]{1,3}(-[0-9]{1,4}){1,4}",
        "[0-9A-F*#]{1,10}",
        "\\+?\\([0-9]{3}\\)[0-9.]{3,9}",
    ];
    let params = prop::collection::vec(
        (
            prop::sample::select(vec!["phone-context", "ext", "isub", "x-private"]),
            prop::option::of("[a-zA-Z0-9.+-]{1,12}"),
        )
            .prop_map(|(n, v)| (n.to_owned(), v)),
        0..3,
    );
    (number, params).prop_map(|(number, params)| GenUri {
        text: format!("tel:{number}{}", params_text(&params)),
        kind: GenKind::Tel { number, params },
    })
}

fn uri() -> impl Strategy<Value = GenUri> {
    prop_oneof![4 => sip_uri(), 1 => tel_uri()]
}

/// Optional linear white space, folding included.
fn lws0() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", "", " ", "  ", "\t", " \r\n ", "\r\n\t"])
}

/// Required linear white space.
fn lws1() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![" ", " ", "  ", "\t", " \t", "\r\n ", " \r\n\t "])
}

/// Header parameters (after a name-addr or a Via sent-by), with white space around `;`
/// and `=`, and quoted values. Returns the text and the (name, value) pairs a reader sees;
/// quoted values keep their quotes.
fn header_params() -> impl Strategy<Value = (String, GenParams)> {
    let name = prop_oneof![
        prop::sample::select(vec!["tag", "expires", "q", "lr", "received", "rport"])
            .prop_map(str::to_owned),
        "[a-zA-Z][a-zA-Z0-9.!%*_+`'~-]{0,8}",
    ];
    let value = prop_oneof![
        3 => "[a-zA-Z0-9.!%*_+`'~-]{1,12}",
        1 => prop::collection::vec(qdtext(), 0..8).prop_map(|v| format!("\"{}\"", v.concat())),
    ];
    let param = (
        lws0(),
        lws0(),
        name,
        prop::option::of((lws0(), lws0(), value)),
    );
    prop::collection::vec(param, 0..4).prop_map(|params| {
        let mut text = String::new();
        let mut pairs = Vec::new();
        for (before, after, name, value) in params {
            text.push_str(before);
            text.push(';');
            text.push_str(after);
            text.push_str(&name);
            if let Some((eq_before, eq_after, value)) = &value {
                text.push_str(eq_before);
                text.push('=');
                text.push_str(eq_after);
                text.push_str(value);
            }
            pairs.push((name, value.map(|(_, _, v)| v)));
        }
        (text, pairs)
    })
}

/// One element of a quoted string: a character other than `"` and `\`, non-ASCII UTF-8
/// included, or a quoted pair.
fn qdtext() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[ !#-\\[\\]-~]",
        1 => prop::sample::select(vec!["é", "ü", "日本", "☃"]).prop_map(str::to_owned),
        1 => "\\\\[ -~]",
    ]
}

/// A name-addr or addr-spec value and what it must read back as.
#[derive(Debug, Clone)]
struct GenNameAddr {
    text: String,
    display: Option<String>,
    uri: GenUri,
    angle: bool,
    params: GenParams,
}

fn name_addr() -> impl Strategy<Value = GenNameAddr> {
    let token_display = prop::collection::vec("[a-zA-Z0-9.!%*_+`'~-]{1,8}", 1..4)
        .prop_flat_map(|words| {
            let n = words.len();
            (Just(words), prop::collection::vec(lws1(), n))
        })
        .prop_map(|(words, gaps)| {
            let mut text = String::new();
            for (i, w) in words.iter().enumerate() {
                if i > 0 {
                    text.push_str(gaps[i]);
                }
                text.push_str(w);
            }
            text
        });
    let quoted = prop::collection::vec(qdtext(), 0..12).prop_map(|v| format!("\"{}\"", v.concat()));
    let display = prop_oneof![
        1 => Just(None),
        2 => quoted.prop_map(Some),
        2 => token_display.prop_map(Some),
    ];
    (display, lws0(), uri(), any::<bool>(), header_params()).prop_map(
        |(display, gap, uri, bare, (params_text, params))| {
            let angle = display.is_some() || !bare || !uri.bare_ok();
            let mut text = String::new();
            if let Some(d) = &display {
                text.push_str(d);
                text.push_str(gap);
            }
            if angle {
                text.push('<');
                text.push_str(&uri.text);
                text.push('>');
            } else {
                text.push_str(&uri.text);
            }
            text.push_str(&params_text);
            GenNameAddr {
                text,
                display,
                uri,
                angle,
                params,
            }
        },
    )
}

/// A Via element and what it must read back as.
#[derive(Debug, Clone)]
struct GenVia {
    text: String,
    transport: String,
    host: GenHost,
    port: Option<u16>,
    params: GenParams,
}

fn via() -> impl Strategy<Value = GenVia> {
    let transport = prop_oneof![
        prop::sample::select(vec!["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"])
            .prop_map(str::to_owned),
        "[a-zA-Z][a-zA-Z0-9-]{0,6}",
    ];
    let branch = "[a-zA-Z0-9.!%*_+`'~-]{1,16}".prop_map(|b| format!("z9hG4bK{b}"));
    let sent_by_gaps = (lws0(), lws0(), lws0(), lws0(), lws1(), lws0(), lws0());
    (
        transport,
        host(),
        prop::option::of(any::<u16>()),
        branch,
        header_params(),
        sent_by_gaps,
    )
        .prop_map(|(transport, host, port, branch, (rest_text, rest), gaps)| {
            let (g1, g2, g3, g4, g5, g6, g7) = gaps;
            let mut text = format!("SIP{g1}/{g2}2.0{g3}/{g4}{transport}{g5}{}", host.text());
            if let Some(p) = port {
                text.push_str(&format!("{g6}:{g7}{p}"));
            }
            text.push_str(&format!(";branch={branch}"));
            text.push_str(&rest_text);
            let mut params = vec![("branch".to_owned(), Some(branch))];
            params.extend(rest);
            GenVia {
                text,
                transport,
                host,
                port,
                params,
            }
        })
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

fn owned_params<'a>(iter: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> GenParams {
    iter.map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
        .collect()
}

/// The URI parsed from `g.text` has exactly the generated parts.
fn check_uri(g: &GenUri, uri: &Uri<'_>) -> Result<(), TestCaseError> {
    prop_assert_eq!(uri.as_str(), g.text.as_str());
    match (&g.kind, uri.kind()) {
        (
            GenKind::Sip {
                secure,
                user,
                password,
                host,
                port,
                params,
                headers,
            },
            UriKind::Sip(sip),
        ) => {
            prop_assert_eq!(sip.secure, *secure);
            prop_assert_eq!(sip.user, user.as_deref());
            prop_assert_eq!(sip.password, password.as_deref());
            prop_assert!(
                host.matches(&sip.host),
                "host {:?} read as {:?}",
                host,
                sip.host
            );
            prop_assert_eq!(sip.port, *port);
            let raw = params_text(params);
            prop_assert_eq!(sip.params.as_bytes(), raw.as_bytes());
            prop_assert_eq!(&owned_params(sip.params.iter()), params);
            prop_assert_eq!(sip.headers, headers.as_deref());
        }
        (GenKind::Tel { number, params }, UriKind::Tel(tel)) => {
            prop_assert_eq!(tel.number, number.as_str());
            prop_assert_eq!(&owned_params(tel.params.iter()), params);
        }
        (g, kind) => prop_assert!(false, "generated {:?}, parsed {:?}", g, kind),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn uris_parse_to_their_parts(g in uri()) {
        let uri = Uri::parse(&g.text).map_err(|e| TestCaseError::fail(format!("{:?}: {e}", g.text)))?;
        check_uri(&g, &uri)?;
    }

    #[test]
    fn host_port_rewrite_round_trips(g in sip_uri(), new_host in host(), new_port in prop::option::of(any::<u16>())) {
        let uri = Uri::parse(&g.text).unwrap();
        let sip = uri.sip().unwrap();
        let GenKind::Sip { host, port, .. } = &g.kind else { unreachable!() };
        // Writing the same host and port back gives the same text.
        prop_assert_eq!(uri.with_host_port(&host.text(), *port).unwrap(), g.text.as_str());
        // A new host and port change exactly those.
        let bare = match &new_host {
            GenHost::V6(a) => a.to_string(),
            other => other.text(),
        };
        let text = uri.with_host_port(&bare, new_port).unwrap();
        let rewritten = Uri::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let new = rewritten.sip().unwrap();
        prop_assert!(new_host.matches(&new.host));
        prop_assert_eq!(new.port, new_port);
        prop_assert_eq!(new.secure, sip.secure);
        prop_assert_eq!(new.user, sip.user);
        prop_assert_eq!(new.password, sip.password);
        prop_assert_eq!(new.params.as_bytes(), sip.params.as_bytes());
        prop_assert_eq!(new.headers, sip.headers);
    }

    #[test]
    fn name_addrs_parse_to_their_parts(g in name_addr()) {
        let na = NameAddr::parse(g.text.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{:?}: {e}", g.text)))?;
        let display = g.display.as_deref().map(|d| d.trim_matches([' ', '\t', '\r', '\n']));
        prop_assert_eq!(na.display, display);
        prop_assert_eq!(na.angle, g.angle);
        check_uri(&g.uri, &na.uri)?;
        prop_assert_eq!(&owned_params(na.params.iter()), &g.params);
        let tag = g.params.iter().find(|(n, _)| n.eq_ignore_ascii_case("tag")).and_then(|(_, v)| v.as_deref());
        prop_assert_eq!(na.tag(), tag);
    }

    #[test]
    fn vias_parse_to_their_parts(g in via()) {
        let v = Via::parse(g.text.as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{:?}: {e}", g.text)))?;
        prop_assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", g.transport.as_str()));
        prop_assert_eq!(v.host_text, g.host.text());
        prop_assert!(g.host.matches(&v.host));
        prop_assert_eq!(v.port, g.port);
        prop_assert_eq!(&owned_params(v.params.iter()), &g.params);
        prop_assert_eq!(v.branch(), g.params[0].1.as_deref());
    }
}

// ---------------------------------------------------------------------------------------
// Whole messages
// ---------------------------------------------------------------------------------------

/// A header field value that has no white space at either end; inner white space may be
/// folded onto a continuation line.
fn free_text() -> impl Strategy<Value = String> {
    prop::collection::vec(("[!-~]{1,10}", lws1()), 0..4).prop_map(|words| {
        let mut text = String::new();
        for (i, (w, gap)) in words.iter().enumerate() {
            if i > 0 {
                text.push_str(gap);
            }
            text.push_str(w);
        }
        text
    })
}

/// A header field: name as written and value.
fn header_field() -> impl Strategy<Value = (String, String)> {
    let via_list = prop::collection::vec(via(), 1..3).prop_map(|vs| {
        vs.iter()
            .map(|v| v.text.clone())
            .collect::<Vec<_>>()
            .join(", ")
    });
    prop_oneof![
        (prop::sample::select(vec!["Via", "v", "VIA"]), via_list)
            .prop_map(|(n, v)| (n.to_owned(), v)),
        (
            prop::sample::select(vec![
                "From",
                "f",
                "To",
                "t",
                "Contact",
                "m",
                "Route",
                "Record-Route",
                "Refer-To"
            ]),
            name_addr()
        )
            .prop_map(|(n, v)| (n.to_owned(), v.text)),
        (
            prop::sample::select(vec!["Call-ID", "i"]),
            "[a-zA-Z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,20}(@[a-zA-Z0-9.-]{1,12})?"
        )
            .prop_map(|(n, v)| (n.to_owned(), v)),
        (
            any::<u32>(),
            prop::sample::select(vec!["INVITE", "ACK", "BYE", "REGISTER", "FOO"])
        )
            .prop_map(|(n, m)| ("CSeq".to_owned(), format!("{n} {m}"))),
        (
            prop::sample::select(vec!["Max-Forwards", "Expires"]),
            any::<u32>()
        )
            .prop_map(|(n, v)| (n.to_owned(), v.to_string())),
        ("X-[a-zA-Z0-9-]{1,10}", free_text()),
    ]
}

#[derive(Debug, Clone)]
struct GenMessage {
    wire: Vec<u8>,
    /// Leading CRLFs, which the parser skips.
    skip: usize,
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn message() -> impl Strategy<Value = GenMessage> {
    let request = (
        prop::sample::select(vec![
            "INVITE",
            "REGISTER",
            "OPTIONS",
            "NOTIFY",
            "X-CUSTOM.method",
        ]),
        uri(),
    )
        .prop_map(|(m, u)| format!("{m} {} SIP/2.0", u.text));
    let response = (100u16..700, "([a-zA-Z][a-zA-Z ]{0,20})?")
        .prop_map(|(code, reason)| format!("SIP/2.0 {code} {reason}"));
    let start = prop_oneof![request, response];
    let colon = prop::sample::select(vec![": ", ":", " : ", ":\t", "\t:  "]);
    let headers = prop::collection::vec((header_field(), colon), 0..12);
    (
        prop::sample::select(vec!["", "", "\r\n", "\r\n\r\n"]),
        start,
        headers,
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(prefix, start, headers, cl_at, body)| {
            let mut fields: Vec<(String, String)> = Vec::new();
            let mut colons = Vec::new();
            for ((name, value), colon) in headers {
                fields.push((name, value));
                colons.push(colon);
            }
            let at = cl_at.index(fields.len() + 1);
            fields.insert(at, ("Content-Length".to_owned(), body.len().to_string()));
            colons.insert(at, ": ");
            let mut wire = format!("{prefix}{start}\r\n");
            for ((name, value), colon) in fields.iter().zip(&colons) {
                wire.push_str(&format!("{name}{colon}{value}\r\n"));
            }
            wire.push_str("\r\n");
            let mut wire = wire.into_bytes();
            wire.extend_from_slice(&body);
            GenMessage {
                wire,
                skip: prefix.len(),
                start,
                headers: fields,
                body,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn messages_parse_to_their_headers(g in message()) {
        for transport in [Transport::Datagram, Transport::Stream] {
            let msg = Message::parse(Bytes::from(g.wire.clone()), transport, &ParseLimits::default())
                .map_err(|e| TestCaseError::fail(format!("{transport:?}: {e}\n{:?}", String::from_utf8_lossy(&g.wire))))?;
            prop_assert_eq!(&msg.as_bytes()[..], &g.wire[g.skip..]);
            let start_end = g.start.len();
            prop_assert_eq!(&msg.as_bytes()[..start_end], g.start.as_bytes());
            let headers: Vec<(String, String)> = msg
                .headers()
                .map(|h| (String::from_utf8(h.raw_name.to_vec()).unwrap(), String::from_utf8(h.value.to_vec()).unwrap()))
                .collect();
            prop_assert_eq!(&headers, &g.headers);
            prop_assert_eq!(msg.body(), &g.body[..]);
            prop_assert_eq!(msg.content_length(), Some(g.body.len()));
            // Without edits the editor writes the message back unchanged.
            prop_assert_eq!(&msg.edit().finish(), msg.as_bytes());
        }
    }
}
