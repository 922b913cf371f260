//! Load generator for the media relay benchmark (benches/media/run.sh): sets up N calls
//! through a relay, sends paced G.711 RTP both ways (one stream A->B and one B->A per
//! call, 50 packets/s each, 172-byte packets: a 12-byte header and 160 bytes of payload
//! that carry the send time and the stream's number), receives it on the far side and
//! prints one line of `key=value` results.
//!
//! Systems (`--system`):
//! - `palisade`: calls placed with SIP through the running Palisade (see `sip`);
//! - `rtpengine`: sessions set up with the ng protocol (`offer`, `answer`, `delete`);
//! - `floor`: the `media_floor` forwarder with its static routes (pair i is port
//!   `base + 2i` on both of its addresses);
//! - `direct`: no relay, each side sends straight to the other: the baseline that the
//!   relays' added latency and jitter are taken against.
//!
//! Both sides' RTP comes from one socket each (the address their SDP names), every call
//! alike: the relays see a distinct port pair per call either way, and the generator
//! needs one receiving thread per side. Latency is the kernel's receive timestamp
//! (`SO_TIMESTAMPNS`) minus the send time in the payload, so the generator's own wake-up
//! delay is not counted. The relay's CPU time is utime+stime from /proc/PID/stat over
//! the measured window, which starts after a warm-up.
//!
//! Binds 127.0.0.x addresses only; run it inside the benchmark's network namespace.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod net;
mod ng;
mod sip;
mod stats;

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use net::{RecvBatch, SendBatch, now_ns};
use stats::{Histogram, Jitter, cpu_ticks, socket_drops};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum System {
    Palisade,
    Rtpengine,
    Floor,
    Direct,
}

#[derive(Debug, Parser)]
#[command(about = "Paced RTP through a media relay; prints loss, latency, jitter and CPU")]
struct Args {
    #[arg(long, value_enum)]
    system: System,
    /// Concurrent calls (two streams each: A->B and B->A).
    #[arg(long)]
    calls: usize,
    /// Seconds of traffic before the measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds of the measured window.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// The relay's PID, whose CPU time is measured (none for `direct`).
    #[arg(long)]
    pid: Option<u32>,
    /// The caller's address (SIP on port 5060, RTP on --rtp-port).
    #[arg(long, default_value = "127.0.0.41")]
    phone: Ipv4Addr,
    /// The callee's (the PBX's) address.
    #[arg(long, default_value = "127.0.0.42")]
    pbx: Ipv4Addr,
    #[arg(long, default_value_t = 30_000)]
    rtp_port: u16,
    /// Palisade's access listener.
    #[arg(long, default_value = "127.0.0.10:5060")]
    access: SocketAddr,
    /// rtpengine's ng listener.
    #[arg(long, default_value = "127.0.0.12:2223")]
    ng: SocketAddr,
    /// The floor forwarder's two addresses and first port.
    #[arg(long, default_value = "127.0.0.14")]
    floor_access: Ipv4Addr,
    #[arg(long, default_value = "127.0.0.15")]
    floor_core: Ipv4Addr,
    #[arg(long, default_value_t = 20_000)]
    floor_base: u16,
    /// Packets per sendmmsg (1 to 64). Packets are stamped just before the call, so a
    /// large batch adds the send time of the ones ahead to a packet's latency.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Shortest sleep between two sends (µs): each wake-up sends what is due, so a burst
    /// holds at most tick / 20 ms of the streams.
    #[arg(long, default_value_t = 250)]
    tick_us: u64,
    /// Calls set up (and torn down) per second at most.
    #[arg(long, default_value_t = 1000)]
    setup_rate: u32,
    /// A packet that arrives later than this after it was sent (ms) counts as lost, as a
    /// phone's jitter buffer would discard it: a relay that falls behind queues packets
    /// in its sockets' buffers long before it drops any.
    #[arg(long, default_value_t = 50)]
    late_ms: u64,
    /// Receive buffer of each RTP socket, bytes.
    #[arg(long, default_value_t = 32 << 20)]
    rcvbuf: usize,
}

const PACKET: usize = 172;
const PERIOD_NS: u64 = 20_000_000;

/// Where each call's two streams are sent: (A->B goes to, B->A goes to).
type Routes = Vec<(SocketAddrV4, SocketAddrV4)>;

/// The session set up for a run, to end afterwards.
enum Session {
    None,
    Palisade(sip::Endpoints),
    Rtpengine(ng::Client, String),
}

fn sdp(ip: Ipv4Addr, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

fn setup(
    args: &Args,
    a: SocketAddrV4,
    b: SocketAddrV4,
    run: &str,
) -> Result<(Routes, Session), Box<dyn Error>> {
    let n = args.calls;
    match args.system {
        System::Direct => Ok((vec![(b, a); n], Session::None)),
        System::Floor => {
            let routes = (0..n)
                .map(|i| {
                    let port = u16::try_from(usize::from(args.floor_base) + 2 * i)?;
                    Ok((
                        SocketAddrV4::new(args.floor_access, port),
                        SocketAddrV4::new(args.floor_core, port),
                    ))
                })
                .collect::<Result<Routes, std::num::TryFromIntError>>()?;
            Ok((routes, Session::None))
        }
        System::Rtpengine => {
            let mut client = ng::Client::new(SocketAddr::new(args.phone.into(), 0), args.ng, run)?;
            let mut routes = Vec::with_capacity(n);
            let gap = Duration::from_secs(1) / args.setup_rate.max(1);
            for i in 0..n {
                let started = Instant::now();
                let call_id = format!("mb-{run}-{i}");
                let to_b = relay_address(client.call(&session_request(
                    "offer",
                    &call_id,
                    i,
                    &sdp(*a.ip(), a.port()),
                    ("direction", ng::Value::list(&["access", "core"])),
                ))?)?;
                let to_a = relay_address(client.call(&session_request(
                    "answer",
                    &call_id,
                    i,
                    &sdp(*b.ip(), b.port()),
                    ("to-tag", ng::Value::str(&format!("b{i}"))),
                ))?)?;
                // A sends to the address in the answer it got, B to the one in the offer.
                routes.push((to_a, to_b));
                if let Some(rest) = gap.checked_sub(started.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
            Ok((routes, Session::Rtpengine(client, run.to_owned())))
        }
        System::Palisade => {
            let phone = UdpSocket::bind((args.phone, 5060))?;
            let pbx = UdpSocket::bind((args.pbx, 5060))?;
            let endpoints = sip::Endpoints::new(phone, pbx, a, b, args.access, run.to_owned());
            let routes = endpoints.setup(n, args.setup_rate, 200)?;
            Ok((routes, Session::Palisade(endpoints)))
        }
    }
}

/// The relay address in the SDP of an ng answer.
fn relay_address(answer: ng::Value) -> Result<SocketAddrV4, String> {
    answer
        .get("sdp")
        .and_then(ng::Value::as_str)
        .and_then(sip::sdp_address)
        .ok_or_else(|| format!("no relay address in rtpengine's answer: {answer:?}"))
}

/// An ng `offer` or `answer` for call `i` with its SDP and one more entry: both replace
/// the SDP's origin and connection addresses and drop ICE.
fn session_request(
    command: &str,
    call_id: &str,
    i: usize,
    sdp: &str,
    extra: (&str, ng::Value),
) -> ng::Value {
    ng::dict(vec![
        ("command", ng::Value::str(command)),
        ("call-id", ng::Value::str(call_id)),
        ("from-tag", ng::Value::str(&format!("a{i}"))),
        ("sdp", ng::Value::str(sdp)),
        (
            "replace",
            ng::Value::list(&["origin", "session-connection"]),
        ),
        ("ICE", ng::Value::str("remove")),
        extra,
    ])
}

fn teardown(session: Session, calls: usize, rate: u32) -> Result<usize, Box<dyn Error>> {
    match session {
        Session::None => Ok(calls),
        Session::Palisade(endpoints) => Ok(endpoints.teardown(rate)?),
        Session::Rtpengine(mut client, run) => {
            let mut done = 0;
            for i in 0..calls {
                let delete = ng::dict(vec![
                    ("command", ng::Value::str("delete")),
                    ("call-id", ng::Value::str(&format!("mb-{run}-{i}"))),
                    ("from-tag", ng::Value::str(&format!("a{i}"))),
                ]);
                if client.call(&delete).is_ok() {
                    done += 1;
                }
            }
            Ok(done)
        }
    }
}

/// What one receiving thread saw.
struct Received {
    latency: Histogram,
    jitter: Jitter,
    /// Packets that arrived later than the late limit.
    late: u64,
}

/// Receives on `socket` until `stop`: counts every packet and those later than
/// `late_ns`, and records latency and jitter of those sent within [w0, w1).
fn receive(
    socket: &UdpSocket,
    streams: usize,
    window: (u64, u64),
    late_ns: u64,
    count: &AtomicU64,
    stop: &AtomicBool,
) -> Received {
    let mut out = Received {
        latency: Histogram::new(),
        jitter: Jitter::new(streams),
        late: 0,
    };
    let mut batch = RecvBatch::new();
    while !stop.load(Relaxed) {
        let Ok(n) = batch.recv(socket) else { continue };
        let mut got = 0;
        for i in 0..n {
            let p = batch.packet(i);
            if p.len() < 24 {
                continue;
            }
            got += 1;
            let sent = u64::from_le_bytes([p[12], p[13], p[14], p[15], p[16], p[17], p[18], p[19]]);
            let stream = u32::from_le_bytes([p[20], p[21], p[22], p[23]]);
            let received = match batch.stamp(i) {
                0 => now_ns(),
                t => t,
            };
            if received.saturating_sub(sent) > late_ns {
                out.late += 1;
            }
            if sent >= window.0 && sent < window.1 {
                out.latency.record(received.saturating_sub(sent));
                out.jitter.record(
                    usize::try_from(stream).unwrap_or(usize::MAX),
                    sent,
                    received,
                );
            }
        }
        count.fetch_add(got, Relaxed);
    }
    out
}

/// What the sender did.
struct Sent {
    packets: u64,
    /// The latest a packet left after its due time, µs.
    max_lag_us: u64,
}

/// Sends every stream's packets on time from `start` until `end` (ns since the epoch):
/// stream s (of 2N) is due at s x 20 ms / 2N into each 20 ms period; even streams go
/// from A, odd ones from B.
fn send(
    sockets: (&UdpSocket, &UdpSocket),
    routes: &Routes,
    start: u64,
    end: u64,
    batch: usize,
    tick: Duration,
) -> Sent {
    let streams = 2 * routes.len() as u64;
    let mut out = Sent {
        packets: 0,
        max_lag_us: 0,
    };
    if streams == 0 {
        return out;
    }
    let due = |k: u64| start + (k / streams) * PERIOD_NS + (k % streams) * PERIOD_NS / streams;
    let mut queues = (SendBatch::new(batch), SendBatch::new(batch));
    let stamp = |p: &mut [u8]| p[12..20].copy_from_slice(&now_ns().to_le_bytes());
    let mut k = 0u64;
    loop {
        let now = now_ns();
        if now >= end {
            break;
        }
        while due(k) <= now && due(k) < end {
            let stream = k % streams;
            let cycle = k / streams;
            let call = usize::try_from(stream / 2).unwrap_or(0);
            let (queue, socket, to) = if stream.is_multiple_of(2) {
                (&mut queues.0, sockets.0, routes[call].0)
            } else {
                (&mut queues.1, sockets.1, routes[call].1)
            };
            if queue.is_full() {
                out.packets += queue.flush(socket, stamp) as u64;
            }
            // RTP fields wrap: sequence and timestamp modulo 2^16 and 2^32, as RTP's do.
            #[allow(clippy::cast_possible_truncation)]
            if let Some(p) = queue.push(to, PACKET) {
                p.fill(0xd5);
                p[0] = 0x80;
                p[1] = 0;
                p[2..4].copy_from_slice(&((cycle & 0xffff) as u16).to_be_bytes());
                p[4..8].copy_from_slice(&((cycle * 160) as u32).to_be_bytes());
                p[8..12].copy_from_slice(&((stream + 1) as u32).to_be_bytes());
                p[20..24].copy_from_slice(&(stream as u32).to_le_bytes());
            }
            out.max_lag_us = out.max_lag_us.max((now - due(k)) / 1000);
            k += 1;
        }
        out.packets += queues.0.flush(sockets.0, stamp) as u64;
        out.packets += queues.1.flush(sockets.1, stamp) as u64;
        let next = due(k).max(now_ns() + u64::try_from(tick.as_nanos()).unwrap_or(0));
        let wait = next.saturating_sub(now_ns());
        if wait > 0 {
            std::thread::sleep(Duration::from_nanos(wait));
        }
    }
    out
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let streams = 2 * args.calls;
    let a_addr = SocketAddrV4::new(args.phone, args.rtp_port);
    let b_addr = SocketAddrV4::new(args.pbx, args.rtp_port);
    let a = UdpSocket::bind(a_addr)?;
    let b = UdpSocket::bind(b_addr)?;
    for s in [&a, &b] {
        net::prepare_receiver(s, args.rcvbuf)?;
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
    }
    let run = format!("{}-{}", std::process::id(), now_ns() % 1_000_000_000);

    let setup_start = Instant::now();
    let (routes, session) = setup(&args, a_addr, b_addr, &run)?;
    let setup_s = setup_start.elapsed().as_secs_f64();

    // The timeline: start (after 100 ms for the threads), warm-up, window, then a drain.
    let start = now_ns() + 100_000_000;
    let w0 = start + secs_ns(args.warmup);
    let w1 = w0 + secs_ns(args.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let (a, b) = (Arc::new(a), Arc::new(b));
    let late_ns = args.late_ms.saturating_mul(1_000_000);
    let receivers: Vec<_> = [&a, &b]
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let (s, stop, counts) = (Arc::clone(s), Arc::clone(&stop), Arc::clone(&counts));
            std::thread::Builder::new()
                .name(format!("rx-{i}"))
                .spawn(move || receive(&s, streams, (w0, w1), late_ns, &counts[i], &stop))
        })
        .collect::<Result<_, _>>()?;
    let sender = {
        let (a, b, routes) = (Arc::clone(&a), Arc::clone(&b), routes.clone());
        let (batch, tick) = (args.batch, Duration::from_micros(args.tick_us));
        std::thread::Builder::new()
            .name("tx".into())
            .spawn(move || send((&a, &b), &routes, start, w1, batch, tick))?
    };

    let pid = args.pid.filter(|_| args.system != System::Direct);
    let me = std::process::id();
    let received = || counts[0].load(Relaxed) + counts[1].load(Relaxed);
    sleep_until(w0);
    let (relay0, gen0, rx0) = (pid.map_or(0, cpu_ticks), cpu_ticks(me), received());
    sleep_until(w1);
    let (relay1, gen1, rx1) = (pid.map_or(0, cpu_ticks), cpu_ticks(me), received());
    let sent = sender.join().map_err(|_| "the sender thread failed")?;
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Relaxed);
    let mut latency = Histogram::new();
    let mut jitters = Vec::new();
    let mut late = 0;
    for r in receivers {
        let r = r.join().map_err(|_| "a receiver thread failed")?;
        latency.merge(&r.latency);
        jitters.push(r.jitter);
        late += r.late;
    }
    let drops = socket_drops(a_addr) + socket_drops(b_addr);
    let ended = teardown(session, args.calls, args.setup_rate)?;

    let hz = net::clock_ticks() as f64;
    let relay_cpu = (relay1 - relay0) as f64 / hz;
    let gen_cpu = (gen1 - gen0) as f64 / hz;
    let got = received();
    let window_got = rx1 - rx0;
    let missing = sent.packets.saturating_sub(got);
    let lost = missing + late;
    let (jitter_mean, jitter_max) = Jitter::summary(&jitters.iter().collect::<Vec<_>>());
    let per_cpu_s = if relay_cpu > 0.0 {
        window_got as f64 / relay_cpu
    } else {
        0.0
    };
    println!(
        "system={system:?} calls={calls} streams={streams} offered_pps={offered} window_s={window} \
         sent={sent} received={got} missing={missing} late={late} lost={lost} loss_pct={loss:.4} window_received={window_got} \
         relay_cpu_s={relay_cpu:.2} pkts_per_cpu_s={per_cpu_s:.0} us_per_pkt={us_per_pkt:.2} \
         gen_cpu_s={gen_cpu:.2} gen_cpu_pct={gen_pct:.0} lat_p50_us={p50:.1} lat_p99_us={p99:.1} \
         lat_p999_us={p999:.1} jitter_us={jitter_mean:.2} jitter_max_us={jitter_max:.2} \
         max_lag_us={lag} gen_drops={drops} setup_s={setup_s:.2} ended={ended}",
        system = args.system,
        calls = args.calls,
        offered = streams * 50,
        window = args.seconds,
        sent = sent.packets,
        loss = if sent.packets > 0 {
            100.0 * lost as f64 / sent.packets as f64
        } else {
            0.0
        },
        us_per_pkt = if window_got > 0 {
            relay_cpu * 1e6 / window_got as f64
        } else {
            0.0
        },
        gen_pct = 100.0 * gen_cpu / args.seconds,
        p50 = latency.quantile_us(0.5),
        p99 = latency.quantile_us(0.99),
        p999 = latency.quantile_us(0.999),
        lag = sent.max_lag_us,
    );
    Ok(())
}

fn secs_ns(s: f64) -> u64 {
    Duration::from_secs_f64(s.max(0.0))
        .as_nanos()
        .try_into()
        .unwrap_or(u64::MAX)
}

fn sleep_until(t: u64) {
    let wait = t.saturating_sub(now_ns());
    if wait > 0 {
        std::thread::sleep(Duration::from_nanos(wait));
    }
}
