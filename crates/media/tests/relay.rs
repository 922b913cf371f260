//! The relay between real UDP sockets on loopback, the tests playing the RTP endpoints.
//!
//! These tests bind 127.0.0.x addresses: run them inside a network namespace that holds
//! only loopback (`ip netns exec NS cargo test`). Every wait is bounded by a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::thread::sleep;
use std::time::{Duration, Instant};

use palisade_media::{
    BeforeLatch, LatchMode, Leg, NewSession, PortRange, Relay, RelayConfig, RelayError, Remote,
    SessionSpec, StreamPorts,
};

const WAIT: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(250);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn relay_with(ports: PortRange, latch_mode: LatchMode, before_latch: BeforeLatch) -> Relay {
    Relay::start(RelayConfig {
        ports,
        workers: 2,
        batch: 32,
        latch_mode,
        before_latch,
        // Pairs bound ahead would hold ports of the small ranges these tests count.
        spare_pairs: 0,
        ..RelayConfig::default()
    })
    .unwrap()
}

/// A relay that keeps `spare_pairs` pairs bound ahead of need on each address.
fn relay_keeping(ports: PortRange, spare_pairs: usize) -> Relay {
    Relay::start(RelayConfig {
        ports,
        workers: 1,
        spare_pairs,
        ..RelayConfig::default()
    })
    .unwrap()
}

fn relay(ports: PortRange) -> Relay {
    relay_with(ports, LatchMode::Strict, BeforeLatch::SdpAddress)
}

fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

/// A test endpoint: a UDP socket on a loopback address.
struct Endpoint {
    socket: UdpSocket,
}

impl Endpoint {
    fn new(ip: &str) -> Endpoint {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        Endpoint { socket }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    fn send(&self, packet: &[u8], to: SocketAddr) {
        self.socket.send_to(packet, to).unwrap();
    }

    fn send_rtp(&self, to: SocketAddr, seq: u16, ssrc: u32) {
        self.send(&rtp(seq, u32::from(seq) * 160, ssrc), to);
    }

    /// The next datagram within `timeout`.
    fn recv(&self, timeout: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        self.socket.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 2048];
        match self.socket.recv_from(&mut buf) {
            Ok((n, from)) => Some((buf[..n].to_vec(), from)),
            Err(_) => None,
        }
    }

    /// Receives datagrams until `timeout` passes without one; returns their count.
    fn drain(&self, timeout: Duration) -> usize {
        let mut n = 0;
        while self.recv(timeout).is_some() {
            n += 1;
        }
        n
    }

    fn expect_rtp(&self, from: SocketAddr, seq: u16) {
        let (packet, source) = self.recv(WAIT).expect("a relayed packet");
        assert_eq!(source, from, "relayed from the relay's port of this leg");
        assert_eq!(u16::from_be_bytes([packet[2], packet[3]]), seq);
    }
}

/// Waits until `cond` holds, at most `WAIT`.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        sleep(Duration::from_millis(10));
    }
    cond()
}

/// A one-stream session between phone A at 127.0.0.7 and phone B at 127.0.0.8. A's SDP
/// carries a private address that is not where its packets come from, and its signaling
/// came from its real address; B's SDP is its real address.
fn call_through(relay: &Relay) -> (NewSession, StreamPorts, Endpoint, Endpoint) {
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s.streams[0];
    let a = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    relay
        .set_remote(
            s.id,
            Leg::A,
            0,
            Remote::new(sa("10.0.0.5:5004")).with_signaling_source(ip("127.0.0.7")),
        )
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    (s, ports, a, b)
}

#[test]
fn relays_both_ways_latching_on_the_signaling_source() {
    let relay = relay(PortRange::new(21_000, 21_099));
    // A's SDP carries a private address that is not where its packets come from; the
    // signaling came from A's real address, so A's packets may latch.
    let (s, ports, a, b) = call_through(&relay);

    a.send_rtp(ports.leg(Leg::A).rtp, 1, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 1);
    let latch = relay.latch(s.id, Leg::A, 0).unwrap();
    assert_eq!((latch.rtp, latch.ssrc), (Some(a.addr()), Some(0xa)));

    // B answers to its relay port; it goes to A's latched address, not the SDP's.
    b.send_rtp(ports.leg(Leg::B).rtp, 100, 0xb);
    a.expect_rtp(ports.leg(Leg::A).rtp, 100);
    assert_eq!(relay.latch(s.id, Leg::B, 0).unwrap().rtp, Some(b.addr()));

    for seq in 2..20 {
        a.send_rtp(ports.leg(Leg::A).rtp, seq, 0xa);
        b.send_rtp(ports.leg(Leg::B).rtp, seq + 100, 0xb);
    }
    assert_eq!(b.drain(QUIET), 18);
    assert_eq!(a.drain(QUIET), 18);
    let stats = relay.stats(s.id).unwrap();
    let (sa_, sb) = (&stats.streams[0].legs[0], &stats.streams[0].legs[1]);
    assert_eq!(
        (sa_.rtp_packets, sa_.forwarded, sa_.dropped_foreign),
        (19, 19, 0)
    );
    assert_eq!(
        (sb.rtp_packets, sb.forwarded, sb.dropped_foreign),
        (19, 19, 0)
    );
    assert_eq!(sa_.bytes, 19 * 172);
    assert!(sa_.last_packet.is_some());
}

#[test]
fn strict_mode_does_not_latch_on_an_address_it_was_not_given() {
    let relay = relay(PortRange::new(21_100, 21_199));
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s.streams[0];
    let a = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    // A's SDP says 127.0.0.5 (nobody there), packets come from 127.0.0.7, and the
    // signaling source is not given: no latch.
    relay
        .set_remote(s.id, Leg::A, 0, Remote::new(sa("127.0.0.5:5004")))
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    for seq in 1..=5 {
        a.send_rtp(ports.leg(Leg::A).rtp, seq, 0xa);
    }
    assert_eq!(b.drain(QUIET), 0);
    assert!(eventually(|| relay.stats(s.id).unwrap().streams[0].legs[0]
        .dropped_foreign
        == 5));
    assert_eq!(relay.latch(s.id, Leg::A, 0).unwrap().rtp, None);
    // B's media goes to A's SDP address, which A does not receive.
    b.send_rtp(ports.leg(Leg::B).rtp, 1, 0xb);
    assert_eq!(a.drain(QUIET), 0);
    assert!(eventually(|| relay.stats(s.id).unwrap().streams[0].legs[1]
        .forwarded
        == 1));

    // The same call in learn mode latches on the first packet.
    let relay = relay_with(
        PortRange::new(21_200, 21_299),
        LatchMode::Learn,
        BeforeLatch::SdpAddress,
    );
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s.streams[0];
    relay
        .set_remote(s.id, Leg::A, 0, Remote::new(sa("127.0.0.5:5004")))
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    a.send_rtp(ports.leg(Leg::A).rtp, 1, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 1);
    b.send_rtp(ports.leg(Leg::B).rtp, 2, 0xb);
    a.expect_rtp(ports.leg(Leg::A).rtp, 2);
}

#[test]
fn before_latch_drop_sends_nothing_to_the_sdp_address() {
    // The SDP address is not on loopback: with BeforeLatch::Drop nothing is sent to it.
    let relay = relay_with(
        PortRange::new(21_300, 21_399),
        LatchMode::Strict,
        BeforeLatch::Drop,
    );
    let (s, ports, a, b) = call_through(&relay);
    b.send_rtp(ports.leg(Leg::B).rtp, 1, 0xb);
    assert!(eventually(|| relay.stats(s.id).unwrap().streams[0].legs[1]
        .dropped_no_target
        == 1));
    // Once A has latched, B's media reaches it.
    a.send_rtp(ports.leg(Leg::A).rtp, 1, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 1);
    b.send_rtp(ports.leg(Leg::B).rtp, 2, 0xb);
    a.expect_rtp(ports.leg(Leg::A).rtp, 2);
}

#[test]
fn rtp_bleed_spraying_neither_receives_media_nor_moves_the_latch() {
    for mode in [LatchMode::Strict, LatchMode::Learn] {
        let relay = relay_with(
            PortRange::new(21_400, 21_499),
            mode,
            BeforeLatch::SdpAddress,
        );
        let s = relay
            .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
            .unwrap();
        let ports = s.streams[0];
        let a = Endpoint::new("127.0.0.7");
        let b = Endpoint::new("127.0.0.8");
        let attacker = Endpoint::new("127.0.0.66");
        let targets = [
            ports.leg(Leg::A).rtp,
            ports.leg(Leg::A).rtcp,
            ports.leg(Leg::B).rtp,
            ports.leg(Leg::B).rtcp,
        ];
        let spray = |round: u16| {
            for (k, to) in targets.iter().enumerate() {
                attacker.send(&rtp(round * 4 + u16::try_from(k).unwrap(), 0, 0x666), *to);
                attacker.send(&rtcp_rr(0x666), *to);
            }
        };
        relay
            .set_remote(
                s.id,
                Leg::A,
                0,
                Remote::new(a.addr()).with_signaling_source(ip("127.0.0.7")),
            )
            .unwrap();
        relay
            .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
            .unwrap();
        if mode == LatchMode::Strict {
            // Before the endpoints send anything (learn mode cannot defend this window).
            spray(0);
            sleep(Duration::from_millis(50));
        }
        a.send_rtp(ports.leg(Leg::A).rtp, 1, 0xa);
        b.expect_rtp(ports.leg(Leg::B).rtp, 1);
        b.send_rtp(ports.leg(Leg::B).rtp, 1, 0xb);
        a.expect_rtp(ports.leg(Leg::A).rtp, 1);
        for round in 1..20 {
            spray(round);
            a.send_rtp(ports.leg(Leg::A).rtp, 1 + round, 0xa);
            b.send_rtp(ports.leg(Leg::B).rtp, 1 + round, 0xb);
        }
        // The endpoints get exactly each other's media, the attacker nothing.
        assert_eq!(attacker.drain(QUIET), 0, "{mode:?}");
        for endpoint in [&a, &b] {
            let mut seen = 0;
            while let Some((p, _)) = endpoint.recv(QUIET) {
                let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
                assert_ne!(ssrc, 0x666, "{mode:?}: sprayed packet relayed");
                seen += 1;
            }
            assert_eq!(seen, 19, "{mode:?}");
        }
        assert_eq!(relay.latch(s.id, Leg::A, 0).unwrap().rtp, Some(a.addr()));
        assert_eq!(relay.latch(s.id, Leg::B, 0).unwrap().rtp, Some(b.addr()));
        let stats = relay.stats(s.id).unwrap();
        // Per round and leg: RTP and RTCP to the RTP port and RTCP to the RTCP port are
        // foreign; RTP to the RTCP port is malformed.
        let foreign: u64 = stats.streams[0]
            .legs
            .iter()
            .map(|l| l.dropped_foreign)
            .sum();
        let malformed: u64 = stats.streams[0]
            .legs
            .iter()
            .map(|l| l.dropped_malformed)
            .sum();
        let rounds = if mode == LatchMode::Strict { 20 } else { 19 };
        assert_eq!((foreign, malformed), (rounds * 6, rounds * 2), "{mode:?}");
    }
}

#[test]
fn the_ssrc_is_pinned_once_latched() {
    let relay = relay(PortRange::new(21_500, 21_599));
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s.streams[0];
    let a = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    relay
        .set_remote(s.id, Leg::A, 0, Remote::new(a.addr()))
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    a.send_rtp(ports.leg(Leg::A).rtp, 1, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 1);
    // Same source, another SSRC: dropped.
    a.send_rtp(ports.leg(Leg::A).rtp, 2, 0xbad);
    a.send_rtp(ports.leg(Leg::A).rtp, 3, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 3);
    assert_eq!(b.drain(QUIET), 0);
    assert_eq!(
        relay.stats(s.id).unwrap().streams[0].legs[0].dropped_foreign,
        1
    );
    // A new offer/answer lets a new SSRC latch.
    relay
        .set_remote(s.id, Leg::A, 0, Remote::new(a.addr()))
        .unwrap();
    a.send_rtp(ports.leg(Leg::A).rtp, 500, 0xbad);
    b.expect_rtp(ports.leg(Leg::B).rtp, 500);
    assert_eq!(relay.latch(s.id, Leg::A, 0).unwrap().ssrc, Some(0xbad));
}

#[test]
fn a_new_offer_answer_relatches() {
    let relay = relay(PortRange::new(21_600, 21_699));
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s.streams[0];
    let a1 = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    let remote_a = Remote::new(sa("10.0.0.5:5004")).with_signaling_source(ip("127.0.0.7"));
    relay.set_remote(s.id, Leg::A, 0, remote_a.clone()).unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    a1.send_rtp(ports.leg(Leg::A).rtp, 1, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 1);

    // A's NAT gives it a new port: without a new offer/answer it does not latch.
    let a2 = Endpoint::new("127.0.0.7");
    a2.send_rtp(ports.leg(Leg::A).rtp, 2, 0xa);
    assert_eq!(b.drain(QUIET), 0);
    // A re-INVITE with the same SDP re-arms the latch; until A sends again, B's media
    // still goes to the previous latch.
    relay.set_remote(s.id, Leg::A, 0, remote_a).unwrap();
    b.send_rtp(ports.leg(Leg::B).rtp, 10, 0xb);
    a1.expect_rtp(ports.leg(Leg::A).rtp, 10);
    a2.send_rtp(ports.leg(Leg::A).rtp, 3, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 3);
    b.send_rtp(ports.leg(Leg::B).rtp, 11, 0xb);
    a2.expect_rtp(ports.leg(Leg::A).rtp, 11);
    assert_eq!(a1.drain(QUIET), 0);
    assert_eq!(relay.latch(s.id, Leg::A, 0).unwrap().rtp, Some(a2.addr()));

    // A re-INVITE from B that re-targets its media to another address.
    let b2 = Endpoint::new("127.0.0.9");
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b2.addr()))
        .unwrap();
    a2.send_rtp(ports.leg(Leg::A).rtp, 4, 0xa);
    b2.expect_rtp(ports.leg(Leg::B).rtp, 4);
    assert_eq!(b.drain(QUIET), 0);
}

#[test]
fn hold_keeps_ports_and_resume_relatches() {
    let relay = relay(PortRange::new(21_700, 21_799));
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s.streams[0];
    let a = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    relay
        .set_remote(s.id, Leg::A, 0, Remote::new(a.addr()))
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    a.send_rtp(ports.leg(Leg::A).rtp, 1, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 1);
    // B holds with c=0.0.0.0: nothing is sent to B.
    relay.set_hold(s.id, Leg::B, true).unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(sa("0.0.0.0:9")))
        .unwrap();
    a.send_rtp(ports.leg(Leg::A).rtp, 2, 0xa);
    assert_eq!(b.drain(QUIET), 0);
    assert_eq!(
        relay.stats(s.id).unwrap().streams[0].legs[0].dropped_no_target,
        1
    );
    assert_eq!(relay.local_ports(s.id).unwrap(), s.streams);
    // Resume: same ports, B latches again.
    relay.set_hold(s.id, Leg::B, false).unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    a.send_rtp(ports.leg(Leg::A).rtp, 3, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 3);
    b.send_rtp(ports.leg(Leg::B).rtp, 1, 0xb);
    a.expect_rtp(ports.leg(Leg::A).rtp, 1);
    assert_eq!(relay.local_ports(s.id).unwrap(), s.streams);
}

#[test]
fn port_pairs_run_out_and_are_reused_after_delete() {
    // Four pairs: two sessions of one stream each (a pair per leg) use them all.
    let relay = relay(PortRange::new(21_800, 21_807));
    assert_eq!(relay.total_port_pairs(), 4);
    let s1 = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let s2 = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    for p in [s1.streams[0], s2.streams[0]] {
        for leg in p.legs {
            assert_eq!(leg.rtp.port() % 2, 0);
            assert_eq!(leg.rtcp.port(), leg.rtp.port() + 1);
            assert!((21_800..=21_807).contains(&leg.rtcp.port()));
        }
    }
    assert_eq!(relay.free_port_pairs(), 0);
    let err = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap_err();
    assert!(matches!(err, RelayError::PortsExhausted { .. }), "{err}");
    relay.delete_session(s1.id).unwrap();
    assert!(eventually(|| relay.free_port_pairs() == 2));
    let s3 = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let mut reused: Vec<u16> = s3.streams[0].legs.iter().map(|l| l.rtp.port()).collect();
    let mut freed: Vec<u16> = s1.streams[0].legs.iter().map(|l| l.rtp.port()).collect();
    reused.sort();
    freed.sort();
    assert_eq!(reused, freed);
    relay.delete_session(s2.id).unwrap();
    assert!(eventually(|| relay.free_port_pairs() == 2));
    // Two streams need four pairs: the creation fails halfway and keeps nothing.
    assert!(matches!(
        relay.create_session(&SessionSpec::new(ip("127.0.0.1"), 2)),
        Err(RelayError::PortsExhausted { .. })
    ));
    assert_eq!(relay.free_port_pairs(), 2);
    assert!(
        relay
            .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
            .is_ok()
    );
    assert_eq!(relay.free_port_pairs(), 0);
}

#[test]
fn counters_loss_and_jitter() {
    let relay = relay(PortRange::new(21_900, 21_999));
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s.streams[0];
    let a = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    relay
        .set_remote(s.id, Leg::A, 0, Remote::new(a.addr()))
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    // 100 packets 10 ms of media apart (80 units at 8 kHz); every tenth is not sent.
    // Odd packets leave 8 ms late: transit differences of about 64 units, which the
    // A.8 estimator follows to about 64.
    let start = Instant::now();
    let mut sent = 0;
    for seq in 0..100u16 {
        let due = Duration::from_millis(u64::from(seq) * 10 + if seq % 2 == 1 { 8 } else { 0 });
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            sleep(wait);
        }
        if seq % 10 == 5 {
            continue;
        }
        a.send(&rtp(seq, u32::from(seq) * 80, 0xa), ports.leg(Leg::A).rtp);
        sent += 1;
    }
    assert_eq!(b.drain(QUIET), sent);
    let stats = relay.stats(s.id).unwrap();
    let leg = &stats.streams[0].legs[0];
    assert_eq!(leg.rtp_packets, sent as u64);
    // Expected from the validating second packet (seq 1) to 99: 99; received 89.
    assert_eq!(leg.packets_lost, 10);
    assert!(
        (32..=160).contains(&leg.jitter_units),
        "jitter {} units",
        leg.jitter_units
    );
    assert_eq!(
        leg.jitter,
        Duration::from_micros(u64::from(leg.jitter_units) * 125)
    );
    // B sent nothing.
    assert_eq!(stats.streams[0].legs[1], Default::default());
}

#[test]
fn rtcp_goes_to_rtcp_ports_or_muxed() {
    let relay = relay(PortRange::new(22_000, 22_099));
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s.streams[0];
    let a_rtp = Endpoint::new("127.0.0.7");
    let a_rtcp = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    // A: separate RTCP port (a=rtcp); B: rtcp-mux.
    let mut remote_a = Remote::new(a_rtp.addr());
    remote_a.rtcp = Some(a_rtcp.addr());
    relay.set_remote(s.id, Leg::A, 0, remote_a).unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()).with_rtcp_mux(true))
        .unwrap();
    // A's RTCP to its RTCP port reaches B muxed on the RTP port.
    a_rtcp.send(&rtcp_rr(0xa), ports.leg(Leg::A).rtcp);
    let (p, from) = b.recv(WAIT).unwrap();
    assert_eq!((p, from), (rtcp_rr(0xa), ports.leg(Leg::B).rtp));
    // B's muxed RTCP reaches A's RTCP address from A's relay RTCP port.
    b.send(&rtcp_rr(0xb), ports.leg(Leg::B).rtp);
    let (p, from) = a_rtcp.recv(WAIT).unwrap();
    assert_eq!((p, from), (rtcp_rr(0xb), ports.leg(Leg::A).rtcp));
    // RTP is not accepted on an RTCP port.
    a_rtp.send_rtp(ports.leg(Leg::A).rtcp, 1, 0xa);
    assert_eq!(b.drain(QUIET), 0);
    let stats = relay.stats(s.id).unwrap();
    assert_eq!(stats.streams[0].legs[0].rtcp_packets, 1);
    assert_eq!(stats.streams[0].legs[0].dropped_malformed, 1);
    assert_eq!(stats.streams[0].legs[1].rtcp_packets, 1);
    assert_eq!(relay.latch(s.id, Leg::B, 0).unwrap().rtcp, Some(b.addr()));
}

#[test]
fn streams_are_relayed_independently() {
    let relay = relay(PortRange::new(22_100, 22_199));
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 2))
        .unwrap();
    let (audio, video) = (s.streams[0], s.streams[1]);
    assert_ne!(audio.leg(Leg::A).rtp, video.leg(Leg::A).rtp);
    let (a0, a1) = (Endpoint::new("127.0.0.7"), Endpoint::new("127.0.0.7"));
    let (b0, b1) = (Endpoint::new("127.0.0.8"), Endpoint::new("127.0.0.8"));
    relay
        .set_remote(s.id, Leg::A, 0, Remote::new(a0.addr()))
        .unwrap();
    relay
        .set_remote(
            s.id,
            Leg::A,
            1,
            Remote::new(a1.addr()).with_clock_rate(90_000),
        )
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b0.addr()))
        .unwrap();
    relay
        .set_remote(
            s.id,
            Leg::B,
            1,
            Remote::new(b1.addr()).with_clock_rate(90_000),
        )
        .unwrap();
    a0.send_rtp(audio.leg(Leg::A).rtp, 1, 0xa0);
    a1.send_rtp(video.leg(Leg::A).rtp, 7, 0xa1);
    b0.expect_rtp(audio.leg(Leg::B).rtp, 1);
    b1.expect_rtp(video.leg(Leg::B).rtp, 7);
    // A stream added by a re-INVITE.
    let (index, extra) = relay.add_stream(s.id).unwrap();
    assert_eq!(index, 2);
    let a2 = Endpoint::new("127.0.0.7");
    let b2 = Endpoint::new("127.0.0.8");
    relay
        .set_remote(s.id, Leg::A, 2, Remote::new(a2.addr()))
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 2, Remote::new(b2.addr()))
        .unwrap();
    b2.send_rtp(extra.leg(Leg::B).rtp, 9, 0xb2);
    a2.expect_rtp(extra.leg(Leg::A).rtp, 9);
    assert!(matches!(
        relay.set_remote(s.id, Leg::A, 3, Remote::new(a2.addr())),
        Err(RelayError::NoStream(_, 3))
    ));
}

#[test]
fn pairs_bound_ahead_serve_new_streams_and_start_empty() {
    let relay = relay_keeping(PortRange::new(22_400, 22_499), 2);
    let total = relay.total_port_pairs();
    // The first stream on 127.0.0.1 binds its two pairs itself; from then on two more wait.
    let s1 = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    assert!(eventually(|| relay.free_port_pairs() == total - 4));
    // The pool hands out its pairs in order: the first four are the stream's two and the
    // two waiting (which ones the binder took depends on timing). A scanner probes the
    // waiting ones before any call has them.
    let used: Vec<u16> = s1.streams[0].legs.iter().map(|l| l.rtp.port()).collect();
    let waiting: Vec<SocketAddr> = [22_400, 22_402, 22_404, 22_406]
        .into_iter()
        .filter(|p| !used.contains(p))
        .map(|p| SocketAddr::new(ip("127.0.0.1"), p))
        .collect();
    assert_eq!(waiting.len(), 2, "{used:?}");
    let scanner = Endpoint::new("127.0.0.9");
    for w in &waiting {
        scanner.send_rtp(*w, 1, 0x5ca7);
    }
    let s2 = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s2.streams[0];
    assert!(
        waiting.contains(&ports.leg(Leg::A).rtp),
        "a waiting pair serves the new stream: {ports:?}, waiting {waiting:?}"
    );
    // The waiting pairs are replaced.
    assert!(eventually(|| relay.free_port_pairs() == total - 6));
    // The new stream relays, and the scanner's datagram never reached it.
    let a = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    relay
        .set_remote(s2.id, Leg::A, 0, Remote::new(a.addr()))
        .unwrap();
    relay
        .set_remote(s2.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    a.send_rtp(ports.leg(Leg::A).rtp, 7, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 7);
    assert_eq!(b.drain(QUIET), 0);
    let legs = relay.stats(s2.id).unwrap().streams[0].legs.clone();
    for (leg, sent) in legs.iter().zip([1, 0]) {
        assert_eq!(leg.rtp_packets, sent, "only A's packet: {leg:?}");
        assert_eq!(
            leg.dropped_foreign + leg.dropped_malformed + leg.dropped_no_target,
            0,
            "{leg:?}"
        );
    }
}

#[test]
fn pairs_waiting_on_one_address_never_refuse_a_stream_on_another() {
    // Six pairs; one is kept waiting on each address a stream was opened on.
    let relay = relay_keeping(PortRange::new(22_500, 22_511), 1);
    let two = SessionSpec {
        local: [ip("127.0.0.1"), ip("127.0.0.2")],
        streams: 1,
        latch_mode: None,
    };
    relay.create_session(&two).unwrap();
    assert!(
        eventually(|| relay.free_port_pairs() == 2),
        "a pair waits on each of the two addresses"
    );
    let third = SessionSpec::new(ip("127.0.0.3"), 1);
    relay.create_session(&third).unwrap();
    // The pool is empty now: the pairs waiting on the other addresses serve this one.
    relay.create_session(&third).unwrap();
    assert!(matches!(
        relay.create_session(&third),
        Err(RelayError::PortsExhausted { .. })
    ));
}

#[test]
fn delete_stops_forwarding_and_frees_the_ports() {
    let relay = relay(PortRange::new(22_200, 22_299));
    let total = relay.total_port_pairs();
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 2))
        .unwrap();
    let ports = s.streams[0];
    let a = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    relay
        .set_remote(s.id, Leg::A, 0, Remote::new(a.addr()))
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    a.send_rtp(ports.leg(Leg::A).rtp, 1, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 1);
    assert_eq!(relay.free_port_pairs(), total - 4);
    // The worker counts a packet once its send returned, which can be just after the
    // packet reached B.
    assert!(eventually(|| relay.stats(s.id).is_some_and(|st| st
        .streams[0]
        .legs[0]
        .forwarded
        == 1)));
    let last = relay.delete_session(s.id).unwrap();
    assert_eq!(last.streams.len(), 2);
    assert_eq!(last.streams[0].legs[0].forwarded, 1);
    a.send_rtp(ports.leg(Leg::A).rtp, 2, 0xa);
    assert_eq!(b.drain(QUIET), 0);
    assert!(relay.stats(s.id).is_none());
    assert!(matches!(
        relay.delete_session(s.id),
        Err(RelayError::NoSession(_))
    ));
    assert!(eventually(|| relay.free_port_pairs() == total));
    // The ports are closed: they can be bound again.
    assert!(UdpSocket::bind(ports.leg(Leg::A).rtp).is_ok());
}

#[test]
fn media_timeouts_count_from_each_legs_last_packet_and_respect_hold() {
    let relay = relay(PortRange::new(22_300, 22_399));
    let s = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let quiet = relay
        .create_session(&SessionSpec::new(ip("127.0.0.1"), 1))
        .unwrap();
    let ports = s.streams[0];
    let a = Endpoint::new("127.0.0.7");
    let b = Endpoint::new("127.0.0.8");
    relay
        .set_remote(s.id, Leg::A, 0, Remote::new(a.addr()))
        .unwrap();
    relay
        .set_remote(s.id, Leg::B, 0, Remote::new(b.addr()))
        .unwrap();
    let (timeout, hold) = (Duration::from_millis(200), Duration::from_secs(10));
    let ids = |at: Instant| -> Vec<_> {
        relay
            .media_timeouts(at, timeout, hold)
            .iter()
            .map(|t| t.session)
            .collect()
    };
    assert!(ids(Instant::now()).is_empty());
    // No media at all: idle counts from creation.
    sleep(Duration::from_millis(300));
    assert_eq!(ids(Instant::now()), vec![s.id, quiet.id]);
    // A packet from A only: B is still silent, as a phone that vanished would be.
    a.send_rtp(ports.leg(Leg::A).rtp, 1, 0xa);
    b.expect_rtp(ports.leg(Leg::B).rtp, 1);
    assert_eq!(ids(Instant::now()), vec![s.id, quiet.id]);
    // B answers: both legs are live, s is active again.
    b.send_rtp(ports.leg(Leg::B).rtp, 1, 0xb);
    a.expect_rtp(ports.leg(Leg::A).rtp, 1);
    let after = Instant::now();
    assert_eq!(ids(after), vec![quiet.id]);
    let reported = relay.media_timeouts(after + Duration::from_secs(1), timeout, hold);
    assert_eq!(reported.len(), 2);
    assert!(reported[0].idle >= Duration::from_secs(1) && !reported[0].on_hold);
    // On hold, the longer timeout applies.
    relay.set_hold(s.id, Leg::A, true).unwrap();
    assert_eq!(ids(after + Duration::from_secs(1)), vec![quiet.id]);
    let held = relay.media_timeouts(Instant::now() + Duration::from_secs(11), timeout, hold);
    assert!(held.iter().any(|t| t.session == s.id && t.on_hold));
    // Answering restarts the idle clock: a call that rang without media is not cut at once.
    assert!(ids(Instant::now()).contains(&quiet.id));
    relay.restart_idle(quiet.id).unwrap();
    assert!(!ids(Instant::now()).contains(&quiet.id));
}

#[test]
fn the_relay_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Relay>();
}
