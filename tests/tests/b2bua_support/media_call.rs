//! A call set up by hand between a phone and a PBX played by UDP sockets in the test, so
//! that the test can send RTP through the relay itself and read every SIP message.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use palisade_tests::harness::ports::role;

use super::{ACCESS, CORE};

/// A SIP or RTP endpoint: one UDP socket.
pub(crate) struct Udp(UdpSocket);

impl Udp {
    pub(crate) fn bind(ip: std::net::Ipv4Addr) -> Udp {
        let s = UdpSocket::bind((ip, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Udp(s)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.0.local_addr().unwrap()
    }

    pub(crate) fn send(&self, to: SocketAddr, data: &[u8]) {
        self.0.send_to(data, to).unwrap();
    }

    pub(crate) fn recv(&self, within: Duration) -> Option<(Vec<u8>, SocketAddr)> {
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
    pub(crate) fn sip(&self, want: impl Fn(&str) -> bool) -> (String, SocketAddr) {
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

pub(crate) fn header(text: &str, name: &str) -> String {
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

pub(crate) fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// The first audio port of an SDP body.
pub(crate) fn audio_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no audio port in\n{sdp}"))
}

pub(crate) fn sdp(ip: std::net::Ipv4Addr, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=candidate:1 1 UDP 2130706431 {ip} {port} typ host\r\na=sendrecv\r\n"
    )
}

/// A response to `req` with `extra` header lines, an optional To tag and a body.
pub(crate) fn response(
    req: &str,
    status: &str,
    extra: &str,
    tag: Option<&str>,
    sdp: &str,
) -> String {
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
pub(crate) fn rtp(seq: u16, ssrc: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(fill, 160));
    p
}

/// An answered call between the phone and the PBX sockets through `sbc`.
pub(crate) struct Call {
    /// The relay's address for the phone (from the SDP the phone got).
    pub(crate) relay_access: SocketAddr,
    /// The relay's address for the PBX (from the SDP the PBX got).
    pub(crate) relay_core: SocketAddr,
    /// The 200 the phone got, and the INVITE the PBX got.
    pub(crate) ok: String,
    pub(crate) invite: String,
}

/// What crossed Palisade in one offer/answer: the INVITE as the PBX received it, the
/// offer the phone sent and the answer the PBX sent, and the 200 as the phone received it.
pub(crate) struct Exchange {
    pub(crate) invite: String,
    pub(crate) offer: String,
    pub(crate) answer: String,
    pub(crate) ok: String,
}

/// The phone sends an INVITE with an offer for its RTP socket through Palisade; the PBX
/// answers 200 with an answer for its own.
pub(crate) fn offer_answer(
    phone: &Udp,
    phone_rtp: &Udp,
    pbx: &Udp,
    pbx_rtp: &Udp,
    access: SocketAddr,
) -> Exchange {
    let offer = sdp(role::PHONE_A, phone_rtp.addr().port());
    let invite = format!(
        "INVITE sip:1002@{access} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKmedia1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=ph1\r\nTo: <sip:1002@example.com>\r\nCall-ID: media-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{offer}",
        phone.addr(),
        phone.addr(),
        offer.len()
    );
    phone.send(access, invite.as_bytes());
    let (invite, from) = pbx.sip(|t| t.starts_with("INVITE "));
    let answer = sdp(role::PBX, pbx_rtp.addr().port());
    let contact = format!("Contact: <sip:pbx@{}>\r\n", pbx.addr());
    pbx.send(
        from,
        response(&invite, "200 OK", &contact, Some("pbx1"), &answer).as_bytes(),
    );
    let (ok, _) = phone.sip(|t| t.starts_with("SIP/2.0 200"));
    Exchange {
        invite,
        offer,
        answer,
        ok,
    }
}

pub(crate) fn answered_call(
    phone: &Udp,
    phone_rtp: &Udp,
    pbx: &Udp,
    pbx_rtp: &Udp,
    access: SocketAddr,
) -> Call {
    let Exchange { invite, ok, .. } = offer_answer(phone, phone_rtp, pbx, pbx_rtp, access);
    let offer = body(&invite);
    assert!(offer.contains(&format!("c=IN IP4 {CORE}\r\n")), "{offer}");
    assert!(
        offer.contains(&format!("o=- 1 1 IN IP4 {CORE}\r\n")),
        "{offer}"
    );
    assert!(!offer.contains(&role::PHONE_A.to_string()), "{offer}");
    assert!(!offer.contains("candidate"), "{offer}");
    let relay_core = SocketAddr::new(CORE.into(), audio_port(offer));
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
