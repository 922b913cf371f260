//! The admission check: refused access-side datagrams and connections vanish without an
//! answer; the core side is never asked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use common::*;
use palisade_transport::{Admission, Protocol, Side, TransportLimits, Transports};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};

/// Refuses everything from 127.0.0.66 and counts what it was asked.
#[derive(Debug, Default)]
struct RefuseOne {
    asked: AtomicUsize,
}

impl RefuseOne {
    fn ok(&self, source: SocketAddr) -> bool {
        self.asked.fetch_add(1, Relaxed);
        source.ip().to_string() != "127.0.0.66"
    }
}

impl Admission for RefuseOne {
    fn datagram(&self, source: SocketAddr, _: &[u8]) -> bool {
        self.ok(source)
    }
    fn connection(&self, source: SocketAddr) -> bool {
        self.ok(source)
    }
    fn tls_handshake(&self, source: SocketAddr) -> bool {
        self.ok(source)
    }
}

#[tokio::test]
async fn refused_sources_are_neither_heard_nor_answered() {
    bounded(async {
        let admission = Arc::new(RefuseOne::default());
        let (t, mut rx) = Transports::bind_with(
            &[
                spec(Side::Access, Protocol::Udp, "127.0.0.1:0"),
                spec(Side::Access, Protocol::Tcp, "127.0.0.1:0"),
                spec(Side::Core, Protocol::Udp, "127.0.0.1:0"),
            ],
            Default::default(),
            TransportLimits::default(),
            admission.clone(),
        )
        .unwrap();
        let access = t.local_addr(Side::Access, Protocol::Udp).unwrap();
        let core = t.local_addr(Side::Core, Protocol::Udp).unwrap();

        // A keep-alive from the refused source gets no pong, its request no event.
        let bad = UdpSocket::bind("127.0.0.66:0").await.unwrap();
        bad.send_to(b"\r\n\r\n", access).await.unwrap();
        bad.send_to(&request("OPTIONS", "z9hG4bK-x", "UDP", 0), access)
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let answer = tokio::time::timeout(Duration::from_millis(300), bad.recv_from(&mut buf));
        assert!(answer.await.is_err(), "no answer to a refused source");
        assert_eq!(t.stats().datagrams_refused(), 2);

        // The same source on the core side is not asked about.
        let asked = admission.asked.load(Relaxed);
        let pbx = UdpSocket::bind("127.0.0.66:0").await.unwrap();
        pbx.send_to(&request("OPTIONS", "z9hG4bK-c", "UDP", 0), core)
            .await
            .unwrap();
        let (flow, _) = next_message(&mut rx).await;
        assert_eq!(flow.side, Side::Core);
        assert_eq!(admission.asked.load(Relaxed), asked);

        // Another access source is heard.
        let good = UdpSocket::bind("127.0.0.2:0").await.unwrap();
        good.send_to(&request("OPTIONS", "z9hG4bK-g", "UDP", 0), access)
            .await
            .unwrap();
        let (flow, _) = next_message(&mut rx).await;
        assert_eq!(flow.remote, good.local_addr().unwrap());

        // A refused connection is reset before anything is read from it.
        let tcp = t.local_addr(Side::Access, Protocol::Tcp).unwrap();
        let s = TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.66:0".parse().unwrap()).unwrap();
        let mut conn = s.connect(tcp).await.unwrap();
        let _ = conn
            .write_all(&request("OPTIONS", "z9hG4bK-t", "TCP", 0))
            .await;
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(EVENT_WAIT, conn.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
        assert_eq!(t.stats().connections_rejected(), 1);
        assert_eq!(t.stats().connections_accepted(), 0);
        t.shutdown().await;
    })
    .await;
}
