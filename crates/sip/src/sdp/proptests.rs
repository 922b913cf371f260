//! Property tests: generated descriptions round-trip byte for byte, edits are reflected by
//! a re-parse and touch nothing else, and no input makes the parser or editor panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

/// A generated description together with the facts the checks need.
#[derive(Debug, Clone)]
struct Generated {
    body: String,
    ports: Vec<u16>,
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(|a| format!("IP4 {a}")),
        any::<Ipv6Addr>().prop_map(|a| format!("IP6 {a}")),
        "[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,6}){0,2}".prop_map(|h| format!("IP4 {h}")),
    ]
}

fn connection() -> impl Strategy<Value = String> {
    address().prop_map(|a| format!("c=IN {a}"))
}

fn attribute() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "sendrecv",
            "sendonly",
            "recvonly",
            "inactive",
            "rtcp-mux",
            "ice-lite",
            "end-of-candidates",
        ])
        .prop_map(str::to_owned),
        (0u8..128, "[A-Za-z0-9-]{1,10}", 1u32..200_000)
            .prop_map(|(pt, enc, rate)| format!("rtpmap:{pt} {enc}/{rate}")),
        (1u32..200).prop_map(|p| format!("ptime:{p}")),
        any::<u16>().prop_map(|p| format!("rtcp:{p}")),
        (any::<u16>(), any::<Ipv4Addr>()).prop_map(|(p, a)| format!("rtcp:{p} IN IP4 {a}")),
        (any::<u32>(), any::<Ipv4Addr>(), any::<u16>())
            .prop_map(|(prio, a, p)| format!("candidate:1 1 UDP {prio} {a} {p} typ host")),
        "[A-Za-z0-9+/]{4,24}".prop_map(|u| format!("ice-ufrag:{u}")),
        "[a-z][a-z0-9-]{0,10}(:[ -~]{0,30})?"
            .prop_filter("a=rtcp is generated well-formed above", |a| {
                a != "rtcp" && !a.starts_with("rtcp:")
            }),
    ]
    .prop_map(|a| format!("a={a}"))
}

/// One media section and its port.
fn media(needs_connection: bool) -> impl Strategy<Value = (Vec<String>, u16)> {
    let kind = prop::sample::select(vec!["audio", "video", "application", "text", "image"]);
    let proto = prop::sample::select(vec![
        "RTP/AVP",
        "RTP/SAVP",
        "RTP/AVPF",
        "UDP/TLS/RTP/SAVPF",
        "udptl",
    ]);
    let count = prop::option::of(1u16..8);
    let formats = prop::collection::vec(0u8..128, 1..5);
    let conns = prop::collection::vec(connection(), usize::from(needs_connection)..3);
    let attrs = prop::collection::vec(attribute(), 0..6);
    (kind, any::<u16>(), count, proto, formats, conns, attrs).prop_map(
        |(kind, port, count, proto, formats, conns, attrs)| {
            let count = count.map(|c| format!("/{c}")).unwrap_or_default();
            let formats: Vec<String> = formats.iter().map(u8::to_string).collect();
            let mut lines = vec![format!(
                "m={kind} {port}{count} {proto} {}",
                formats.join(" ")
            )];
            lines.extend(conns);
            lines.extend(attrs);
            (lines, port)
        },
    )
}

/// A valid description in which every media section has an applicable `c=`, with a random
/// mix of CRLF and LF endings and an optional missing final ending.
fn description() -> impl Strategy<Value = Generated> {
    let origin = ("[A-Za-z0-9_-]{1,8}", any::<u64>(), any::<u64>(), address())
        .prop_map(|(user, id, version, addr)| format!("o={user} {id} {version} IN {addr}"));
    let session_conn = prop::option::of(connection());
    (origin, session_conn)
        .prop_flat_map(|(origin, session_conn)| {
            let needs = session_conn.is_none();
            (
                Just(origin),
                Just(session_conn),
                "[ -~]{0,20}",
                prop::collection::vec(attribute(), 0..4),
                prop::collection::vec(media(needs), 0..4),
                prop::collection::vec(any::<bool>(), 64),
                any::<bool>(),
            )
        })
        .prop_map(
            |(origin, session_conn, name, attrs, media, crlf, terminated)| {
                let mut lines = vec!["v=0".to_owned(), origin, format!("s={name}")];
                lines.extend(session_conn);
                lines.push("t=0 0".to_owned());
                lines.extend(attrs);
                let ports = media.iter().map(|(_, port)| *port).collect();
                lines.extend(media.into_iter().flat_map(|(lines, _)| lines));
                Generated {
                    body: join(&lines, &crlf, terminated),
                    ports,
                }
            },
        )
}

fn join(lines: &[String], crlf: &[bool], terminated: bool) -> String {
    let mut body = String::new();
    for (i, line) in lines.iter().enumerate() {
        body.push_str(line);
        if i + 1 < lines.len() || terminated {
            let use_crlf = crlf.get(i % crlf.len().max(1)).copied().unwrap_or(true);
            body.push_str(if use_crlf { "\r\n" } else { "\n" });
        }
    }
    body
}

/// Lines that are not `c=` lines, with their endings.
fn non_connection_lines(body: &[u8]) -> Vec<&[u8]> {
    body.split_inclusive(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"c="))
        .collect()
}

/// Applies every kind of edit the editor offers; the result must always parse.
fn edit_everything(sdp: &Sdp) -> Bytes {
    let relay = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let mut editor = sdp.edit();
    editor
        .set_connection_address(relay, NullHold::Preserve)
        .set_origin_address(relay)
        .remove_ice();
    let _ = editor.bump_version();
    for i in 0..sdp.media_count() {
        let _ = editor.set_media_port(i, 1234);
        let _ = editor.set_rtcp(i, 1235, Some(relay));
        let _ = editor.set_direction(i, Direction::Inactive);
    }
    editor.build()
}

proptest! {
    #[test]
    fn generated_descriptions_round_trip(g in description()) {
        let sdp = Sdp::parse(g.body.as_bytes(), &SdpLimits::default()).unwrap();
        prop_assert_eq!(sdp.edit().build(), g.body.as_bytes());
        prop_assert_eq!(sdp.as_bytes(), g.body.as_bytes());
        let ports: Vec<u16> = sdp.media_sections().map(|m| m.port()).collect();
        prop_assert_eq!(ports, g.ports);
        prop_assert!(sdp.media_sections().all(|m| m.connection().is_some()));
    }

    #[test]
    fn address_rewrite_changes_only_connection_lines(
        g in description(),
        addr in any::<IpAddr>(),
    ) {
        let sdp = Sdp::parse(g.body.as_bytes(), &SdpLimits::default()).unwrap();
        let mut editor = sdp.edit();
        editor.set_connection_address(addr, NullHold::Overwrite);
        let out = editor.build();
        let edited = Sdp::parse(&out, &SdpLimits::default()).unwrap();
        for media in edited.media_sections() {
            let conn = media.connection().unwrap();
            prop_assert_eq!(conn.address, Address::Ip(addr));
            prop_assert_eq!(conn.addrtype, AddrType::of(addr));
        }
        if let Some(conn) = edited.connection() {
            prop_assert_eq!(conn.address, Address::Ip(addr));
        }
        prop_assert_eq!(non_connection_lines(&out), non_connection_lines(g.body.as_bytes()));
        prop_assert_eq!(edited.index.conns.len(), sdp.index.conns.len());
    }

    #[test]
    fn media_edits_are_reflected(
        g in description(),
        port in any::<u16>(),
        rtcp in any::<u16>(),
        version in any::<u64>(),
    ) {
        let sdp = Sdp::parse(g.body.as_bytes(), &SdpLimits::default()).unwrap();
        let mut editor = sdp.edit();
        editor.remove_ice().set_version(version);
        for i in 0..sdp.media_count() {
            editor.set_media_port(i, port).unwrap();
            editor.set_rtcp(i, rtcp, None).unwrap();
            editor.set_direction(i, Direction::SendOnly).unwrap();
        }
        let edited = Sdp::parse(&editor.build(), &SdpLimits::default()).unwrap();
        prop_assert!(!edited.has_ice());
        prop_assert_eq!(edited.origin().sess_version, version);
        prop_assert_eq!(edited.media_count(), sdp.media_count());
        for (before, after) in sdp.media_sections().zip(edited.media_sections()) {
            prop_assert_eq!(after.port(), port);
            prop_assert_eq!(after.port_count(), before.port_count());
            prop_assert_eq!(after.rtcp().map(|r| r.port), Some(rtcp));
            prop_assert_eq!(after.direction(), Direction::SendOnly);
            prop_assert_eq!(after.rtpmaps().count(), before.rtpmaps().count());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in any::<Vec<u8>>()) {
        if let Ok(sdp) = Sdp::parse(&body, &SdpLimits::default()) {
            prop_assert!(Sdp::parse(&edit_everything(&sdp), &SdpLimits::default()).is_ok());
        }
    }

    #[test]
    fn mutated_descriptions_never_panic(
        g in description(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut body = g.body.into_bytes();
        for (at, byte) in mutations {
            let i = at.index(body.len());
            body[i] = byte;
        }
        if let Ok(sdp) = Sdp::parse(&body, &SdpLimits::default()) {
            let edited = edit_everything(&sdp);
            prop_assert!(Sdp::parse(&edited, &SdpLimits::default()).is_ok());
        }
    }
}
