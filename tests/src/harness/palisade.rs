//! Palisade itself as a peer: the `palisade` binary of this build, started with a
//! configuration generated for the test (listeners on given loopback addresses, the
//! upstreams the test runs), stopped by PID when dropped.
//!
//! The binary is `target/<profile>/palisade`, next to the directory that holds the test
//! executable (`target/<profile>/deps/`). `scripts/test.sh` builds it before the tests run;
//! a missing binary fails the test with a message saying so.
//!
//! ```no_run
//! use std::time::Duration;
//! use palisade_tests::harness::{palisade::Palisade, peer_test, ports::role};
//!
//! let dir = peer_test("example");
//! let sbc = Palisade::builder(role::PALISADE, std::net::Ipv4Addr::new(127, 0, 0, 11))
//!     .upstream("sip:127.0.0.20:5080")
//!     .start(&dir);
//! assert!(sbc.ping(Duration::from_secs(1)));
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::ports::{self, Proto};
use super::process::Peer;
use super::topology::{self, Netns};
use super::workdir::TestDir;

/// How long Palisade gets to answer its first OPTIONS after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A Palisade to be started: listeners, upstreams and the settings a test changes.
#[derive(Debug, Clone)]
pub struct PalisadeBuilder {
    name: String,
    access_ip: Ipv4Addr,
    core_ip: Ipv4Addr,
    access_tcp: bool,
    core_tcp: bool,
    upstreams: Vec<String>,
    probe_interval: Option<String>,
    failures_before_down: Option<u32>,
    t1: Option<String>,
    invite_timeout: Option<String>,
    /// Certificate and key of a core-side TLS listener, and the CA TLS upstreams use.
    core_tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// Certificate and key of an access-side TLS listener.
    access_tls: Option<(PathBuf, PathBuf)>,
    media_timeout: Option<String>,
    media_anchor: bool,
    admin_token: Option<String>,
    records: Option<PathBuf>,
    drain_deadline: Option<String>,
    extra: Vec<String>,
    /// The `fraud` section; by default callers need not register, as most tests' SIPp
    /// phones call without registering.
    fraud: Option<String>,
    netns: Option<Netns>,
}

impl PalisadeBuilder {
    /// `admin.token`: the admin API then wants it as a bearer token.
    pub fn admin_token(mut self, token: &str) -> PalisadeBuilder {
        self.admin_token = Some(token.to_owned());
        self
    }

    /// `records.path`: where call records are written.
    pub fn records(mut self, path: &Path) -> PalisadeBuilder {
        self.records = Some(path.to_owned());
        self
    }

    /// `drain.deadline` (e.g. `"1s"`): how long calls may go on after SIGTERM.
    pub fn drain_deadline(mut self, deadline: &str) -> PalisadeBuilder {
        self.drain_deadline = Some(deadline.to_owned());
        self
    }

    /// Also listen for TLS on the core side with this certificate and key, and trust
    /// `upstream_ca` for `;transport=tls` upstreams.
    pub fn core_tls(mut self, cert: &Path, key: &Path, upstream_ca: &Path) -> PalisadeBuilder {
        self.core_tls = Some((cert.to_owned(), key.to_owned(), upstream_ca.to_owned()));
        self
    }

    /// Also listen for TLS on the access side, on a port of its own, with this certificate
    /// and key (`access.tls`): phones connect there with `;transport=tls`.
    pub fn access_tls(mut self, cert: &Path, key: &Path) -> PalisadeBuilder {
        self.access_tls = Some((cert.to_owned(), key.to_owned()));
        self
    }

    /// The peer's name (log files `<name>.stdout`, `<name>.stderr`); `palisade` by default.
    pub fn name(mut self, name: &str) -> PalisadeBuilder {
        name.clone_into(&mut self.name);
        self
    }

    /// Also listen for TCP on the access side (same port as UDP).
    pub fn access_tcp(mut self) -> PalisadeBuilder {
        self.access_tcp = true;
        self
    }

    /// Also listen for TCP on the core side (same port as UDP). Implied by a TCP upstream.
    pub fn core_tcp(mut self) -> PalisadeBuilder {
        self.core_tcp = true;
        self
    }

    /// Adds an upstream (`sip:HOST:PORT[;transport=tcp]`), in failover order.
    pub fn upstream(mut self, uri: &str) -> PalisadeBuilder {
        if uri.contains("transport=tcp") {
            self.core_tcp = true;
        }
        self.upstreams.push(uri.to_owned());
        self
    }

    /// `core.probe.interval` (e.g. `"1s"`). The default of the tests is `1h`: the only
    /// probe is then the one sent at start, so that probes do not mix with a test's calls.
    pub fn probe_interval(mut self, interval: &str) -> PalisadeBuilder {
        self.probe_interval = Some(interval.to_owned());
        self
    }

    /// `core.probe.failures_before_down`.
    pub fn failures_before_down(mut self, n: u32) -> PalisadeBuilder {
        self.failures_before_down = Some(n);
        self
    }

    /// `sip.timers.t1` (e.g. `"100ms"`): transaction timeouts are 64 × T1.
    pub fn t1(mut self, t1: &str) -> PalisadeBuilder {
        self.t1 = Some(t1.to_owned());
        self
    }

    /// `calls.invite_timeout` (e.g. `"5s"`).
    pub fn invite_timeout(mut self, t: &str) -> PalisadeBuilder {
        self.invite_timeout = Some(t.to_owned());
        self
    }

    /// `media.timeout`: how long an answered call may go without RTP.
    pub fn media_timeout(mut self, t: &str) -> PalisadeBuilder {
        self.media_timeout = Some(t.to_owned());
        self
    }

    /// `media.anchor: false`: SDP crosses unchanged, no relay session is opened.
    pub fn without_media_anchoring(mut self) -> PalisadeBuilder {
        self.media_anchor = false;
        self
    }

    /// Runs Palisade in the network namespace `ns` of a test topology, which holds its
    /// access and core addresses. It has the namespace to itself: SIP on port 5060 of each
    /// side (5061 for TLS), media on ports 30000-30063, the admin API on 127.0.0.1:9090.
    pub fn netns(mut self, ns: &Netns) -> PalisadeBuilder {
        self.netns = Some(ns.clone());
        self
    }

    /// The `fraud` section, written as is (it replaces the default, which lets phones
    /// call without registering).
    pub fn fraud(mut self, section: &str) -> PalisadeBuilder {
        self.fraud = Some(section.to_owned());
        self
    }

    /// Appends a top-level YAML section, written as is.
    pub fn yaml(mut self, section: &str) -> PalisadeBuilder {
        self.extra.push(section.to_owned());
        self
    }

    fn config(
        &self,
        (access_port, access_tls_port): (u16, u16),
        (core_port, core_tls_port): (u16, u16),
        media: (u16, u16),
        (admin_ip, admin): (Ipv4Addr, u16),
    ) -> String {
        let listen = |ip: Ipv4Addr, port: u16, tcp: bool| {
            let mut v = vec![format!("\"udp:{ip}:{port}\"")];
            if tcp {
                v.push(format!("\"tcp:{ip}:{port}\""));
            }
            v.join(", ")
        };
        let mut access_listen = listen(self.access_ip, access_port, self.access_tcp);
        let mut access_tls = String::new();
        if let Some((cert, key)) = &self.access_tls {
            access_listen.push_str(&format!(", \"tls:{}:{access_tls_port}\"", self.access_ip));
            access_tls = format!(
                "  tls: {{ cert: \"{}\", key: \"{}\" }}\n",
                cert.display(),
                key.display()
            );
        }
        let mut core_listen = listen(self.core_ip, core_port, self.core_tcp);
        let mut core_tls = String::new();
        if let Some((cert, key, ca)) = &self.core_tls {
            core_listen.push_str(&format!(", \"tls:{}:{core_tls_port}\"", self.core_ip));
            core_tls = format!(
                "  tls: {{ cert: \"{}\", key: \"{}\" }}\n  upstream_ca: \"{}\"\n",
                cert.display(),
                key.display(),
                ca.display()
            );
        }
        let upstreams = self
            .upstreams
            .iter()
            .map(|u| format!("\"{u}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut probe = format!(
            "  probe:\n    interval: {}\n    timeout: 1s\n",
            self.probe_interval.as_deref().unwrap_or("1h")
        );
        if let Some(n) = self.failures_before_down {
            probe.push_str(&format!("    failures_before_down: {n}\n"));
        }
        let mut yaml = format!(
            "access:\n  listen: [{access_listen}]\n{access_tls}\
             core:\n  listen: [{}]\n{core_tls}  upstream: [{upstreams}]\n{probe}\
             media:\n  ports: \"{}-{}\"\n{}\
             admin:\n  listen: \"{}:{admin}\"\n\
             log:\n  level: \"info,palisade=debug,palisade_b2bua=debug,palisade_transport=debug\"\n",
            core_listen,
            media.0,
            media.1,
            self.media_timeout
                .as_ref()
                .map(|t| format!("  timeout: {t}\n"))
                .unwrap_or_default()
                + if self.media_anchor {
                    ""
                } else {
                    "  anchor: false\n"
                },
            admin_ip,
        );
        if let Some(t1) = &self.t1 {
            yaml.push_str(&format!("sip:\n  timers:\n    t1: {t1}\n"));
        }
        if let Some(t) = &self.invite_timeout {
            yaml.push_str(&format!("calls:\n  invite_timeout: {t}\n"));
        }
        yaml.push_str(
            self.fraud
                .as_deref()
                .unwrap_or("fraud:\n  registered_only: false\n"),
        );
        if !yaml.ends_with('\n') {
            yaml.push('\n');
        }
        if let Some(t) = &self.admin_token {
            yaml = yaml.replace(
                &format!("admin:\n  listen: \"{admin_ip}:{admin}\"\n"),
                &format!("admin:\n  listen: \"{admin_ip}:{admin}\"\n  token: \"{t}\"\n"),
            );
        }
        if let Some(p) = &self.records {
            yaml.push_str(&format!("records:\n  path: \"{}\"\n", p.display()));
        }
        if let Some(d) = &self.drain_deadline {
            yaml.push_str(&format!("drain:\n  deadline: {d}\n"));
        }
        for e in &self.extra {
            yaml.push_str(e);
            if !e.ends_with('\n') {
                yaml.push('\n');
            }
        }
        yaml
    }

    /// Writes the configuration to `<test dir>/<name>.yaml`, starts Palisade with it and
    /// waits until it answers an OPTIONS on its access side.
    pub fn start(self, dir: &TestDir) -> Palisade {
        assert!(!self.upstreams.is_empty(), "palisade: give an upstream");
        let binary = binary();
        let config = dir.join(&format!("{}.yaml", self.name));
        let (access_port, access_tls_port, core_port, core_tls_port, admin, media) =
            if self.netns.is_some() {
                (
                    5060,
                    5061,
                    5060,
                    5061,
                    (Ipv4Addr::LOCALHOST, 9090),
                    (30000, 30063),
                )
            } else {
                let access_port = ports::free_port(self.access_ip);
                let core_port = ports::free_port(self.core_ip);
                let admin_port = ports::free_port(self.access_ip);
                // Media ports: a block of its own, starting even (RTP) and ending odd (RTCP),
                // for two calls that each cross Palisade twice (phone to PBX, PBX to phone):
                // a call's ports return to the pool a few milliseconds after it ends, and
                // the next call may come sooner.
                let block = ports::free_ports(self.access_ip, 17);
                let low = if block[0].is_multiple_of(2) {
                    block[0]
                } else {
                    block[1]
                };
                let core_tls_port = ports::free_port(self.core_ip);
                let access_tls_port = ports::free_port(self.access_ip);
                (
                    access_port,
                    access_tls_port,
                    core_port,
                    core_tls_port,
                    (self.access_ip, admin_port),
                    (low, low + 15),
                )
            };
        let text = self.config(
            (access_port, access_tls_port),
            (core_port, core_tls_port),
            media,
            admin,
        );
        std::fs::write(&config, &text).unwrap_or_else(|e| panic!("{}: {e}", config.display()));

        let mut cmd = match &self.netns {
            Some(ns) => ns.command(&binary),
            None => Command::new(&binary),
        };
        cmd.arg("--config").arg(&config);
        let mut peer = Peer::spawn(&self.name, cmd, dir.path());
        peer.dump_on_panic(&format!("{} configuration", self.name), &config);
        let at = |ip: Ipv4Addr, port| SocketAddr::new(IpAddr::V4(ip), port);
        let mut p = Palisade {
            peer,
            access_udp: at(self.access_ip, access_port),
            access_tcp: self.access_tcp.then(|| at(self.access_ip, access_port)),
            access_tls: self
                .access_tls
                .is_some()
                .then(|| at(self.access_ip, access_tls_port)),
            core_udp: at(self.core_ip, core_port),
            core_tcp: self.core_tcp.then(|| at(self.core_ip, core_port)),
            admin: at(admin.0, admin.1),
            admin_token: self.admin_token,
            config,
            netns: self.netns,
        };
        p.wait_ready();
        p
    }
}

/// The `palisade` binary built with this test (`target/<profile>/deps/<test>`) or program
/// (`target/<profile>/<program>`): `target/<profile>/palisade`.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let parent = exe
        .parent()
        .expect("the executable lives in target/<profile>");
    let profile_dir = if parent.file_name().is_some_and(|n| n == "deps") {
        parent.parent().expect("target/<profile>/deps has a parent")
    } else {
        parent
    };
    let bin = profile_dir.join("palisade");
    assert!(
        bin.is_file(),
        "{} does not exist: build it first (`cargo build -p palisade`; scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A running Palisade.
#[derive(Debug)]
pub struct Palisade {
    peer: Peer,
    access_udp: SocketAddr,
    access_tcp: Option<SocketAddr>,
    access_tls: Option<SocketAddr>,
    core_udp: SocketAddr,
    core_tcp: Option<SocketAddr>,
    admin: SocketAddr,
    admin_token: Option<String>,
    config: PathBuf,
    netns: Option<Netns>,
}

impl Palisade {
    /// A Palisade with its access side on `access_ip` and its core side on `core_ip`
    /// (UDP each, on free ports).
    pub fn builder(access_ip: Ipv4Addr, core_ip: Ipv4Addr) -> PalisadeBuilder {
        PalisadeBuilder {
            name: String::from("palisade"),
            access_ip,
            core_ip,
            access_tcp: false,
            core_tcp: false,
            upstreams: Vec::new(),
            probe_interval: None,
            failures_before_down: None,
            t1: None,
            invite_timeout: None,
            core_tls: None,
            access_tls: None,
            media_timeout: None,
            media_anchor: true,
            admin_token: None,
            records: None,
            drain_deadline: None,
            extra: Vec::new(),
            fraud: None,
            netns: None,
        }
    }

    /// The UDP address phones send to.
    pub fn access(&self) -> SocketAddr {
        self.access_udp
    }

    /// The TCP address phones connect to, when configured.
    pub fn access_tcp(&self) -> Option<SocketAddr> {
        self.access_tcp
    }

    /// The TLS address phones connect to, when configured.
    pub fn access_tls(&self) -> Option<SocketAddr> {
        self.access_tls
    }

    /// The UDP address of the core side (what the PBX sees).
    pub fn core(&self) -> SocketAddr {
        self.core_udp
    }

    /// The TCP address of the core side, when configured.
    pub fn core_tcp(&self) -> Option<SocketAddr> {
        self.core_tcp
    }

    /// The admin API's address (`admin.listen`).
    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    /// A request to the admin API with the configured token (if any): the status and
    /// the body. `None` when the connection fails.
    pub fn admin_request(&self, method: &str, path: &str) -> Option<(u16, String)> {
        self.admin_request_with(method, path, self.admin_token.as_deref())
    }

    /// The same with the token given (or none).
    pub fn admin_request_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> Option<(u16, String)> {
        let go = || super::admin::request(self.admin, method, path, token);
        match &self.netns {
            Some(ns) => ns.enter(go),
            None => go(),
        }
    }

    /// `GET path` that must answer 200: the body.
    pub fn admin_get(&self, path: &str) -> String {
        match self.admin_request("GET", path) {
            Some((200, body)) => body,
            other => panic!("GET {path} on {}: {other:?}", self.admin),
        }
    }

    /// Scrapes `/metrics` until the sample `name` satisfies `want`; the last scrape.
    /// Panics after `timeout` with the value seen, or if the process exits.
    pub fn wait_metric(
        &mut self,
        name: &str,
        want: impl Fn(f64) -> bool,
        timeout: Duration,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.admin_get("/metrics");
            let value = crate::harness::admin::metric(&text, name);
            if want(value) {
                return text;
            }
            assert!(self.peer.is_running(), "palisade exited");
            if Instant::now() >= deadline {
                panic!("palisade: {name} is {value} after {timeout:?}\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The configuration file it runs with.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The process.
    pub fn peer(&mut self) -> &mut Peer {
        &mut self.peer
    }

    /// Its log (stderr) so far.
    pub fn log(&self) -> String {
        self.peer.stderr()
    }

    /// How many log lines so far contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `count` log lines contain `needle`; panics after `timeout` or if the
    /// process exits.
    pub fn wait_log_count(&mut self, needle: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.log_count(needle);
            if n >= count {
                return;
            }
            if let Some(s) = self.peer.try_status() {
                panic!("palisade exited ({s}) with {n} of {count} log lines with {needle:?}");
            }
            if Instant::now() >= deadline {
                panic!("palisade: {n} of {count} log lines with {needle:?} after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Calls started and ended so far, from the events in the log.
    pub fn call_counts(&self) -> (usize, usize) {
        let log = self.log();
        let count = |n: &str| log.lines().filter(|l| l.contains(n)).count();
        (count("CallStarted"), count("CallEnded"))
    }

    /// Waits until every call that started has ended (and at least `started` did); panics
    /// after `timeout` saying how many are left.
    pub fn wait_calls_ended(&mut self, started: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let (s, e) = self.call_counts();
            if s >= started && s == e {
                return;
            }
            assert!(self.peer.is_running(), "palisade exited");
            if Instant::now() >= deadline {
                panic!(
                    "palisade: {s} calls started, {e} ended after {timeout:?} (expected {started})"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether Palisade answers an OPTIONS on its access side with 200 within `timeout`
    /// (the request is sent again every 200 ms, as over UDP it may be lost).
    pub fn ping(&self, timeout: Duration) -> bool {
        match &self.netns {
            Some(ns) => ns.enter(|| options_ping(self.access_udp, timeout)),
            None => options_ping(self.access_udp, timeout),
        }
    }

    /// Whether Palisade (in its namespace, if it runs in one) listens on `addr`.
    fn listening(&self, proto: Proto, addr: SocketAddr) -> bool {
        match &self.netns {
            Some(_) => topology::is_listening_in(self.peer.pid(), proto, addr),
            None => ports::is_listening(proto, addr),
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.listening(Proto::Udp, self.access_udp) {
            if let Some(s) = self.peer.try_status() {
                panic!(
                    "palisade exited ({s}) before listening on {}",
                    self.access_udp
                );
            }
            assert!(
                Instant::now() < deadline,
                "palisade is not listening on {} after {START_TIMEOUT:?}",
                self.access_udp
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        for stream in [self.access_tcp, self.access_tls].into_iter().flatten() {
            while !self.listening(Proto::Tcp, stream) {
                assert!(
                    self.peer.is_running(),
                    "palisade exited before listening on {stream}"
                );
                assert!(
                    Instant::now() < deadline,
                    "palisade is not listening on {stream} after {START_TIMEOUT:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if !self.ping(left) {
            panic!(
                "palisade does not answer OPTIONS on {} within {START_TIMEOUT:?}",
                self.access_udp
            );
        }
    }

    /// Stops it with SIGTERM (it drains, then exits) and returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.peer.stop()
    }
}

/// Sends OPTIONS to `to` from an ephemeral port on the same address until a 200 comes
/// back or `timeout` passes.
pub fn options_ping(to: SocketAddr, timeout: Duration) -> bool {
    let Ok(sock) = UdpSocket::bind(SocketAddr::new(to.ip(), 0)) else {
        return false;
    };
    let Ok(local) = sock.local_addr() else {
        return false;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + timeout;
    let mut n = 0u32;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        n += 1;
        let call_id = format!("ping-{}-{n}@{}", std::process::id(), local.ip());
        let req = format!(
            "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-ping-{n};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:ping@{local}>;tag=ping{n}\r\nTo: <sip:{to}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        if sock.send_to(req.as_bytes(), to).is_err() {
            return false;
        }
        let wait_until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < wait_until {
            match sock.recv_from(&mut buf) {
                Ok((len, _)) => {
                    let text = String::from_utf8_lossy(&buf[..len]);
                    if text.starts_with("SIP/2.0 200") && text.contains(&call_id) {
                        return true;
                    }
                }
                Err(_) => break,
            }
        }
    }
    false
}
