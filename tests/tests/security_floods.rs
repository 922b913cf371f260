//! Floods against Palisade with its default settings in front of Kamailio: SIPp sends
//! INVITE, REGISTER and
//! OPTIONS floods, and a plain socket sprays datagrams that are not SIP, each from a
//! loopback address of its own, at 50 times a source's budget, bounded in count and
//! time, while a legitimate SIPp phone (1001) places calls to a phone registered through
//! Palisade (1002). Every legitimate call succeeds, and every flooder is banned.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use b2bua_support::*;
use palisade_tests::harness::kamailio::{self, Pbx};
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::role;
use palisade_tests::harness::sipp::{Scenario, Sipp, SippRun};
use palisade_tests::harness::workdir::TestDir;

/// Requests each SIPp flooder sends, and how fast.
const FLOOD_COUNT: u64 = 3000;
const FLOOD_RATE: f64 = 1000.0;
/// Longest a flooder may run.
const FLOOD_TIME: Duration = Duration::from_secs(15);

/// A scenario that only sends one `method` request per call: a flood.
fn flood_scenario(dir: &TestDir, method: &str) -> Scenario {
    let path = dir.join(&format!("flood_{method}.xml"));
    let text = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{method} flood">
  <send>
    <![CDATA[

      {method} sip:[call_number]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:flood@[local_ip]:[local_port]>;tag=[pid]F[call_number]
      To: <sip:[call_number]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 {method}
      Contact: <sip:flood@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
</scenario>
"#
    );
    std::fs::write(&path, text).unwrap();
    Scenario::File(path)
}

fn flooder(dir: &TestDir, method: &str, ip: Ipv4Addr, to: SocketAddr) -> SippRun {
    Sipp::new(
        &format!("flood-{}", method.to_lowercase()),
        flood_scenario(dir, method),
        ip,
    )
    .remote(to)
    .calls(FLOOD_COUNT)
    .rate(FLOOD_RATE)
    .trace_messages(false)
    .timeout(FLOOD_TIME)
    .start(dir)
}

/// Sprays `count` datagrams that are not SIP from `ip`, at about `rate` per second.
fn garbage(ip: Ipv4Addr, to: SocketAddr, count: u32, rate: u32) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let sock = UdpSocket::bind(SocketAddr::new(ip.into(), 0)).unwrap();
        let start = Instant::now();
        let mut datagram = [0u8; 200];
        for i in 0..count {
            // Bytes with the high bit set: never a SIP method, never a keep-alive.
            for (j, b) in (0u32..).zip(datagram.iter_mut()) {
                *b = (i.wrapping_mul(31).wrapping_add(j * 7) & 0x7f) as u8 | 0x80;
            }
            let _ = sock.send_to(&datagram, to);
            let due = start + Duration::from_secs_f64(f64::from(i) / f64::from(rate));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    })
}

#[test]
fn floods_are_banned_while_a_phone_keeps_calling() {
    let dir = peer_test("security-floods");
    let pbx = Pbx::start(&dir, role::PBX);
    let mut sbc = palisade(&[pbx.addr()]).start(&dir);
    let _callee = registered_1002(&dir, &mut sbc);
    let started = Instant::now();

    let flooders = [
        ("INVITE", Ipv4Addr::new(127, 0, 0, 41)),
        ("REGISTER", Ipv4Addr::new(127, 0, 0, 42)),
        ("OPTIONS", Ipv4Addr::new(127, 0, 0, 43)),
    ];
    let mut runs: Vec<SippRun> = flooders
        .iter()
        .map(|(m, ip)| flooder(&dir, m, *ip, sbc.access()))
        .collect();
    let sprayer = Ipv4Addr::new(127, 0, 0, 44);
    let spray = garbage(sprayer, sbc.access(), 3000, 1000);

    // The phone: 20 calls at 5 per second, one at a time (the harness gives Palisade
    // media ports for two calls, and a call's ports return a moment after it ends),
    // during the floods, each answering the PBX's challenge.
    let mut phone = Sipp::new("phone", Scenario::file("uac_auth_call.xml"), role::PHONE_A)
        .remote(sbc.access())
        .service("1002")
        .auth("1001", &kamailio::password("1001"))
        .key("caller", "1001")
        .calls(20)
        .rate(5.0)
        .limit(1)
        .timeout(RUN)
        .start(&dir);
    let r = phone.wait(RUN + Duration::from_secs(5));
    assert!(
        r.all_succeeded(20),
        "phone: {r:?}\n{}\n{}",
        phone.errors(),
        sbc.log()
    );

    for run in &mut runs {
        run.wait(FLOOD_TIME + Duration::from_secs(5));
    }
    spray.join().unwrap();
    let log = sbc.log();
    // Banned for their rate; the REGISTER flooder, which names a new user in each
    // request, may be caught as a sweep first.
    for ip in flooders.iter().map(|(_, ip)| *ip).chain([sprayer]) {
        let needle = format!("source={ip} reason=");
        let ban = log
            .lines()
            .find(|l| l.contains("source banned") && l.contains(&needle));
        let ban = ban.unwrap_or_else(|| panic!("{ip} was not banned:\n{log}"));
        assert!(
            ban.contains("reason=rate_limit") || ban.contains("reason=sweep"),
            "{ban}"
        );
    }
    assert!(
        !log.contains(&format!("source={} reason", role::PHONE_A)),
        "the phone was banned"
    );
    // The INVITE flooder got its burst (40) through, and no more: each of the phone's
    // calls is three calls in Palisade (the challenged INVITE, the call to the PBX, the
    // PBX's call to 1002).
    let (calls, _) = sbc.call_counts();
    assert!(calls <= 3 * 20 + 41, "{calls} calls started");
    assert!(
        sbc.ping(Duration::from_secs(2)),
        "palisade stopped answering"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}
