//! TLS: both roles, with a test CA and a leaf certificate made by rcgen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use palisade_transport::{
    BindError, CertificateFiles, Protocol, Side, Target, TlsClientSettings, TlsSettings,
    TransportEvent, TransportLimits, Transports,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    server: CertificateFiles,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a leaf for `localhost` and 127.0.0.1, written as PEM files.
fn pki() -> Pki {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "palisade-transport-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Palisade test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let ca = dir.join("ca.pem");
    let chain = dir.join("chain.pem");
    let key = dir.join("key.pem");
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&chain, format!("{}{}", leaf.pem(), ca_cert.pem())).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    Pki {
        dir,
        ca,
        server: CertificateFiles {
            cert_chain: chain,
            private_key: key,
        },
    }
}

fn server(pki: &Pki) -> (Transports, tokio::sync::mpsc::Receiver<TransportEvent>) {
    let tls = TlsSettings {
        server: Some(pki.server.clone()),
        ..TlsSettings::default()
    };
    Transports::bind(
        &[spec(Side::Access, Protocol::Tls, "127.0.0.1:0")],
        tls,
        TransportLimits::default(),
    )
    .unwrap()
}

fn client(
    settings: TlsClientSettings,
) -> (Transports, tokio::sync::mpsc::Receiver<TransportEvent>) {
    let tls = TlsSettings {
        server: None,
        client: settings,
    };
    Transports::bind(&[], tls, TransportLimits::default()).unwrap()
}

fn to(addr: std::net::SocketAddr, name: Option<&str>) -> Target {
    Target::Addr {
        side: Side::Core,
        protocol: Protocol::Tls,
        addr,
        tls_name: name.map(str::to_string),
    }
}

#[tokio::test]
async fn tls_server_and_client_round_trip() {
    bounded(async {
        let pki = pki();
        let (s, mut s_rx) = server(&pki);
        let addr = s.local_addr(Side::Access, Protocol::Tls).unwrap();
        let (c, mut c_rx) = client(TlsClientSettings {
            ca_file: Some(pki.ca.clone()),
            ..TlsClientSettings::default()
        });

        let req = request("OPTIONS", "z9hG4bK-tls", "TLS", 0);
        let id = c.send(to(addr, Some("localhost")), req.clone()).unwrap();
        let (flow, msg) = next_message(&mut s_rx).await;
        assert_eq!(flow.protocol, Protocol::Tls);
        assert_eq!(flow.side, Side::Access);
        assert_eq!(msg.as_bytes(), &req);

        s.send(Target::Flow(flow.id), response("z9hG4bK-tls"))
            .unwrap();
        let (back, msg) = next_message(&mut c_rx).await;
        assert_eq!(back.id, id, "the answer comes back on the connection");
        assert_eq!(back.protocol, Protocol::Tls);
        assert_eq!(msg.status(), Some(200));
        assert_eq!(back.remote, addr);

        // Reused, and keep-alives work over TLS too.
        assert_eq!(
            c.send(
                to(addr, Some("localhost")),
                bytes::Bytes::from_static(b"\r\n\r\n")
            )
            .unwrap(),
            id
        );
        assert!(matches!(
            next_event(&mut s_rx).await,
            TransportEvent::KeepAlive(f) if f.id == flow.id
        ));
        assert!(matches!(
            next_event(&mut c_rx).await,
            TransportEvent::KeepAlive(f) if f.id == id
        ));
        assert_eq!(c.stats().connections_opened(), 1);
    })
    .await;
}

#[tokio::test]
async fn tls_by_ip_address_without_a_name() {
    bounded(async {
        let pki = pki();
        let (s, mut s_rx) = server(&pki);
        let addr = s.local_addr(Side::Access, Protocol::Tls).unwrap();
        let (c, _c_rx) = client(TlsClientSettings {
            ca_file: Some(pki.ca.clone()),
            ..TlsClientSettings::default()
        });
        c.send(to(addr, None), request("OPTIONS", "z9hG4bK-ip", "TLS", 0))
            .unwrap();
        next_message(&mut s_rx).await;
    })
    .await;
}

#[tokio::test]
async fn untrusted_server_fails_unless_verification_is_skipped() {
    bounded(async {
        let pki = pki();
        let (s, mut s_rx) = server(&pki);
        let addr = s.local_addr(Side::Access, Protocol::Tls).unwrap();

        // The public roots do not know the test CA.
        let (c, mut c_rx) = client(TlsClientSettings::default());
        let id = c
            .send(
                to(addr, Some("localhost")),
                request("OPTIONS", "z9hG4bK-u", "TLS", 0),
            )
            .unwrap();
        flow_closed(&mut c_rx, id).await;
        assert_eq!(c.stats().tls_handshake_failures(), 1);

        // A name the certificate does not hold fails too.
        let (c, mut c_rx) = client(TlsClientSettings {
            ca_file: Some(pki.ca.clone()),
            ..TlsClientSettings::default()
        });
        let id = c
            .send(
                to(addr, Some("pbx.example.com")),
                request("OPTIONS", "z9hG4bK-n", "TLS", 0),
            )
            .unwrap();
        flow_closed(&mut c_rx, id).await;

        // Lab mode accepts it.
        let (c, _c_rx) = client(TlsClientSettings {
            insecure_skip_verify: true,
            ..TlsClientSettings::default()
        });
        c.send(
            to(addr, Some("anything")),
            request("OPTIONS", "z9hG4bK-k", "TLS", 0),
        )
        .unwrap();
        // The server saw the two failed handshakes close first.
        let msg = loop {
            match next_event(&mut s_rx).await {
                TransportEvent::FlowClosed(_) => {}
                TransportEvent::Message { message, .. } => break message,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(msg.call_id().unwrap(), "z9hG4bK-k@example.com");
        assert_eq!(s.stats().tls_handshake_failures(), 2);
    })
    .await;
}

#[tokio::test]
async fn plain_tcp_to_a_tls_listener_is_dropped() {
    bounded(async {
        let pki = pki();
        let (s, mut s_rx) = server(&pki);
        let addr = s.local_addr(Side::Access, Protocol::Tls).unwrap();
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&request("OPTIONS", "z9hG4bK-p", "TCP", 0))
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        // The server answers with a TLS alert at most, then closes.
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        assert!(matches!(
            next_event(&mut s_rx).await,
            TransportEvent::FlowClosed(_)
        ));
        assert_eq!(s.stats().tls_handshake_failures(), 1);
    })
    .await;
}

#[tokio::test]
async fn tls_listener_needs_a_certificate() {
    bounded(async {
        let err = Transports::bind(
            &[spec(Side::Access, Protocol::Tls, "127.0.0.1:0")],
            TlsSettings::default(),
            TransportLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, BindError::Tls(_)), "{err}");
        let err = Transports::bind(
            &[spec(Side::Access, Protocol::Tls, "127.0.0.1:0")],
            TlsSettings {
                server: Some(CertificateFiles {
                    cert_chain: "/nonexistent/chain.pem".into(),
                    private_key: "/nonexistent/key.pem".into(),
                }),
                ..TlsSettings::default()
            },
            TransportLimits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/chain.pem"), "{err}");
    })
    .await;
}
