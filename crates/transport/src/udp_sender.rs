//! The UDP sender: a thread of its own that hands datagrams to the kernel.
//!
//! `sendto` is the costliest thing the signaling thread would otherwise do: the kernel
//! builds the packet and, on loopback or towards a local socket, delivers it to the
//! receiving socket on the sender's time. Measured at 6000 calls/s, a quarter of the
//! signaling thread's samples were under `sendto`. Done here, that work runs on another
//! core while the signaling thread goes on with the next message.
//!
//! Waking a thread costs a system call on each side and a context switch, so datagrams
//! queued while a [`SendBatch`] is alive are handed over when the last batch ends: the
//! service loop keeps one over each turn, so a burst of answers costs one wake-up. Without
//! a batch each datagram is handed over at once. A hand-over of one or two datagrams to a
//! sleeping thread sends them on the caller's thread instead (at a few calls a second the
//! wake-ups would cost more than the sends). A datagram is never held back while the
//! thread is awake: it takes whatever is queued each time round.
//!
//! Order is kept: datagrams leave in the order they were queued. The queue is bounded
//! (`TransportLimits::udp_send_queue`); a datagram that finds it full is refused at once,
//! as a full socket send buffer would refuse it. A datagram the kernel refuses later is
//! counted and reported as a [`TransportEvent::SendFailed`] for its flow.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::stats::TransportStats;
use crate::types::{Flow, FlowId, Protocol, Side, TransportEvent};
use crate::udp;

/// One datagram waiting to be sent from the socket at index `socket`.
pub(crate) struct Datagram {
    pub(crate) socket: u16,
    pub(crate) to: SocketAddr,
    pub(crate) bytes: Bytes,
}

/// A socket the thread sends from.
pub(crate) struct Outlet {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) side: Side,
    pub(crate) local: SocketAddr,
}

#[derive(Default)]
struct Queue {
    datagrams: Vec<Datagram>,
    /// Batches alive: while above zero, queueing wakes nobody.
    holds: usize,
    /// The thread waits on the condition variable (and nobody has woken it yet).
    sleeping: bool,
    /// No more datagrams: the thread sends what is queued and ends.
    closed: bool,
}

/// A batch of at most this many datagrams is sent by the caller itself when the thread
/// sleeps: waking it costs more than that many sends, and a caller with so little to send
/// is not busy. Bursts, where the second core pays off, are larger.
const SEND_INLINE_MAX: usize = 2;

/// The queue between the callers and the sending thread.
pub(crate) struct UdpSender {
    queue: Mutex<Queue>,
    wake: Condvar,
    capacity: usize,
    outlets: Vec<Outlet>,
    stats: Arc<TransportStats>,
    events: mpsc::Sender<TransportEvent>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The queue is full: the datagram was not taken.
#[derive(Debug)]
pub(crate) struct Full;

impl UdpSender {
    /// Starts the thread. Failures are reported on `events` and counted in `stats`.
    pub(crate) fn start(
        outlets: Vec<Outlet>,
        capacity: usize,
        stats: Arc<TransportStats>,
        events: mpsc::Sender<TransportEvent>,
    ) -> io::Result<Arc<UdpSender>> {
        let sender = Arc::new(UdpSender {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            capacity: capacity.max(1),
            outlets,
            stats,
            events,
            thread: Mutex::new(None),
        });
        let handle = {
            let sender = Arc::clone(&sender);
            std::thread::Builder::new()
                .name("palisade-udp-send".into())
                .spawn(move || sender.run())?
        };
        *lock(&sender.thread) = Some(handle);
        Ok(sender)
    }

    /// Queues a datagram; unless a batch is alive, hands it over at once.
    pub(crate) fn push(&self, datagram: Datagram) -> Result<(), Full> {
        let mut q = lock(&self.queue);
        if q.datagrams.len() >= self.capacity || q.closed {
            return Err(Full);
        }
        q.datagrams.push(datagram);
        self.hand_over(q);
        Ok(())
    }

    /// Defers handing over until the returned batch (and every other) is dropped.
    pub(crate) fn hold(self: &Arc<Self>) -> SendBatch {
        lock(&self.queue).holds += 1;
        SendBatch {
            sender: Arc::clone(self),
        }
    }

    fn release(&self) {
        let mut q = lock(&self.queue);
        q.holds = q.holds.saturating_sub(1);
        self.hand_over(q);
    }

    /// With no batch alive and the thread asleep: sends a few datagrams here, or wakes
    /// the thread for more. An awake thread takes the queue by itself. The sends happen
    /// under the lock, so nothing queued after them can overtake them.
    fn hand_over(&self, mut q: MutexGuard<'_, Queue>) {
        if q.holds > 0 || !q.sleeping || q.datagrams.is_empty() {
            return;
        }
        if q.datagrams.len() <= SEND_INLINE_MAX {
            for d in q.datagrams.drain(..) {
                self.send(&d);
            }
            return;
        }
        q.sleeping = false;
        drop(q);
        self.wake.notify_one();
    }

    /// Stops taking datagrams and waits until the thread has sent what was queued.
    pub(crate) fn close(&self) {
        lock(&self.queue).closed = true;
        self.wake.notify_one();
        let handle = lock(&self.thread).take();
        if let Some(handle) = handle {
            // The thread never panics (no unwinding code in it); a join error would only
            // say it had.
            let _ = handle.join();
        }
    }

    fn run(&self) {
        let mut batch = Vec::new();
        loop {
            {
                let mut q = lock(&self.queue);
                loop {
                    if !q.datagrams.is_empty() {
                        mem::swap(&mut q.datagrams, &mut batch);
                        break;
                    }
                    if q.closed {
                        return;
                    }
                    q.sleeping = true;
                    q = self.wake.wait(q).unwrap_or_else(PoisonError::into_inner);
                }
            }
            for d in batch.drain(..) {
                self.send(&d);
            }
        }
    }

    /// One `sendto`. Datagrams are counted out when queued, like a connection's write
    /// queue; a refusal is counted and reported here.
    fn send(&self, d: &Datagram) {
        let Some(out) = self.outlets.get(usize::from(d.socket)) else {
            return;
        };
        if let Err(e) = udp::send_now(&out.socket, &d.bytes, d.to) {
            TransportStats::bump(&self.stats.send_errors);
            tracing::debug!(local = %out.local, remote = %d.to, error = %e, "UDP send failed");
            let flow = Flow {
                id: FlowId::Udp {
                    socket: d.socket,
                    remote: d.to,
                },
                side: out.side,
                protocol: Protocol::Udp,
                local: out.local,
                remote: d.to,
            };
            // A full channel loses the report; the transaction then times out.
            let _ = self.events.try_send(TransportEvent::SendFailed(flow));
        }
    }
}

/// While alive, UDP datagrams queue without waking the sending thread, and go in one
/// wake-up when the last batch ends (from [`crate::Transports::batch`]).
#[must_use = "the batch ends when it is dropped"]
pub struct SendBatch {
    sender: Arc<UdpSender>,
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch").finish_non_exhaustive()
    }
}

impl Drop for SendBatch {
    fn drop(&mut self) {
        self.sender.release();
    }
}

/// The queue's lock. Nothing panics while holding it, so a poisoned lock still holds a
/// consistent queue.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
