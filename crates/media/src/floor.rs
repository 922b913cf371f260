//! A forwarder with no logic, the floor that benchmarks compare the relay with: the same
//! worker loop (`mio`, edge-triggered, `recvmmsg` then `sendmmsg` over fixed buffers), but
//! every datagram from an inbound socket goes to one fixed destination out of one fixed
//! socket, with no parsing, latching, counters or locks.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::sys::{Batch, MAX_BATCH, SendQueue};

/// One forwarding rule: what arrives on `inbound` leaves from `outbound` to `to`.
#[derive(Debug)]
pub struct Route {
    /// The socket packets arrive on (set non-blocking by [`Floor::start`]).
    pub inbound: UdpSocket,
    /// The socket they leave from.
    pub outbound: UdpSocket,
    /// Where they go.
    pub to: SocketAddr,
}

/// Running floor forwarder threads (named `media-floor-N`).
#[derive(Debug)]
pub struct Floor {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Floor {
    /// Spreads the routes over `workers` threads and starts them.
    pub fn start(routes: Vec<Route>, workers: usize, batch: usize) -> io::Result<Floor> {
        let workers = workers.max(1);
        let mut shares: Vec<Vec<Route>> = (0..workers).map(|_| Vec::new()).collect();
        for (i, route) in routes.into_iter().enumerate() {
            route.inbound.set_nonblocking(true)?;
            route.outbound.set_nonblocking(true)?;
            shares[i % workers].push(route);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(workers);
        for (index, share) in shares.into_iter().enumerate() {
            let poll = Poll::new()?;
            for (i, route) in share.iter().enumerate() {
                let fd = route.inbound.as_raw_fd();
                poll.registry()
                    .register(&mut SourceFd(&fd), Token(i), Interest::READABLE)?;
            }
            let stop = Arc::clone(&stop);
            let batch = batch.clamp(1, MAX_BATCH);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("media-floor-{index}"))
                    .spawn(move || run(poll, share, batch, &stop))?,
            );
        }
        Ok(Floor { stop, threads })
    }

    /// Stops and joins the threads.
    pub fn stop(self) {
        self.stop.store(true, Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

fn run(mut poll: Poll, routes: Vec<Route>, batch_size: usize, stop: &AtomicBool) {
    let mut events = Events::with_capacity(1024);
    let mut batch = Batch::new();
    let mut queue = SendQueue::new();
    while !stop.load(Relaxed) {
        if poll
            .poll(&mut events, Some(Duration::from_millis(50)))
            .is_err()
        {
            continue;
        }
        for event in events.iter() {
            let Some(route) = routes.get(event.token().0) else {
                continue;
            };
            while let Ok(n) = batch.recv(&route.inbound, batch_size) {
                for i in 0..n {
                    queue.push(i, batch.meta(i).len, route.to);
                }
                batch.send(&route.outbound, &queue);
                queue.clear();
                if n < batch_size {
                    break;
                }
            }
        }
    }
}
