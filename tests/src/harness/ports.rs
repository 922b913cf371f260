//! Addresses and ports for peers. Every role in a test gets its own loopback address
//! (127.0.0.N: the whole 127/8 is local once `lo` is up), and ports are handed out once per
//! test process, so that tests running in parallel threads never collide.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Loopback address 127.0.0.`n`.
pub fn loopback(n: u8) -> Ipv4Addr {
    assert!(n != 0 && n != 255, "loopback({n}): use 1..=254");
    Ipv4Addr::new(127, 0, 0, n)
}

/// Conventional role addresses, so that captures and logs read the same in every test.
pub mod role {
    use std::net::Ipv4Addr;

    /// Palisade itself.
    pub const PALISADE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
    /// The PBX (Kamailio, or SIPp acting as one).
    pub const PBX: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 20);
    /// First phone.
    pub const PHONE_A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 31);
    /// Second phone.
    pub const PHONE_B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 32);
    /// Attacker (scanner, flood source).
    pub const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 66);
}

/// Ports are taken from below the kernel's default ephemeral range (32768–60999), so that a
/// socket bound to port 0 by some peer can never be given a port handed out here.
const RANGE: std::ops::Range<u16> = 20000..32000;

static HANDED_OUT: Mutex<BTreeSet<(Ipv4Addr, u16)>> = Mutex::new(BTreeSet::new());

/// A port free for both UDP and TCP on `ip`, never handed out before in this process.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    free_ports(ip, 1)[0]
}

/// `count` consecutive ports, each free for UDP and TCP on `ip` (a block for peers that
/// use port+1, port+2, like an RTP/RTCP pair or SIPp's media ports).
pub fn free_ports(ip: Ipv4Addr, count: u16) -> Vec<u16> {
    assert!(count > 0 && count < 100, "free_ports: count {count}");
    let mut taken = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let span = RANGE.end - RANGE.start - count;
    let seed = RandomState::new().hash_one(std::process::id());
    let start = u16::try_from(seed % u64::from(span)).unwrap_or(0);
    for i in 0..span {
        let first = RANGE.start + (start + i) % span;
        let block: Vec<u16> = (first..first + count).collect();
        if block
            .iter()
            .all(|&p| !taken.contains(&(ip, p)) && is_free(ip, p))
        {
            for &p in &block {
                taken.insert((ip, p));
            }
            return block;
        }
    }
    panic!("no {count} free consecutive ports on {ip} in {RANGE:?}");
}

fn is_free(ip: Ipv4Addr, port: u16) -> bool {
    let addr = SocketAddr::new(IpAddr::V4(ip), port);
    UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok()
}

/// Transport protocol of a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// A bound UDP socket.
    Udp,
    /// A TCP socket in LISTEN state.
    Tcp,
}

/// Waits until some process in this network namespace has a UDP socket bound to, or a TCP
/// socket listening on, `addr` (or the wildcard address with its port); panics after
/// `timeout`. Used to know that a peer is ready before traffic is sent to it.
pub fn wait_listening(proto: Proto, addr: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !is_listening(proto, addr) {
        if Instant::now() >= deadline {
            panic!("nothing is listening on {proto:?} {addr} after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a socket of this namespace is bound (UDP) or listening (TCP) on `addr`.
pub fn is_listening(proto: Proto, addr: SocketAddr) -> bool {
    let file = match (proto, addr.is_ipv4()) {
        (Proto::Udp, true) => "/proc/net/udp",
        (Proto::Udp, false) => "/proc/net/udp6",
        (Proto::Tcp, true) => "/proc/net/tcp",
        (Proto::Tcp, false) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    proc_net_has(&text, proto, addr)
}

/// Whether the text of a `/proc/net/{udp,tcp}[6]` table lists `addr` (UDP: bound; TCP:
/// state LISTEN).
pub fn proc_net_has(table: &str, proto: Proto, addr: SocketAddr) -> bool {
    let port = format!("{:04X}", addr.port());
    let want = proc_hex(addr.ip());
    let wildcard = proc_hex(match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    });
    table.lines().skip(1).any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let Some((host, p)) = cols.get(1).and_then(|l| l.split_once(':')) else {
            return false;
        };
        let state_ok = proto == Proto::Udp || cols.get(3) == Some(&"0A");
        p == port && (host == want || host == wildcard) && state_ok
    })
}

/// An address as the kernel prints it in /proc/net tables: 32-bit words in host order.
fn proc_hex(ip: IpAddr) -> String {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes
        .chunks(4)
        .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let ip = loopback(1);
        let a = free_port(ip);
        let b = free_port(ip);
        assert_ne!(a, b);
        let block = free_ports(ip, 4);
        assert_eq!(block.len(), 4);
        assert_eq!(block[3], block[0] + 3);
        assert!(!block.contains(&a) && !block.contains(&b));
        assert!(RANGE.contains(&a));
    }

    #[test]
    fn proc_net_parsing() {
        // 127.0.0.20:5060 bound (UDP), and 0.0.0.0:8080 listening (TCP).
        let udp = "  sl  local_address rem_address   st\n   0: 1400007F:13C4 00000000:0000 07 0\n";
        let addr: SocketAddr = "127.0.0.20:5060".parse().unwrap();
        assert!(proc_net_has(udp, Proto::Udp, addr));
        assert!(!proc_net_has(
            udp,
            Proto::Udp,
            "127.0.0.21:5060".parse().unwrap()
        ));
        let tcp = "  sl  local_address rem_address   st\n   0: 00000000:1F90 00000000:0000 0A 0\n   1: 0100007F:1F91 0100007F:9999 01 0\n";
        assert!(proc_net_has(
            tcp,
            Proto::Tcp,
            "127.0.0.1:8080".parse().unwrap()
        ));
        assert!(!proc_net_has(
            tcp,
            Proto::Tcp,
            "127.0.0.1:8081".parse().unwrap()
        ));
    }

    #[test]
    fn real_socket_is_seen() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        wait_listening(Proto::Udp, addr, Duration::from_secs(1));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        wait_listening(Proto::Tcp, l.local_addr().unwrap(), Duration::from_secs(1));
    }
}
