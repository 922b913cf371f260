//! UDP: flows, keep-alives, malformed datagrams, the full-channel drop path, the sending
//! thread's batches and failures, and large requests moving to TCP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use palisade_sip::Verdict;
use palisade_transport::{
    FlowId, Protocol, SendError, SendOptions, Side, Target, TransportEvent, TransportLimits,
};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

#[tokio::test]
async fn round_trip_on_both_sides_keeps_the_flow() {
    bounded(async {
        let (t, mut rx) = bind(
            &[
                spec(Side::Access, Protocol::Udp, "127.0.0.1:0"),
                spec(Side::Core, Protocol::Udp, "127.0.0.1:0"),
            ],
            TransportLimits::default(),
        );
        for side in [Side::Access, Side::Core] {
            let addr = t.local_addr(side, Protocol::Udp).unwrap();
            let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            phone
                .send_to(&request("OPTIONS", "z9hG4bK-a", "UDP", 0), addr)
                .await
                .unwrap();
            let (flow, msg) = next_message(&mut rx).await;
            assert_eq!(flow.side, side);
            assert_eq!(flow.protocol, Protocol::Udp);
            assert_eq!(flow.remote, phone.local_addr().unwrap());
            assert_eq!(flow.local, addr);
            assert!(msg.is_request());
            assert_eq!(t.flow(flow.id), Some(flow));

            let reply = response("z9hG4bK-a");
            assert_eq!(
                t.send(Target::Flow(flow.id), reply.clone()).unwrap(),
                flow.id
            );
            let mut buf = [0u8; 2048];
            let (n, from) = phone.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, addr);
            assert_eq!(&buf[..n], &reply[..]);

            phone
                .send_to(&request("OPTIONS", "z9hG4bK-b", "UDP", 0), addr)
                .await
                .unwrap();
            let (again, _) = next_message(&mut rx).await;
            assert_eq!(again.id, flow.id, "same socket, same source: same flow");
            assert_eq!(t.stats().messages_in(side, Protocol::Udp), 2);
            assert_eq!(t.stats().messages_out(side, Protocol::Udp), 1);
        }
    })
    .await;
}

#[tokio::test]
async fn reply_arrives_on_the_flow_the_request_left_on() {
    bounded(async {
        let limits = TransportLimits::default();
        let (a, mut a_rx) = bind(&[spec(Side::Core, Protocol::Udp, "127.0.0.1:0")], limits);
        let (b, mut b_rx) = bind(&[spec(Side::Access, Protocol::Udp, "127.0.0.1:0")], limits);
        let b_addr = b.local_addr(Side::Access, Protocol::Udp).unwrap();
        let sent = a
            .send(
                Target::Addr {
                    side: Side::Core,
                    protocol: Protocol::Udp,
                    addr: b_addr,
                    tls_name: None,
                },
                request("OPTIONS", "z9hG4bK-r", "UDP", 0),
            )
            .unwrap();
        let (b_flow, _) = next_message(&mut b_rx).await;
        b.send(Target::Flow(b_flow.id), response("z9hG4bK-r"))
            .unwrap();
        let (a_flow, msg) = next_message(&mut a_rx).await;
        assert_eq!(msg.status(), Some(200));
        assert_eq!(a_flow.id, sent);
        assert_eq!(
            sent,
            FlowId::Udp {
                socket: 0,
                remote: b_addr
            }
        );
    })
    .await;
}

#[tokio::test]
async fn ipv6_loopback() {
    bounded(async {
        let Ok((t, mut rx)) = palisade_transport::Transports::bind(
            &[spec(Side::Access, Protocol::Udp, "[::1]:0")],
            Default::default(),
            TransportLimits::default(),
        ) else {
            eprintln!("no IPv6 loopback here; skipped");
            return;
        };
        let addr = t.local_addr(Side::Access, Protocol::Udp).unwrap();
        let phone = UdpSocket::bind("[::1]:0").await.unwrap();
        phone
            .send_to(&request("OPTIONS", "z9hG4bK-6", "UDP", 0), addr)
            .await
            .unwrap();
        let (flow, _) = next_message(&mut rx).await;
        assert_eq!(flow.remote, phone.local_addr().unwrap());
        t.send(Target::Flow(flow.id), response("z9hG4bK-6"))
            .unwrap();
        let mut buf = [0u8; 2048];
        let (n, _) = phone.recv_from(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"SIP/2.0 200 OK"));
        // No IPv4 socket on that side: an IPv4 target has no transport.
        let err = t
            .send(
                Target::Addr {
                    side: Side::Access,
                    protocol: Protocol::Udp,
                    addr: loopback(9),
                    tls_name: None,
                },
                response("z9hG4bK-6"),
            )
            .unwrap_err();
        assert!(matches!(err, SendError::NoTransport { .. }));
    })
    .await;
}

#[tokio::test]
async fn crlf_keepalive_is_answered_and_reported() {
    bounded(async {
        let (t, mut rx) = bind(
            &[spec(Side::Access, Protocol::Udp, "127.0.0.1:0")],
            TransportLimits::default(),
        );
        let addr = t.local_addr(Side::Access, Protocol::Udp).unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        phone.send_to(b"\r\n\r\n", addr).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = phone.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"\r\n");
        match next_event(&mut rx).await {
            TransportEvent::KeepAlive(flow) => {
                assert_eq!(flow.remote, phone.local_addr().unwrap())
            }
            other => panic!("expected a keep-alive, got {other:?}"),
        }
        // A lone CRLF is reported but not answered (two such ends would ping-pong).
        phone.send_to(b"\r\n", addr).await.unwrap();
        assert!(matches!(
            next_event(&mut rx).await,
            TransportEvent::KeepAlive(_)
        ));
        let quiet = tokio::time::timeout(Duration::from_millis(200), phone.recv_from(&mut buf));
        assert!(quiet.await.is_err());
        assert_eq!(t.stats().keepalives(), 2);
    })
    .await;
}

#[tokio::test]
async fn stun_binding_request_is_answered_with_the_source_address() {
    bounded(async {
        let (t, mut rx) = bind(
            &[spec(Side::Access, Protocol::Udp, "127.0.0.1:0")],
            TransportLimits::default(),
        );
        let addr = t.local_addr(Side::Access, Protocol::Udp).unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        req.extend_from_slice(b"txn-id-12345");
        phone.send_to(&req, addr).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = phone.recv_from(&mut buf).await.unwrap();
        let resp = &buf[..n];
        assert_eq!(&resp[..2], &[0x01, 0x01], "Binding success");
        assert_eq!(&resp[8..20], b"txn-id-12345");
        // XOR-MAPPED-ADDRESS, IPv4: the port and address the phone sent from.
        let me = phone.local_addr().unwrap();
        assert_eq!(&resp[20..26], &[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
        let port = u16::from_be_bytes([resp[26], resp[27]]) ^ 0x2112;
        let ip = u32::from_be_bytes([resp[28], resp[29], resp[30], resp[31]]) ^ 0x2112_a442;
        assert_eq!(
            std::net::SocketAddr::from((std::net::Ipv4Addr::from(ip), port)),
            me
        );
        // A keep-alive of the flow, not a malformed message.
        match next_event(&mut rx).await {
            TransportEvent::KeepAlive(flow) => assert_eq!(flow.remote, me),
            other => panic!("expected a keep-alive, got {other:?}"),
        }
        assert_eq!(t.stats().keepalives(), 1);
        assert_eq!(t.stats().malformed(), 0);
    })
    .await;
}

#[tokio::test]
async fn malformed_datagram_is_reported_with_its_bytes() {
    bounded(async {
        let (t, mut rx) = bind(
            &[spec(Side::Access, Protocol::Udp, "127.0.0.1:0")],
            TransportLimits::default(),
        );
        let addr = t.local_addr(Side::Access, Protocol::Udp).unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let junk = b"OPTIONS sip:a@b SIP/3.0\r\nVia: SIP/3.0/UDP h\r\n\r\n";
        phone.send_to(junk, addr).await.unwrap();
        match next_event(&mut rx).await {
            TransportEvent::Malformed { flow, error, bytes } => {
                assert_eq!(flow.remote, phone.local_addr().unwrap());
                assert_eq!(&bytes[..], junk);
                assert_eq!(error.verdict(), Verdict::Respond(505));
            }
            other => panic!("expected malformed, got {other:?}"),
        }
        assert_eq!(t.stats().malformed(), 1);
    })
    .await;
}

#[tokio::test]
async fn full_channel_drops_datagrams_and_counts_them() {
    bounded(async {
        let limits = TransportLimits {
            channel_capacity: 1,
            ..TransportLimits::default()
        };
        let (t, mut rx) = bind(&[spec(Side::Access, Protocol::Udp, "127.0.0.1:0")], limits);
        let addr = t.local_addr(Side::Access, Protocol::Udp).unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..10 {
            phone
                .send_to(&request("OPTIONS", &format!("z9hG4bK-{i}"), "UDP", 0), addr)
                .await
                .unwrap();
        }
        let stats = t.stats();
        eventually("ten datagrams read", || {
            stats.messages_in(Side::Access, Protocol::Udp) == 10
        })
        .await;
        assert_eq!(stats.dropped_channel_full(), 9);
        let (_, first) = next_message(&mut rx).await;
        assert_eq!(first.call_id().unwrap(), "z9hG4bK-0@example.com");
        assert!(rx.try_recv().is_err(), "the rest were dropped");
        // The reader was never blocked: the next datagram gets through.
        phone
            .send_to(&request("OPTIONS", "z9hG4bK-next", "UDP", 0), addr)
            .await
            .unwrap();
        let (_, next) = next_message(&mut rx).await;
        assert_eq!(next.call_id().unwrap(), "z9hG4bK-next@example.com");
    })
    .await;
}

/// Datagrams sent during a batch wait for no wake-up while it lasts and all leave, in the
/// order they were sent, once it ends; a send outside any batch leaves on its own.
#[tokio::test]
async fn a_batch_of_datagrams_leaves_in_order_when_it_ends() {
    bounded(async {
        let (t, _rx) = bind(
            &[spec(Side::Core, Protocol::Udp, "127.0.0.1:0")],
            TransportLimits::default(),
        );
        let pbx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = Target::Addr {
            side: Side::Core,
            protocol: Protocol::Udp,
            addr: pbx.local_addr().unwrap(),
            tls_name: None,
        };
        // 50 fit in the receiving socket's default buffer before it reads any.
        let batch = t.batch();
        for i in 0..50 {
            t.send(to.clone(), response(&format!("z9hG4bK-{i}")))
                .unwrap();
        }
        drop(batch);
        let mut buf = [0u8; 2048];
        for i in 0..50 {
            let (n, _) = pbx.recv_from(&mut buf).await.unwrap();
            assert_eq!(
                &buf[..n],
                &response(&format!("z9hG4bK-{i}"))[..],
                "datagram {i}"
            );
        }
        t.send(to, response("z9hG4bK-alone")).unwrap();
        let (n, _) = pbx.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &response("z9hG4bK-alone")[..]);
        assert_eq!(t.stats().messages_out(Side::Core, Protocol::Udp), 51);
        assert_eq!(t.stats().send_errors(), 0);
    })
    .await;
}

/// A datagram the kernel refuses (here: no route, in a namespace that has none out) is
/// reported after the send returned, for the flow it was sent to.
#[tokio::test]
async fn a_datagram_the_kernel_refuses_is_reported_as_a_failed_flow() {
    bounded(async {
        let (t, mut rx) = bind(
            &[spec(Side::Core, Protocol::Udp, "0.0.0.0:0")],
            TransportLimits::default(),
        );
        let unroutable: std::net::SocketAddr = "198.51.100.7:5060".parse().unwrap();
        let sent = t
            .send(
                Target::Addr {
                    side: Side::Core,
                    protocol: Protocol::Udp,
                    addr: unroutable,
                    tls_name: None,
                },
                request("OPTIONS", "z9hG4bK-nowhere", "UDP", 0),
            )
            .unwrap();
        match next_event(&mut rx).await {
            TransportEvent::SendFailed(flow) => {
                assert_eq!(flow.id, sent);
                assert_eq!(flow.remote, unroutable);
                assert_eq!(flow.side, Side::Core);
            }
            other => panic!("expected SendFailed, got {other:?}"),
        }
        assert_eq!(t.stats().send_errors(), 1);
    })
    .await;
}

#[tokio::test]
async fn large_request_goes_over_tcp_unless_forced() {
    bounded(async {
        let (t, _rx) = bind(
            &[
                spec(Side::Core, Protocol::Udp, "127.0.0.1:0"),
                spec(Side::Core, Protocol::Tcp, "127.0.0.1:0"),
            ],
            TransportLimits::default(),
        );
        // The peer listens on the same port over TCP and UDP, as SIP servers do.
        let peer_tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer_addr = peer_tcp.local_addr().unwrap();
        let peer_udp = UdpSocket::bind(peer_addr).await.unwrap();
        let to_peer = Target::Addr {
            side: Side::Core,
            protocol: Protocol::Udp,
            addr: peer_addr,
            tls_name: None,
        };

        let big = request("INVITE", "z9hG4bK-big", "UDP", 2000);
        assert!(big.len() > 1300);
        let flow = t.send(to_peer.clone(), big.clone()).unwrap();
        assert!(matches!(flow, FlowId::Conn(_)), "{flow:?}");
        let (mut conn, _) = peer_tcp.accept().await.unwrap();
        let mut got = vec![0u8; big.len()];
        conn.read_exact(&mut got).await.unwrap();
        let text = String::from_utf8(got).unwrap();
        assert!(text.contains("Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-big\r\n"));
        assert_eq!(
            text.replace("SIP/2.0/TCP", "SIP/2.0/UDP").as_bytes(),
            &big[..]
        );

        let small = request("OPTIONS", "z9hG4bK-small", "UDP", 0);
        assert!(matches!(
            t.send(to_peer.clone(), small.clone()).unwrap(),
            FlowId::Udp { .. }
        ));
        let mut buf = vec![0u8; 65536];
        let (n, _) = peer_udp.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &small[..]);

        let forced = t
            .send_with(to_peer.clone(), big.clone(), SendOptions { udp_only: true })
            .unwrap();
        assert!(matches!(forced, FlowId::Udp { .. }));
        let (n, _) = peer_udp.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &big[..]);

        // Responses are never moved.
        let padded = Bytes::from(
            String::from_utf8(response("z9hG4bK-r").to_vec())
                .unwrap()
                .replace(
                    "Content-Length: 0\r\n",
                    &format!("X-Pad: {}\r\nContent-Length: 0\r\n", "p".repeat(1500)),
                ),
        );
        assert!(matches!(
            t.send(to_peer, padded.clone()).unwrap(),
            FlowId::Udp { .. }
        ));
        let (n, _) = peer_udp.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &padded[..]);
    })
    .await;
}
