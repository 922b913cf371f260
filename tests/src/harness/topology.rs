//! Network topologies for NAT tests, built from network namespaces, veth pairs and
//! nftables masquerade rules, and torn down when dropped.
//!
//! Every namespace is named with [`isolation::topology_netns_prefix`] (so that
//! `scripts/test.sh` deletes any left behind) and every interface with
//! [`isolation::VETH_PREFIX`]. No namespace has a link to the host's namespace, and none
//! has a default route that leaves the topology: phones route by default to their NAT
//! router, which routes only the two "Internet" subnets, and the Internet itself is a
//! bridge with nothing behind it. A misdirected packet dies inside.
//!
//! [`NatLab`] is the layout of the end-to-end NAT tests:
//!
//! ```text
//!   phone-a 192.168.1.10 ── 192.168.1.1 nat-a 198.51.100.1 ─┐
//!                                      (masquerade)          │
//!   phone-b 192.168.2.10 ── 192.168.2.1 nat-b 198.51.100.2 ─┤ internet (bridge)
//!                           (masquerade random,fully-random) │
//!   attacker 203.0.113.66 ──────────────────────────────────┤
//!   pbx 10.10.0.20 ── 10.10.0.1 sbc 203.0.113.10 ───────────┘
//! ```
//!
//! Peers run in a namespace through `ip netns exec NAME program ...`, which replaces
//! itself with the program: the peer's PID is the program's. The test process itself stays
//! in the namespace `scripts/test.sh` made; it opens sockets in a topology namespace with
//! [`Netns::enter`], which runs a closure on a thread that has joined that namespace (a
//! socket keeps the namespace it was created in).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

use super::capture::{self, Packet};
use super::isolation::{self, VETH_PREFIX};
use super::ports::{self, Proto};
use super::process::Peer;
use super::programs;
use super::workdir::TestDir;

/// A network namespace of a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// The namespace's name (as `ip netns list` shows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` in this namespace: `ip netns exec NAME program`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(programs::require("ip"));
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `args` in this namespace and returns its stdout; panics when it fails.
    pub fn run(&self, args: &[&str]) -> String {
        let (program, rest) = args.split_first().expect("a command");
        let mut cmd = self.command(program);
        cmd.args(rest);
        output(cmd)
    }

    /// Runs `ip -n NAME args...` and returns its stdout; panics when it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(programs::require("ip"));
        cmd.args(["-n", &self.name]).args(args);
        output(cmd)
    }

    /// Runs `f` on a thread that has joined this namespace, and returns what it returns.
    /// Sockets `f` creates belong to this namespace for their whole life.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = PathBuf::from("/run/netns").join(&self.name);
        std::thread::scope(|s| {
            let joined = s.spawn(|| {
                let ns = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                setns(&ns, CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {}: {e}", self.name));
                f()
            });
            match joined.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// A UDP socket bound to `addr` in this namespace.
    pub fn udp_bind(&self, addr: SocketAddr) -> UdpSocket {
        self.enter(|| UdpSocket::bind(addr))
            .unwrap_or_else(|e| panic!("{}: bind {addr}: {e}", self.name))
    }

    /// A TCP connection to `addr` made from this namespace.
    pub fn tcp_connect(&self, addr: SocketAddr) -> TcpStream {
        self.enter(|| TcpStream::connect(addr))
            .unwrap_or_else(|e| panic!("{}: connect {addr}: {e}", self.name))
    }

    /// Starts capturing on `iface` of this namespace what matches the capture `filter`,
    /// written to `<test dir>/<name>.pcap`; returns when tshark reports that it captures.
    pub fn capture(&self, dir: &TestDir, name: &str, iface: &str, filter: &str) -> NsCapture {
        let file = dir.join(&format!("{name}.pcap"));
        let mut cmd = self.command(programs::require("tshark"));
        cmd.args(["-n", "-i", iface, "-f", filter, "-w"]).arg(&file);
        let mut peer = Peer::spawn(&format!("tshark-{name}"), cmd, dir.path());
        peer.wait_for_line("Capturing on", Duration::from_secs(10));
        NsCapture { peer, file }
    }
}

/// A capture running in a namespace. See [`Netns::capture`].
#[derive(Debug)]
pub struct NsCapture {
    peer: Peer,
    file: PathBuf,
}

impl NsCapture {
    /// The capture file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Stops the capture and returns the packets with a payload, in order.
    pub fn stop(mut self) -> Vec<Packet> {
        // Packets already sent may still sit in the capture buffer: give dumpcap a moment.
        std::thread::sleep(Duration::from_millis(300));
        self.peer.stop();
        capture::read(&self.file)
    }
}

/// Whether the process `pid` sees, in its network namespace, a UDP socket bound to (or a
/// TCP socket listening on) `addr`.
pub fn is_listening_in(pid: u32, proto: Proto, addr: SocketAddr) -> bool {
    let table = match proto {
        Proto::Udp => "udp",
        Proto::Tcp => "tcp",
    };
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
    ports::proc_net_has(&text, proto, addr)
}

/// Waits until `peer` (running in a namespace of its own) listens on `addr`; panics if it
/// exits first or after `timeout`.
pub fn wait_peer_listening(peer: &mut Peer, proto: Proto, addr: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !is_listening_in(peer.pid(), proto, addr) {
        if let Some(s) = peer.try_status() {
            panic!(
                "{} exited ({s}) before listening on {proto:?} {addr}",
                peer.name()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} is not listening on {proto:?} {addr} after {timeout:?}",
            peer.name()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn output(mut cmd: Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A set of namespaces, deleted (after the processes left in them are stopped, by PID)
/// when dropped, even when the test panics.
#[derive(Debug)]
pub struct Topology {
    prefix: String,
    namespaces: Vec<Netns>,
}

impl Topology {
    /// An empty topology whose namespaces are named `<prefix><tag>-<role>`, with the
    /// prefix `scripts/test.sh` deletes on exit.
    pub fn new(tag: &str) -> Topology {
        Topology {
            prefix: format!("{}{tag}-", isolation::topology_netns_prefix()),
            namespaces: Vec::new(),
        }
    }

    /// Creates the namespace of `role` with `lo` up.
    pub fn add(&mut self, role: &str) -> Netns {
        let ns = Netns {
            name: format!("{}{role}", self.prefix),
        };
        let mut cmd = Command::new(programs::require("ip"));
        cmd.args(["netns", "add", &ns.name]);
        output(cmd);
        self.namespaces.push(ns.clone());
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespaces, in the order they were created.
    pub fn namespaces(&self) -> &[Netns] {
        &self.namespaces
    }

    /// A veth pair between `a` (interface `a_if`) and `b` (`b_if`), both up; each end gets
    /// its address (`ADDR/LEN`) when one is given.
    pub fn veth(a: (&Netns, &str, Option<&str>), b: (&Netns, &str, Option<&str>)) {
        for name in [a.1, b.1] {
            assert!(
                name.starts_with(VETH_PREFIX) && name.len() <= 15,
                "interface {name}: names start with {VETH_PREFIX} and have at most 15 bytes"
            );
        }
        a.0.ip(&[
            "link",
            "add",
            a.1,
            "type",
            "veth",
            "peer",
            "name",
            b.1,
            "netns",
            b.0.name(),
        ]);
        for (ns, iface, addr) in [a, b] {
            if let Some(addr) = addr {
                ns.ip(&["addr", "add", addr, "dev", iface]);
            }
            ns.ip(&["link", "set", iface, "up"]);
        }
    }

    /// Checks the rules every topology keeps: each namespace holds only `lo` and
    /// interfaces named with [`VETH_PREFIX`], has no IPv6 default route, and has no IPv4
    /// default route unless `gateways` names it with the gateway its default route must
    /// use (a router of the topology). Returns what is wrong.
    pub fn check_isolated(&self, gateways: &[(&Netns, Ipv4Addr)]) -> Result<(), String> {
        let mut wrong = Vec::new();
        for ns in &self.namespaces {
            for line in ns.ip(&["-o", "link", "show"]).lines() {
                // "2: pt-lan@if3: <...> ..." -> "pt-lan"
                let name = line
                    .split(':')
                    .nth(1)
                    .map(|n| n.trim().split('@').next().unwrap_or_default())
                    .unwrap_or_default();
                if name != "lo" && !name.starts_with(VETH_PREFIX) {
                    wrong.push(format!("{}: interface {name}", ns.name));
                }
            }
            let default4 = ns.ip(&["-4", "route", "show", "default"]);
            let allowed = gateways.iter().find(|(g, _)| *g == ns).map(|(_, gw)| *gw);
            match allowed {
                None if !default4.trim().is_empty() => {
                    wrong.push(format!("{}: default route {}", ns.name, default4.trim()));
                }
                Some(gw) if default4.trim() != format!("default via {gw} dev pt-lan") => {
                    wrong.push(format!(
                        "{}: default route {:?}, expected via {gw}",
                        ns.name,
                        default4.trim()
                    ));
                }
                _ => {}
            }
            let default6 = ns.ip(&["-6", "route", "show", "default"]);
            if !default6.trim().is_empty() {
                wrong.push(format!(
                    "{}: IPv6 default route {}",
                    ns.name,
                    default6.trim()
                ));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let Some(ip) = programs::find("ip") else {
            return;
        };
        for ns in self.namespaces.iter().rev() {
            // Peers normally stop with their handles, before the topology drops; whatever
            // is left in a namespace is stopped by PID before the namespace goes.
            let pids = Command::new(&ip)
                .args(["netns", "pids", &ns.name])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let deleted = Command::new(&ip)
                .args(["netns", "del", &ns.name])
                .status()
                .is_ok_and(|s| s.success());
            if !deleted {
                eprintln!("topology: could not delete network namespace {}", ns.name);
            }
        }
    }
}

/// How a NAT router maps its LAN's flows onto its public address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    /// `masquerade`: a flow keeps its source port when it is free (endpoint-independent
    /// in practice, as most home routers).
    Masquerade,
    /// `masquerade random,fully-random`: every flow (source and destination pair) gets a
    /// random public port: a symmetric NAT.
    Symmetric,
}

/// The addresses of [`NatLab`].
pub mod addr {
    use std::net::Ipv4Addr;

    /// Palisade's access side, on the Internet.
    pub const SBC_ACCESS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
    /// Palisade's core side, on the core LAN.
    pub const SBC_CORE: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 1);
    /// The PBX, on the core LAN.
    pub const PBX: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 20);
    /// NAT router A's public address.
    pub const NAT_A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    /// NAT router B's public address.
    pub const NAT_B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
    /// NAT router A on its LAN.
    pub const NAT_A_LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    /// NAT router B on its LAN.
    pub const NAT_B_LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 1);
    /// Phone A, behind NAT router A.
    pub const PHONE_A: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    /// Phone B, behind NAT router B.
    pub const PHONE_B: Ipv4Addr = Ipv4Addr::new(192, 168, 2, 10);
    /// A third host on the Internet.
    pub const ATTACKER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);
    /// A desk phone on the core LAN, registered straight with the PBX (a second address
    /// of the PBX's namespace: see [`super::NatLab::add_desk_phone_address`]).
    pub const DESK: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 30);
}

/// The topology of the end-to-end NAT tests (see the module documentation): Palisade's
/// namespace `sbc` with its access leg (`pt-wan`) on the Internet and its core leg
/// (`pt-core`) on the core LAN with the `pbx`; NAT routers `nat-a` and `nat-b`, each with a
/// phone (`phone-a`, `phone-b`) on its LAN (`pt-lan`); an `attacker` on the Internet.
#[derive(Debug)]
pub struct NatLab {
    /// Palisade's namespace.
    pub sbc: Netns,
    /// The PBX's namespace.
    pub pbx: Netns,
    /// NAT router A.
    pub nat_a: Netns,
    /// NAT router B.
    pub nat_b: Netns,
    /// Phone A, behind router A.
    pub phone_a: Netns,
    /// Phone B, behind router B.
    pub phone_b: Netns,
    /// A third host on the Internet.
    pub attacker: Netns,
    /// The Internet: a bridge.
    pub internet: Netns,
    /// Dropped last: deletes every namespace.
    pub topology: Topology,
}

impl NatLab {
    /// Gives the PBX's namespace a second address on the core LAN, [`addr::DESK`], for a
    /// phone of the PBX's own: calls it places come to Palisade from the PBX.
    pub fn add_desk_phone_address(&self) {
        self.pbx.ip(&[
            "addr",
            "add",
            &format!("{}/24", addr::DESK),
            "dev",
            "pt-core",
        ]);
    }

    /// Builds the topology, router A with `nat_a` and router B with `nat_b`.
    pub fn build(tag: &str, nat_a: NatKind, nat_b: NatKind) -> NatLab {
        use addr::*;
        let mut t = Topology::new(tag);
        let internet = t.add("inet");
        internet.ip(&["link", "add", "pt-inet", "type", "bridge"]);
        internet.ip(&["link", "set", "pt-inet", "up"]);

        // A host on the Internet: its leg on the bridge, its own subnet on-link, and the
        // other documentation subnet on-link too (the bridge carries both).
        let on_internet = |ns: &Netns, port: &str, ip: Ipv4Addr| {
            Topology::veth(
                (&internet, port, None),
                (ns, "pt-wan", Some(&format!("{ip}/24"))),
            );
            internet.ip(&["link", "set", port, "master", "pt-inet"]);
            let other = if ip.octets()[0] == 198 {
                "203.0.113.0/24"
            } else {
                "198.51.100.0/24"
            };
            ns.ip(&["route", "add", other, "dev", "pt-wan"]);
        };

        let sbc = t.add("sbc");
        on_internet(&sbc, "pt-sbc", SBC_ACCESS);
        let pbx = t.add("pbx");
        Topology::veth(
            (&sbc, "pt-core", Some(&format!("{SBC_CORE}/24"))),
            (&pbx, "pt-core", Some(&format!("{PBX}/24"))),
        );
        let attacker = t.add("attacker");
        on_internet(&attacker, "pt-atk", ATTACKER);

        let mut router = |name: &str, port: &str, public: Ipv4Addr, lan: Ipv4Addr, kind| {
            let r = t.add(&format!("nat-{name}"));
            on_internet(&r, port, public);
            let phone = t.add(&format!("phone-{name}"));
            let [a, b, c, _] = lan.octets();
            Topology::veth(
                (&r, "pt-lan", Some(&format!("{lan}/24"))),
                (&phone, "pt-lan", Some(&format!("{a}.{b}.{c}.10/24"))),
            );
            phone.ip(&["route", "add", "default", "via", &lan.to_string()]);
            r.run(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            r.run(&["nft", "add", "table", "ip", "nat"]);
            r.run(&[
                "nft",
                "add chain ip nat postrouting { type nat hook postrouting priority srcnat; policy accept; }",
            ]);
            let mut rule = vec!["nft", "add", "rule", "ip", "nat", "postrouting"];
            rule.extend(["oifname", "pt-wan", "masquerade"]);
            if kind == NatKind::Symmetric {
                rule.extend(["random,fully-random"]);
            }
            r.run(&rule);
            (r, phone)
        };
        let (nat_a, phone_a) = router("a", "pt-nata", NAT_A, NAT_A_LAN, nat_a);
        let (nat_b, phone_b) = router("b", "pt-natb", NAT_B, NAT_B_LAN, nat_b);

        let lab = NatLab {
            sbc,
            pbx,
            nat_a,
            nat_b,
            phone_a,
            phone_b,
            attacker,
            internet,
            topology: t,
        };
        if let Err(why) = lab.check_isolated() {
            panic!("the NAT topology is not isolated: {why}");
        }
        lab
    }

    /// [`Topology::check_isolated`] with the phones' default routes to their routers.
    pub fn check_isolated(&self) -> Result<(), String> {
        self.topology.check_isolated(&[
            (&self.phone_a, addr::NAT_A_LAN),
            (&self.phone_b, addr::NAT_B_LAN),
        ])
    }
}
