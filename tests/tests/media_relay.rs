//! Media through the running Palisade: a phone and a PBX played by UDP sockets in the
//! test exchange an offer and an answer through Palisade, check that each sees only
//! Palisade's address and the relay's ports in the other's SDP, and send RTP both ways
//! through the relay. Then a call that goes silent is ended by the media timeout.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use b2bua_support::*;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::role;

/// A SIP or RTP endpoint: one UDP socket.
struct Udp(UdpSocket);

impl Udp {
    fn bind(ip: std::net::Ipv4Addr) -> Udp {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Udp(s)
    }

    fn addr(&self) -> SocketAddr {
        self.0.local_addr().unwrap()
    }

    fn send(&self, to: SocketAddr, data: &[u8]) {
        self.0.send_to(data, to).unwrap();
    }

    fn recv(&self, within: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        let end = Instant::now() + within;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end {
            if let Ok((n, from)) = self.0.recv_from(&mut buf) {
                return Some((buf[..n].to_vec(), from));
            }
        }
        None
    }

    /// The next SIP message that satisfies `want`, answering Palisade's OPTIONS probes
    /// on the way.
    fn sip(&self, want: impl Fn(&str) -> bool) -> (String, SocketAddr) {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            let Some((data, from)) = self.recv(Duration::from_millis(500)) else {
                continue;
            };
            let text = String::from_utf8_lossy(&data).into_owned();
            if text.starts_with("OPTIONS ") {
                self.send(from, response(&text, "200 OK", "", None, "").as_bytes());
                continue;
            }
            if want(&text) {
                return (text, from);
            }
        }
        panic!("no expected SIP message at {}", self.addr());
    }
}

fn header(text: &str, name: &str) -> String {
    text.split("\r\n\r\n")
        .next()
        .unwrap()
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// The first audio port of an SDP body.
fn audio_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no audio port in\n{sdp}"))
}

fn sdp(ip: std::net::Ipv4Addr, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=candidate:1 1 UDP 2130706431 {ip} {port} typ host\r\na=sendrecv\r\n"
    )
}

/// A response to `req` with `extra` header lines, an optional To tag and a body.
fn response(req: &str, status: &str, extra: &str, tag: Option<&str>, sdp: &str) -> String {
    let mut to = header(req, "To");
    if let Some(t) = tag {
        to.push_str(&format!(";tag={t}"));
    }
    let ctype = if sdp.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_owned()
    };
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}{ctype}Content-Length: {}\r\n\r\n{sdp}",
        header(req, "Via"),
        header(req, "From"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
        sdp.len()
    )
}

/// An RTP packet: PCMU, `seq`, SSRC `ssrc`, 160 bytes of `fill`.
fn rtp(seq: u16, ssrc: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(fill, 160));
    p
}

/// An answered call between the phone and the PBX sockets through `sbc`.
struct Call {
    /// The relay's address for the phone (from the SDP the phone got).
    relay_access: SocketAddr,
    /// The relay's address for the PBX (from the SDP the PBX got).
    relay_core: SocketAddr,
    /// The 200 the phone got, and the INVITE the PBX got.
    ok: String,
    invite: String,
}

fn call(phone: &Udp, phone_rtp: &Udp, pbx: &Udp, pbx_rtp: &Udp, access: SocketAddr) -> Call {
    let offer = sdp(role::PHONE_A, phone_rtp.addr().port());
    let invite = format!(
        "INVITE sip:1002@{access} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKmedia1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=ph1\r\nTo: <sip:1002@example.com>\r\nCall-ID: media-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{offer}",
        phone.addr(),
        phone.addr(),
        offer.len()
    );
    phone.send(access, invite.as_bytes());
    let (invite, from) = pbx.sip(|t| t.starts_with("INVITE "));
    let offer = body(&invite);
    assert!(offer.contains(&format!("c=IN IP4 {CORE}\r\n")), "{offer}");
    assert!(
        offer.contains(&format!("o=- 1 1 IN IP4 {CORE}\r\n")),
        "{offer}"
    );
    assert!(!offer.contains(&role::PHONE_A.to_string()), "{offer}");
    assert!(!offer.contains("candidate"), "{offer}");
    let relay_core = SocketAddr::new(CORE.into(), audio_port(offer));
    let answer = sdp(role::PBX, pbx_rtp.addr().port());
    let contact = format!("Contact: <sip:pbx@{}>\r\n", pbx.addr());
    pbx.send(
        from,
        response(&invite, "200 OK", &contact, Some("pbx1"), &answer).as_bytes(),
    );
    let (ok, _) = phone.sip(|t| t.starts_with("SIP/2.0 200"));
    let answer = body(&ok);
    assert!(
        answer.contains(&format!("c=IN IP4 {ACCESS}\r\n")),
        "{answer}"
    );
    assert!(!answer.contains(&role::PBX.to_string()), "{answer}");
    assert!(!answer.contains(&CORE.to_string()), "{answer}");
    let relay_access = SocketAddr::new(ACCESS.into(), audio_port(answer));
    let target = header(&ok, "Contact");
    let target = target.trim_start_matches('<').trim_end_matches('>');
    let ack = format!(
        "ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKmedia1ack;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=ph1\r\nTo: {}\r\nCall-ID: media-call-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        phone.addr(),
        header(&ok, "To")
    );
    phone.send(access, ack.as_bytes());
    pbx.sip(|t| t.starts_with("ACK "));
    Call {
        relay_access,
        relay_core,
        ok,
        invite,
    }
}

/// RTP sent by the phone reaches the PBX from the relay's core port, and back.
#[test]
fn rtp_flows_through_the_relay_with_rewritten_sdp() {
    let dir = peer_test("media-relay");
    let (phone, phone_rtp) = (Udp::bind(role::PHONE_A), Udp::bind(role::PHONE_A));
    let (pbx, pbx_rtp) = (Udp::bind(role::PBX), Udp::bind(role::PBX));
    let mut sbc = palisade(&[pbx.addr()]).start(&dir);
    let c = call(&phone, &phone_rtp, &pbx, &pbx_rtp, sbc.access());
    assert_ne!(c.relay_access.port(), c.relay_core.port());

    // Phone to PBX.
    let mut got = 0;
    for seq in 0..20u16 {
        phone_rtp.send(c.relay_access, &rtp(seq, 0x1111, 0xAA));
        if let Some((data, from)) = pbx_rtp.recv(Duration::from_millis(300)) {
            assert_eq!(from, c.relay_core, "relayed from the relay's core port");
            assert_eq!(&data[8..12], &0x1111u32.to_be_bytes());
            got += 1;
        }
    }
    assert!(got >= 18, "{got} of 20 packets reached the PBX");
    // PBX to phone.
    let mut got = 0;
    for seq in 0..20u16 {
        pbx_rtp.send(c.relay_core, &rtp(seq, 0x2222, 0x55));
        if let Some((data, from)) = phone_rtp.recv(Duration::from_millis(300)) {
            assert_eq!(from, c.relay_access, "relayed from the relay's access port");
            assert_eq!(&data[8..12], &0x2222u32.to_be_bytes());
            got += 1;
        }
    }
    assert!(got >= 18, "{got} of 20 packets reached the phone");

    // The phone hangs up.
    let target = header(&c.ok, "Contact");
    let target = target.trim_start_matches('<').trim_end_matches('>');
    let bye = format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKmedia1bye;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=ph1\r\nTo: {}\r\nCall-ID: media-call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        phone.addr(),
        header(&c.ok, "To")
    );
    phone.send(sbc.access(), bye.as_bytes());
    let (bye, from) = pbx.sip(|t| t.starts_with("BYE "));
    pbx.send(from, response(&bye, "200 OK", "", None, "").as_bytes());
    phone.sip(|t| t.starts_with("SIP/2.0 200") && t.contains(" BYE\r\n"));
    sbc.wait_calls_ended(1, Duration::from_secs(5));
    // The relay let go: nothing is relayed any more.
    phone_rtp.send(c.relay_access, &rtp(100, 0x1111, 0xAA));
    assert!(pbx_rtp.recv(Duration::from_millis(500)).is_none());
    let _ = c.invite;
}

/// A call without RTP is ended by the media timeout: BYE to the phone and to the PBX.
#[test]
fn a_silent_call_is_ended_by_the_media_timeout() {
    let dir = peer_test("media-timeout");
    let (phone, phone_rtp) = (Udp::bind(role::PHONE_A), Udp::bind(role::PHONE_A));
    let (pbx, pbx_rtp) = (Udp::bind(role::PBX), Udp::bind(role::PBX));
    let mut sbc = palisade(&[pbx.addr()]).media_timeout("5s").start(&dir);
    let _c = call(&phone, &phone_rtp, &pbx, &pbx_rtp, sbc.access());
    let started = Instant::now();
    let (bye, from) = pbx.sip(|t| t.starts_with("BYE "));
    pbx.send(from, response(&bye, "200 OK", "", None, "").as_bytes());
    let end = Instant::now() + Duration::from_secs(10);
    let mut phone_bye = None;
    while Instant::now() < end && phone_bye.is_none() {
        if let Some((data, from)) = phone.recv(Duration::from_millis(500)) {
            let t = String::from_utf8_lossy(&data).into_owned();
            if t.starts_with("BYE ") {
                phone_bye = Some((t, from));
            }
        }
    }
    let (bye, from) = phone_bye.expect("a BYE to the phone");
    phone.send(from, response(&bye, "200 OK", "", None, "").as_bytes());
    assert!(started.elapsed() < Duration::from_secs(12));
    sbc.wait_calls_ended(1, Duration::from_secs(5));
    assert!(sbc.log().contains("media timeout"), "{}", sbc.log());
}
