//! Real phones behind real NAT: baresip phones on private LANs behind two NAT routers (one
//! of them a symmetric NAT), Palisade between the Internet and a core LAN where Kamailio
//! stands in for the PBX. Every host is a network namespace of its own
//! ([`palisade_tests::harness::topology::NatLab`]); nothing is linked to the host.
//!
//! Each phone registers with Palisade's Internet address through its NAT; Palisade sees the
//! phone's private address in Via and the router's public one as the source, treats the
//! phone as behind NAT, and relays the calls' RTP, latching onto the router's mapping. Each
//! phone plays a tone of its own and records what it hears: each must hear the other's
//! tone for most of the call.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use palisade_tests::harness::baresip::{self, Baresip, Phone, Wav};
use palisade_tests::harness::capture::Packet;
use palisade_tests::harness::kamailio::{self, Pbx};
use palisade_tests::harness::palisade::Palisade;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::topology::{NatKind, NatLab, Netns, NsCapture, addr};
use palisade_tests::harness::workdir::TestDir;

/// How long each step (a registration, a call being set up, a hang-up) may take.
const STEP: Duration = Duration::from_secs(10);

/// How long a call (or each part of it, around a hold) stays up.
const TALK: Duration = Duration::from_secs(4);

/// The windows the recordings are cut into to find the tone.
const WINDOW: Duration = Duration::from_millis(100);

/// Phone A's tone, and phone B's.
const TONE_A: u32 = 440;
const TONE_B: u32 = 660;

/// The call tests run one at a time: two phones, Palisade and Kamailio each, on two shared
/// cores, would otherwise starve the audio.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Sends a datagram from `from` (a socket in a phone's namespace) to `to` and returns the
/// source address it arrives from at `at` (a socket in Palisade's namespace), after the
/// reply sent back to that source has reached the phone.
fn observed_source(
    from: &std::net::UdpSocket,
    at: &std::net::UdpSocket,
    to: SocketAddr,
) -> SocketAddr {
    let mut buf = [0u8; 64];
    from.send_to(b"ping", to).unwrap();
    at.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (n, source) = at
        .recv_from(&mut buf)
        .expect("the datagram crossed the NAT");
    assert_eq!(&buf[..n], b"ping");
    at.send_to(b"pong", source).unwrap();
    from.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (n, replier) = from.recv_from(&mut buf).expect("the reply crossed back");
    assert_eq!((&buf[..n], replier), (&b"pong"[..], to));
    source
}

#[test]
fn topology_is_isolated_and_phones_reach_palisade_through_their_nat() {
    let _dir = peer_test("nat-topology");
    let lab = NatLab::build("topo", NatKind::Masquerade, NatKind::Symmetric);
    lab.check_isolated().unwrap();

    // No namespace routes an address outside the topology, except the phones, to their
    // router, which does not.
    let outside = "100.64.0.1";
    for ns in lab.topology.namespaces() {
        let route = Command::new("ip")
            .args(["-n", ns.name(), "route", "get", outside])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&route.stdout);
        if *ns == lab.phone_a || *ns == lab.phone_b {
            assert!(
                route.status.success() && text.contains("via 192.168."),
                "{}: {text}",
                ns.name()
            );
        } else {
            assert!(
                !route.status.success(),
                "{} routes {outside}: {text}",
                ns.name()
            );
        }
    }

    // A datagram from each phone to Palisade's access address arrives from the router's
    // public address, never from the phone's private one; the reply finds its way back.
    let sbc_1 = SocketAddr::from((addr::SBC_ACCESS, 5998));
    let sbc_2 = SocketAddr::from((addr::SBC_ACCESS, 5999));
    let at_1 = lab.sbc.udp_bind(sbc_1);
    let at_2 = lab.sbc.udp_bind(sbc_2);
    let a = lab
        .phone_a
        .udp_bind(SocketAddr::from((addr::PHONE_A, 7000)));
    let b = lab
        .phone_b
        .udp_bind(SocketAddr::from((addr::PHONE_B, 7000)));

    let a1 = observed_source(&a, &at_1, sbc_1);
    let a2 = observed_source(&a, &at_2, sbc_2);
    assert_eq!(a1.ip(), addr::NAT_A);
    // Router A keeps the phone's port, whatever the destination.
    assert_eq!((a1.port(), a2.port()), (7000, 7000));

    let b1 = observed_source(&b, &at_1, sbc_1);
    let b2 = observed_source(&b, &at_2, sbc_2);
    assert_eq!(b1.ip(), addr::NAT_B);
    assert_eq!(b2.ip(), addr::NAT_B);
    // Router B is symmetric: one socket, two destinations, two public ports.
    assert_ne!(b1.port(), b2.port(), "router B maps each destination apart");
    // The mapping of one flow holds.
    assert_eq!(observed_source(&b, &at_1, sbc_1), b1);
}

/// A running scene: the topology, the PBX, Palisade, a capture of Palisade's Internet leg
/// and two registered phones. Fields drop in order: phones, Palisade, PBX, then the
/// topology.
struct Scene {
    a: Phone,
    b: Phone,
    sbc: Palisade,
    capture: Option<NsCapture>,
    pbx: Pbx,
    lab: NatLab,
    dir: TestDir,
}

/// Builds the topology (router A a plain masquerade, router B a symmetric NAT), starts
/// Kamailio on the core LAN, Palisade between the two, a capture of Palisade's Internet
/// leg, and both phones, and waits until both registered through Palisade.
fn scene(name: &str, tag: &str) -> Scene {
    scene_with(name, tag, None)
}

/// [`scene`], with Palisade's `media.timeout` set to `media_timeout` when given.
fn scene_with(name: &str, tag: &str, media_timeout: Option<&str>) -> Scene {
    let dir = peer_test(name);
    let lab = NatLab::build(tag, NatKind::Masquerade, NatKind::Symmetric);
    let pbx = Pbx::start_in(&dir, &lab.pbx, addr::PBX);
    let mut builder = Palisade::builder(addr::SBC_ACCESS, addr::SBC_CORE)
        .netns(&lab.sbc)
        .upstream(&format!("sip:{}", pbx.addr()));
    if let Some(t) = media_timeout {
        builder = builder.media_timeout(t);
    }
    let mut sbc = builder.start(&dir);
    let capture = lab.sbc.capture(&dir, "internet", "pt-wan", "udp");
    let a = phone(&dir, "1001", &lab.phone_a, addr::PHONE_A, TONE_A, &sbc);
    let b = phone(&dir, "1002", &lab.phone_b, addr::PHONE_B, TONE_B, &sbc);
    sbc.wait_log_count("Registered {", 2, STEP);
    Scene {
        a,
        b,
        sbc,
        capture: Some(capture),
        pbx,
        lab,
        dir,
    }
}

/// Starts phone `user` in `ns` on `ip`, sending a tone of `tone` Hz and registering with
/// Palisade's Internet address, and waits until the registration is accepted.
fn phone(
    dir: &TestDir,
    user: &str,
    ns: &Netns,
    ip: std::net::Ipv4Addr,
    tone: u32,
    sbc: &Palisade,
) -> Phone {
    let mut phone = Baresip::new(user, ip, sbc.access())
        .netns(ns)
        .password(&kamailio::password(user))
        .auto_answer(true)
        .tone_hz(tone)
        .start(dir);
    phone.wait_registered(STEP);
    phone
}

/// `caller` calls `callee`'s user; both see the call established, and Palisade counts two
/// answered calls more (caller to PBX, PBX to callee) than `answered_before`.
fn call(caller: &mut Phone, callee: &mut Phone, sbc: &mut Palisade, answered_before: usize) {
    let user = callee.user().to_owned();
    caller.dial(&user);
    let out = caller.wait_event("CALL_ESTABLISHED", STEP);
    let inc = callee.wait_event("CALL_ESTABLISHED", STEP);
    assert_eq!(
        baresip::json_field(&out, "direction").as_deref(),
        Some("outgoing"),
        "{out}"
    );
    assert_eq!(
        baresip::json_field(&inc, "direction").as_deref(),
        Some("incoming"),
        "{inc}"
    );
    sbc.wait_log_count("CallAnswered", answered_before + 2, STEP);
}

/// `hanger` hangs up; both phones see the call closed.
fn hang_up(hanger: &mut Phone, other: &mut Phone) {
    hanger.hangup();
    hanger.wait_event("CALL_CLOSED", STEP);
    other.wait_event("CALL_CLOSED", STEP);
}

/// Asserts that `phone` recorded one call, in which it heard a tone of `hz` for at least
/// `at_least`.
fn assert_heard(phone: &Phone, hz: u32, at_least: Duration) {
    let (heard, _) = phone.recordings();
    assert_eq!(heard.len(), 1, "{}: recordings {heard:?}", phone.name());
    let wav =
        Wav::read(&heard[0]).unwrap_or_else(|| panic!("{}: not a WAV file", heard[0].display()));
    let with_tone = wav.time_with_tone(f64::from(hz), WINDOW);
    assert!(
        with_tone >= at_least,
        "{} heard the other phone's {hz} Hz for {with_tone:?} of a {:?} recording (peak {}, \
         {:.0} Hz overall); expected at least {at_least:?}",
        phone.name(),
        wav.duration(),
        wav.peak(),
        wav.tone_hz()
    );
}

/// The SIP messages of a capture (UDP port 5060 either way), as text.
fn sip(packets: &[Packet]) -> Vec<&Packet> {
    packets
        .iter()
        .filter(|p| p.src.port() == 5060 || p.dst.port() == 5060)
        .collect()
}

/// Checks what crossed Palisade's Internet leg: each phone's requests came from its
/// router's public address while their Via named the phone's private address (so Palisade
/// sees the phone as behind NAT); nothing Palisade sent named a core or private address;
/// RTP flowed both ways between the relay and each router.
fn assert_nat_traversed(packets: &[Packet]) {
    let sbc = IpAddr::V4(addr::SBC_ACCESS);
    for (public, private) in [(addr::NAT_A, addr::PHONE_A), (addr::NAT_B, addr::PHONE_B)] {
        let registers: Vec<_> = sip(packets)
            .into_iter()
            .filter(|p| p.first_line().starts_with("REGISTER ") && p.dst.ip() == sbc)
            .filter(|p| p.text().contains(&format!("SIP/2.0/UDP {private}:5060")))
            .collect();
        assert!(!registers.is_empty(), "no REGISTER with Via {private}");
        for r in &registers {
            assert_eq!(
                r.src.ip(),
                IpAddr::V4(public),
                "REGISTER with Via {private}"
            );
        }
        let from_relay = packets
            .iter()
            .filter(|p| p.src.ip() == sbc && p.src.port() >= 30000 && p.dst.ip() == public)
            .count();
        let to_relay = packets
            .iter()
            .filter(|p| p.dst.ip() == sbc && p.dst.port() >= 30000 && p.src.ip() == public)
            .count();
        assert!(
            from_relay > 50 && to_relay > 50,
            "RTP between the relay and {public}: {from_relay} out, {to_relay} in"
        );
    }
    for p in sip(packets).into_iter().filter(|p| p.src.ip() == sbc) {
        let text = p.text();
        for leak in ["10.10.0.", "192.168.1.", "192.168.2."] {
            // Via and To/From of a phone's own request are echoed in the responses to it.
            let own = p.dst.ip() == IpAddr::V4(addr::NAT_A) && leak == "192.168.1."
                || p.dst.ip() == IpAddr::V4(addr::NAT_B) && leak == "192.168.2.";
            assert!(
                own || !text.contains(leak),
                "Palisade sent {leak} to {}: {}",
                p.dst,
                text
            );
        }
    }
}

#[test]
fn phones_behind_nat_call_each_other_and_hear_each_other() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = scene("nat-call", "call");

    call(&mut s.a, &mut s.b, &mut s.sbc, 0);
    std::thread::sleep(TALK);
    hang_up(&mut s.a, &mut s.b);
    // The challenged INVITE was a call too, refused; all have ended.
    s.sbc.wait_calls_ended(3, STEP);

    assert_heard(&s.a, TONE_B, TALK * 3 / 4);
    assert_heard(&s.b, TONE_A, TALK * 3 / 4);
    let packets = s.capture.take().unwrap().stop();
    assert_nat_traversed(&packets);
}

/// SIP requests of `method` crossing the Internet leg from `from` to `to`.
fn requests<'a>(packets: &'a [Packet], method: &str, from: IpAddr, to: IpAddr) -> Vec<&'a Packet> {
    sip(packets)
        .into_iter()
        .filter(|p| p.src.ip() == from && p.dst.ip() == to)
        .filter(|p| p.first_line().starts_with(&format!("{method} ")))
        .collect()
}

/// A G.711 µ-law sample as linear PCM.
fn ulaw(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    let v = if u & 0x80 != 0 { -magnitude } else { magnitude };
    i16::try_from(v).unwrap()
}

/// The audio of the PCMU RTP packets among `packets` sent to `to` (any port from 10000
/// on, the phone's RTP), in order, as a recording.
fn rtp_audio<'a>(packets: impl Iterator<Item = &'a Packet>, to: IpAddr) -> Wav {
    let mut samples = Vec::new();
    for p in packets.filter(|p| p.dst.ip() == to && p.dst.port() >= 10000 && p.dst.port() % 2 == 0)
    {
        let b = &p.payload;
        // Version 2, no padding, no extension, payload type 0 (PCMU).
        if b.len() <= 12 || b[0] & 0xf0 != 0x80 || b[1] & 0x7f != 0 {
            continue;
        }
        let header = 12 + 4 * usize::from(b[0] & 0x0f);
        samples.extend(b.iter().skip(header).map(|&x| ulaw(x)));
    }
    Wav {
        rate: 8000,
        samples,
    }
}

/// A linear PCM sample as G.711 µ-law.
fn ulaw_encode(sample: i16) -> u8 {
    let mut v = i32::from(sample);
    let sign = if v < 0 {
        v = -v;
        0x80
    } else {
        0
    };
    v = v.min(32635) + 0x84;
    // v >= 0x84: its highest bit is bit 7 or above.
    let exponent = (31 - v.leading_zeros()).saturating_sub(7).min(7);
    let mantissa = (v >> (exponent + 3)) & 0x0f;
    !u8::try_from(sign | (exponent << 4) as i32 | mantissa).unwrap()
}

#[test]
fn ulaw_decodes() {
    assert_eq!((ulaw(0xff), ulaw(0x7f)), (0, 0));
    assert_eq!((ulaw(0x80), ulaw(0x00)), (32124, -32124));
    for x in [0i16, 100, -100, 1000, -5000, 8000, 32000, -32000] {
        let back = i32::from(ulaw(ulaw_encode(x)));
        let x = i32::from(x);
        assert!((back - x).abs() <= x.abs() / 16 + 8, "{x} -> {back}");
    }
}

#[test]
fn phone_behind_symmetric_nat_calls_and_the_call_survives_hold_and_resume() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = scene("nat-hold", "hold");
    // What reaches each phone on its LAN, after its NAT.
    let lan_a = s.lab.phone_a.capture(&s.dir, "lan-a", "pt-lan", "udp");
    let lan_b = s.lab.phone_b.capture(&s.dir, "lan-b", "pt-lan", "udp");

    // B, behind the symmetric NAT, calls A.
    call(&mut s.b, &mut s.a, &mut s.sbc, 0);
    std::thread::sleep(TALK);
    // A puts the call on hold and resumes it: each is a re-INVITE from A through Palisade
    // to the PBX, and back through Palisade to B behind its NAT.
    s.a.hold();
    std::thread::sleep(Duration::from_secs(2));
    s.a.resume();
    std::thread::sleep(TALK);
    hang_up(&mut s.b, &mut s.a);
    s.sbc.wait_calls_ended(3, STEP);

    // Before the hold, each phone heard the other. baresip 1.0 records what it hears only
    // until the hold: the player it restarts then no longer passes through the recorder.
    assert_heard(&s.a, TONE_B, TALK * 3 / 4);
    assert_heard(&s.b, TONE_A, TALK * 3 / 4);
    // After the resume, the audio reaching each phone on its LAN is the other's tone, for
    // most of that part of the call.
    for (capture, phone, hz) in [
        (lan_a, addr::PHONE_A, TONE_B),
        (lan_b, addr::PHONE_B, TONE_A),
    ] {
        let packets = capture.stop();
        let resumed = sip(&packets)
            .into_iter()
            .rfind(|p| p.first_line().starts_with("INVITE "))
            .expect("the resuming re-INVITE")
            .frame;
        let after = rtp_audio(
            packets.iter().filter(|p| p.frame > resumed),
            IpAddr::V4(phone),
        );
        let with_tone = after.time_with_tone(f64::from(hz), WINDOW);
        assert!(
            with_tone >= TALK * 3 / 4,
            "after the resume, {phone} received {hz} Hz for {with_tone:?} of {:?} of RTP",
            after.duration()
        );
    }

    let packets = s.capture.take().unwrap().stop();
    assert_nat_traversed(&packets);
    // The hold and the resume crossed Palisade both ways: from A's router in, out to B's.
    let sbc = IpAddr::V4(addr::SBC_ACCESS);
    let (nat_a, nat_b) = (IpAddr::V4(addr::NAT_A), IpAddr::V4(addr::NAT_B));
    for (from, to) in [(nat_a, sbc), (sbc, nat_b)] {
        let invites = requests(&packets, "INVITE", from, to);
        let with = |dir: &str| {
            invites
                .iter()
                .filter(|p| p.text().contains(&format!("a={dir}\r\n")))
                .count()
        };
        assert!(
            with("sendonly") >= 1 && with("sendrecv") >= 1,
            "re-INVITEs {from} -> {to}: {:?}",
            invites.iter().map(|p| p.first_line()).collect::<Vec<_>>()
        );
    }
}

/// The tone the attacker's RTP carries.
const TONE_ATTACKER: u32 = 1000;

/// Sprays PCMU RTP carrying a [`TONE_ATTACKER`] tone from the attacker's host at every
/// port of Palisade's media relay, 50 packets a second per port, until `stop` is set.
/// Returns how many packets it sent.
fn spray(socket: &std::net::UdpSocket, stop: &std::sync::atomic::AtomicBool) -> u64 {
    use std::sync::atomic::Ordering;
    let mut sent = 0u64;
    let mut seq = 0u16;
    let mut t = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let mut packet = vec![0x80, 0x00];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&(t * 160).to_be_bytes());
        packet.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
        for i in 0..160 {
            let n = f64::from(t * 160 + i) / 8000.0;
            let v = (n * f64::from(TONE_ATTACKER) * std::f64::consts::TAU).sin() * 8000.0;
            #[allow(clippy::cast_possible_truncation)]
            packet.push(ulaw_encode(v as i16));
        }
        for port in 30000..=30063u16 {
            if socket
                .send_to(&packet, SocketAddr::from((addr::SBC_ACCESS, port)))
                .is_ok()
            {
                sent += 1;
            }
        }
        seq = seq.wrapping_add(1);
        t += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    sent
}

#[test]
fn rtp_sprayed_at_the_relay_does_not_hijack_the_call() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = scene("nat-spray", "spray");
    let socket = s
        .lab
        .attacker
        .udp_bind(SocketAddr::from((addr::ATTACKER, 40000)));
    let stop = std::sync::atomic::AtomicBool::new(false);

    let sent = std::thread::scope(|scope| {
        // The spray starts before the call, so that it hits the relay's ports from the
        // moment they are allocated, before the phones' first packets.
        let sprayer = scope.spawn(|| spray(&socket, &stop));
        std::thread::sleep(Duration::from_millis(500));
        call(&mut s.a, &mut s.b, &mut s.sbc, 0);
        std::thread::sleep(TALK);
        hang_up(&mut s.a, &mut s.b);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sprayer.join().unwrap()
    });
    s.sbc.wait_calls_ended(3, STEP);
    assert!(sent > 1000, "the attacker sent {sent} packets");

    // Each phone heard the other, not the attacker.
    assert_heard(&s.a, TONE_B, TALK * 3 / 4);
    assert_heard(&s.b, TONE_A, TALK * 3 / 4);
    for phone in [&s.a, &s.b] {
        let (heard, _) = phone.recordings();
        let wav = Wav::read(&heard[0]).unwrap();
        let hijacked = wav.time_with_tone(f64::from(TONE_ATTACKER), WINDOW);
        assert!(
            hijacked < Duration::from_millis(300),
            "{} heard the attacker's {TONE_ATTACKER} Hz for {hijacked:?}",
            phone.name()
        );
    }

    // The spray reached the relay, and the relay sent the attacker nothing.
    let packets = s.capture.take().unwrap().stop();
    let attacker = IpAddr::V4(addr::ATTACKER);
    let received = packets.iter().filter(|p| p.src.ip() == attacker).count();
    assert!(
        received > 1000,
        "{received} packets from the attacker on the wire"
    );
    let to_attacker: Vec<_> = packets
        .iter()
        .filter(|p| p.dst.ip() == attacker)
        .map(|p| format!("{} -> {}", p.src, p.dst))
        .collect();
    assert!(
        to_attacker.is_empty(),
        "Palisade sent {} packets to the attacker: {:?}",
        to_attacker.len(),
        &to_attacker[..to_attacker.len().min(10)]
    );
    assert_nat_traversed(&packets);
}

#[test]
fn the_pbx_calls_a_phone_behind_nat_and_both_hear_each_other() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = scene("nat-inbound", "inbound");
    // A desk phone of the PBX's own, on the core LAN, registered straight with the PBX:
    // its call to A reaches Palisade from the PBX, which looked A up in its location
    // table (Palisade's contact for A) and relays it over A's flow through its NAT.
    s.lab.add_desk_phone_address();
    let desk_tone = 880;
    let mut desk = Baresip::new("1003", addr::DESK, s.pbx.addr())
        .netns(&s.lab.pbx)
        .password(&kamailio::password("1003"))
        .auto_answer(true)
        .tone_hz(desk_tone)
        .start(&s.dir);
    desk.wait_registered(STEP);

    desk.dial(s.a.user());
    let out = desk.wait_event("CALL_ESTABLISHED", STEP);
    let inc = s.a.wait_event("CALL_ESTABLISHED", STEP);
    assert_eq!(
        baresip::json_field(&out, "direction").as_deref(),
        Some("outgoing")
    );
    assert_eq!(
        baresip::json_field(&inc, "direction").as_deref(),
        Some("incoming")
    );
    std::thread::sleep(TALK);
    desk.hangup();
    desk.wait_event("CALL_CLOSED", STEP);
    s.a.wait_event("CALL_CLOSED", STEP);
    s.sbc.wait_calls_ended(1, STEP);

    // One call crossed Palisade, from the core side: the PBX's INVITE to A.
    let log = s.sbc.log();
    assert!(log.contains("from=Core"), "{log}");
    assert_heard(&s.a, desk_tone, TALK * 3 / 4);
    assert_heard(&desk, TONE_A, TALK * 3 / 4);
    // A's side of the call crossed A's NAT with relayed media, and nothing of the core
    // LAN leaked to the Internet.
    let packets = s.capture.take().unwrap().stop();
    let sbc = IpAddr::V4(addr::SBC_ACCESS);
    let nat_a = IpAddr::V4(addr::NAT_A);
    let invites = requests(&packets, "INVITE", sbc, nat_a);
    assert!(!invites.is_empty(), "no INVITE from Palisade to A's router");
    for p in sip(&packets).into_iter().filter(|p| p.src.ip() == sbc) {
        assert!(
            !p.text().contains("10.10.0."),
            "core address leaked: {}",
            p.text()
        );
    }
    let rtp_in = packets
        .iter()
        .filter(|p| p.src.ip() == nat_a && p.dst.ip() == sbc && p.dst.port() >= 30000)
        .count();
    assert!(
        rtp_in > 50,
        "{rtp_in} RTP packets from A's router to the relay"
    );
}

#[test]
fn a_phone_that_vanishes_mid_call_is_hung_up_by_the_media_timeout() {
    use nix::sys::signal::Signal;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut s = scene_with("nat-media-timeout", "mtimeout", Some("5s"));

    call(&mut s.a, &mut s.b, &mut s.sbc, 0);
    std::thread::sleep(Duration::from_secs(2));
    // B freezes: no RTP, no BYE, while A goes on sending its tone.
    s.b.peer().signal(Signal::SIGSTOP);
    let frozen = std::time::Instant::now();
    s.a.wait_event("CALL_CLOSED", Duration::from_secs(15));
    let after = frozen.elapsed();
    s.b.peer().signal(Signal::SIGCONT);
    assert!(
        after >= Duration::from_secs(4) && after < Duration::from_secs(12),
        "A's call was closed {after:?} after B froze; the media timeout is 5 s"
    );
    // Palisade's BYE to B is retransmitted until B, awake again, answers it.
    s.b.wait_event("CALL_CLOSED", STEP);
    s.sbc.wait_calls_ended(3, STEP);
    let log = s.sbc.log();
    assert!(log.contains("media timeout"), "{log}");
}
