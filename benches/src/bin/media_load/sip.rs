//! Calls through Palisade placed with SIP over UDP: a phone (the caller, on the access
//! side) and a PBX (the upstream Palisade forwards to, on the core side), both played by
//! one socket each. The phone INVITEs with an SDP naming its RTP address; the PBX answers
//! the INVITE it gets with 200 and an SDP naming its own; the phone ACKs. The relay's
//! addresses are read from the SDPs Palisade sends: the one in the 200 is where the phone
//! sends RTP, the one in the INVITE where the PBX sends.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// The two SIP endpoints and the RTP addresses their SDPs announce.
pub(crate) struct Endpoints {
    phone: UdpSocket,
    pbx: UdpSocket,
    phone_rtp: SocketAddrV4,
    pbx_rtp: SocketAddrV4,
    /// Palisade's access listener.
    access: SocketAddr,
    /// Distinguishes this run's Call-IDs from an earlier run's.
    run: String,
    /// The calls of the last setup, for the teardown.
    last_calls: std::cell::RefCell<Vec<Call>>,
}

/// What a call needs after setup: the relay's address for each side, and the dialog to
/// end it.
#[derive(Clone, Default)]
struct Call {
    relay_a: Option<SocketAddrV4>,
    relay_b: Option<SocketAddrV4>,
    /// The 200's To (with the tag) and Contact, for the ACK and the BYE.
    to: String,
    target: String,
    invites_sent: u32,
    last_invite: Option<Instant>,
    bye_done: bool,
}

/// Timeout for one call's setup or teardown.
const GIVE_UP: Duration = Duration::from_secs(15);
/// INVITE retransmission interval (T1-like; loopback rarely loses anything).
const RETRY: Duration = Duration::from_millis(1000);

impl Endpoints {
    pub(crate) fn new(
        phone: UdpSocket,
        pbx: UdpSocket,
        phone_rtp: SocketAddrV4,
        pbx_rtp: SocketAddrV4,
        access: SocketAddr,
        run: String,
    ) -> Endpoints {
        Endpoints {
            phone,
            pbx,
            phone_rtp,
            pbx_rtp,
            access,
            run,
            last_calls: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn call_id(&self, i: usize) -> String {
        format!("mb-{}-{i}", self.run)
    }

    fn invite(&self, i: usize) -> String {
        let ip = self.phone_rtp.ip();
        let sdp = format!(
            "v=0\r\no=- {i} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
            self.phone_rtp.port()
        );
        let me = self.phone_addr();
        format!(
            "INVITE sip:mb{i}@{access} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{cid};rport\r\nMax-Forwards: 70\r\nFrom: <sip:gen@{me}>;tag=a{i}\r\nTo: <sip:mb{i}@{access}>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\nContact: <sip:gen@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len(),
            access = self.access,
            cid = self.call_id(i),
        )
    }

    fn in_dialog(&self, i: usize, call: &Call, method: &str, cseq: u32) -> String {
        let me = self.phone_addr();
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{cid}-{cseq}{method};rport\r\nMax-Forwards: 70\r\nFrom: <sip:gen@{me}>;tag=a{i}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            target = call.target,
            to = call.to,
            cid = self.call_id(i),
        )
    }

    fn phone_addr(&self) -> SocketAddr {
        self.phone
            .local_addr()
            .unwrap_or(SocketAddr::V4(self.phone_rtp))
    }

    fn index(&self, call_id: &str) -> Option<usize> {
        call_id
            .strip_prefix(&format!("mb-{}-", self.run))?
            .parse()
            .ok()
    }

    /// Places `n` calls, `rate` INVITEs a second at most with at most `window` of them
    /// unanswered. Returns the relay's address for each side of each call.
    pub(crate) fn setup(
        &self,
        n: usize,
        rate: u32,
        window: usize,
    ) -> io::Result<Vec<(SocketAddrV4, SocketAddrV4)>> {
        self.phone.set_nonblocking(true)?;
        self.pbx.set_nonblocking(true)?;
        let mut calls = vec![Call::default(); n];
        let mut answers: HashMap<String, String> = HashMap::new();
        let start = Instant::now();
        let gap = Duration::from_secs(1) / rate.max(1);
        let (mut next, mut done) = (0usize, 0usize);
        let mut buf = vec![0u8; 65_536];
        while done < n {
            if start.elapsed() > GIVE_UP + gap * u32::try_from(n).unwrap_or(u32::MAX) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{done} of {n} calls set up"),
                ));
            }
            let pending = next - done;
            if next < n
                && pending < window
                && start.elapsed() >= gap * u32::try_from(next).unwrap_or(0)
            {
                self.phone
                    .send_to(self.invite(next).as_bytes(), self.access)?;
                calls[next].invites_sent = 1;
                calls[next].last_invite = Some(Instant::now());
                next += 1;
            }
            let idle = self.pump(&mut calls, &mut answers, &mut buf, |calls, m| {
                // The phone: 200s to INVITEs get an ACK.
                if !m.start.starts_with("SIP/2.0 200") || !m.header("cseq").ends_with("INVITE") {
                    return Ok(());
                }
                let Some(i) = self.index(m.header("call-id")) else {
                    return Ok(());
                };
                let call = &mut calls[i];
                let first = call.relay_a.is_none();
                call.relay_a = sdp_address(m.body);
                call.to = m.header("to").to_owned();
                call.target = m
                    .header("contact")
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let ack = self.in_dialog(i, call, "ACK", 1);
                self.phone.send_to(ack.as_bytes(), self.access)?;
                if first && call.relay_a.is_some() {
                    done += 1;
                }
                Ok(())
            })?;
            // INVITEs without an answer are sent again.
            for (i, call) in calls.iter_mut().enumerate().take(next) {
                if call.relay_a.is_none()
                    && call.last_invite.is_some_and(|t| t.elapsed() > RETRY)
                    && call.invites_sent < 5
                {
                    self.phone.send_to(self.invite(i).as_bytes(), self.access)?;
                    call.invites_sent += 1;
                    call.last_invite = Some(Instant::now());
                }
            }
            if idle {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        calls
            .iter()
            .map(|c| match (c.relay_a, c.relay_b) {
                (Some(a), Some(b)) => Ok((a, b)),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a call without a relay address",
                )),
            })
            .collect::<io::Result<Vec<_>>>()
            .inspect(|_| {
                self.last_calls.replace(calls);
            })
    }

    /// Reads what is waiting on both sockets: the PBX answers what it gets
    /// ([`Endpoints::pbx_handle`]), and each message to the phone goes to `phone`.
    /// Returns whether there was nothing to read.
    fn pump(
        &self,
        calls: &mut [Call],
        answers: &mut HashMap<String, String>,
        buf: &mut [u8],
        mut phone: impl FnMut(&mut [Call], Msg<'_>) -> io::Result<()>,
    ) -> io::Result<bool> {
        let mut idle = true;
        while let Ok((len, from)) = self.pbx.recv_from(buf) {
            idle = false;
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            self.pbx_handle(&text, from, calls, answers)?;
        }
        while let Ok((len, _)) = self.phone.recv_from(buf) {
            idle = false;
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            if let Some(m) = Msg::parse(&text) {
                phone(calls, m)?;
            }
        }
        Ok(idle)
    }

    fn pbx_handle(
        &self,
        text: &str,
        from: SocketAddr,
        calls: &mut [Call],
        answers: &mut HashMap<String, String>,
    ) -> io::Result<()> {
        let Some(m) = Msg::parse(text) else {
            return Ok(());
        };
        if m.start.starts_with("OPTIONS ") || m.start.starts_with("BYE ") {
            self.pbx
                .send_to(m.response("200 OK", "", "").as_bytes(), from)?;
        } else if m.start.starts_with("INVITE ") {
            let call_id = m.header("call-id").to_owned();
            if let Some(answer) = answers.get(&call_id) {
                self.pbx.send_to(answer.as_bytes(), from)?;
                return Ok(());
            }
            let Some(i) = m.call_index().filter(|&i| i < calls.len()) else {
                return Ok(());
            };
            calls[i].relay_b = sdp_address(m.body);
            let ip = self.pbx_rtp.ip();
            let sdp = format!(
                "v=0\r\no=- {i} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
                self.pbx_rtp.port()
            );
            let me = self.pbx.local_addr()?;
            let answer = m.response(
                "200 OK",
                &format!(";tag=b{i}\r\nContact: <sip:pbx@{me}>\r\nContent-Type: application/sdp"),
                &sdp,
            );
            self.pbx.send_to(answer.as_bytes(), from)?;
            answers.insert(call_id, answer);
        }
        Ok(())
    }

    /// Ends the calls of the last [`Endpoints::setup`] with BYE from the phone.
    pub(crate) fn teardown(&self, rate: u32) -> io::Result<usize> {
        let mut calls = self.last_calls.take();
        let n = calls.len();
        let start = Instant::now();
        let gap = Duration::from_secs(1) / rate.max(1);
        let (mut next, mut done) = (0usize, 0usize);
        let mut buf = vec![0u8; 65_536];
        let mut answers = HashMap::new();
        while done < n && start.elapsed() < GIVE_UP + gap * u32::try_from(n).unwrap_or(0) {
            if next < n && start.elapsed() >= gap * u32::try_from(next).unwrap_or(0) {
                let bye = self.in_dialog(next, &calls[next], "BYE", 2);
                self.phone.send_to(bye.as_bytes(), self.access)?;
                next += 1;
            }
            let idle = self.pump(&mut calls, &mut answers, &mut buf, |calls, m| {
                if m.start.starts_with("SIP/2.0 200")
                    && m.header("cseq").ends_with("BYE")
                    && let Some(i) = self.index(m.header("call-id"))
                    && let Some(c) = calls.get_mut(i)
                    && !c.bye_done
                {
                    c.bye_done = true;
                    done += 1;
                }
                Ok(())
            })?;
            if idle {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Ok(done)
    }
}

/// A parsed SIP message: start line, header lines, body.
struct Msg<'a> {
    start: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a str,
}

impl<'a> Msg<'a> {
    fn parse(text: &'a str) -> Option<Msg<'a>> {
        let (head, body) = text.split_once("\r\n\r\n")?;
        let mut lines = head.split("\r\n");
        let start = lines.next()?;
        let headers = lines
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                Some((expand(n.trim()), v.trim()))
            })
            .collect();
        Some(Msg {
            start,
            headers,
            body,
        })
    }

    fn header(&self, name: &str) -> &'a str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v)
    }

    /// The call index, from the `mbN` user of the Request-URI or To, or the o= line.
    fn call_index(&self) -> Option<usize> {
        let from_user = |s: &str| {
            let user = s.split("sip:").nth(1)?.split('@').next()?;
            user.strip_prefix("mb")?.parse().ok()
        };
        from_user(self.start)
            .or_else(|| from_user(self.header("to")))
            .or_else(|| {
                self.body
                    .lines()
                    .find_map(|l| l.strip_prefix("o="))?
                    .split(' ')
                    .nth(1)?
                    .parse()
                    .ok()
            })
    }

    /// A response copying Via, From, To, Call-ID and CSeq; `to_extra` is appended to the
    /// To line (a tag, then more header lines if it holds CRLFs).
    fn response(&self, status: &str, to_extra: &str, body: &str) -> String {
        let mut out = format!("SIP/2.0 {status}\r\n");
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("via") {
                out.push_str(&format!("Via: {v}\r\n"));
            }
        }
        out.push_str(&format!(
            "From: {}\r\nTo: {}{to_extra}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: {}\r\n\r\n{body}",
            self.header("from"),
            self.header("to"),
            self.header("call-id"),
            self.header("cseq"),
            body.len()
        ));
        out
    }
}

/// The long form of a compact header name.
fn expand(name: &str) -> &str {
    match name {
        "v" | "V" => "via",
        "f" | "F" => "from",
        "t" | "T" => "to",
        "i" | "I" => "call-id",
        "m" | "M" => "contact",
        "l" | "L" => "content-length",
        "c" | "C" => "content-type",
        _ => name,
    }
}

/// The audio address of an SDP: the session or media `c=` address and the `m=audio` port.
pub(crate) fn sdp_address(sdp: &str) -> Option<SocketAddrV4> {
    let ip = sdp
        .lines()
        .rev()
        .find_map(|l| l.trim_end().strip_prefix("c=IN IP4 "))?
        .parse()
        .ok()?;
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    Some(SocketAddrV4::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_address_of_an_sdp() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.11\r\ns=-\r\nc=IN IP4 127.0.0.11\r\nt=0 0\r\nm=audio 20004 RTP/AVP 0\r\n";
        assert_eq!(sdp_address(sdp), Some("127.0.0.11:20004".parse().unwrap()));
        assert_eq!(sdp_address("v=0\r\n"), None);
    }

    #[test]
    fn the_call_index_of_a_forwarded_invite() {
        let text = "INVITE sip:mb42@127.0.0.42:5060 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bKx\r\nTo: <sip:mb42@127.0.0.10:5060>\r\nCSeq: 1 INVITE\r\n\r\n";
        let m = Msg::parse(text).unwrap();
        assert_eq!(m.call_index(), Some(42));
        let r = m.response("200 OK", ";tag=b42", "");
        assert!(r.contains("Via: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bKx\r\n"));
        assert!(r.contains("To: <sip:mb42@127.0.0.10:5060>;tag=b42\r\n"));
    }
}
