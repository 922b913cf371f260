//! Port pairs bound ahead of need.
//!
//! A new stream binds four sockets (RTP and RTCP on each leg): four `socket` and four
//! `bind` calls, about a tenth of the signaling thread's time per anchored call when calls
//! arrive by the thousand a second. A thread of its own keeps up to `depth` pairs bound
//! for each local address a stream was opened on, so that opening a stream is mostly
//! taking bound sockets from a queue; when the queue is empty (a burst, or the binder
//! cannot keep up) the caller binds as before.
//!
//! A pair waiting here is leased from the pool like any other, so it counts as in use;
//! the binder leaves the pool's last `depth` pairs to the callers, and a caller that finds
//! the pool empty has the waiting pairs given back first (the one being bound too), so
//! pairs waiting on one address never refuse a call on another. A datagram that reached
//! a waiting socket (a scanner probing the range) is read and dropped when the pair is
//! taken: a stream starts with empty sockets.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::ports::PortLease;
use crate::relay::RelayError;

/// A leased port pair with its RTP and RTCP sockets bound.
pub(crate) type BoundPair = (PortLease, [UdpSocket; 2]);

/// How long the binder waits after a failure (the range used up, an address gone) before
/// it tries that address again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Datagrams read from a waiting socket when its pair is taken, at most: the socket's
/// buffer holds what a scan left, and the rest is the stream's latching's business.
const DRAIN_AT_MOST: usize = 64;

#[derive(Debug, Default)]
struct State {
    queues: HashMap<IpAddr, VecDeque<BoundPair>>,
    /// The binder holds a pair it is binding: leased from the pool, in no queue yet.
    binding: bool,
    stop: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the binder: a queue ran short, or stop.
    wake: Condvar,
    /// Tells a caller waiting in [`Spares::release`] that the binder's pair is queued.
    settled: Condvar,
    depth: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The queues hold whole pairs between statements: recover from poisoning.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An address whose queue is short, or `None` to stop. The binder is `binding` from
    /// then on, until it has queued that address's pair or failed to bind one.
    fn next_short(&self) -> Option<IpAddr> {
        let mut state = self.lock();
        loop {
            if state.stop {
                return None;
            }
            if let Some(ip) = state
                .queues
                .iter()
                .find(|(_, q)| q.len() < self.depth)
                .map(|(ip, _)| *ip)
            {
                state.binding = true;
                return Some(ip);
            }
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The bound pairs in waiting and the thread that binds them.
#[derive(Debug)]
pub(crate) struct Spares {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Spares {
    /// Starts the binder thread, which binds pairs with `bind`. A `depth` of 0 keeps no
    /// pairs and starts no thread.
    pub(crate) fn start(
        depth: usize,
        bind: impl Fn(IpAddr) -> Result<BoundPair, RelayError> + Send + 'static,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            settled: Condvar::new(),
            depth,
        });
        let thread = if depth == 0 {
            None
        } else {
            let shared = Arc::clone(&shared);
            Some(
                std::thread::Builder::new()
                    .name("media-binder".into())
                    .spawn(move || bind_ahead(&shared, &bind))?,
            )
        };
        Ok(Self { shared, thread })
    }

    /// A bound pair on `ip`, when one is waiting; from then on `ip` is kept stocked.
    pub(crate) fn take(&self, ip: IpAddr) -> Option<BoundPair> {
        // Without the binder nothing ever waits: no queue to keep.
        self.thread.as_ref()?;
        let pair = {
            let mut state = self.shared.lock();
            let queue = state.queues.entry(ip).or_default();
            let pair = queue.pop_front();
            if queue.len() < self.shared.depth {
                self.shared.wake.notify_one();
            }
            pair
        };
        let pair = pair?;
        for socket in &pair.1 {
            drain(socket);
        }
        Some(pair)
    }

    /// Gives every waiting pair back to the pool (the addresses stay stocked, as far as
    /// the pool has room), the one the binder is binding too: a caller that found the
    /// pool empty must not miss the last pair because it was between the pool and a
    /// queue.
    pub(crate) fn release(&self) {
        let mut state = self.shared.lock();
        while state.binding && !state.stop {
            state = self
                .shared
                .settled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let waiting: Vec<VecDeque<BoundPair>> =
            state.queues.values_mut().map(std::mem::take).collect();
        drop(state);
        drop(waiting);
    }

    /// Stops the binder thread and closes the waiting pairs' sockets.
    pub(crate) fn stop(&mut self) {
        let mut state = self.shared.lock();
        state.stop = true;
        state.queues.clear();
        drop(state);
        self.shared.wake.notify_all();
        self.shared.settled.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind_ahead(shared: &Shared, bind: &impl Fn(IpAddr) -> Result<BoundPair, RelayError>) {
    while let Some(ip) = shared.next_short() {
        let bound = bind(ip);
        let mut state = shared.lock();
        state.binding = false;
        shared.settled.notify_all();
        if state.stop {
            return;
        }
        match bound {
            Ok(pair) => state.queues.entry(ip).or_default().push_back(pair),
            Err(e) => {
                if !matches!(e, RelayError::PortsExhausted { .. }) {
                    tracing::debug!(%ip, error = %e, "cannot bind a media port pair ahead of need");
                }
                // Woken early only to stop.
                let _ = shared.wake.wait_timeout(state, RETRY_AFTER);
            }
        }
    }
}

/// Reads and drops what a waiting socket received.
fn drain(socket: &UdpSocket) {
    let mut buf = [0u8; 1];
    for _ in 0..DRAIN_AT_MOST {
        if socket.recv(&mut buf).is_err() {
            return;
        }
    }
}
