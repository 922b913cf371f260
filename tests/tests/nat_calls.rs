//! Real phones behind real NAT: baresip phones on private LANs behind two NAT routers (one
//! of them a symmetric NAT), Palisade between the Internet and a core LAN where Kamailio
//! stands in for the PBX. Every host is a network namespace of its own
//! ([`palisade_tests::harness::topology::NatLab`]); nothing is linked to the host.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use palisade_tests::harness::peer_test;
use palisade_tests::harness::topology::{NatKind, NatLab, addr};

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
