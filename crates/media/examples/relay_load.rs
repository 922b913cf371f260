//! Load generator for the media relay on loopback: paced G.711-sized RTP through the relay
//! (or through the logic-free floor forwarder), reporting relayed packets per CPU-second
//! of the forwarding threads, loss and added latency.
//!
//! Binds 127.0.0.x sockets: run inside a network namespace holding only loopback, e.g.
//! `ip netns exec NS target/release/examples/relay_load relay 200 50 4 1 32`.
//!
//! Arguments: `relay|floor STREAMS PPS_PER_STREAM SECONDS WORKERS BATCH`. Each stream is
//! one direction of a call: endpoint A sends to the relay, endpoint B receives. The count
//! of packets is bounded (STREAMS x PPS x SECONDS).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use palisade_media::floor::{Floor, Route};
use palisade_media::{Leg, PortRange, Relay, RelayConfig, Remote, SessionSpec};

/// CPU time (ns) of this process's threads whose name starts with `prefix`, from
/// /proc/self/task/*/schedstat.
fn thread_cpu(prefix: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(prefix) {
            let stat = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
            total += stat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

fn packet(seq: u16, ssrc: u32, sent_nanos: u64) -> [u8; 172] {
    let mut p = [0xd5u8; 172];
    p[0] = 0x80;
    p[1] = 0;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p[12..20].copy_from_slice(&sent_nanos.to_le_bytes());
    p
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let mode = args.get(1).cloned().unwrap_or_else(|| "relay".into());
    let (streams, pps, seconds, workers, batch) =
        (arg(2, 200), arg(3, 50), arg(4, 4), arg(5, 1), arg(6, 32));

    let senders: Vec<UdpSocket> = (0..streams)
        .map(|_| UdpSocket::bind("127.0.0.7:0").unwrap())
        .collect();
    let receivers: Vec<UdpSocket> = (0..streams)
        .map(|_| UdpSocket::bind("127.0.0.8:0").unwrap())
        .collect();
    let mut targets: Vec<SocketAddr> = Vec::with_capacity(streams);

    let mut relay = None;
    let mut floor = None;
    let prefix = if mode == "floor" {
        "media-floor"
    } else {
        "media-worker"
    };
    if mode == "floor" {
        let mut routes = Vec::new();
        for rx in &receivers {
            let inbound = UdpSocket::bind("127.0.0.1:0").unwrap();
            let outbound = UdpSocket::bind("127.0.0.1:0").unwrap();
            targets.push(inbound.local_addr().unwrap());
            routes.push(Route {
                inbound,
                outbound,
                to: rx.local_addr().unwrap(),
            });
        }
        floor = Some(Floor::start(routes, workers, batch).unwrap());
    } else {
        let r = Relay::start(RelayConfig {
            ports: PortRange::new(20_000, 39_999),
            workers,
            batch,
            ..RelayConfig::default()
        })
        .unwrap();
        for (tx, rx) in senders.iter().zip(&receivers) {
            let s = r
                .create_session(&SessionSpec::new("127.0.0.1".parse().unwrap(), 1))
                .unwrap();
            r.set_remote(s.id, Leg::A, 0, Remote::new(tx.local_addr().unwrap()))
                .unwrap();
            r.set_remote(s.id, Leg::B, 0, Remote::new(rx.local_addr().unwrap()))
                .unwrap();
            targets.push(s.streams[0].leg(Leg::A).rtp);
        }
        relay = Some(r);
    }

    let total = streams * pps * seconds;
    let epoch = Instant::now();
    let receiver = std::thread::spawn(move || {
        let mut poll = Poll::new().unwrap();
        for (i, rx) in receivers.iter().enumerate() {
            rx.set_nonblocking(true).unwrap();
            poll.registry()
                .register(&mut SourceFd(&rx.as_raw_fd()), Token(i), Interest::READABLE)
                .unwrap();
        }
        let mut latencies: Vec<u32> = Vec::with_capacity(total);
        let mut events = Events::with_capacity(1024);
        let mut buf = [0u8; 2048];
        let mut idle_since = Instant::now();
        while latencies.len() < total && idle_since.elapsed() < Duration::from_secs(1) {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            for ev in events.iter() {
                let rx = &receivers[ev.token().0];
                while let Ok((n, _)) = rx.recv_from(&mut buf) {
                    let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap();
                    if n >= 20 {
                        let sent = u64::from_le_bytes(buf[12..20].try_into().unwrap());
                        latencies.push(
                            u32::try_from((now.saturating_sub(sent)) / 1000).unwrap_or(u32::MAX),
                        );
                    }
                    idle_since = Instant::now();
                }
            }
        }
        latencies
    });

    // Pace: every stream sends once per 1/pps seconds, streams spread over the interval.
    let interval = Duration::from_secs(1) / u32::try_from(pps).unwrap();
    let cpu_before = thread_cpu(prefix);
    let start = Instant::now();
    let mut sent = 0usize;
    for tick in 0..pps * seconds {
        for (i, (tx, to)) in senders.iter().zip(&targets).enumerate() {
            let due = interval * u32::try_from(tick).unwrap()
                + interval * u32::try_from(i).unwrap() / u32::try_from(streams).unwrap();
            if let Some(wait) = due.checked_sub(start.elapsed())
                && wait > Duration::from_micros(200)
            {
                std::thread::sleep(wait);
            }
            let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap();
            let p = packet(
                u16::try_from(tick % 65_536).unwrap(),
                u32::try_from(i).unwrap(),
                now,
            );
            if tx.send_to(&p, to).is_ok() {
                sent += 1;
            }
        }
    }
    let send_time = start.elapsed();
    let mut latencies = receiver.join().unwrap();
    let cpu = thread_cpu(prefix) - cpu_before;
    if let Some(f) = floor {
        f.stop();
    }
    drop(relay);
    latencies.sort_unstable();
    let got = latencies.len();
    let pct = |q: f64| {
        latencies
            .get(((got as f64 * q) as usize).min(got.saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "mode={mode} streams={streams} pps/stream={pps} workers={workers} batch={batch} sent={sent} relayed={got} \
         loss={:.3}% offered={:.0}pps cpu={:.3}s pkts/cpu-s={:.0} ns/pkt={:.0} lat_p50={}us lat_p99={}us",
        100.0 * (sent - got) as f64 / sent as f64,
        sent as f64 / send_time.as_secs_f64(),
        cpu as f64 / 1e9,
        got as f64 / (cpu as f64 / 1e9),
        cpu as f64 / got.max(1) as f64,
        pct(0.5),
        pct(0.99),
    );
}
