//! TCP: framing over real sockets, keep-alives, limits, timeouts, closing and reuse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use palisade_transport::{
    Flow, FlowId, Protocol, SendError, Side, Target, TransportEvent, TransportLimits, Transports,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

fn access_tcp(
    limits: TransportLimits,
) -> (
    Transports,
    tokio::sync::mpsc::Receiver<TransportEvent>,
    SocketAddr,
) {
    let (t, rx) = bind(&[spec(Side::Access, Protocol::Tcp, "127.0.0.1:0")], limits);
    let addr = t.local_addr(Side::Access, Protocol::Tcp).unwrap();
    (t, rx, addr)
}

/// Whether the server closed the connection: EOF or reset within the wait.
async fn closed_by_server(conn: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(EVENT_WAIT, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(format!("{source}:0").parse().unwrap()).unwrap();
    s.connect(to).await.unwrap()
}

#[tokio::test]
async fn split_and_pipelined_messages() {
    bounded(async {
        let (t, mut rx, addr) = access_tcp(TransportLimits::default());
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let one = request("OPTIONS", "z9hG4bK-1", "TCP", 10);
        for chunk in one.chunks(7) {
            conn.write_all(chunk).await.unwrap();
            conn.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (flow, msg) = next_message(&mut rx).await;
        assert_eq!(msg.as_bytes(), &one);
        assert_eq!(flow.protocol, Protocol::Tcp);
        assert_eq!(flow.remote, conn.local_addr().unwrap());
        assert!(matches!(flow.id, FlowId::Conn(_)));
        assert_eq!(t.flow(flow.id), Some(flow));

        let two = request("OPTIONS", "z9hG4bK-2", "TCP", 0);
        let three = request("MESSAGE", "z9hG4bK-3", "TCP", 5);
        conn.write_all(&[&two[..], &three[..]].concat())
            .await
            .unwrap();
        let (f2, m2) = next_message(&mut rx).await;
        let (f3, m3) = next_message(&mut rx).await;
        assert_eq!((m2.as_bytes(), m3.as_bytes()), (&two, &three));
        assert_eq!((f2.id, f3.id), (flow.id, flow.id));

        let reply = response("z9hG4bK-1");
        t.send(Target::Flow(flow.id), reply.clone()).unwrap();
        let mut got = vec![0u8; reply.len()];
        conn.read_exact(&mut got).await.unwrap();
        assert_eq!(got, reply);
        assert_eq!(t.stats().messages_in(Side::Access, Protocol::Tcp), 3);
    })
    .await;
}

#[tokio::test]
async fn crlf_ping_gets_a_pong() {
    bounded(async {
        let (t, mut rx, addr) = access_tcp(TransportLimits::default());
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 2];
        conn.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"\r\n");
        assert!(matches!(
            next_event(&mut rx).await,
            TransportEvent::KeepAlive(f) if f.remote == conn.local_addr().unwrap()
        ));
        // A message after the ping frames normally.
        conn.write_all(&request("OPTIONS", "z9hG4bK-p", "TCP", 0))
            .await
            .unwrap();
        next_message(&mut rx).await;
        assert_eq!(t.stats().keepalives(), 1);
    })
    .await;
}

#[tokio::test]
async fn per_source_limit_rejects_extra_connections() {
    bounded(async {
        let limits = TransportLimits {
            max_connections_per_source: 2,
            ..TransportLimits::default()
        };
        let (t, mut rx, addr) = access_tcp(limits);
        let mut kept = Vec::new();
        for i in 0..2 {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(&request("OPTIONS", &format!("z9hG4bK-{i}"), "TCP", 0))
                .await
                .unwrap();
            let (flow, _) = next_message(&mut rx).await;
            kept.push((c, flow.id));
        }
        let mut third = TcpStream::connect(addr).await.unwrap();
        assert!(closed_by_server(&mut third).await);
        assert_eq!(t.stats().connections_rejected(), 1);
        assert_eq!(t.stats().connections_open(), 2);
        // Another source is still welcome.
        let mut other = connect_from("127.0.0.2", addr).await;
        other
            .write_all(&request("OPTIONS", "z9hG4bK-o", "TCP", 0))
            .await
            .unwrap();
        let (flow, _) = next_message(&mut rx).await;
        assert_eq!(flow.remote.ip().to_string(), "127.0.0.2");
        // Closing one frees a slot for its source.
        let (c, id) = kept.pop().unwrap();
        drop(c);
        flow_closed(&mut rx, id).await;
        assert_eq!(t.stats().connections_open(), 2);
        let mut again = TcpStream::connect(addr).await.unwrap();
        again
            .write_all(&request("OPTIONS", "z9hG4bK-a", "TCP", 0))
            .await
            .unwrap();
        next_message(&mut rx).await;
    })
    .await;
}

#[tokio::test]
async fn total_limit_rejects_extra_connections() {
    bounded(async {
        let limits = TransportLimits {
            max_connections: 2,
            ..TransportLimits::default()
        };
        let (t, mut rx, addr) = access_tcp(limits);
        let mut kept = Vec::new();
        for source in ["127.0.0.1", "127.0.0.2"] {
            let mut c = connect_from(source, addr).await;
            c.write_all(&request("OPTIONS", "z9hG4bK-t", "TCP", 0))
                .await
                .unwrap();
            next_message(&mut rx).await;
            kept.push(c);
        }
        let mut third = connect_from("127.0.0.3", addr).await;
        assert!(closed_by_server(&mut third).await);
        assert_eq!(t.stats().connections_rejected(), 1);
        assert_eq!(t.stats().connections_accepted(), 2);
    })
    .await;
}

#[tokio::test]
async fn slowloris_is_closed_after_message_timeout() {
    bounded(async {
        let limits = TransportLimits {
            message_timeout: Duration::from_millis(500),
            ..TransportLimits::default()
        };
        let (t, mut rx, addr) = access_tcp(limits);
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let msg = request("OPTIONS", "z9hG4bK-slow", "TCP", 0);
        let start = Instant::now();
        let mut closed = false;
        let mut buf = [0u8; 16];
        for byte in msg.iter() {
            if conn.write_all(&[*byte]).await.is_err() {
                closed = true;
                break;
            }
            match tokio::time::timeout(Duration::from_millis(100), conn.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                _ => {}
            }
        }
        let took = start.elapsed();
        assert!(closed, "the connection outlived the whole message");
        assert!(
            took >= Duration::from_millis(450),
            "closed too early: {took:?}"
        );
        assert!(took < Duration::from_secs(2), "closed too late: {took:?}");
        match next_event(&mut rx).await {
            TransportEvent::FlowClosed(Flow {
                id: FlowId::Conn(_),
                ..
            }) => {}
            other => panic!("expected FlowClosed, got {other:?}"),
        }
        assert_eq!(t.stats().connections_timed_out(), 1);
        assert_eq!(t.stats().connections_open(), 0);
    })
    .await;
}

#[tokio::test]
async fn idle_connection_is_closed() {
    bounded(async {
        let limits = TransportLimits {
            idle_timeout: Duration::from_millis(300),
            ..TransportLimits::default()
        };
        let (t, mut rx, addr) = access_tcp(limits);
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&request("OPTIONS", "z9hG4bK-i", "TCP", 0))
            .await
            .unwrap();
        let (flow, _) = next_message(&mut rx).await;
        let start = Instant::now();
        assert!(closed_by_server(&mut conn).await);
        assert!(start.elapsed() >= Duration::from_millis(250));
        flow_closed(&mut rx, flow.id).await;
        assert_eq!(t.stats().connections_timed_out(), 1);
        assert!(t.flow(flow.id).is_none());
    })
    .await;
}

#[tokio::test]
async fn peer_disconnect_closes_the_flow_and_sends_then_fail() {
    bounded(async {
        let (t, mut rx, addr) = access_tcp(TransportLimits::default());
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&request("OPTIONS", "z9hG4bK-d", "TCP", 0))
            .await
            .unwrap();
        let (flow, _) = next_message(&mut rx).await;
        drop(conn);
        flow_closed(&mut rx, flow.id).await;
        let err = t
            .send(Target::Flow(flow.id), response("z9hG4bK-d"))
            .unwrap_err();
        assert!(matches!(err, SendError::FlowClosed), "{err:?}");
        assert_eq!(t.stats().connections_open(), 0);
    })
    .await;
}

#[tokio::test]
async fn framing_error_reports_and_closes() {
    bounded(async {
        let (_t, mut rx, addr) = access_tcp(TransportLimits::default());
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
            .await
            .unwrap();
        let id = match next_event(&mut rx).await {
            TransportEvent::Malformed { flow, error, .. } => {
                assert_eq!(error.kind, palisade_sip::ParseError::MissingContentLength);
                flow.id
            }
            other => panic!("expected malformed, got {other:?}"),
        };
        flow_closed(&mut rx, id).await;
        assert!(closed_by_server(&mut conn).await);
    })
    .await;
}

#[tokio::test]
async fn outgoing_connection_is_reused_and_read() {
    bounded(async {
        let (t, mut rx) = bind(
            &[spec(Side::Core, Protocol::Tcp, "127.0.0.1:0")],
            TransportLimits::default(),
        );
        let pbx = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to_pbx = Target::Addr {
            side: Side::Core,
            protocol: Protocol::Tcp,
            addr: pbx.local_addr().unwrap(),
            tls_name: None,
        };
        let first = request("OPTIONS", "z9hG4bK-o1", "TCP", 0);
        let id = t.send(to_pbx.clone(), first.clone()).unwrap();
        let (mut conn, from) = pbx.accept().await.unwrap();
        assert_eq!(from.ip().to_string(), "127.0.0.1");
        let mut got = vec![0u8; first.len()];
        conn.read_exact(&mut got).await.unwrap();
        assert_eq!(got, first);

        // The answer comes back on the connection.
        conn.write_all(&response("z9hG4bK-o1")).await.unwrap();
        let (flow, msg) = next_message(&mut rx).await;
        assert_eq!(flow.id, id);
        assert_eq!(msg.status(), Some(200));
        assert_eq!(flow.local, conn.peer_addr().unwrap());

        // A second request reuses it.
        let second = request("OPTIONS", "z9hG4bK-o2", "TCP", 0);
        assert_eq!(t.send(to_pbx, second.clone()).unwrap(), id);
        let mut got = vec![0u8; second.len()];
        conn.read_exact(&mut got).await.unwrap();
        assert_eq!(got, second);
        assert_eq!(t.stats().connections_opened(), 1);

        // When the PBX hangs up, the flow closes.
        drop(conn);
        flow_closed(&mut rx, id).await;
    })
    .await;
}

#[tokio::test]
async fn failed_connect_reports_flow_closed() {
    bounded(async {
        let (t, mut rx) = bind(&[], TransportLimits::default());
        let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = gone.local_addr().unwrap();
        drop(gone);
        let id = t
            .send(
                Target::Addr {
                    side: Side::Core,
                    protocol: Protocol::Tcp,
                    addr,
                    tls_name: None,
                },
                request("OPTIONS", "z9hG4bK-f", "TCP", 0),
            )
            .unwrap();
        flow_closed(&mut rx, id).await;
        assert_eq!(t.stats().connect_failures(), 1);
        assert!(t.flow(id).is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_that_does_not_read_is_disconnected() {
    bounded(async {
        let limits = TransportLimits {
            write_queue: 2,
            ..TransportLimits::default()
        };
        let (t, mut rx, addr) = access_tcp(limits);
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&request("OPTIONS", "z9hG4bK-w", "TCP", 0))
            .await
            .unwrap();
        let (flow, _) = next_message(&mut rx).await;
        let chunk = bytes::Bytes::from(vec![b'x'; 65536]);
        let mut error = None;
        for _ in 0..5000 {
            if let Err(e) = t.send(Target::Flow(flow.id), chunk.clone()) {
                error = Some(e);
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(matches!(error, Some(SendError::QueueFull)), "{error:?}");
        flow_closed(&mut rx, flow.id).await;
        assert_eq!(t.stats().write_queue_overflows(), 1);
        drop(conn);
    })
    .await;
}

#[tokio::test]
async fn shutdown_closes_listeners_and_connections() {
    bounded(async {
        let (t, mut rx, addr) = access_tcp(TransportLimits::default());
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&request("OPTIONS", "z9hG4bK-s", "TCP", 0))
            .await
            .unwrap();
        let (flow, _) = next_message(&mut rx).await;
        t.shutdown().await;
        assert!(closed_by_server(&mut conn).await);
        assert!(TcpStream::connect(addr).await.is_err());
        assert!(matches!(
            t.send(Target::Flow(flow.id), response("z9hG4bK-s")),
            Err(SendError::ShutDown)
        ));
    })
    .await;
}

#[tokio::test]
async fn silent_connection_is_closed_after_message_timeout() {
    bounded(async {
        let limits = TransportLimits {
            message_timeout: Duration::from_millis(300),
            ..TransportLimits::default()
        };
        let (t, mut rx, addr) = access_tcp(limits);
        let mut conn = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        assert!(closed_by_server(&mut conn).await);
        assert!(start.elapsed() >= Duration::from_millis(250));
        assert!(matches!(
            next_event(&mut rx).await,
            TransportEvent::FlowClosed(_)
        ));
        assert_eq!(t.stats().connections_timed_out(), 1);

        // A connection that spoke in time lives on past it, until idle.
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 2];
        conn.read_exact(&mut pong).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        conn.write_all(&request("OPTIONS", "z9hG4bK-late", "TCP", 0))
            .await
            .unwrap();
        next_message(&mut rx).await;
    })
    .await;
}
