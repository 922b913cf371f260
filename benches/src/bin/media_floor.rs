//! The floor of the media relay benchmark (benches/media/run.sh): palisade-media's
//! logic-free `floor` forwarder (recvmmsg then sendmmsg, no parsing, latching, counters
//! or locks) with a static route table, run as a process of its own so that its CPU time
//! is measured like a relay's.
//!
//! Pair i binds `ACCESS:(BASE + 2i)` and `CORE:(BASE + 2i)`: what arrives on the access
//! port leaves from the core port toward `--b`, and what arrives on the core port leaves
//! from the access port toward `--a`, as a relay's two legs of one call do.
//!
//! Binds 127.0.0.x addresses only; run it inside the benchmark's network namespace. It
//! stops by itself after `--max-seconds`.

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use clap::Parser;
use palisade_media::floor::{Floor, Route};

#[derive(Debug, Parser)]
#[command(about = "A logic-free recvmmsg->sendmmsg forwarder with static routes")]
struct Args {
    /// Port pairs (calls).
    #[arg(long)]
    pairs: usize,
    #[arg(long, default_value = "127.0.0.14")]
    access: Ipv4Addr,
    #[arg(long, default_value = "127.0.0.15")]
    core: Ipv4Addr,
    #[arg(long, default_value_t = 20_000)]
    base: u16,
    /// Where packets arriving on the core side go.
    #[arg(long, default_value = "127.0.0.41:30000")]
    a: SocketAddrV4,
    /// Where packets arriving on the access side go.
    #[arg(long, default_value = "127.0.0.42:30000")]
    b: SocketAddrV4,
    /// Forwarding threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Datagrams per recvmmsg/sendmmsg.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Stops after this many seconds.
    #[arg(long, default_value_t = 3600)]
    max_seconds: u64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let mut routes = Vec::with_capacity(2 * args.pairs);
    for i in 0..args.pairs {
        let port = u16::try_from(usize::from(args.base) + 2 * i)?;
        let access = UdpSocket::bind((args.access, port))?;
        let core = UdpSocket::bind((args.core, port))?;
        routes.push(Route {
            inbound: access.try_clone()?,
            outbound: core.try_clone()?,
            to: SocketAddr::V4(args.b),
        });
        routes.push(Route {
            inbound: core,
            outbound: access,
            to: SocketAddr::V4(args.a),
        });
    }
    let floor = Floor::start(routes, args.workers, args.batch)?;
    let end = Instant::now() + Duration::from_secs(args.max_seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    floor.stop();
    Ok(())
}
