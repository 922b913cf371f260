//! The running service, started as a process with a real configuration file and spoken to
//! over UDP on loopback. These tests bind sockets, so they run inside the network
//! namespace `make test` creates; outside one they fail instead of touching the host's
//! network (the RFC 4475 messages carry 192.0.2.x addresses).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fails unless this process is in a network namespace holding only loopback.
fn assert_isolated() {
    let ifaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        ifaces.iter().all(|i| i == "lo"),
        "not in an isolated network namespace (interfaces: {ifaces:?}); run the tests through \
         `make test`, which runs them inside one"
    );
}

fn free_udp_port(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Palisade process, stopped on drop.
struct Palisade {
    child: Child,
    access: SocketAddr,
    /// TCP and TLS listeners on the access side, when asked for.
    stream_ports: Option<(u16, u16)>,
    dir: PathBuf,
}

impl Palisade {
    fn start(name: &str) -> Self {
        Self::start_with(name, false)
    }

    /// With `streams`, the access side also listens on TCP and TLS (a certificate for
    /// 127.0.0.1 is made in the test directory; its CA is `ca.pem` there).
    fn start_with(name: &str, streams: bool) -> Self {
        assert_isolated();
        let dir = std::env::temp_dir().join(format!("palisade-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let access_port = free_udp_port("127.0.0.1");
        let core_port = free_udp_port("127.0.0.2");
        let pbx_port = free_udp_port("127.0.0.3");
        let admin_port = free_udp_port("127.0.0.1");
        let mut listen = format!("\"udp:127.0.0.1:{access_port}\"");
        let mut tls = String::new();
        let stream_ports = streams.then(|| {
            let tcp = free_tcp_port();
            let tls_port = free_tcp_port();
            listen.push_str(&format!(
                ", \"tcp:127.0.0.1:{tcp}\", \"tls:127.0.0.1:{tls_port}\""
            ));
            write_certificate(&dir);
            tls = format!(
                "  tls: {{ cert: {}, key: {} }}\n",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            );
            (tcp, tls_port)
        });
        // The test sends torture messages, many naming foreign domains, from one source:
        // exempt from the guard, which would ban it (the guard has tests of its own).
        let config = format!(
            "access:\n  listen: [{listen}]\n{tls}\
             core:\n  listen: [\"udp:127.0.0.2:{core_port}\"]\n  upstream: [\"sip:127.0.0.3:{pbx_port}\"]\n\
             media:\n  ports: \"30000-30099\"\n\
             admin:\n  listen: \"127.0.0.1:{admin_port}\"\n\
             security:\n  allow: [\"127.0.0.0/8\"]\n"
        );
        let file = dir.join("palisade.yaml");
        std::fs::write(&file, config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .arg("--config")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start palisade");
        let p = Self {
            child,
            access: format!("127.0.0.1:{access_port}").parse().unwrap(),
            stream_ports,
            dir,
        };
        p.wait_ready();
        p
    }

    /// Waits until the access side answers an OPTIONS.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.exchange(&options("ready")).is_some() {
                return;
            }
        }
        panic!("palisade did not answer within 10 s");
    }

    /// Sends a datagram and returns the first response, if one comes within 300 ms.
    fn exchange(&self, msg: &[u8]) -> Option<Vec<u8>> {
        let s = UdpSocket::bind("127.0.0.9:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s.send_to(msg, self.access).unwrap();
        let mut buf = vec![0u8; 65536];
        let (n, _) = s.recv_from(&mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "palisade did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Palisade {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn write_certificate(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

/// Writes `msg` on a stream and reads one SIP message back (head and Content-Length body).
fn stream_exchange<S: Read + Write>(stream: &mut S, msg: &[u8]) -> Vec<u8> {
    stream.write_all(msg).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return got;
            }
        }
    }
    panic!("no complete response");
}

fn options(call_id: &str) -> Vec<u8> {
    options_over("UDP", call_id)
}

fn options_over(transport: &str, call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.9:5060;branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=1\r\nTo: <sip:127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn status(resp: &[u8]) -> u16 {
    let line = String::from_utf8_lossy(&resp[..resp.len().min(20)]).to_string();
    line.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn answers_options_and_stops_on_sigterm() {
    let mut p = Palisade::start("sigterm");
    let r = p.exchange(&options("o1")).expect("a response");
    assert_eq!(status(&r), 200);
    let text = String::from_utf8_lossy(&r);
    assert!(text.contains("Call-ID: o1"));
    assert!(
        !text.contains("127.0.0.2") && !text.contains("127.0.0.3"),
        "core addresses leaked:\n{text}"
    );
    let st = p.terminate();
    assert!(st.success(), "exit status {st}");
}

/// OPTIONS over TCP and over TLS (verifying Palisade's certificate) are answered on the
/// connection they came in on.
#[test]
fn answers_over_tcp_and_tls() {
    let p = Palisade::start_with("streams", true);
    let (tcp_port, tls_port) = p.stream_ports.unwrap();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
    let r = stream_exchange(&mut tcp, &options_over("TCP", "tcp1"));
    assert_eq!(status(&r), 200, "{}", String::from_utf8_lossy(&r));

    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(p.dir.join("ca.pem")).unwrap();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let r = stream_exchange(&mut tls, &options_over("TLS", "tls1"));
    assert_eq!(status(&r), 200, "{}", String::from_utf8_lossy(&r));
}

fn corpus(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/corpus/rfc4475")
        .join(format!("{name}.dat"));
    std::fs::read(p).unwrap()
}

/// Every RFC 4475 request that must be refused gets the response the RFC calls for over
/// UDP, messages to be dropped get none, and the process stays up throughout.
#[test]
fn rfc4475_requests_over_udp() {
    let p = Palisade::start("rfc4475");
    let expect_code: &[(&str, u16)] = &[
        ("badinv01", 400),
        ("clerr", 400),
        ("ncl", 400),
        ("scalar02", 400),
        ("quotbal", 400),
        ("ltgtruri", 400),
        ("lwsruri", 400),
        ("lwsstart", 400),
        ("trws", 400),
        ("escruri", 400),
        ("regbadct", 400),
        ("badaspec", 400),
        ("baddn", 400),
        ("badvers", 505),
        ("mismatch01", 400),
        ("mismatch02", 501),
        ("insuf", 400),
        ("unkscm", 416),
        ("novelsc", 416),
        ("multi01", 400),
        ("mcl01", 400),
        ("zeromf", 483),
        // Palisade is the proxy of every Proxy-Require and supports none.
        ("bext01", 420),
    ];
    let mut failures = Vec::new();
    for (name, code) in expect_code {
        match p.exchange(&corpus(name)) {
            Some(r) if status(&r) == *code => {}
            Some(r) => failures.push(format!(
                "{name}: got {}",
                String::from_utf8_lossy(&r[..r.len().min(40)])
            )),
            None => failures.push(format!("{name}: no response, expected {code}")),
        }
    }
    // Responses are never answered; test.dat has no Via to answer to.
    for name in [
        "scalarlg", "bigcode", "bcast", "unreason", "noreason", "test",
    ] {
        if let Some(r) = p.exchange(&corpus(name)) {
            failures.push(format!(
                "{name}: a response must not be answered, got {}",
                status(&r)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        status(&p.exchange(&options("still-up")).expect("still up")),
        200
    );
}
