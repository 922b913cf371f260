//! Example-based tests with descriptions as real endpoints write them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

/// Turns a readable LF-separated literal into the CRLF body phones send.
fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

fn parse(text: &str) -> Sdp {
    Sdp::parse(text.as_bytes(), &SdpLimits::default()).unwrap()
}

fn parse_err(text: &str) -> SdpError {
    Sdp::parse(text.as_bytes(), &SdpLimits::default()).unwrap_err()
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn built(editor: &SdpEditor<'_>) -> String {
    String::from_utf8(editor.build().to_vec()).unwrap()
}

const BARESIP_OFFER: &str = "v=0
o=- 1846375925 1423526436 IN IP4 192.168.1.23
s=-
c=IN IP4 192.168.1.23
t=0 0
a=tool:baresip 1.0.0
a=ice-options:trickle
m=audio 10000 RTP/AVP 96 0 8 101
b=AS:77
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
a=label:1
a=rtcp-rsize
a=ice-ufrag:bQ0o
a=ice-pwd:Pz8T1m4JkkbC1iAQV8n0Fa
a=candidate:1 1 UDP 2113932031 192.168.1.23 10000 typ host
a=candidate:1 2 UDP 2113932030 192.168.1.23 10001 typ host
a=candidate:2 1 UDP 1677721855 203.0.113.7 31000 typ srflx raddr 192.168.1.23 rport 10000
a=end-of-candidates
";

const ASTERISK_ANSWER: &str = "v=0
o=- 1846375925 1846375927 IN IP4 198.51.100.10
s=Asterisk
c=IN IP4 198.51.100.10
t=0 0
m=audio 18520 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
";

const WEBRTC_OFFER: &str = "v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS stream0
m=audio 50000 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 203.0.113.50
a=rtcp:50000 IN IP4 203.0.113.50
a=candidate:842163049 1 udp 1677729535 203.0.113.50 50000 typ srflx raddr 10.0.0.5 rport 50000 generation 0
a=ice-ufrag:EsAw
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
a=ice-options:trickle
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F
a=setup:actpass
a=mid:0
a=sendrecv
a=msid:stream0 track0
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
m=video 50000 UDP/TLS/RTP/SAVPF 96 97
c=IN IP4 203.0.113.50
a=rtcp:50000 IN IP4 203.0.113.50
a=ice-ufrag:EsAw
a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
a=ice-options:trickle
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F
a=setup:actpass
a=mid:1
a=recvonly
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
";

/// A re-INVITE putting the call on hold the RFC 3264 way.
const HOLD_SENDONLY: &str = "v=0
o=alice 2890844526 2890844527 IN IP4 192.0.2.101
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=sendonly
";

/// The RFC 2543 way: a null connection address, still sent by older phones.
const HOLD_NULL: &str = "v=0
o=bob 2808844564 2808844565 IN IP4 192.0.2.201
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 3456 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

/// An answer accepting audio and rejecting video.
const REJECTED_VIDEO: &str = "v=0
o=bob 2808844564 2808844564 IN IP4 192.0.2.201
s=-
c=IN IP4 192.0.2.201
t=0 0
m=audio 49174 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 31
";

/// RFC 5118 §4.6.
const RFC5118_IPV6: &str = "v=0
o=assistant 971731711378798081 0 IN IP6 2001:db8::20
s=Live video feed for today's meeting
c=IN IP6 2001:db8::20
t=3338481189 3370017201
m=audio 6000 RTP/AVP 2
a=rtpmap:2 G726-32/8000
m=video 6024 RTP/AVP 107
a=rtpmap:107 H263-1998/90000
";

/// RFC 5118 §4.7: one IPv4 and one IPv6 stream, no session-level `c=`.
const RFC5118_MIXED: &str = "v=0
o=bob 280744730 28977631 IN IP4 host.example.com
s=
t=0 0
m=audio 22334 RTP/AVP 0
c=IN IP4 192.0.2.1
m=video 6024 RTP/AVP 107
c=IN IP6 2001:db8::1
a=rtpmap:107 H263-1998/90000
";

/// Layered multicast (RFC 8866 §5.7): several media-level `c=` lines with suffixes.
const MULTICAST: &str = "v=0
o=jdoe 2890844526 2890842807 IN IP4 198.51.100.7
s=Seminar
c=IN IP4 233.252.0.1/127
t=2873397496 2873404696
m=video 51372/2 RTP/AVP 99
c=IN IP4 233.252.0.1/127/2
c=IN IP4 233.252.0.3/127
a=rtpmap:99 h263-1998/90000
m=audio 49170 RTP/AVP 0
c=IN IP6 ff15::101/3
";

#[test]
fn baresip_offer() {
    let sdp = parse(&crlf(BARESIP_OFFER));
    let origin = sdp.origin();
    assert_eq!(origin.username, "-");
    assert_eq!(origin.sess_id, "1846375925");
    assert_eq!(origin.sess_version, 1_423_526_436);
    assert_eq!(origin.nettype, "IN");
    assert_eq!(origin.addrtype, AddrType::Ip4);
    assert_eq!(origin.address, Address::Ip(v4(192, 168, 1, 23)));
    let conn = sdp.connection().unwrap();
    assert_eq!(conn.address, Address::Ip(v4(192, 168, 1, 23)));
    assert_eq!(conn.suffix, None);
    assert_eq!(sdp.ice_options(), Some("trickle"));
    assert!(sdp.has_ice());
    assert!(!sdp.ice_lite());

    assert_eq!(sdp.media_count(), 1);
    let audio = sdp.media(0).unwrap();
    assert_eq!(audio.media_type(), MediaType::Audio);
    assert_eq!(audio.port(), 10000);
    assert_eq!(audio.port_count(), None);
    assert_eq!(audio.proto(), "RTP/AVP");
    assert_eq!(audio.formats().collect::<Vec<_>>(), ["96", "0", "8", "101"]);
    assert_eq!(audio.ptime(), Some(20));
    assert_eq!(audio.direction(), Direction::SendRecv);
    assert_eq!(
        audio.rtpmap(96),
        Some(RtpMap {
            payload_type: 96,
            encoding: "opus",
            clock_rate: 48000,
            params: Some("2"),
        })
    );
    assert_eq!(audio.rtpmaps().count(), 4);
    assert_eq!(audio.ice_ufrag(), Some("bQ0o"));
    assert_eq!(audio.ice_pwd(), Some("Pz8T1m4JkkbC1iAQV8n0Fa"));
    assert_eq!(
        audio.ice_options(),
        Some("trickle"),
        "inherited from session"
    );
    assert_eq!(audio.ice_candidates().count(), 3);
    assert!(audio.end_of_candidates());
    assert_eq!(audio.rtcp(), None);
    assert!(!audio.rtcp_mux());
    assert!(!audio.is_on_hold());
    assert_eq!(audio.attribute("tool"), None, "session-level only");
    assert_eq!(
        sdp.attribute("tool").and_then(|a| a.value()),
        Some("baresip 1.0.0")
    );
}

#[test]
fn asterisk_answer() {
    let sdp = parse(&crlf(ASTERISK_ANSWER));
    assert_eq!(sdp.origin().sess_version, 1_846_375_927);
    let audio = sdp.media(0).unwrap();
    assert_eq!(audio.port(), 18520);
    assert_eq!(
        audio.connection().unwrap().address.to_string(),
        "198.51.100.10"
    );
    assert_eq!(audio.rtpmap(101).unwrap().encoding, "telephone-event");
    assert!(!sdp.has_ice());
    let flag = audio.attribute("sendrecv").unwrap();
    assert!(flag.is_flag());
    assert_eq!(flag.value(), None);
}

#[test]
fn webrtc_bundle_offer() {
    let sdp = parse(&crlf(WEBRTC_OFFER));
    assert_eq!(sdp.connection(), None);
    assert_eq!(
        sdp.attribute("msid-semantic").and_then(|a| a.value()),
        Some(" WMS stream0")
    );
    let [audio, video] = [sdp.media(0).unwrap(), sdp.media(1).unwrap()];
    assert_eq!(audio.proto(), "UDP/TLS/RTP/SAVPF");
    assert!(audio.rtcp_mux() && video.rtcp_mux());
    let rtcp = audio.rtcp().unwrap();
    assert_eq!(rtcp.port, 50000);
    assert_eq!(
        rtcp.connection.unwrap().address,
        Address::Ip(v4(203, 0, 113, 50))
    );
    assert_eq!(audio.ice_candidates().count(), 1);
    assert_eq!(video.ice_candidates().count(), 0);
    assert_eq!(video.ice_ufrag(), Some("EsAw"));
    assert_eq!(video.media_type(), MediaType::Video);
    assert_eq!(video.direction(), Direction::RecvOnly);
    assert!(
        !video.is_on_hold(),
        "recvonly is not hold from the sender's side"
    );
    assert_eq!(video.rtpmap(97).unwrap().params, None);
    assert!(sdp.media_sections().all(|m| !m.is_rejected()));
}

#[test]
fn sendonly_hold() {
    let sdp = parse(&crlf(HOLD_SENDONLY));
    let audio = sdp.media(0).unwrap();
    assert_eq!(audio.direction(), Direction::SendOnly);
    assert!(audio.is_on_hold());
    assert!(!audio.is_null_held());
}

#[test]
fn session_level_direction_is_inherited_and_overridden() {
    let text = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\na=inactive\n\
                m=audio 4000 RTP/AVP 0\nm=audio 4002 RTP/AVP 0\na=sendrecv\n";
    let sdp = parse(text);
    assert_eq!(sdp.direction(), Some(Direction::Inactive));
    assert_eq!(sdp.media(0).unwrap().direction(), Direction::Inactive);
    assert!(sdp.media(0).unwrap().is_on_hold());
    assert_eq!(sdp.media(1).unwrap().direction(), Direction::SendRecv);
}

#[test]
fn rfc2543_null_hold() {
    let sdp = parse(&crlf(HOLD_NULL));
    let audio = sdp.media(0).unwrap();
    assert_eq!(audio.direction(), Direction::SendRecv);
    assert!(audio.is_null_held());
    assert!(audio.is_on_hold());
    assert!(sdp.connection().unwrap().is_null_hold());
}

#[test]
fn rejected_video_stream() {
    let sdp = parse(&crlf(REJECTED_VIDEO));
    let video = sdp.media(1).unwrap();
    assert!(video.is_rejected());
    assert_eq!(video.port(), 0);
    assert!(!sdp.media(0).unwrap().is_rejected());
    assert!(sdp.media(2).is_none());
}

#[test]
fn ipv6_without_brackets() {
    let sdp = parse(&crlf(RFC5118_IPV6));
    let addr: Ipv6Addr = "2001:db8::20".parse().unwrap();
    assert_eq!(sdp.origin().addrtype, AddrType::Ip6);
    assert_eq!(sdp.origin().address, Address::Ip(IpAddr::V6(addr)));
    for media in sdp.media_sections() {
        let conn = media.connection().unwrap();
        assert_eq!(conn.addrtype, AddrType::Ip6);
        assert_eq!(conn.address, Address::Ip(IpAddr::V6(addr)));
    }
}

#[test]
fn mixed_families_and_fqdn_origin() {
    let sdp = parse(&crlf(RFC5118_MIXED));
    assert_eq!(sdp.origin().address, Address::Fqdn("host.example.com"));
    assert_eq!(sdp.connection(), None);
    let audio = sdp.media(0).unwrap().connection().unwrap();
    assert_eq!(audio.address, Address::Ip(v4(192, 0, 2, 1)));
    let video = sdp.media(1).unwrap().connection().unwrap();
    assert_eq!(video.addrtype, AddrType::Ip6);
    assert_eq!(video.address.to_string(), "2001:db8::1");
}

#[test]
fn ipv4_mapped_ipv6() {
    let text = "v=0\r\no=assistant 971731711378798081 0 IN IP6 ::ffff:192.0.2.2\r\ns=-\r\n\
                c=IN IP6 ::ffff:192.0.2.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 2\r\n";
    let sdp = parse(text);
    let expected: Ipv6Addr = "::ffff:192.0.2.2".parse().unwrap();
    assert_eq!(
        sdp.connection().unwrap().address,
        Address::Ip(IpAddr::V6(expected))
    );
}

#[test]
fn multiple_connection_lines_with_multicast_suffixes() {
    let sdp = parse(&crlf(MULTICAST));
    assert_eq!(sdp.connection().unwrap().suffix, Some("127"));
    let video = sdp.media(0).unwrap();
    assert_eq!(video.port(), 51372);
    assert_eq!(video.port_count(), Some(2));
    let conns: Vec<_> = video.connections().collect();
    assert_eq!(conns.len(), 2);
    assert_eq!(conns[0].suffix, Some("127/2"));
    assert_eq!(conns[1].address, Address::Ip(v4(233, 252, 0, 3)));
    let audio = sdp.media(1).unwrap().connection().unwrap();
    assert_eq!(audio.suffix, Some("3"));
    assert_eq!(audio.address.to_string(), "ff15::101");
}

#[test]
fn bare_lf_trailing_blank_lines_and_unterminated_last_line() {
    let lf = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n";
    assert_eq!(parse(lf).media(0).unwrap().port(), 4000);
    let trailing = format!("{}\r\n", crlf(lf));
    assert_eq!(parse(&trailing).media_count(), 1);
    let unterminated = lf.trim_end();
    assert_eq!(parse(unterminated).media(0).unwrap().formats().count(), 1);
}

#[test]
fn lenient_on_unknown_lines_and_attribute_values() {
    let mut body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=Caf\xe9\r\nt=0 0\r\n".to_vec();
    body.extend_from_slice(b"x=unknown line\r\na=label:\xff\r\nm=audio 4000 RTP/AVP 0\r\n");
    let sdp = Sdp::parse(&body, &SdpLimits::default()).unwrap();
    let label = sdp.attribute("label").unwrap();
    assert_eq!(label.raw_value(), Some(&b"\xff"[..]));
    assert_eq!(label.value(), None);
    assert_eq!(sdp.edit().build(), body);
}

#[test]
fn parse_bytes_keeps_the_buffer() {
    let body = Bytes::from(crlf(ASTERISK_ANSWER));
    let sdp = Sdp::parse_bytes(body.clone(), &SdpLimits::default()).unwrap();
    assert_eq!(sdp.to_bytes().as_ptr(), body.as_ptr());
}

#[test]
fn no_edit_is_byte_identical() {
    for text in [
        BARESIP_OFFER,
        ASTERISK_ANSWER,
        WEBRTC_OFFER,
        HOLD_SENDONLY,
        HOLD_NULL,
        REJECTED_VIDEO,
        RFC5118_IPV6,
        RFC5118_MIXED,
        MULTICAST,
    ] {
        for body in [text.to_owned(), crlf(text), crlf(text.trim_end())] {
            let sdp = parse(&body);
            assert_eq!(sdp.edit().build(), body.as_bytes());
            assert_eq!(sdp.as_bytes(), body.as_bytes());
        }
    }
}

// --- Rewriting -----------------------------------------------------------------------------

const RELAY: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));

#[test]
fn rewrite_asterisk_answer_for_relay() {
    let sdp = parse(&crlf(ASTERISK_ANSWER));
    let mut editor = sdp.edit();
    editor
        .set_connection_address(RELAY, NullHold::Preserve)
        .set_origin_address(RELAY)
        .bump_version()
        .unwrap()
        .set_media_port(0, 40000)
        .unwrap();
    let expected = crlf(
        &ASTERISK_ANSWER
            .replace(
                "o=- 1846375925 1846375927 IN IP4 198.51.100.10",
                "o=- 1846375925 1846375928 IN IP4 203.0.113.1",
            )
            .replace("c=IN IP4 198.51.100.10", "c=IN IP4 203.0.113.1")
            .replace("m=audio 18520 ", "m=audio 40000 "),
    );
    assert_eq!(built(&editor), expected);
}

#[test]
fn rewrite_keeps_each_lines_own_ending() {
    let body = "v=0\r\no=- 7 7 IN IP4 192.0.2.1\ns=-\r\nc=IN IP4 192.0.2.1\nt=0 0\r\nm=audio 4000 RTP/AVP 0";
    let sdp = parse(body);
    let mut editor = sdp.edit();
    editor
        .set_connection_address(RELAY, NullHold::Overwrite)
        .set_media_port(0, 5000)
        .unwrap();
    assert_eq!(
        built(&editor),
        "v=0\r\no=- 7 7 IN IP4 192.0.2.1\ns=-\r\nc=IN IP4 203.0.113.1\nt=0 0\r\nm=audio 5000 RTP/AVP 0"
    );
}

#[test]
fn rewrite_to_ipv6_switches_addrtype() {
    let sdp = parse(&crlf(RFC5118_MIXED));
    let v6: IpAddr = "2001:db8::99".parse().unwrap();
    let mut editor = sdp.edit();
    editor
        .set_media_connection(0, v6)
        .unwrap()
        .set_media_connection(1, RELAY)
        .unwrap()
        .set_origin_address(v6);
    let expected = crlf(
        &RFC5118_MIXED
            .replace("IN IP4 host.example.com", "IN IP6 2001:db8::99")
            .replace("c=IN IP4 192.0.2.1", "c=IN IP6 2001:db8::99")
            .replace("c=IN IP6 2001:db8::1", "c=IN IP4 203.0.113.1"),
    );
    assert_eq!(built(&editor), expected);
}

#[test]
fn blanket_rewrite_touches_every_connection_and_drops_suffixes() {
    let sdp = parse(&crlf(MULTICAST));
    let mut editor = sdp.edit();
    editor.set_connection_address(RELAY, NullHold::Overwrite);
    let out = built(&editor);
    assert_eq!(out.matches("c=IN IP4 203.0.113.1\r\n").count(), 4);
    assert!(!out.contains("/127"));
    let reparsed = parse(&out);
    assert_eq!(
        reparsed.media(1).unwrap().connection().unwrap().addrtype,
        AddrType::Ip4
    );
}

#[test]
fn null_hold_preserved_or_overwritten_on_request() {
    let sdp = parse(&crlf(HOLD_NULL));
    let mut editor = sdp.edit();
    editor.set_connection_address(RELAY, NullHold::Preserve);
    assert_eq!(editor.build(), sdp.as_bytes(), "nothing else to change");
    let held = parse(&built(&editor));
    assert!(held.media(0).unwrap().is_null_held());

    editor.set_connection_address(RELAY, NullHold::Overwrite);
    let live = parse(&built(&editor));
    assert!(!live.media(0).unwrap().is_null_held());
    assert_eq!(live.connection().unwrap().address, Address::Ip(RELAY));
}

#[test]
fn preserved_session_hold_is_not_undone_by_media_insertion() {
    let text = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\n\
                m=audio 4000 RTP/AVP 0\nm=video 4002 RTP/AVP 31\nc=IN IP4 192.0.2.1\n";
    let sdp = parse(text);
    let mut editor = sdp.edit();
    editor.set_connection_address(RELAY, NullHold::Preserve);
    let expected = text.replace("c=IN IP4 192.0.2.1\n", "c=IN IP4 203.0.113.1\n");
    assert_eq!(built(&editor), expected);
}

#[test]
fn media_connection_inserted_only_where_needed() {
    let sdp = parse(&crlf(REJECTED_VIDEO));
    let other = v4(198, 51, 100, 99);
    let mut editor = sdp.edit();
    editor.set_media_connection(0, other).unwrap();
    let expected = crlf(&REJECTED_VIDEO.replace(
        "m=audio 49174 RTP/AVP 0\n",
        "m=audio 49174 RTP/AVP 0\nc=IN IP4 198.51.100.99\n",
    ));
    assert_eq!(built(&editor), expected);

    // Once the session-level line carries the same address, the media section follows it.
    editor.set_session_connection(other);
    let expected = crlf(&REJECTED_VIDEO.replace("c=IN IP4 192.0.2.201", "c=IN IP4 198.51.100.99"));
    assert_eq!(built(&editor), expected);
}

#[test]
fn media_connection_goes_after_information_line() {
    let text = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\ni=voice\nb=AS:64\na=ptime:20\n";
    let sdp = parse(text);
    let mut editor = sdp.edit();
    editor.set_media_connection(0, RELAY).unwrap();
    let expected = text.replace("i=voice\n", "i=voice\nc=IN IP4 203.0.113.1\n");
    assert_eq!(built(&editor), expected);
}

#[test]
fn session_connection_inserted_before_timing() {
    let sdp = parse(&crlf(WEBRTC_OFFER));
    let mut editor = sdp.edit();
    editor.set_session_connection(RELAY);
    let expected =
        crlf(&WEBRTC_OFFER.replace("s=-\nt=0 0\n", "s=-\nc=IN IP4 203.0.113.1\nt=0 0\n"));
    assert_eq!(built(&editor), expected);
}

#[test]
fn insert_after_unterminated_last_line() {
    let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0";
    let sdp = parse(text);
    let mut editor = sdp.edit();
    editor
        .set_media_connection(0, RELAY)
        .unwrap()
        .set_rtcp(0, 4001, None)
        .unwrap();
    assert_eq!(
        built(&editor),
        format!("{text}\r\nc=IN IP4 203.0.113.1\r\na=rtcp:4001")
    );
}

#[test]
fn rtcp_rewritten_with_and_without_address() {
    let sdp = parse(&crlf(WEBRTC_OFFER));
    let mut editor = sdp.edit();
    editor
        .set_rtcp(0, 40001, Some(RELAY))
        .unwrap()
        .set_rtcp(1, 40003, None)
        .unwrap();
    let out = built(&editor);
    let expected = crlf(WEBRTC_OFFER)
        .replacen(
            "a=rtcp:50000 IN IP4 203.0.113.50",
            "a=rtcp:40001 IN IP4 203.0.113.1",
            1,
        )
        .replacen("a=rtcp:50000 IN IP4 203.0.113.50", "a=rtcp:40003", 1);
    assert_eq!(out, expected);
    let reparsed = parse(&out);
    assert_eq!(reparsed.media(1).unwrap().rtcp().unwrap().port, 40003);
}

#[test]
fn rtcp_inserted_at_end_of_section() {
    let sdp = parse(&crlf(REJECTED_VIDEO));
    let mut editor = sdp.edit();
    editor.set_rtcp(0, 40001, Some(RELAY)).unwrap();
    let expected = crlf(&REJECTED_VIDEO.replace(
        "a=rtpmap:0 PCMU/8000\n",
        "a=rtpmap:0 PCMU/8000\na=rtcp:40001 IN IP4 203.0.113.1\n",
    ));
    assert_eq!(built(&editor), expected);
}

#[test]
fn port_keeps_port_count() {
    let sdp = parse(&crlf(MULTICAST));
    let mut editor = sdp.edit();
    editor.set_media_port(0, 9000).unwrap();
    assert_eq!(
        built(&editor),
        crlf(&MULTICAST.replace("m=video 51372/2 ", "m=video 9000/2 "))
    );
}

#[test]
fn remove_ice_at_all_levels() {
    let sdp = parse(&crlf(BARESIP_OFFER));
    let mut editor = sdp.edit();
    editor.remove_ice();
    let out = built(&editor);
    let expected: String = crlf(BARESIP_OFFER)
        .split_inclusive("\r\n")
        .filter(|l| {
            !["a=ice-", "a=candidate:", "a=end-of-candidates"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(out, expected);
    assert!(!parse(&out).has_ice());
}

#[test]
fn remove_sources_at_media_level() {
    let offer = "v=0\r\no=- 1 1 IN IP4 10.10.0.30\r\ns=-\r\nc=IN IP4 10.10.0.30\r\nt=0 0\r\n\
                 m=audio 10000 RTP/AVP 0\r\na=ssrc-group:FID 1 2\r\n\
                 a=ssrc:1 cname:sip:1003@10.10.0.20:5060\r\na=ptime:20\r\n\
                 a=ssrc:2 cname:sip:1003@10.10.0.20:5060\r\n";
    let sdp = parse(offer);
    let mut editor = sdp.edit();
    editor.remove_sources();
    let out = built(&editor);
    assert_eq!(
        out,
        "v=0\r\no=- 1 1 IN IP4 10.10.0.30\r\ns=-\r\nc=IN IP4 10.10.0.30\r\nt=0 0\r\n\
         m=audio 10000 RTP/AVP 0\r\na=ptime:20\r\n"
    );
    // ICE is a separate choice.
    let ice = parse(&crlf(BARESIP_OFFER));
    let mut editor = ice.edit();
    editor.remove_sources();
    assert!(parse(&built(&editor)).has_ice());
}

#[test]
fn remove_ice_then_insert_after_removed_last_line() {
    let sdp = parse(&crlf(BARESIP_OFFER));
    let mut editor = sdp.edit();
    editor
        .remove_ice()
        .set_direction(0, Direction::Inactive)
        .unwrap();
    editor.set_rtcp(0, 10001, None).unwrap();
    let out = built(&editor);
    assert!(out.ends_with("a=rtcp-rsize\r\na=rtcp:10001\r\n"), "{out}");
    assert!(out.contains("\r\na=inactive\r\n"));
    assert!(!out.contains("a=sendrecv"));
}

#[test]
fn set_direction_replaces_appends_or_leaves_alone() {
    let sdp = parse(&crlf(HOLD_SENDONLY));
    let mut editor = sdp.edit();
    editor.set_direction(0, Direction::SendRecv).unwrap();
    assert_eq!(
        built(&editor),
        crlf(&HOLD_SENDONLY.replace("a=sendonly", "a=sendrecv"))
    );

    let sdp = parse(&crlf(HOLD_NULL));
    let mut editor = sdp.edit();
    editor.set_direction(0, Direction::SendRecv).unwrap();
    assert_eq!(editor.build(), sdp.as_bytes(), "already the default");
    editor.set_direction(0, Direction::RecvOnly).unwrap();
    assert_eq!(built(&editor), crlf(&format!("{HOLD_NULL}a=recvonly\n")));
}

#[test]
fn duplicate_direction_attributes_collapse() {
    let text = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\na=sendonly\na=ptime:20\na=inactive\n";
    let sdp = parse(text);
    let mut editor = sdp.edit();
    editor.set_direction(0, Direction::RecvOnly).unwrap();
    assert_eq!(
        built(&editor),
        text.replace("a=sendonly\n", "a=recvonly\n")
            .replace("a=inactive\n", "")
    );
}

#[test]
fn version_bump_and_set() {
    let sdp = parse(&crlf(HOLD_SENDONLY));
    let mut editor = sdp.edit();
    editor.bump_version().unwrap().bump_version().unwrap();
    assert_eq!(parse(&built(&editor)).origin().sess_version, 2_890_844_529);
    editor.set_version(7);
    assert_eq!(
        built(&editor),
        crlf(&HOLD_SENDONLY.replace(" 2890844527 ", " 7 "))
    );
}

#[test]
fn version_bump_does_not_wrap() {
    let text = format!("v=0\no=- 1 {} IN IP4 192.0.2.1\ns=-\nt=0 0\n", u64::MAX);
    let sdp = parse(&text);
    let mut editor = sdp.edit();
    assert_eq!(
        editor.bump_version().unwrap_err(),
        SdpError::VersionOverflow
    );
    assert_eq!(editor.build(), text.as_bytes());
}

#[test]
fn media_index_checked() {
    let sdp = parse(&crlf(ASTERISK_ANSWER));
    let mut editor = sdp.edit();
    assert_eq!(
        editor.set_media_port(1, 1).unwrap_err(),
        SdpError::NoSuchMedia { index: 1, count: 1 }
    );
}

// --- Errors ---------------------------------------------------------------------------------

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";

#[test]
fn structural_errors() {
    assert_eq!(parse_err(""), SdpError::MissingVersion);
    assert_eq!(
        parse_err("o=- 1 1 IN IP4 192.0.2.1\r\n"),
        SdpError::MissingVersion
    );
    assert_eq!(parse_err("v=1\r\n"), SdpError::BadVersion { line: 1 });
    assert_eq!(parse_err("v=0\r\ns=-\r\n"), SdpError::MissingOrigin);
    assert_eq!(
        parse_err(&format!("{HEAD}v=0\r\n")),
        SdpError::BadVersion { line: 5 }
    );
    assert_eq!(
        parse_err(&format!("{HEAD}o=- 1 1 IN IP4 192.0.2.1\r\n")),
        SdpError::BadOrigin { line: 5 }
    );
}

#[test]
fn bad_lines() {
    for line in ["X=1", "a", "=x", "ab=c", "1=x", " a=x", "a=x\ry"] {
        assert_eq!(
            parse_err(&format!("{HEAD}{line}\r\n")),
            SdpError::BadLine { line: 5 },
            "{line:?}"
        );
    }
    assert_eq!(
        parse_err(&format!("{HEAD}\r\na=x\r\n")),
        SdpError::BadLine { line: 5 },
        "blank line in the middle"
    );
    assert_eq!(
        parse_err(&format!("{HEAD}a=\r\n")),
        SdpError::BadAttribute { line: 5 }
    );
    assert_eq!(
        parse_err(&format!("{HEAD}a=bad name:1\r\n")),
        SdpError::BadAttribute { line: 5 }
    );
}

#[test]
fn bad_origin_and_connection() {
    for origin in [
        "o=- 1 IN IP4 192.0.2.1",
        "o=- 1 x IN IP4 192.0.2.1",
        "o=- 1 99999999999999999999 IN IP4 192.0.2.1",
        "o=- 1 1 IN IPX 192.0.2.1",
        "o=- 1 1 IN IP4 2001:db8::1",
        "o=- 1 1 IN IP4 192.0.2.1 extra",
    ] {
        let body = format!("v=0\r\n{origin}\r\ns=-\r\n");
        assert_eq!(
            parse_err(&body),
            SdpError::BadOrigin { line: 2 },
            "{origin}"
        );
    }
    for conn in [
        "c=IN IP4",
        "c=IN IP6 192.0.2.1",
        "c=IN IP6 [2001:db8::1]",
        "c=IN IP4 010.0.0.1",
        "c=IN IP4 192.0.2.1/",
        "c=IN IP4 233.252.0.1/1/2/3",
        "c=IN IP4 233.252.0.1/x",
        "c=IN IP4 192.0.2.1 x",
    ] {
        assert_eq!(
            parse_err(&format!("{HEAD}{conn}\r\n")),
            SdpError::BadConnection { line: 5 },
            "{conn}"
        );
    }
}

#[test]
fn bad_media_and_ports() {
    for media in [
        "m=audio",
        "m=audio 4000",
        "m=audio x RTP/AVP 0",
        "m=audio 4000/0 RTP/AVP 0",
        "m=audio 4000/x RTP/AVP 0",
        "m=audio -1 RTP/AVP 0",
        "m=audio 4000 RTP//AVP 0",
    ] {
        assert_eq!(
            parse_err(&format!("{HEAD}{media}\r\n")),
            SdpError::BadMedia { line: 5 },
            "{media}"
        );
    }
    for media in [
        "m=audio 65536 RTP/AVP 0",
        "m=audio 99999999999999999999999 RTP/AVP 0",
    ] {
        assert_eq!(
            parse_err(&format!("{HEAD}{media}\r\n")),
            SdpError::PortOutOfRange { line: 5 }
        );
    }
    let ok = parse(&format!("{HEAD}m=audio 65535 RTP/AVP 0\r\n"));
    assert_eq!(ok.media(0).unwrap().port(), 65535);
}

#[test]
fn bad_rtcp() {
    let media = format!("{HEAD}m=audio 4000 RTP/AVP 0\r\n");
    for rtcp in [
        "a=rtcp:",
        "a=rtcp:x",
        "a=rtcp:4001 IN IP4",
        "a=rtcp:4001 IN IP4 1.2.3.4 x",
    ] {
        assert_eq!(
            parse_err(&format!("{media}{rtcp}\r\n")),
            SdpError::BadRtcp { line: 6 },
            "{rtcp}"
        );
    }
    assert_eq!(
        parse_err(&format!("{media}a=rtcp:70000\r\n")),
        SdpError::PortOutOfRange { line: 6 }
    );
}

#[test]
fn limits_enforced() {
    let limits = SdpLimits {
        max_body_len: 60,
        ..SdpLimits::default()
    };
    let body = crlf(ASTERISK_ANSWER);
    assert_eq!(
        Sdp::parse(body.as_bytes(), &limits).unwrap_err(),
        SdpError::BodyTooLarge {
            len: body.len(),
            limit: 60
        }
    );
    let limits = SdpLimits {
        max_lines: 5,
        ..SdpLimits::default()
    };
    assert_eq!(
        Sdp::parse(body.as_bytes(), &limits).unwrap_err(),
        SdpError::TooManyLines { limit: 5 }
    );
    let limits = SdpLimits {
        max_line_len: 20,
        ..SdpLimits::default()
    };
    assert_eq!(
        Sdp::parse(body.as_bytes(), &limits).unwrap_err(),
        SdpError::LineTooLong { line: 2, limit: 20 }
    );
    let limits = SdpLimits {
        max_media: 1,
        ..SdpLimits::default()
    };
    assert_eq!(
        Sdp::parse(crlf(WEBRTC_OFFER).as_bytes(), &limits).unwrap_err(),
        SdpError::TooManyMedia { limit: 1 }
    );
}
