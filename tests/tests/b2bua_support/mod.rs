//! What the B2BUA end-to-end tests share: the addresses of the roles, starting the SIPp
//! peers around a Palisade, and reading SIPp's message traces.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, clippy::expect_used)]

pub(crate) mod media_call;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use palisade_tests::harness::kamailio;
use palisade_tests::harness::palisade::{Palisade, PalisadeBuilder};
use palisade_tests::harness::ports::role;
use palisade_tests::harness::sipp::{Scenario, Sipp, SippResult, SippRun, Transport};
use palisade_tests::harness::workdir::TestDir;

/// Palisade's access side (what the phones see).
pub(crate) const ACCESS: Ipv4Addr = role::PALISADE;
/// Palisade's core side (what the PBX sees): an address of its own, so that a leak of it
/// toward the phones can be told from the access address.
pub(crate) const CORE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// A second PBX, for failover.
pub(crate) const PBX2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 21);

/// How long one SIPp run may take before the test fails.
pub(crate) const RUN: Duration = Duration::from_secs(20);

/// A Palisade between the phones and `upstreams` (UDP unless the URI says otherwise).
pub(crate) fn palisade(upstreams: &[SocketAddr]) -> PalisadeBuilder {
    let mut b = Palisade::builder(ACCESS, CORE);
    for u in upstreams {
        b = b.upstream(&format!("sip:{u}"));
    }
    b
}

/// Phone B: registers as 1002 through Palisade from its own socket (Palisade sends calls
/// for a registration back over the flow it came from, never to an address taken from
/// the Contact), then stays 15 s and answers calls with `calls` (SIPp's out-of-call
/// scenario). Returns once Palisade has stored the binding.
pub(crate) fn phone_b(dir: &TestDir, sbc: &mut Palisade, calls: Scenario) -> SippRun {
    phone_b_over(dir, sbc, calls, Transport::Udp)
}

/// [`phone_b`] over `transport`: over TCP, the registration and the calls share the
/// phone's one connection to Palisade.
pub(crate) fn phone_b_over(
    dir: &TestDir,
    sbc: &mut Palisade,
    calls: Scenario,
    transport: Transport,
) -> SippRun {
    let Scenario::File(calls) = calls else {
        panic!("a scenario file")
    };
    let registered = sbc.log_count("Registered {");
    let remote = match transport {
        Transport::Udp => sbc.access(),
        _ => sbc.access_tcp().expect("an access TCP listener"),
    };
    let sipp = Sipp::new(
        "phone-1002",
        Scenario::file("register_auth_stay.xml"),
        role::PHONE_B,
    )
    .transport(transport)
    .remote(remote)
    .service("1002")
    .auth("1002", &kamailio::password("1002"))
    .calls(1)
    .timeout(RUN)
    .arg("-d")
    .arg("15000")
    .arg("-oocsf")
    .arg(calls.to_str().unwrap());
    let contact = sipp.local_addr().to_string();
    let run = sipp.key("contact", &contact).start(dir);
    sbc.wait_log_count("Registered {", registered + 1, Duration::from_secs(10));
    run
}

/// Starts a SIPp callee (a PBX, or a phone) playing `scenario` on `ip` and waits until it
/// listens. It runs until [`SippRun::finish`]: PBXs get Palisade's health probes, which
/// SIPp counts as calls, so no call count can be given.
pub(crate) fn callee(
    dir: &TestDir,
    name: &str,
    scenario: &str,
    ip: Ipv4Addr,
    keys: &[(&str, &str)],
) -> SippRun {
    let mut s = Sipp::new(name, Scenario::file(scenario), ip).timeout(RUN);
    for (k, v) in keys {
        s = s.key(k, v);
    }
    let mut run = s.start(dir);
    run.wait_ready(Duration::from_secs(5));
    run
}

/// `uas_reject.xml` refusing with `code reason` instead of 486, written to the test
/// directory.
pub(crate) fn reject_scenario(dir: &TestDir, code: u16, reason: &str) -> Scenario {
    let Scenario::File(template) = Scenario::file("uas_reject.xml") else {
        unreachable!()
    };
    let text = std::fs::read_to_string(&template).unwrap();
    assert!(text.contains("SIP/2.0 486 Busy Here"));
    let path = dir.join(&format!("uas_reject_{code}.xml"));
    std::fs::write(
        &path,
        text.replace("SIP/2.0 486 Busy Here", &format!("SIP/2.0 {code} {reason}")),
    )
    .unwrap();
    Scenario::File(path)
}

/// Starts a SIPp callee like [`callee`], with a scenario of any origin.
pub(crate) fn callee_with(
    dir: &TestDir,
    name: &str,
    scenario: Scenario,
    ip: Ipv4Addr,
    port: Option<u16>,
) -> SippRun {
    let mut s = Sipp::new(name, scenario, ip).timeout(RUN);
    if let Some(p) = port {
        s = s.port(p);
    }
    let mut run = s.start(dir);
    run.wait_ready(Duration::from_secs(5));
    run
}

/// Runs a SIPp caller on `ip` to `to` for `calls` calls of `scenario` and waits for it.
pub(crate) fn call(
    dir: &TestDir,
    name: &str,
    scenario: Scenario,
    to: SocketAddr,
    calls: u64,
) -> (SippRun, SippResult) {
    let mut run = Sipp::new(name, scenario, role::PHONE_A)
        .remote(to)
        .service("1002")
        .calls(calls)
        .rate(20.0)
        .timeout(RUN)
        .start(dir);
    let r = run.wait(RUN + Duration::from_secs(5));
    (run, r)
}

/// Stops a callee and checks that none of its calls failed.
pub(crate) fn finish_ok(callee: &mut SippRun) -> SippResult {
    let r = callee.finish(Duration::from_secs(10));
    assert!(
        r.exit_code == Some(0) && r.failed == 0,
        "{}: {r:?}\n{}",
        callee.name(),
        callee.errors()
    );
    r
}

/// One message of a SIPp message trace (`-trace_msg`).
#[derive(Debug, Clone)]
pub(crate) struct Traced {
    /// Sent by SIPp (otherwise received).
    pub(crate) sent: bool,
    pub(crate) text: String,
}

impl Traced {
    pub(crate) fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }

    /// The status code of a response.
    pub(crate) fn status(&self) -> Option<u16> {
        let l = self.first_line();
        l.strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
    }

    /// The method of a request.
    pub(crate) fn method(&self) -> Option<&str> {
        let l = self.first_line();
        (!l.starts_with("SIP/2.0")).then(|| l.split(' ').next().unwrap_or_default())
    }

    /// The head: start line and header fields.
    pub(crate) fn head(&self) -> &str {
        self.text.split("\r\n\r\n").next().unwrap_or(&self.text)
    }

    /// The body.
    pub(crate) fn body(&self) -> &str {
        self.text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// The value of the first header field `name` (long form, case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head().lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// The `tag` parameter of To.
    pub(crate) fn to_tag(&self) -> Option<String> {
        tag_of(&self.header("To")?)
    }

    /// The CSeq method.
    pub(crate) fn cseq_method(&self) -> Option<String> {
        self.header("CSeq")?
            .split_whitespace()
            .nth(1)
            .map(str::to_owned)
    }
}

/// The `tag` parameter of a From or To value.
pub(crate) fn tag_of(value: &str) -> Option<String> {
    let after = value.rsplit_once('>').map_or(value, |(_, p)| p);
    after.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("tag")
            .then(|| v.trim().to_owned())
    })
}

/// The messages of a SIPp trace, in order.
pub(crate) fn trace(run: &SippRun) -> Vec<Traced> {
    parse_trace(&run.messages())
}

/// Parses the text of a SIPp message trace: blocks that start with a line of dashes and
/// a time, then "UDP message sent (N bytes):" or "... received [N] bytes :", a blank line
/// and the message.
pub(crate) fn parse_trace(text: &str) -> Vec<Traced> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with("--------------------") {
            continue;
        }
        let Some(what) = lines.next() else { break };
        let sent = what.contains("message sent");
        if !sent && !what.contains("message received") {
            continue;
        }
        let mut msg = Vec::new();
        while let Some(l) = lines.peek() {
            if l.starts_with("--------------------") {
                break;
            }
            msg.push(lines.next().unwrap_or_default());
        }
        let msg = msg.join("\n");
        let msg = msg.trim_matches(['\r', '\n']);
        let text = if msg.contains("\r\n\r\n") {
            msg.to_owned()
        } else {
            format!("{msg}\r\n\r\n")
        };
        out.push(Traced { sent, text });
    }
    out
}

/// The messages received that `keep` selects, each once: a UDP retransmission repeats
/// its message byte for byte, and how many there are depends on the machine's load, not
/// on what a test checks.
fn received_once(t: &[Traced], keep: impl Fn(&Traced) -> bool) -> Vec<&Traced> {
    let mut seen = std::collections::HashSet::new();
    t.iter()
        .filter(|m| !m.sent && keep(m) && seen.insert(m.text.as_str()))
        .collect()
}

/// Requests `method` received (retransmissions not counted again).
pub(crate) fn received_requests<'a>(t: &'a [Traced], method: &str) -> Vec<&'a Traced> {
    received_once(t, |m| m.method() == Some(method))
}

/// Responses received to requests of `method` (retransmissions not counted again).
pub(crate) fn received_responses<'a>(t: &'a [Traced], method: &str) -> Vec<&'a Traced> {
    received_once(t, |m| {
        m.status().is_some() && m.cseq_method().as_deref() == Some(method)
    })
}

#[test]
fn trace_parsing() {
    let text = "----------------------------------------------- 2026-11-21 11:42:17.206092\n\
                UDP message received [10] bytes :\n\n\
                SIP/2.0 180 Ringing\r\nTo: <sip:a@b>;tag=x1\r\nCSeq: 1 INVITE\r\n\r\n\n\
                ----------------------------------------------- 2026-11-21 11:42:17.206228\n\
                UDP message sent (10 bytes):\n\n\
                BYE sip:a@b SIP/2.0\r\nCSeq: 2 BYE\r\n\r\n\n";
    let t = parse_trace(text);
    assert_eq!(t.len(), 2);
    assert!(!t[0].sent && t[1].sent);
    assert_eq!(t[0].status(), Some(180));
    assert_eq!(t[0].to_tag().as_deref(), Some("x1"));
    assert_eq!(t[0].cseq_method().as_deref(), Some("INVITE"));
    assert_eq!(t[1].method(), Some("BYE"));
}

/// Phone A (1001) calls 1002 through Palisade with `scenario`, answering the PBX's
/// challenge.
pub(crate) fn call_1002(dir: &TestDir, sbc: &Palisade, name: &str, scenario: &str) -> SippRun {
    let mut caller = Sipp::new(name, Scenario::file(scenario), role::PHONE_A)
        .remote(sbc.access())
        .service("1002")
        .auth("1001", &kamailio::password("1001"))
        .key("caller", "1001")
        .calls(1)
        .timeout(RUN)
        .start(dir);
    let r = caller.wait(RUN + Duration::from_secs(5));
    assert!(r.all_succeeded(1), "{name}: {r:?}\n{}", caller.errors());
    caller
}

/// Phone 1002 registers through Palisade and stays for 50 s, answering calls; returns
/// once Palisade has its binding.
pub(crate) fn registered_1002(dir: &TestDir, sbc: &mut Palisade) -> SippRun {
    let Scenario::File(answer) = Scenario::file("uas_answer.xml") else {
        unreachable!()
    };
    let sipp = Sipp::new(
        "phone-1002",
        Scenario::file("register_auth_stay.xml"),
        role::PHONE_B,
    )
    .remote(sbc.access())
    .service("1002")
    .auth("1002", &kamailio::password("1002"))
    .calls(1)
    .timeout(Duration::from_secs(60))
    .arg("-d")
    .arg("50000")
    .arg("-oocsf")
    .arg(answer.to_str().unwrap());
    let contact = sipp.local_addr().to_string();
    let run = sipp.key("contact", &contact).start(dir);
    sbc.wait_log_count("Registered {", 1, Duration::from_secs(10));
    run
}

/// SIPp's built-in caller on `ip` placing one call to 1002 at `to` that stays up for
/// `hold` before its BYE.
pub(crate) fn long_call(
    dir: &TestDir,
    name: &str,
    ip: Ipv4Addr,
    to: SocketAddr,
    hold: Duration,
) -> SippRun {
    Sipp::new(name, Scenario::BuiltIn("uac"), ip)
        .remote(to)
        .service("1002")
        .calls(1)
        .timeout(RUN)
        .arg("-d")
        .arg(&hold.as_millis().to_string())
        .start(dir)
}

/// A new call from `ip` to a draining Palisade at `to`: it fails, with 503.
pub(crate) fn assert_new_call_gets_503(dir: &TestDir, name: &str, ip: Ipv4Addr, to: SocketAddr) {
    let mut refused = Sipp::new(name, Scenario::BuiltIn("uac"), ip)
        .remote(to)
        .service("1002")
        .calls(1)
        .timeout(Duration::from_secs(5))
        .trace_messages(true)
        .start(dir);
    let r = refused.wait(Duration::from_secs(10));
    assert_eq!(r.successful, 0, "{r:?}");
    assert!(
        refused.messages().contains("SIP/2.0 503"),
        "no 503 while draining:\n{}",
        refused.messages()
    );
}

/// Phone 1002 on `ip` (secret `secret1002`) registering through Palisade at `to` with
/// `register_auth_stay.xml`, then staying for `stay`; Contact is the phone's own
/// address. Not started: a test may add arguments.
pub(crate) fn registering_phone(ip: Ipv4Addr, to: SocketAddr, stay: Duration) -> Sipp {
    let phone = Sipp::new("phone", Scenario::file("register_auth_stay.xml"), ip)
        .remote(to)
        .service("1002")
        .auth("1002", "secret1002")
        .calls(1)
        .timeout(RUN)
        .arg("-d")
        .arg(&stay.as_millis().to_string());
    let contact = phone.local_addr().to_string();
    phone.key("contact", &contact)
}
