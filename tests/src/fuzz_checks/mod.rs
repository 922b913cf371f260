//! The invariants behind the fuzz targets in `fuzz/`, one function per target.
//!
//! Each function accepts arbitrary bytes. Whatever the input, the code under test must not
//! panic, loop or allocate without bound, and whatever it accepts must satisfy the
//! properties asserted here. `tests/tests/fuzz_regressions.rs` replays the seed corpora and
//! every saved crash input through the same functions, so `cargo test` covers them without
//! libFuzzer.

// libFuzzer learns that an invariant was violated only through a panic, so these checks
// assert and unwrap instead of returning errors.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod transaction;

pub use transaction::transaction;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use palisade_sip::auth::{self, Challenge, Credentials};
use palisade_sip::framing::{Frame, StreamFramer};
use palisade_sip::headers::{ContactValue, NameAddr, TokenParams, Via};
use palisade_sip::sdp::{Address, NullHold, Sdp, SdpLimits, is_ice_attribute};
use palisade_sip::uri::{Host, Uri, UriKind};
use palisade_sip::validate::{check_request, check_response, unsupported_requirements};
use palisade_sip::{HeaderName, Message, ParseLimits, Transport};

/// Limits for re-parsing a message or header that an edit made longer than the input.
fn loose_limits() -> ParseLimits {
    ParseLimits {
        max_message_size: 1 << 20,
        max_headers: 1 << 12,
        max_header_len: 1 << 20,
    }
}

/// A stable hash of the input, for choices that must be the same on every replay.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Number of leading CR and LF octets, which the parser skips (RFC 3261 §7.5).
fn leading_crlf(data: &[u8]) -> usize {
    data.iter()
        .take_while(|&&c| c == b'\r' || c == b'\n')
        .count()
}

// ---------------------------------------------------------------------------------------
// parse
// ---------------------------------------------------------------------------------------

/// `Message::parse` never panics on any input, as a datagram or from a stream. What it
/// accepts is a prefix of the input (after the skipped CRLFs), parses again to the same
/// message, and every typed accessor, the validators and the authentication header
/// parsers can be run over it without panicking.
pub fn parse(data: &[u8]) {
    let limits = ParseLimits::default();
    let skip = leading_crlf(data);
    for transport in [Transport::Datagram, Transport::Stream] {
        let msg = match Message::parse(Bytes::copy_from_slice(data), transport, &limits) {
            Ok(msg) => msg,
            Err(e) => {
                let _ = e.verdict();
                let _ = e.to_string();
                continue;
            }
        };
        let bytes = msg.as_bytes();
        assert!(
            data[skip..].starts_with(bytes),
            "{transport:?}: the message is not a prefix of the input"
        );
        assert!(bytes.len() <= limits.max_message_size);
        assert!(msg.head_len() <= bytes.len());
        assert_eq!(&bytes[msg.head_len()..], msg.body());
        assert_eq!(&msg.body_bytes()[..], msg.body());
        match msg.content_length() {
            Some(n) => assert_eq!(msg.body().len(), n, "{transport:?}: body length"),
            None => {
                assert_eq!(
                    transport,
                    Transport::Datagram,
                    "stream without Content-Length"
                );
                assert_eq!(
                    bytes.len(),
                    data.len() - skip,
                    "datagram body runs to the end"
                );
            }
        }
        assert!(msg.headers().count() <= limits.max_headers);

        // Parsing what was accepted gives the same message.
        let again = Message::parse(bytes.clone(), transport, &limits)
            .unwrap_or_else(|e| panic!("{transport:?}: accepted bytes do not parse again: {e}"));
        assert_eq!(again.as_bytes(), bytes);
        assert_eq!(again.head_len(), msg.head_len());
        assert!(
            again
                .headers()
                .map(|h| (h.raw_name, h.value))
                .eq(msg.headers().map(|h| (h.raw_name, h.value)))
        );

        exercise_message(&msg);
    }
}

/// Runs every accessor over a parsed message; results are ignored, panics are not.
fn exercise_message(msg: &Message) {
    let _ = (
        msg.start_line(),
        msg.is_request(),
        msg.method(),
        msg.status(),
    );
    let _ = (msg.reason(), msg.request_uri_str());
    if let Some(Ok(uri)) = msg.request_uri() {
        exercise_uri(&uri);
    }
    for h in msg.headers() {
        check_header_value(h.raw_name, h.value);
        assert_eq!(HeaderName::from_bytes(h.raw_name), h.name);
        if let Ok(name) = std::str::from_utf8(h.raw_name) {
            assert!(msg.headers_by_raw_name(name).any(|o| o.index == h.index));
        }
        match h.name {
            HeaderName::WwwAuthenticate | HeaderName::ProxyAuthenticate => {
                exercise_challenge(h.value);
            }
            HeaderName::Authorization | HeaderName::ProxyAuthorization => {
                exercise_credentials(h.value);
            }
            _ => {}
        }
    }
    if let Ok(via) = msg.via() {
        exercise_via(&via);
    }
    for via in msg.vias().flatten() {
        exercise_via(&via);
    }
    for na in [msg.from(), msg.to()].into_iter().flatten() {
        exercise_name_addr(&na);
    }
    let _ = msg.call_id();
    let _ = msg.cseq();
    let _ = msg.max_forwards();
    let _ = msg.expires();
    for tp in [msg.content_type(), msg.event(), msg.session_expires()]
        .into_iter()
        .flatten()
        .flatten()
    {
        exercise_token_params(&tp);
    }
    if let Some(Ok(na)) = msg.refer_to() {
        exercise_name_addr(&na);
    }
    for c in msg.contacts().flatten() {
        if let ContactValue::Address(na) = c {
            exercise_name_addr(&na);
        }
    }
    for name in [
        HeaderName::Route,
        HeaderName::RecordRoute,
        HeaderName::Path,
        HeaderName::ReferredBy,
    ] {
        for na in msg.name_addrs(name).flatten() {
            exercise_name_addr(&na);
        }
    }
    for name in [
        HeaderName::Supported,
        HeaderName::Unsupported,
        HeaderName::Require,
        HeaderName::ProxyRequire,
        HeaderName::Allow,
        HeaderName::AllowEvents,
    ] {
        let _ = msg.tokens(name).count();
        let _ = msg.values(name).count();
    }
    for name in [
        HeaderName::UserAgent,
        HeaderName::Server,
        HeaderName::Subject,
    ] {
        let _ = msg.text(name);
    }
    let _ = check_request(msg);
    let _ = check_response(msg);
    let _ = unsupported_requirements(msg, &["100rel", "timer", "path"]);
}

/// A header name is a non-empty token and a value is trimmed, with CR and LF only as part
/// of line folding (CRLF followed by white space).
fn check_header_value(name: &[u8], value: &[u8]) {
    assert!(!name.is_empty(), "empty header name");
    assert!(
        !name
            .iter()
            .any(|c| matches!(c, b':' | b' ' | b'\t' | b'\r' | b'\n'))
    );
    assert!(!value.first().is_some_and(|c| matches!(c, b' ' | b'\t')));
    assert!(!value.last().is_some_and(|c| matches!(c, b' ' | b'\t')));
    for (i, &c) in value.iter().enumerate() {
        match c {
            b'\r' => assert!(
                value.get(i + 1) == Some(&b'\n') && matches!(value.get(i + 2), Some(b' ' | b'\t')),
                "CR in a header value that is not folding"
            ),
            b'\n' => assert!(i > 0 && value[i - 1] == b'\r', "bare LF in a header value"),
            _ => {}
        }
    }
}

/// Reads every part of a URI and, for SIP URIs, checks that replacing host and port
/// changes exactly those.
fn exercise_uri(uri: &Uri<'_>) {
    assert_eq!(Uri::parse(uri.as_str()).as_ref(), Ok(uri));
    match uri.kind() {
        UriKind::Sip(sip) => {
            let _ = sip.params.iter().count();
            let _ = sip.params.get("transport");
            let _ = sip.params.is_empty();
            let _ = sip.host.ip();
            for (host, expect) in [
                ("192.0.2.1", Host::V4(Ipv4Addr::new(192, 0, 2, 1))),
                (
                    "2001:db8::1",
                    Host::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                ),
            ] {
                let text = uri.with_host_port(host, Some(5070)).unwrap();
                let rewritten = Uri::parse(&text)
                    .unwrap_or_else(|e| panic!("{text:?} (from {:?}): {e}", uri.as_str()));
                let new = rewritten.sip().unwrap();
                assert_eq!(new.host, expect, "{text:?}");
                assert_eq!(new.port, Some(5070), "{text:?}");
                assert_eq!(new.secure, sip.secure);
                assert_eq!(new.user, sip.user);
                assert_eq!(new.password, sip.password);
                assert_eq!(new.params.as_bytes(), sip.params.as_bytes());
                assert_eq!(new.headers, sip.headers);
            }
        }
        UriKind::Tel(tel) => {
            let _ = tel.params.iter().count();
        }
        UriKind::Other { .. } => {
            assert!(uri.with_host_port("192.0.2.1", None).is_none());
        }
    }
}

fn exercise_via(via: &Via<'_>) {
    let _ = (
        via.branch(),
        via.has_rfc3261_branch(),
        via.received(),
        via.rport(),
    );
    let _ = via.params.iter().count();
    let _ = via.host.ip();
}

fn exercise_name_addr(na: &NameAddr<'_>) {
    let _ = na.tag();
    let _ = na.params.iter().count();
    exercise_uri(&na.uri);
}

fn exercise_token_params(tp: &TokenParams<'_>) {
    let _ = tp.number();
    let _ = tp.params.iter().count();
}

/// Limits for re-parsing a serialised header, which quoting may have made longer.
const LOOSE_AUTH: auth::Limits = auth::Limits {
    max_input_len: 1 << 20,
    max_params: 1 << 10,
    max_value_len: 1 << 16,
};

/// A challenge that parses serialises to text that parses back to the same challenge.
fn exercise_challenge(value: &[u8]) {
    if let Ok(c) = Challenge::parse(value) {
        let _ = c.as_digest().map(|d| d.effective_algorithm());
        let text = c.to_string();
        assert_eq!(
            Challenge::parse_with_limits(text.as_bytes(), &LOOSE_AUTH),
            Ok(c),
            "challenge {:?} serialised as {text:?}",
            String::from_utf8_lossy(value)
        );
    }
}

/// Credentials that parse serialise to text that parses back to the same credentials.
fn exercise_credentials(value: &[u8]) {
    if let Ok(c) = Credentials::parse(value) {
        let _ = c.as_digest().map(|d| d.effective_algorithm());
        let text = c.to_string();
        assert_eq!(
            Credentials::parse_with_limits(text.as_bytes(), &LOOSE_AUTH),
            Ok(c),
            "credentials {:?} serialised as {text:?}",
            String::from_utf8_lossy(value)
        );
    }
}

// ---------------------------------------------------------------------------------------
// roundtrip
// ---------------------------------------------------------------------------------------

const REPLACEMENT: &str = "palisade-replaced";
const NEW_BODY: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nt=0 0\r\n";
const NEW_CONTENT_TYPE: &str = "application/sdp";
const RPORT: u16 = 5062;

/// A message that parses is written back unchanged by an editor with no edits; after a Via
/// `received`/`rport` edit, a header replacement and a new body, it parses again with the
/// edits visible and every other header field unchanged, in order.
pub fn roundtrip(data: &[u8]) {
    let Ok(msg) = Message::parse(
        Bytes::copy_from_slice(data),
        Transport::Datagram,
        &ParseLimits::default(),
    ) else {
        return;
    };
    roundtrip_without_edits(&msg);
    roundtrip_with_edits(&msg, fnv1a(data));
}

fn reparse(bytes: &Bytes, what: &str) -> Message {
    let msg =
        Message::parse(bytes.clone(), Transport::Datagram, &loose_limits()).unwrap_or_else(|e| {
            panic!(
                "{what} does not parse: {e}\n{:?}",
                String::from_utf8_lossy(bytes)
            )
        });
    assert_eq!(msg.as_bytes(), bytes, "{what} is not parsed whole");
    msg
}

fn start_line(msg: &Message) -> &[u8] {
    let b = msg.as_bytes();
    let end = b.windows(2).position(|w| w == b"\r\n").unwrap_or(b.len());
    &b[..end]
}

fn roundtrip_without_edits(msg: &Message) {
    let out = msg.edit().finish();
    let length = msg.body().len().to_string();
    let canonical = msg
        .headers_named(HeaderName::ContentLength)
        .next()
        .is_some_and(|h| h.value == length.as_bytes());
    if canonical {
        assert_eq!(
            &out,
            msg.as_bytes(),
            "an editor without edits changed the message"
        );
        return;
    }
    // Content-Length was missing or written unusually (`007`): the editor writes it to
    // match the body and changes nothing else.
    let again = reparse(&out, "the message with Content-Length fixed");
    assert_eq!(again.content_length(), Some(msg.body().len()));
    assert_eq!(again.body(), msg.body());
    assert_eq!(start_line(&again), start_line(msg));
    let others = |m: &Message| -> Vec<(Vec<u8>, Vec<u8>)> {
        m.headers()
            .filter(|h| h.name != HeaderName::ContentLength)
            .map(|h| (h.raw_name.to_vec(), h.value.to_vec()))
            .collect()
    };
    assert_eq!(others(&again), others(msg));
}

fn roundtrip_with_edits(msg: &Message, seed: u64) {
    let received = if seed & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77))
    } else {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x77))
    };
    let first_index = |name| msg.headers_named(name).next().map(|h| h.index);
    let via_index = first_index(HeaderName::Via);
    let ct_index = first_index(HeaderName::ContentType);
    let cl_index = first_index(HeaderName::ContentLength);
    // Any field but Via (all of whose elements are compared below), the Content-Type and
    // Content-Length that set_body rewrites.
    let candidates: Vec<usize> = msg
        .headers()
        .filter(|h| h.name != HeaderName::Via)
        .map(|h| h.index)
        .filter(|i| ![ct_index, cl_index].contains(&Some(*i)))
        .collect();
    let replaced =
        (!candidates.is_empty()).then(|| candidates[(seed >> 1) as usize % candidates.len()]);

    let mut editor = msg.edit();
    let via_edited = editor.set_via_received(received, Some(RPORT)).is_ok();
    if let Some(i) = replaced {
        editor.replace(i, REPLACEMENT).unwrap();
    }
    editor
        .set_body(Bytes::from_static(NEW_BODY), Some(NEW_CONTENT_TYPE))
        .unwrap();
    let out = editor.finish();
    let edited = reparse(&out, "the edited message");

    assert_eq!(start_line(&edited), start_line(msg));
    assert_eq!(edited.body(), NEW_BODY);
    assert_eq!(edited.content_length(), Some(NEW_BODY.len()));

    let before: Vec<_> = msg.headers().collect();
    let after: Vec<_> = edited.headers().collect();
    let added = usize::from(ct_index.is_none()) + usize::from(cl_index.is_none());
    assert_eq!(after.len(), before.len() + added, "header count");
    let length = NEW_BODY.len().to_string();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.raw_name, b.raw_name, "header {} renamed", b.index);
        let i = Some(b.index);
        if i == replaced {
            assert_eq!(a.value, REPLACEMENT.as_bytes());
        } else if i == ct_index {
            assert_eq!(a.value, NEW_CONTENT_TYPE.as_bytes());
        } else if i == cl_index {
            assert_eq!(a.value, length.as_bytes());
        } else if i != via_index || !via_edited {
            assert_eq!(
                a.value,
                b.value,
                "header {} ({:?}) changed",
                b.index,
                String::from_utf8_lossy(b.raw_name)
            );
        }
    }
    for a in &after[before.len()..] {
        match a.name {
            HeaderName::ContentType => assert_eq!(a.value, NEW_CONTENT_TYPE.as_bytes()),
            HeaderName::ContentLength => assert_eq!(a.value, length.as_bytes()),
            other => panic!("unexpected added header {other:?}"),
        }
    }
    if via_edited {
        check_via_edit(msg, &edited, received);
    }
}

/// The top Via element carries the new `received` and `rport`; its other parts and
/// parameters, and every other Via element, are as before.
fn check_via_edit(msg: &Message, edited: &Message, received: IpAddr) {
    assert!(
        edited
            .values(HeaderName::Via)
            .skip(1)
            .eq(msg.values(HeaderName::Via).skip(1)),
        "Via elements below the top one changed"
    );
    let Ok(old) = msg.via() else {
        return;
    };
    let kept = |v: &Via<'_>| -> Vec<(String, Option<String>)> {
        v.params
            .iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("received") && !n.eq_ignore_ascii_case("rport")
            })
            .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
            .collect()
    };
    if kept(&old).len() + 2 > palisade_sip::uri::MAX_URI_PARAMS {
        return;
    }
    let new = edited.via().unwrap_or_else(|e| {
        panic!(
            "the edited top Via does not parse: {e}: {:?}",
            edited
                .values(HeaderName::Via)
                .next()
                .map(String::from_utf8_lossy)
        )
    });
    assert_eq!(new.received(), Some(received));
    assert_eq!(new.rport(), Some(Some(RPORT)));
    assert_eq!(
        (new.protocol, new.version, new.transport, new.host, new.port),
        (old.protocol, old.version, old.transport, old.host, old.port)
    );
    assert_eq!(kept(&new), kept(&old));
}

// ---------------------------------------------------------------------------------------
// framing
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum Framed {
    Message(Bytes),
    Ping,
    Pong,
}

impl Framed {
    fn wire(&self) -> &[u8] {
        match self {
            Self::Message(b) => b,
            Self::Ping => b"\r\n\r\n",
            Self::Pong => b"\r\n",
        }
    }
}

/// Frames `data` arriving in the given chunks; returns the frames and whether framing
/// stopped on an error.
fn run_framer(data: &[u8], chunks: &[usize], limits: ParseLimits) -> (Vec<Framed>, bool) {
    let bound = limits.max_message_size * 2;
    let mut framer = StreamFramer::new(limits);
    let mut frames = Vec::new();
    let mut rest = data;
    for &len in chunks {
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        if framer.push(chunk).is_err() {
            return (frames, true);
        }
        assert!(
            framer.buffered() <= bound,
            "framer holds more than twice the limit"
        );
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(m))) => {
                    check_framed_message(&m, limits);
                    frames.push(Framed::Message(m.as_bytes().clone()));
                }
                Ok(Some(Frame::Ping)) => frames.push(Framed::Ping),
                Ok(Some(Frame::Pong)) => frames.push(Framed::Pong),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
            assert!(
                framer.buffered() <= bound,
                "framer holds more than twice the limit"
            );
        }
    }
    (frames, false)
}

/// A framed message is what `Message::parse` makes of the same bytes on a stream.
fn check_framed_message(m: &Message, limits: ParseLimits) {
    let bytes = m.as_bytes();
    assert!(bytes.len() <= limits.max_message_size);
    assert_eq!(m.content_length(), Some(m.body().len()));
    let parsed = Message::parse(bytes.clone(), Transport::Stream, &limits)
        .unwrap_or_else(|e| panic!("a framed message does not parse: {e}"));
    assert_eq!(parsed.as_bytes(), bytes);
    assert_eq!(parsed.head_len(), m.head_len());
}

/// Chunk lengths derived from the input: mostly short, sometimes long.
fn chunk_lengths(data: &[u8]) -> Vec<usize> {
    let mut state = fnv1a(data) | 1;
    let mut lens = Vec::new();
    let mut total = 0;
    while total < data.len() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = if state.is_multiple_of(8) {
            1 + (state >> 8) as usize % 2048
        } else {
            1 + (state >> 8) as usize % 24
        };
        lens.push(len);
        total += len;
    }
    lens
}

/// Fed to a stream framer in chunks, the input comes out as messages and keep-alives that,
/// concatenated, are a prefix of it; the framer never buffers more than twice its message
/// limit; and the input pushed in one go gives the same frames.
pub fn framing(data: &[u8]) {
    let small = ParseLimits {
        max_message_size: 1024,
        max_headers: 16,
        max_header_len: 256,
    };
    for limits in [ParseLimits::default(), small] {
        let (frames, failed) = run_framer(data, &chunk_lengths(data), limits);
        let wire: Vec<u8> = frames
            .iter()
            .flat_map(|f| f.wire().iter().copied())
            .collect();
        assert!(
            data.starts_with(&wire),
            "frames are not a prefix of the input"
        );
        if data.len() <= limits.max_message_size * 2 {
            let whole = run_framer(data, &[data.len()], limits);
            assert_eq!(whole, (frames, failed), "chunking changed the frames");
        }
    }
}

// ---------------------------------------------------------------------------------------
// sdp
// ---------------------------------------------------------------------------------------

/// The line's text without its line ending.
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether the relay edits below may change, add or remove this line.
fn edited_line(line: &[u8]) -> bool {
    if line.starts_with(b"c=") || line.starts_with(b"m=") || line.starts_with(b"o=") {
        return true;
    }
    let Some(attr) = line.strip_prefix(b"a=") else {
        return false;
    };
    let name = attr.split(|&c| c == b':').next().unwrap_or_default();
    name == b"rtcp" || std::str::from_utf8(name).is_ok_and(is_ice_attribute)
}

fn unedited_lines(body: &[u8]) -> Vec<&[u8]> {
    body.split_inclusive(|&c| c == b'\n')
        .map(trim_eol)
        .filter(|l| !edited_line(l))
        .collect()
}

/// `Sdp::parse` never panics; what it accepts is rebuilt byte for byte without edits, and
/// after the edits a relay makes (connection address, media ports, `a=rtcp`, ICE removal,
/// version bump) parses again with those values and every other line unchanged.
pub fn sdp(data: &[u8]) {
    let limits = SdpLimits::default();
    let Ok(sdp) = Sdp::parse(data, &limits) else {
        return;
    };
    assert_eq!(sdp.as_bytes(), data);
    assert_eq!(
        sdp.edit().build(),
        data,
        "an editor without edits changed the body"
    );
    exercise_sdp(&sdp);

    let relay = if fnv1a(data) & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))
    } else {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9))
    };
    let port = |i: usize| 40_000 + 2 * u16::try_from(i).unwrap();
    let mut editor = sdp.edit();
    editor
        .set_connection_address(relay, NullHold::Overwrite)
        .remove_ice();
    let bumped = editor.bump_version().is_ok();
    for i in 0..sdp.media_count() {
        editor.set_media_port(i, port(i)).unwrap();
        let rtcp_addr = (i % 2 == 1).then_some(relay);
        editor.set_rtcp(i, port(i) + 1, rtcp_addr).unwrap();
    }
    let out = editor.build();
    let edited = Sdp::parse(
        &out,
        &SdpLimits {
            max_body_len: usize::MAX,
            max_lines: usize::MAX,
            max_line_len: usize::MAX,
            ..limits
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "the edited description does not parse: {e}\n{:?}",
            String::from_utf8_lossy(&out)
        )
    });
    exercise_sdp(&edited);

    let version = sdp.origin().sess_version;
    let expected = if bumped { version + 1 } else { version };
    assert_eq!(edited.origin().sess_version, expected);
    assert!(!edited.has_ice(), "ICE attributes left after remove_ice");
    if let Some(c) = edited.connection() {
        assert_eq!(c.address, Address::Ip(relay));
    }
    assert_eq!(edited.media_count(), sdp.media_count());
    for (i, (before, after)) in sdp
        .media_sections()
        .zip(edited.media_sections())
        .enumerate()
    {
        assert_eq!(after.port(), port(i));
        assert_eq!(after.port_count(), before.port_count());
        assert_eq!(after.proto(), before.proto());
        assert!(after.formats().eq(before.formats()));
        let conn = after
            .connection()
            .expect("a media section without a connection");
        assert_eq!(conn.address, Address::Ip(relay), "media {i} connection");
        let rtcp = after.rtcp().expect("a media section without a=rtcp");
        assert_eq!(rtcp.port, port(i) + 1);
        if i % 2 == 1 {
            assert_eq!(rtcp.connection.map(|c| c.address), Some(Address::Ip(relay)));
        }
    }
    assert_eq!(
        unedited_lines(&out),
        unedited_lines(data),
        "lines the edits do not concern changed"
    );
}

/// Runs every accessor over a parsed description.
fn exercise_sdp(sdp: &Sdp) {
    let o = sdp.origin();
    let _ = (o.username, o.sess_id, o.address.ip(), o.address.to_string());
    for c in sdp.connections() {
        let _ = (c.is_null_hold(), c.address.ip(), c.address.is_unspecified());
    }
    for a in sdp.attributes() {
        let _ = (a.name(), a.value(), a.is_flag(), a.raw_value());
    }
    let _ = (
        sdp.direction(),
        sdp.ice_lite(),
        sdp.ice_ufrag(),
        sdp.ice_pwd(),
    );
    let _ = (sdp.ice_options(), sdp.has_ice());
    for m in sdp.media_sections() {
        let _ = (
            m.index(),
            m.media_type().as_str(),
            m.port(),
            m.port_count(),
            m.proto(),
        );
        let _ = m.formats().count();
        let _ = (
            m.is_rejected(),
            m.is_null_held(),
            m.is_on_hold(),
            m.direction(),
        );
        let _ = m.connections().count();
        let _ = (
            m.rtcp(),
            m.rtcp_mux(),
            m.ptime(),
            m.rtpmaps().count(),
            m.rtpmap(0),
        );
        let _ = (
            m.ice_candidates().count(),
            m.ice_ufrag(),
            m.ice_pwd(),
            m.ice_options(),
        );
        let _ = (m.end_of_candidates(), m.remote_candidates());
    }
}
