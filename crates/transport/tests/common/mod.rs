//! Helpers shared by the transport tests. Everything binds 127.0.0.1 or ::1 with port 0.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use palisade_sip::Message;
use palisade_transport::{
    Flow, FlowId, ListenSpec, Protocol, Side, TlsSettings, TransportEvent, TransportLimits,
    Transports,
};
use tokio::sync::mpsc::Receiver;

/// How long one awaited event may take.
pub(crate) const EVENT_WAIT: Duration = Duration::from_secs(5);

/// Runs a whole test body under a deadline, so that nothing hangs.
pub(crate) async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(30), body)
        .await
        .expect("test timed out");
}

pub(crate) fn spec(side: Side, protocol: Protocol, addr: &str) -> ListenSpec {
    ListenSpec {
        side,
        protocol,
        addr: addr.parse().unwrap(),
    }
}

pub(crate) fn bind(
    specs: &[ListenSpec],
    limits: TransportLimits,
) -> (Transports, Receiver<TransportEvent>) {
    Transports::bind(specs, TlsSettings::default(), limits).unwrap()
}

/// A request with a Via of the given transport and a body of `body_len` octets.
pub(crate) fn request(method: &str, branch: &str, transport: &str, body_len: usize) -> Bytes {
    let body = "x".repeat(body_len);
    let ct = if body_len > 0 {
        "Content-Type: text/plain\r\n"
    } else {
        ""
    };
    Bytes::from(format!(
        "{method} sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/{transport} 127.0.0.1:5060;branch={branch}\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: {branch}@example.com\r\n\
CSeq: 1 {method}\r\n\
{ct}Content-Length: {body_len}\r\n\r\n{body}"
    ))
}

pub(crate) fn response(branch: &str) -> Bytes {
    Bytes::from(format!(
        "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=b1\r\n\
Call-ID: {branch}@example.com\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

pub(crate) async fn next_event(rx: &mut Receiver<TransportEvent>) -> TransportEvent {
    tokio::time::timeout(EVENT_WAIT, rx.recv())
        .await
        .expect("no event in time")
        .expect("event channel closed")
}

/// The next message, skipping keep-alives.
pub(crate) async fn next_message(rx: &mut Receiver<TransportEvent>) -> (Flow, Message) {
    loop {
        match next_event(rx).await {
            TransportEvent::Message { flow, message, .. } => return (flow, message),
            TransportEvent::KeepAlive(_) => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Waits for `FlowClosed(id)`, skipping other events.
pub(crate) async fn flow_closed(rx: &mut Receiver<TransportEvent>, id: FlowId) {
    loop {
        if let TransportEvent::FlowClosed(closed) = next_event(rx).await
            && closed.id == id
        {
            return;
        }
    }
}

/// Polls a condition every 10 ms until it holds.
pub(crate) async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let wait = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(EVENT_WAIT, wait).await.is_err() {
        panic!("never happened: {what}");
    }
}

pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
