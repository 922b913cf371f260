//! Kamailio as the PBX stand-in: challenges REGISTER (401) and out-of-dialog requests (407)
//! with digest auth, routes calls between registered users, answers OPTIONS with 200, and
//! record-routes. The configuration is `tests/kamailio/pbx.cfg`; users are 1001..=1010 with
//! password `secret<user>` (see [`password`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::ports::{self, Proto};
use super::process::Peer;
use super::programs;
use super::tls::{self, TlsFiles};
use super::topology::{self, Netns};
use super::workdir::{TestDir, crate_dir};

/// The first and last user the PBX knows.
pub const USERS: std::ops::RangeInclusive<u32> = 1001..=1010;

/// The password of a PBX user: `secret` followed by the user name.
pub fn password(user: &str) -> String {
    format!("secret{user}")
}

/// How a PBX is started.
#[derive(Debug, Clone)]
pub struct PbxOptions {
    /// Address to listen on.
    pub ip: Ipv4Addr,
    /// Port for UDP and TCP; a free one when `None`.
    pub port: Option<u16>,
    /// Also listen for TLS, on a port of its own, with a certificate for `ip`.
    pub tls: bool,
}

impl PbxOptions {
    /// UDP and TCP on `ip`, a free port, no TLS.
    pub fn new(ip: Ipv4Addr) -> PbxOptions {
        PbxOptions {
            ip,
            port: None,
            tls: false,
        }
    }
}

/// A running Kamailio PBX.
#[derive(Debug)]
pub struct Pbx {
    peer: Peer,
    addr: SocketAddr,
    tls: Option<(SocketAddr, TlsFiles)>,
    netns: Option<Netns>,
}

impl Pbx {
    /// Starts the PBX on `ip` (UDP and TCP, a free port) and waits until it listens.
    pub fn start(dir: &TestDir, ip: Ipv4Addr) -> Pbx {
        Pbx::start_with(dir, &PbxOptions::new(ip))
    }

    /// Starts the PBX in the network namespace `ns` of a test topology, on its address
    /// `ip`, port 5060 (UDP and TCP), and waits until it listens.
    pub fn start_in(dir: &TestDir, ns: &Netns, ip: Ipv4Addr) -> Pbx {
        let opts = PbxOptions {
            port: Some(5060),
            ..PbxOptions::new(ip)
        };
        Pbx::start_inner(dir, &opts, Some(ns))
    }

    /// Starts the PBX as `opts` says and waits until it listens.
    pub fn start_with(dir: &TestDir, opts: &PbxOptions) -> Pbx {
        Pbx::start_inner(dir, opts, None)
    }

    fn start_inner(dir: &TestDir, opts: &PbxOptions, netns: Option<&Netns>) -> Pbx {
        let kamailio = programs::require("kamailio");
        let workdir = dir.subdir("kamailio");
        let run = dir.subdir("kamailio/run");
        let port = opts.port.unwrap_or_else(|| ports::free_port(opts.ip));
        let addr = SocketAddr::from((opts.ip, port));
        let cfg: PathBuf = crate_dir().join("kamailio/pbx.cfg");

        let mut cmd = match netns {
            Some(ns) => ns.command(kamailio),
            None => Command::new(kamailio),
        };
        cmd.current_dir(&workdir)
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-w")
            .arg(&workdir)
            .arg("-Y")
            .arg(&run)
            .arg("-P")
            .arg(run.join("kamailio.pid"))
            .args(["-l", &format!("udp:{addr}"), "-l", &format!("tcp:{addr}")]);

        let tls = opts.tls.then(|| {
            let tls_port = ports::free_port(opts.ip);
            let tls_addr = SocketAddr::from((opts.ip, tls_port));
            let files = tls::generate(&dir.subdir("kamailio/tls"), &[&opts.ip.to_string()]);
            let tls_cfg = workdir.join("tls.cfg");
            std::fs::write(
                &tls_cfg,
                format!(
                    "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                     require_certificate = no\nprivate_key = {}\ncertificate = {}\n\n\
                     [client:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                     require_certificate = no\n",
                    files.key.display(),
                    files.chain.display()
                ),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", tls_cfg.display()));
            cmd.args(["-l", &format!("tls:{tls_addr}")])
                .args(["-A", "WITH_TLS", "-A"])
                .arg(format!("TLS_CFG=\"{}\"", tls_cfg.display()));
            (tls_addr, files)
        });

        let peer = Peer::spawn("kamailio", cmd, &workdir);
        let mut pbx = Pbx {
            peer,
            addr,
            tls,
            netns: netns.cloned(),
        };
        pbx.wait_listening(Proto::Udp, addr);
        pbx.wait_listening(Proto::Tcp, addr);
        if let Some((tls_addr, _)) = &pbx.tls {
            let tls_addr = *tls_addr;
            pbx.wait_listening(Proto::Tcp, tls_addr);
        }
        pbx
    }

    fn wait_listening(&mut self, proto: Proto, addr: SocketAddr) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let listening = match self.netns {
                Some(_) => topology::is_listening_in(self.peer.pid(), proto, addr),
                None => ports::is_listening(proto, addr),
            };
            if listening {
                break;
            }
            if let Some(s) = self.peer.try_status() {
                panic!("kamailio exited ({s}) before listening on {proto:?} {addr}");
            }
            if std::time::Instant::now() >= deadline {
                panic!("kamailio is not listening on {proto:?} {addr} after 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The UDP and TCP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TLS address and certificate files, when started with TLS.
    pub fn tls(&self) -> Option<&(SocketAddr, TlsFiles)> {
        self.tls.as_ref()
    }

    /// The Kamailio process.
    pub fn peer(&mut self) -> &mut Peer {
        &mut self.peer
    }
}
