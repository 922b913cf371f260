//! baresip as a softphone: one account registering with a registrar (Palisade's access
//! side) over UDP, TCP or TLS, driven through its `ctrl_tcp` module (commands `dial`,
//! `accept`, `hangup`; call events come back on the same connection) and followed through
//! its log (stdout).
//!
//! Each phone gets a configuration directory of its own (`baresip-<user>/` in the test
//! directory) with `config` and `accounts`, and runs headless: no audio device, the
//! `aufile` module plays a generated tone (8 kHz mono WAV) as the microphone, the
//! `aubridge` module stands in for the speaker, and the `sndfile` module records what the
//! phone sends and what it hears as WAV files in `baresip-<user>/sound/`.
//!
//! baresip finds no network address of its own in a namespace that holds only loopback,
//! so its address is given with `net_interface` (an IP address is accepted there) and
//! its SIP sockets with `sip_listen` (UDP and TCP on that port, TLS on the next one).
//! Its outgoing TCP and TLS connections and its RTP are not bound to that address: they
//! leave from 127.0.0.1 and an ephemeral port, while Via, Contact and SDP name the
//! phone's own address.
//!
//! TLS: `sip_cafile` is set to the CA given with [`Baresip::ca_file`], but baresip 1.0
//! (Debian's `baresip-core`) does not check the server's certificate with it: a server
//! certificate from another CA, or for another address, is accepted all the same. A test
//! with this phone shows that SIP crosses TLS, not that the phone authenticated the server.
//!
//! ```no_run
//! use std::time::Duration;
//! use palisade_tests::harness::baresip::{Baresip, Transport};
//! use palisade_tests::harness::{peer_test, ports::role};
//!
//! let dir = peer_test("example");
//! let registrar = "127.0.0.10:5061".parse().unwrap();
//! let mut phone = Baresip::new("1001", role::PHONE_A, registrar)
//!     .password("secret1001")
//!     .transport(Transport::Tls)
//!     .start(&dir);
//! phone.wait_registered(Duration::from_secs(10));
//! phone.dial("1002");
//! phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
//! phone.hangup();
//! ```

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::ports::{self, Proto};
use super::process::Peer;
use super::programs;
use super::topology::{self, Netns};
use super::workdir::TestDir;

/// Where Debian installs baresip's modules.
const MODULE_PATH: &str = "/usr/lib/baresip/modules";

/// How long baresip gets to open its control socket after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a control command gets for its response.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Length of the tone the phone plays: baresip ends a call when its `aufile` source
/// reaches the end of the file, so the tone outlasts any call of a test.
const TONE: Duration = Duration::from_secs(60);

/// The transport of the account (`;transport=` of its URI, and of the calls it dials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS.
    Tls,
}

impl Transport {
    fn param(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// How baresip names it in its registration log line (`{0/TLS/v4} 200 OK ...`).
    pub fn log_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// A baresip phone to be started: its address, its account and how it answers.
#[derive(Debug, Clone)]
pub struct Baresip {
    user: String,
    ip: Ipv4Addr,
    registrar: SocketAddr,
    password: Option<String>,
    transport: Transport,
    ca_file: Option<PathBuf>,
    auto_answer: bool,
    tone_hz: u32,
    netns: Option<Netns>,
}

impl Baresip {
    /// A phone on `ip` whose account is `sip:<user>@<registrar>`; it registers there when
    /// it starts. Defaults: UDP, no password, auto-answer on, a 440 Hz tone.
    pub fn new(user: &str, ip: Ipv4Addr, registrar: SocketAddr) -> Baresip {
        Baresip {
            user: user.to_owned(),
            ip,
            registrar,
            password: None,
            transport: Transport::Udp,
            ca_file: None,
            auto_answer: true,
            tone_hz: 440,
            netns: None,
        }
    }

    /// The digest password (`auth_pass`); the digest user is the account's user.
    pub fn password(mut self, password: &str) -> Baresip {
        self.password = Some(password.to_owned());
        self
    }

    /// The transport toward the registrar, used for the calls it dials too.
    pub fn transport(mut self, t: Transport) -> Baresip {
        self.transport = t;
        self
    }

    /// The CA file for TLS (`sip_cafile`). See the module documentation: baresip 1.0
    /// loads it but does not verify the server's certificate with it.
    pub fn ca_file(mut self, path: &Path) -> Baresip {
        self.ca_file = Some(path.to_owned());
        self
    }

    /// Whether incoming calls are answered at once (`answermode=auto`) or wait for
    /// [`Phone::accept`] (`answermode=manual`).
    pub fn auto_answer(mut self, on: bool) -> Baresip {
        self.auto_answer = on;
        self
    }

    /// The frequency of the tone the phone sends.
    pub fn tone_hz(mut self, hz: u32) -> Baresip {
        self.tone_hz = hz;
        self
    }

    /// Runs the phone in the network namespace `ns` of a test topology, where `ip` is one
    /// of its addresses. The phone has the namespace to itself: its SIP socket is on port
    /// 5060 (5061 for TLS), its control socket on 4444 and its RTP on 10000-10007.
    pub fn netns(mut self, ns: &Netns) -> Baresip {
        self.netns = Some(ns.clone());
        self
    }

    fn account_line(&self) -> String {
        let mut line = format!(
            "<sip:{}@{};transport={}>;answermode={};audio_codecs=pcmu;regint=600",
            self.user,
            self.registrar,
            self.transport.param(),
            if self.auto_answer { "auto" } else { "manual" },
        );
        if let Some(p) = &self.password {
            line.push_str(&format!(";auth_user={};auth_pass={p}", self.user));
        }
        line.push('\n');
        line
    }

    fn config(&self, sip_port: u16, ctrl: SocketAddr, rtp: (u16, u16), conf: &Path) -> String {
        let mut c = String::new();
        let mut set = |k: &str, v: &str| c.push_str(&format!("{k}\t{v}\n"));
        set("poll_method", "epoll");
        set("net_interface", &self.ip.to_string());
        set("sip_listen", &format!("{}:{sip_port}", self.ip));
        if let Some(ca) = &self.ca_file {
            set("sip_cafile", &ca.display().to_string());
        }
        set("call_local_timeout", "30");
        set("call_max_calls", "4");
        set(
            "audio_source",
            &format!("aufile,{}", conf.join("tone.wav").display()),
        );
        set("audio_player", "aubridge,speaker");
        set("audio_alert", "aubridge,alert");
        set("rtp_ports", &format!("{}-{}", rtp.0, rtp.1));
        set("rtcp_mux", "no");
        set("statmode_default", "off");
        set("module_path", MODULE_PATH);
        for m in ["g711.so", "aufile.so", "aubridge.so", "sndfile.so"] {
            set("module", m);
        }
        set("module_tmp", "account.so");
        set("module_app", "menu.so");
        set("module_app", "ctrl_tcp.so");
        set("ctrl_tcp_listen", &ctrl.to_string());
        set("snd_path", &conf.join("sound").display().to_string());
        c
    }

    /// Writes the configuration directory, starts baresip as the peer `baresip-<user>`
    /// and connects to its control socket. The phone registers by itself; see
    /// [`Phone::wait_registered`].
    pub fn start(self, dir: &TestDir) -> Phone {
        let baresip = programs::require("baresip");
        let name = format!("baresip-{}", self.user);
        let conf = dir.subdir(&name);
        std::fs::create_dir_all(conf.join("sound"))
            .unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
        // UDP and TCP on the first port, TLS on the second.
        let (sip_port, ctrl, rtp) = if self.netns.is_some() {
            (5060, SocketAddr::from((self.ip, 4444)), (10000, 10007))
        } else {
            let sip_port = ports::free_ports(self.ip, 2)[0];
            let ctrl = SocketAddr::from((self.ip, ports::free_port(self.ip)));
            let rtp = ports::free_ports(self.ip, 8);
            (sip_port, ctrl, (rtp[0], rtp[7]))
        };
        write_tone(&conf.join("tone.wav"), self.tone_hz, TONE);
        let config = self.config(sip_port, ctrl, rtp, &conf);
        write(&conf.join("config"), &config);
        write(&conf.join("accounts"), &self.account_line());

        let mut cmd = match &self.netns {
            Some(ns) => ns.command(baresip),
            None => Command::new(baresip),
        };
        cmd.current_dir(&conf).arg("-f").arg(&conf);
        let mut peer = Peer::spawn(&name, cmd, &conf);
        peer.dump_on_panic(&format!("{name} config"), &conf.join("config"));
        peer.dump_on_panic(&format!("{name} accounts"), &conf.join("accounts"));
        let control_log = conf.join("control.log");
        write(&control_log, "");
        peer.dump_on_panic(&format!("{name} control connection"), &control_log);

        let deadline = Instant::now() + START_TIMEOUT;
        let listening = |peer: &Peer| match &self.netns {
            Some(_) => topology::is_listening_in(peer.pid(), Proto::Tcp, ctrl),
            None => ports::is_listening(Proto::Tcp, ctrl),
        };
        while !listening(&peer) {
            if let Some(s) = peer.try_status() {
                panic!("{name} exited ({s}) before listening on {ctrl}");
            }
            assert!(
                Instant::now() < deadline,
                "{name} is not listening on {ctrl} after {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let control = match &self.netns {
            Some(ns) => ns.tcp_connect(ctrl),
            None => TcpStream::connect(ctrl).unwrap_or_else(|e| panic!("{name}: {ctrl}: {e}")),
        };
        control
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let sip = match self.transport {
            Transport::Tls => sip_port + 1,
            Transport::Udp | Transport::Tcp => sip_port,
        };
        Phone {
            name,
            user: self.user,
            registrar: self.registrar,
            sip: SocketAddr::from((self.ip, sip)),
            peer,
            control,
            input: Vec::new(),
            events: Vec::new(),
            control_log,
            sound: conf.join("sound"),
            next_token: 0,
        }
    }
}

/// A running baresip phone.
#[derive(Debug)]
pub struct Phone {
    name: String,
    user: String,
    registrar: SocketAddr,
    sip: SocketAddr,
    peer: Peer,
    control: TcpStream,
    /// Bytes read from the control connection, not yet a whole netstring.
    input: Vec<u8>,
    /// The events (JSON text) received and not yet returned by [`Phone::wait_event`].
    events: Vec<String>,
    /// Every message sent and received on the control connection.
    control_log: PathBuf,
    sound: PathBuf,
    next_token: u64,
}

impl Phone {
    /// The peer's name: `baresip-<user>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of the phone's listening SIP socket for its transport.
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip
    }

    /// The process.
    pub fn peer(&mut self) -> &mut Peer {
        &mut self.peer
    }

    /// Its log (stdout) so far.
    pub fn log(&self) -> String {
        self.peer.stdout()
    }

    /// Waits until a log line contains `needle` and returns it; panics after `timeout`
    /// or if baresip exits.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        self.peer.wait_for_line(needle, timeout)
    }

    /// Waits until the registrar accepted the registration (baresip logs
    /// `<aor>: {0/TLS/v4} 200 OK (...) [1 binding]`) and returns that line. Panics on a
    /// refused or failed registration, after `timeout`, or if baresip exits.
    pub fn wait_registered(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            for line in log.lines() {
                if line.contains("} 200 ") && line.contains("binding") {
                    return line.to_owned();
                }
                if line.contains("reg: ")
                    || (line.contains("} ") && line.contains(" binding") && !line.contains(" 200 "))
                {
                    panic!("{}: registration failed: {line}", self.name);
                }
            }
            if let Some(s) = self.peer.try_status() {
                panic!("{} exited ({s}) before registering", self.name);
            }
            assert!(
                Instant::now() < deadline,
                "{}: not registered after {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Calls `user` at the registrar, over the account's transport.
    pub fn dial(&mut self, user: &str) {
        // baresip appends the account's URI parameters (`;transport=...`) itself.
        self.command("dial", &format!("sip:{user}@{}", self.registrar));
    }

    /// Answers the incoming call (for a phone started with auto-answer off).
    pub fn accept(&mut self) {
        self.command("accept", "");
    }

    /// Hangs up the current call.
    pub fn hangup(&mut self) {
        self.command("hangup", "");
    }

    /// Puts the current call on hold (a re-INVITE with `a=sendonly`).
    pub fn hold(&mut self) {
        self.command("hold", "");
    }

    /// Resumes the current call from hold (a re-INVITE with `a=sendrecv`).
    pub fn resume(&mut self) {
        self.command("resume", "");
    }

    /// Sends a command to baresip's `ctrl_tcp` module and waits for its response; panics
    /// when baresip refuses it. Returns the response's `data`.
    pub fn command(&mut self, command: &str, params: &str) -> String {
        self.next_token += 1;
        let token = format!("t{}", self.next_token);
        let json = format!(
            "{{\"command\":{},\"params\":{},\"token\":\"{token}\"}}",
            json_string(command),
            json_string(params)
        );
        let frame = format!("{}:{json},", json.len());
        self.log_control(&format!("> {json}"));
        self.control
            .write_all(frame.as_bytes())
            .unwrap_or_else(|e| panic!("{}: control connection: {e}", self.name));
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            for msg in self.read_messages() {
                if msg.contains("\"event\":true") {
                    self.events.push(msg);
                } else if msg.contains("\"response\":true")
                    && msg.contains(&format!("\"token\":\"{token}\""))
                {
                    let data = json_field(&msg, "data").unwrap_or_default();
                    assert!(
                        msg.contains("\"ok\":true"),
                        "{}: {command} {params}: refused: {msg}",
                        self.name
                    );
                    return data;
                }
            }
            if let Some(s) = self.peer.try_status() {
                panic!("{} exited ({s}) during {command}", self.name);
            }
            assert!(
                Instant::now() < deadline,
                "{}: no response to {command} after {COMMAND_TIMEOUT:?}",
                self.name
            );
        }
    }

    /// Waits for a call event of `kind` (`CALL_RINGING`, `CALL_ESTABLISHED`,
    /// `CALL_CLOSED`, ...) that has not been returned before, and returns it (its JSON
    /// text). Panics after `timeout` or if baresip exits. A phone that answers by itself
    /// sends no `CALL_INCOMING` (baresip 1.0 answers before it would).
    pub fn wait_event(&mut self, kind: &str, timeout: Duration) -> String {
        let needle = format!("\"type\":\"{kind}\"");
        let deadline = Instant::now() + timeout;
        loop {
            let fresh = self.read_messages();
            self.events
                .extend(fresh.into_iter().filter(|m| m.contains("\"event\":true")));
            if let Some(i) = self.events.iter().position(|e| e.contains(&needle)) {
                // Consumed: the next wait for the same kind waits for a new one.
                let e = self.events.remove(i);
                return e;
            }
            if let Some(s) = self.peer.try_status() {
                panic!("{} exited ({s}) before the event {kind}", self.name);
            }
            assert!(
                Instant::now() < deadline,
                "{}: no event {kind} after {timeout:?}",
                self.name
            );
        }
    }

    /// Reads what the control connection has (waiting at most its read timeout) and
    /// returns the whole netstrings received.
    fn read_messages(&mut self) -> Vec<String> {
        let mut buf = [0u8; 4096];
        match self.control.read(&mut buf) {
            Ok(0) => panic!("{}: control connection closed", self.name),
            Ok(n) => self.input.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{}: control connection: {e}", self.name),
        }
        let mut out = Vec::new();
        while let Some((msg, used)) = netstring(&self.input) {
            self.log_control(&format!("< {msg}"));
            out.push(msg);
            self.input.drain(..used);
        }
        out
    }

    fn log_control(&self, line: &str) {
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.control_log)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            panic!("{}: {e}", self.control_log.display());
        }
    }

    /// The WAV files the phone recorded: what it heard (`*-dec.wav`) and what it sent
    /// (`*-enc.wav`), one pair per call.
    pub fn recordings(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let mut heard = Vec::new();
        let mut sent = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.sound) {
            for e in entries.flatten() {
                let p = e.path();
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                match name {
                    Some(n) if n.ends_with("-dec.wav") => heard.push(p),
                    Some(n) if n.ends_with("-enc.wav") => sent.push(p),
                    _ => {}
                }
            }
        }
        heard.sort();
        sent.sort();
        (heard, sent)
    }

    /// The account's user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Stops baresip (SIGTERM: it unregisters, then exits; SIGKILL after the grace
    /// period).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.peer.stop()
    }
}

/// A mono 16-bit PCM WAV file, such as the recordings of baresip's `sndfile` module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    /// Samples per second.
    pub rate: u32,
    /// The samples.
    pub samples: Vec<i16>,
}

impl Wav {
    /// Reads `path`; `None` when it is not a mono 16-bit PCM WAV file.
    pub fn read(path: &Path) -> Option<Wav> {
        let bytes = std::fs::read(path).ok()?;
        if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
            return None;
        }
        let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
        let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
        // Walk the chunks: the header is not always 44 bytes.
        let mut rate = None;
        let mut at = 12;
        while at + 8 <= bytes.len() {
            let id = bytes.get(at..at + 4)?;
            let len = usize::try_from(u32_at(at + 4)?).ok()?;
            let body = at + 8;
            if id == b"fmt " {
                // PCM, one channel, 16 bits per sample.
                if u16_at(body)? != 1 || u16_at(body + 2)? != 1 || u16_at(body + 14)? != 16 {
                    return None;
                }
                rate = Some(u32_at(body + 4)?);
            } else if id == b"data" {
                let end = body.saturating_add(len).min(bytes.len());
                let samples = bytes
                    .get(body..end)?
                    .chunks_exact(2)
                    .map(|s| i16::from_le_bytes([s[0], s[1]]))
                    .collect();
                return Some(Wav {
                    rate: rate?,
                    samples,
                });
            }
            at = body.checked_add(len + (len & 1))?;
        }
        None
    }

    /// The loudest sample, as an absolute value.
    pub fn peak(&self) -> u16 {
        self.samples
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0)
    }

    /// The frequency of the tone the file holds, from its zero crossings (those between
    /// samples too quiet to be more than noise are not counted), over the whole file:
    /// silence in it lowers the figure.
    pub fn tone_hz(&self) -> f64 {
        if self.samples.is_empty() || self.rate == 0 {
            return 0.0;
        }
        let crossings = self
            .samples
            .windows(2)
            .filter(|w| {
                (w[0] < 0) != (w[1] < 0)
                    && u32::from(w[0].unsigned_abs()) + u32::from(w[1].unsigned_abs()) > 200
            })
            .count();
        let seconds = self.samples.len() as f64 / f64::from(self.rate);
        crossings as f64 / 2.0 / seconds
    }

    /// How much of the recording, cut in windows of `window`, holds a tone of `hz`
    /// (within 10%) at a peak above 1000: the time the tone was heard.
    pub fn time_with_tone(&self, hz: f64, window: Duration) -> Duration {
        let per_window = usize::try_from(window.as_millis() * u128::from(self.rate) / 1000)
            .unwrap_or(usize::MAX)
            .max(1);
        let heard = self
            .samples
            .chunks_exact(per_window)
            .filter(|chunk| {
                let w = Wav {
                    rate: self.rate,
                    samples: chunk.to_vec(),
                };
                w.peak() > 1000 && (w.tone_hz() - hz).abs() < hz * 0.1
            })
            .count();
        window * u32::try_from(heard).unwrap_or(u32::MAX)
    }

    /// The length of the recording.
    pub fn duration(&self) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.rate))
    }
}

/// Writes a WAV file (8 kHz, mono, 16-bit) holding a sine of `hz` for `length`.
pub fn write_tone(path: &Path, hz: u32, length: Duration) {
    const RATE: u32 = 8000;
    let samples = u32::try_from(length.as_millis() * u128::from(RATE) / 1000).unwrap_or(0);
    let mut data = Vec::with_capacity(samples as usize * 2);
    for i in 0..samples {
        let t = f64::from(i) / f64::from(RATE);
        let v = (t * f64::from(hz) * std::f64::consts::TAU).sin() * 8000.0;
        // |v| <= 8000: the conversion cannot overflow.
        #[allow(clippy::cast_possible_truncation)]
        let s = v as i16;
        data.extend_from_slice(&s.to_le_bytes());
    }
    let data_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut wav = Vec::with_capacity(44 + data.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A JSON string literal for `s`.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of the string field `name` of a flat JSON object, unescaped (enough for
/// baresip's events and responses).
pub fn json_field(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":\"");
    let start = json.find(&key)? + key.len();
    let mut out = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// The first netstring (`<length>:<bytes>,`) of `buf` and how many bytes it took; `None`
/// until a whole one is there.
fn netstring(buf: &[u8]) -> Option<(String, usize)> {
    let colon = buf.iter().position(|b| *b == b':')?;
    let len: usize = std::str::from_utf8(&buf[..colon])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let end = colon + 1 + len;
    if buf.len() <= end {
        return None;
    }
    let msg = String::from_utf8_lossy(&buf[colon + 1..end]).into_owned();
    Some((msg, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstrings() {
        let buf = b"5:hello,3:ab";
        assert_eq!(netstring(buf), Some(("hello".to_owned(), 8)));
        assert_eq!(netstring(&buf[8..]), None);
        assert_eq!(netstring(b"3:abc,"), Some(("abc".to_owned(), 6)));
    }

    #[test]
    fn json_fields() {
        let e = r#"{"event":true,"type":"CALL_CLOSED","param":"a \"b\"","id":"x"}"#;
        assert_eq!(json_field(e, "type").as_deref(), Some("CALL_CLOSED"));
        assert_eq!(json_field(e, "param").as_deref(), Some("a \"b\""));
        assert_eq!(json_field(e, "none"), None);
        assert_eq!(json_string("a\"b\\"), r#""a\"b\\""#);
    }

    #[test]
    fn tone_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.wav");
        write_tone(&p, 440, Duration::from_millis(500));
        let w = Wav::read(&p).unwrap();
        assert_eq!((w.rate, w.samples.len()), (8000, 4000));
        assert_eq!(w.duration(), Duration::from_millis(500));
        assert!((7900..=8000).contains(&w.peak()), "{}", w.peak());
        assert!((w.tone_hz() - 440.0).abs() < 5.0, "{}", w.tone_hz());
        let window = Duration::from_millis(100);
        assert_eq!(w.time_with_tone(440.0, window), Duration::from_millis(500));
        assert_eq!(w.time_with_tone(660.0, window), Duration::ZERO);
        std::fs::write(&p, b"RIFF....WAVEdata").unwrap();
        assert_eq!(Wav::read(&p), None);
    }
}
