//! Packet capture with tshark on loopback, read back as (source, destination, payload):
//! to check what went on the wire, such as which addresses a message leaks.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::Peer;
use super::programs;
use super::workdir::TestDir;

/// A running capture on `lo`.
#[derive(Debug)]
pub struct Capture {
    peer: Peer,
    file: PathBuf,
}

/// One captured UDP datagram or TCP segment with a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Capture frame number.
    pub frame: u64,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Whether this came over TCP (otherwise UDP).
    pub tcp: bool,
    /// The UDP or TCP payload.
    pub payload: Vec<u8>,
}

impl Packet {
    /// The payload as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The first line of the payload, e.g. `INVITE sip:1002@... SIP/2.0`.
    pub fn first_line(&self) -> String {
        self.text().lines().next().unwrap_or_default().to_owned()
    }
}

impl Capture {
    /// Starts capturing on `lo` the UDP and TCP traffic to or from any of `ports`, written
    /// to `<test dir>/<name>.pcap`; returns when tshark reports that it is capturing.
    pub fn start(dir: &TestDir, name: &str, ports: &[u16]) -> Capture {
        assert!(!ports.is_empty(), "capture: no port given");
        let tshark = programs::require("tshark");
        let file = dir.join(&format!("{name}.pcap"));
        let filter = ports
            .iter()
            .map(|p| format!("udp port {p} or tcp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut cmd = Command::new(tshark);
        cmd.args(["-n", "-i", "lo", "-f", &filter, "-w"]).arg(&file);
        let mut peer = Peer::spawn(&format!("tshark-{name}"), cmd, dir.path());
        peer.wait_for_line("Capturing on", Duration::from_secs(10));
        Capture { peer, file }
    }

    /// The capture file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Stops the capture and returns the packets with a payload, in order.
    pub fn stop(mut self) -> Vec<Packet> {
        // Packets already sent may still sit in the capture buffer: give dumpcap a moment.
        std::thread::sleep(Duration::from_millis(300));
        self.peer.stop();
        read(&self.file)
    }
}

/// Reads the UDP and TCP payloads of a capture file with `tshark -r`.
pub fn read(file: &Path) -> Vec<Packet> {
    let tshark = programs::require("tshark");
    let out = Command::new(tshark)
        .args(["-n", "-r"])
        .arg(file)
        .args([
            "-Y",
            "udp.length > 8 or tcp.len > 0",
            "-T",
            "fields",
            "-E",
            "separator=|",
        ])
        .args([
            "-e",
            "frame.number",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "ip.dst",
        ])
        .args([
            "-e",
            "ipv6.dst",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
            "-e",
            "tcp.srcport",
        ])
        .args([
            "-e",
            "tcp.dstport",
            "-e",
            "udp.payload",
            "-e",
            "tcp.payload",
        ])
        .output()
        .unwrap_or_else(|e| panic!("tshark -r {}: {e}", file.display()));
    // A capture stopped by a signal may end in the middle of a packet; tshark reads every
    // whole packet before it, then fails on that last one. Those packets are what we want.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("cut short"),
        "tshark -r {} failed: {stderr}",
        file.display(),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Packet> {
    let f: Vec<&str> = line.split('|').collect();
    if f.len() < 11 {
        return None;
    }
    let ip = |v4: &str, v6: &str| -> Option<IpAddr> {
        if v4.is_empty() {
            v6.parse().ok()
        } else {
            v4.parse().ok()
        }
    };
    let tcp = !f[7].is_empty();
    let (sport, dport, hex) = if tcp {
        (f[7], f[8], f[10])
    } else {
        (f[5], f[6], f[9])
    };
    Some(Packet {
        frame: f[0].parse().ok()?,
        src: SocketAddr::new(ip(f[1], f[2])?, sport.parse().ok()?),
        dst: SocketAddr::new(ip(f[3], f[4])?, dport.parse().ok()?),
        tcp,
        payload: unhex(hex)?,
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tshark_fields() {
        let p = parse_line("7|127.0.0.1||127.0.0.20||5061|5060|||4f50:54|").unwrap();
        assert_eq!(p.frame, 7);
        assert_eq!(p.src, "127.0.0.1:5061".parse().unwrap());
        assert_eq!(p.dst, "127.0.0.20:5060".parse().unwrap());
        assert!(!p.tcp);
        assert_eq!(p.text(), "OPT");
        let p = parse_line("8|127.0.0.1||127.0.0.20||||40000|5060||4f4b").unwrap();
        assert!(p.tcp);
        assert_eq!(p.payload, b"OK");
    }
}
