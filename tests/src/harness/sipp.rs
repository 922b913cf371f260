//! SIPp peers: phones, PBXs and load generators. A [`Sipp`] describes one run (scenario,
//! role, addresses, call count and rate, transport, `-key` values); [`Sipp::start`] starts it
//! as a [`Peer`]; [`SippRun::wait`] waits for it to finish and reads its statistics.
//!
//! Scenario files live in `tests/sipp/`; SIPp's built-in scenarios (`uac`, `uas`, ...) are
//! used with [`Scenario::BuiltIn`].

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::ports::{self, Proto};
use super::process::{Peer, read_lossy};
use super::programs;
use super::tls;
use super::workdir::{TestDir, crate_dir};

/// What SIPp plays.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// A built-in scenario (`sipp -sn NAME`): `uac`, `uas`, `regexp`, `branchc`, ...
    BuiltIn(&'static str),
    /// A scenario file.
    File(PathBuf),
}

impl Scenario {
    /// The scenario file `tests/sipp/<name>`; panics if it does not exist.
    pub fn file(name: &str) -> Scenario {
        let p = crate_dir().join("sipp").join(name);
        assert!(p.is_file(), "no SIPp scenario {}", p.display());
        Scenario::File(p)
    }

    fn label(&self) -> String {
        match self {
            Scenario::BuiltIn(n) => (*n).to_owned(),
            Scenario::File(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// SIP transport (`-t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP, one socket (`u1`).
    Udp,
    /// TCP, one connection (`t1`).
    Tcp,
    /// TLS, one connection (`l1`). Needs a SIPp built with OpenSSL: Debian's `sip-tester`
    /// is not, and a run asking for TLS then fails with a message saying so.
    Tls,
}

impl Transport {
    fn flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
            Transport::Tls => "l1",
        }
    }
}

/// One SIPp run, to be started with [`Sipp::start`].
#[derive(Debug, Clone)]
pub struct Sipp {
    name: String,
    scenario: Scenario,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    calls: Option<u64>,
    rate: Option<f64>,
    limit: Option<u64>,
    timeout: Duration,
    transport: Transport,
    service: Option<String>,
    auth: Option<(String, String)>,
    keys: Vec<(String, String)>,
    trace_messages: bool,
    args: Vec<String>,
}

impl Sipp {
    /// A run of `scenario` named `name` (used for its log files), on `local_ip` and a free
    /// port. Defaults: UDP, SIPp's default rate, no call limit, 15 s global timeout that
    /// counts as failure, message trace on.
    pub fn new(name: &str, scenario: Scenario, local_ip: Ipv4Addr) -> Sipp {
        Sipp {
            name: name.to_owned(),
            scenario,
            local: SocketAddr::from((local_ip, ports::free_port(local_ip))),
            remote: None,
            calls: None,
            rate: None,
            limit: None,
            timeout: Duration::from_secs(15),
            transport: Transport::Udp,
            service: None,
            auth: None,
            keys: Vec::new(),
            trace_messages: true,
            args: Vec::new(),
        }
    }

    /// Local port (`-p`) instead of the allocated one.
    pub fn port(mut self, port: u16) -> Sipp {
        self.local.set_port(port);
        self
    }

    /// The local address SIPp will use (`-i`, `-p`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The remote host (the positional argument): where a UAC sends its requests.
    pub fn remote(mut self, addr: SocketAddr) -> Sipp {
        self.remote = Some(addr);
        self
    }

    /// Exit after this many calls (`-m`).
    pub fn calls(mut self, n: u64) -> Sipp {
        self.calls = Some(n);
        self
    }

    /// Calls per second (`-r`).
    pub fn rate(mut self, per_second: f64) -> Sipp {
        self.rate = Some(per_second);
        self
    }

    /// Most simultaneous calls (`-l`).
    pub fn limit(mut self, n: u64) -> Sipp {
        self.limit = Some(n);
        self
    }

    /// Global timeout (`-timeout`, with `-timeout_error`: reaching it is a failure).
    pub fn timeout(mut self, t: Duration) -> Sipp {
        self.timeout = t;
        self
    }

    /// Transport (`-t`).
    pub fn transport(mut self, t: Transport) -> Sipp {
        self.transport = t;
        self
    }

    /// Request-URI user (`-s`, `[service]` in scenarios).
    pub fn service(mut self, user: &str) -> Sipp {
        self.service = Some(user.to_owned());
        self
    }

    /// Digest credentials used by `[authentication]` (`-au`, `-ap`).
    pub fn auth(mut self, user: &str, password: &str) -> Sipp {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// A scenario keyword: `[name]` in the scenario becomes `value` (`-key`).
    pub fn key(mut self, name: &str, value: &str) -> Sipp {
        self.keys.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Whether to write every message sent and received to a log (`-trace_msg`), printed
    /// when the test fails. On by default; turn it off for load runs.
    pub fn trace_messages(mut self, on: bool) -> Sipp {
        self.trace_messages = on;
        self
    }

    /// Any other SIPp argument, passed as is.
    pub fn arg(mut self, arg: &str) -> Sipp {
        self.args.push(arg.to_owned());
        self
    }

    /// The command line this run uses, run in `workdir`.
    fn command(&self, workdir: &Path) -> (Command, SippFiles) {
        let sipp = programs::require("sipp");
        let files = SippFiles {
            stat: workdir.join("stat.csv"),
            errors: workdir.join("errors.log"),
            messages: workdir.join("messages.log"),
        };
        let ip = match self.local.ip() {
            std::net::IpAddr::V4(v4) => v4,
            std::net::IpAddr::V6(_) => panic!("SIPp peers use IPv4 loopback addresses"),
        };
        // SIPp binds a control socket (-cp) and media sockets at -mp and -mp+2: give them
        // ports of their own so that parallel runs never collide.
        let control = ports::free_port(ip);
        let media = ports::free_ports(ip, 4)[0];
        let mut cmd = Command::new(sipp);
        cmd.current_dir(workdir);
        match &self.scenario {
            Scenario::BuiltIn(n) => cmd.args(["-sn", n]),
            Scenario::File(p) => cmd.arg("-sf").arg(p),
        };
        if let Some(r) = self.remote {
            cmd.arg(r.to_string());
        }
        cmd.args(["-i", &ip.to_string(), "-p", &self.local.port().to_string()]);
        cmd.args(["-t", self.transport.flag()]);
        cmd.args(["-ci", &ip.to_string(), "-cp", &control.to_string()]);
        cmd.args(["-mi", &ip.to_string(), "-mp", &media.to_string()]);
        cmd.arg("-nostdin");
        if let Some(m) = self.calls {
            cmd.args(["-m", &m.to_string()]);
        }
        if let Some(r) = self.rate {
            cmd.args(["-r", &r.to_string()]);
        }
        if let Some(l) = self.limit {
            cmd.args(["-l", &l.to_string()]);
        }
        let ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        cmd.args(["-timeout", &format!("{ms}ms"), "-timeout_error"]);
        if let Some(s) = &self.service {
            cmd.args(["-s", s]);
        }
        if let Some((u, p)) = &self.auth {
            cmd.args(["-au", u, "-ap", p]);
        }
        for (k, v) in &self.keys {
            cmd.args(["-key", k, v]);
        }
        cmd.arg("-trace_stat").arg("-stf").arg(&files.stat);
        cmd.arg("-trace_err").arg("-error_file").arg(&files.errors);
        if self.trace_messages {
            cmd.arg("-trace_msg")
                .arg("-message_file")
                .arg(&files.messages);
        }
        cmd.args(&self.args);
        (cmd, files)
    }

    /// Starts the run. Its files (statistics, error and message traces, stdout, stderr)
    /// go to the subdirectory `sipp-<name>` of the test directory, which is also SIPp's
    /// working directory.
    pub fn start(self, dir: &TestDir) -> SippRun {
        let workdir = dir.subdir(&format!("sipp-{}", self.name));
        if self.transport == Transport::Tls {
            require_tls_support();
            // SIPp's TLS uses cacert.pem and cakey.pem of its working directory as its own
            // certificate and key.
            let ip = self.local.ip().to_string();
            let files = tls::generate(&workdir, &[&ip]);
            for (from, to) in [(&files.cert, "cacert.pem"), (&files.key, "cakey.pem")] {
                std::fs::copy(from, workdir.join(to))
                    .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
            }
        }
        let (cmd, files) = self.command(&workdir);
        let mut peer = Peer::spawn(&format!("sipp-{}", self.name), cmd, &workdir);
        peer.dump_on_panic(&format!("sipp-{} errors", self.name), &files.errors);
        if self.trace_messages {
            peer.dump_on_panic(&format!("sipp-{} messages", self.name), &files.messages);
        }
        SippRun {
            name: self.name,
            scenario: self.scenario.label(),
            local: self.local,
            transport: self.transport,
            peer,
            files,
        }
    }
}

fn require_tls_support() {
    let sipp = programs::require("sipp");
    let out = Command::new(&sipp)
        .arg("-v")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", sipp.display()));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains("TLS"),
        "this SIPp ({}) is built without TLS support: use another TLS peer (Kamailio with \
         the tls module) or a SIPp built with OpenSSL",
        version.trim()
    );
}

#[derive(Debug, Clone)]
struct SippFiles {
    stat: PathBuf,
    errors: PathBuf,
    messages: PathBuf,
}

/// A started SIPp run.
#[derive(Debug)]
pub struct SippRun {
    name: String,
    scenario: String,
    local: SocketAddr,
    transport: Transport,
    peer: Peer,
    files: SippFiles,
}

/// What a finished SIPp run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SippResult {
    /// SIPp's exit code: 0 all calls succeeded, 1 some failed, 97 internal exit command,
    /// 99 no call processed, 255 (-1) fatal error, 254 (-2) fatal error binding a socket.
    /// `None` when SIPp was killed by a signal.
    pub exit_code: Option<i32>,
    /// Successful calls, from the statistics file.
    pub successful: u64,
    /// Failed calls, from the statistics file.
    pub failed: u64,
    /// Retransmissions, from the statistics file.
    pub retransmissions: u64,
    /// Every column of the statistics file's last line, by name.
    pub stats: HashMap<String, String>,
}

impl SippResult {
    /// Whether exactly `calls` calls succeeded, none failed and SIPp exited with 0.
    pub fn all_succeeded(&self, calls: u64) -> bool {
        self.exit_code == Some(0) && self.successful == calls && self.failed == 0
    }
}

impl SippRun {
    /// The run's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address SIPp listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The underlying process.
    pub fn peer(&mut self) -> &mut Peer {
        &mut self.peer
    }

    /// Waits until SIPp's SIP socket is bound (UDP) or listening (TCP, TLS); panics after
    /// `timeout` or if SIPp exits first.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let proto = match self.transport {
            Transport::Udp => Proto::Udp,
            Transport::Tcp | Transport::Tls => Proto::Tcp,
        };
        let deadline = std::time::Instant::now() + timeout;
        while !ports::is_listening(proto, self.local) {
            if let Some(s) = self.peer.try_status() {
                panic!(
                    "sipp-{} exited ({s}) before listening on {}",
                    self.name, self.local
                );
            }
            if std::time::Instant::now() >= deadline {
                panic!(
                    "sipp-{} is not listening on {} after {timeout:?}",
                    self.name, self.local
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for SIPp to exit (panics after `timeout`) and returns its result.
    pub fn wait(&mut self, timeout: Duration) -> SippResult {
        let status = self.peer.wait_for_exit(timeout);
        self.result(status.code())
    }

    /// Asks SIPp to finish (SIGUSR1: no new calls, ongoing calls end), waits for it and
    /// returns its result. For UAS runs started without a call count.
    pub fn finish(&mut self, timeout: Duration) -> SippResult {
        self.peer.signal(nix::sys::signal::Signal::SIGUSR1);
        self.wait(timeout)
    }

    fn result(&self, exit_code: Option<i32>) -> SippResult {
        let text = read_lossy(&self.files.stat);
        let stats = parse_stat_csv(&text).unwrap_or_else(|| {
            panic!(
                "sipp-{} ({}): no statistics in {} (exit code {exit_code:?})",
                self.name,
                self.scenario,
                self.files.stat.display()
            )
        });
        let num = |k: &str| {
            stats
                .get(k)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        SippResult {
            exit_code,
            successful: num("SuccessfulCall(C)"),
            failed: num("FailedCall(C)"),
            retransmissions: num("Retransmissions(C)"),
            stats,
        }
    }

    /// The messages SIPp sent and received so far (when the message trace is on).
    pub fn messages(&self) -> String {
        read_lossy(&self.files.messages)
    }

    /// The unexpected messages and errors SIPp logged so far.
    pub fn errors(&self) -> String {
        read_lossy(&self.files.errors)
    }
}

/// Registers `user` (password `password`) at `registrar` from `ip` with the scenario
/// `register_auth.xml`, Contact `contact`; waits for the run and returns its result.
pub fn register(
    dir: &TestDir,
    name: &str,
    ip: Ipv4Addr,
    registrar: SocketAddr,
    user: &str,
    password: &str,
    contact: SocketAddr,
) -> SippResult {
    Sipp::new(name, Scenario::file("register_auth.xml"), ip)
        .remote(registrar)
        .service(user)
        .auth(user, password)
        .key("contact", &contact.to_string())
        .calls(1)
        .timeout(Duration::from_secs(10))
        .start(dir)
        .wait(Duration::from_secs(15))
}

/// The last line of a SIPp statistics file (`-trace_stat`), by column name.
pub fn parse_stat_csv(text: &str) -> Option<HashMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.next_back()?.split(';').collect();
    Some(
        header
            .iter()
            .zip(last)
            .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_csv_last_line() {
        let csv = "StartTime;SuccessfulCall(C);FailedCall(C);Retransmissions(C);\n\
                   x;0;0;0;\n\
                   y;9;1;3;\n";
        let s = parse_stat_csv(csv).unwrap();
        assert_eq!(s["SuccessfulCall(C)"], "9");
        assert_eq!(s["FailedCall(C)"], "1");
        assert_eq!(s["Retransmissions(C)"], "3");
        assert!(parse_stat_csv("StartTime;\n").is_none());
    }
}
