//! The packet path: worker threads, each with a `mio` poll over the sockets of the
//! streams assigned to it, moving packets with batched receives and sends.
//!
//! One stream (its four sockets: RTP and RTCP of both legs) belongs to one worker, so a
//! packet is received and sent on the same thread. The worker reaches a stream's state
//! through the `Arc` it keeps in its slot table, never through the session table; the only
//! lock it takes is the stream's own mutex, once per batch, which the signaling plane
//! holds only to update that one stream.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::counters::LegCounters;
use crate::latch::{BeforeLatch, Component, LegLatch, Verdict};
use crate::ports::PortLease;
use crate::quality::{Jitter, SeqTracker, nanos_to_units};
use crate::rtp::{Packet, RtpHeader, classify};
use crate::sys::{Batch, SendQueue};

const WAKE: Token = Token(usize::MAX);
/// Batches read from one socket per readiness event before the worker turns to the other
/// ready sockets (and comes back): a flooded port cannot starve the others.
const ROUNDS_PER_EVENT: usize = 4;

/// How long a new or deleted stream may wait for its worker to take it up. Streams come
/// and go with every call, and waking a sleeping worker for each costs two context
/// switches (a large part of a call's CPU at high call rates); instead a worker with
/// nothing to do looks at its commands this often. A socket registered late loses
/// nothing: packets wait in its buffer, and registering a readable socket reports it.
const COMMAND_INTERVAL: Duration = Duration::from_millis(5);

/// Reception state of one leg of one stream: its latch and its RTP statistics.
#[derive(Debug)]
pub(crate) struct LegState {
    pub(crate) latch: LegLatch,
    seq: Option<(u32, SeqTracker)>,
    jitter: Jitter,
    /// Loss counted under earlier SSRCs.
    lost_before: i64,
    pub(crate) clock_rate: u32,
}

impl LegState {
    pub(crate) fn new(latch: LegLatch) -> Self {
        LegState {
            latch,
            seq: None,
            jitter: Jitter::new(),
            lost_before: 0,
            clock_rate: 8000,
        }
    }

    /// Feeds an accepted RTP packet; returns the cumulative loss and the jitter.
    fn observe(&mut self, header: &RtpHeader, arrival_nanos: u64) -> (i64, u32) {
        match &mut self.seq {
            Some((ssrc, tracker)) if *ssrc == header.ssrc => {
                tracker.update(header.seq);
            }
            other => {
                if let Some((_, old)) = other.take() {
                    self.lost_before = self.lost_before.saturating_add(old.lost());
                }
                *other = Some((header.ssrc, SeqTracker::new(header.seq)));
                self.jitter = Jitter::new();
            }
        }
        self.jitter.update(
            nanos_to_units(arrival_nanos, self.clock_rate),
            header.timestamp,
        );
        let lost = self.seq.as_ref().map_or(0, |(_, t)| t.lost());
        (self.lost_before.saturating_add(lost), self.jitter.value())
    }
}

/// Both legs' reception state of one stream, behind the stream's mutex.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) legs: [LegState; 2],
}

/// One media stream (one m-line) of a session: a port pair on each leg.
#[derive(Debug)]
pub(crate) struct MediaStream {
    /// Index `leg * 2 + component`: A RTP, A RTCP, B RTP, B RTCP. Declared before the
    /// leases so the sockets close before their ports return to the pool.
    pub(crate) sockets: [UdpSocket; 4],
    _leases: [PortLease; 2],
    pub(crate) state: Mutex<StreamState>,
    pub(crate) counters: [LegCounters; 2],
    /// Set when the session is deleted: the worker stops relaying at once.
    pub(crate) closed: AtomicBool,
    /// The worker's slot for this stream, set by the worker.
    slot: AtomicUsize,
    pub(crate) worker: usize,
}

impl MediaStream {
    pub(crate) fn new(
        sockets: [UdpSocket; 4],
        leases: [PortLease; 2],
        state: StreamState,
        worker: usize,
    ) -> Self {
        MediaStream {
            sockets,
            _leases: leases,
            state: Mutex::new(state),
            counters: Default::default(),
            closed: AtomicBool::new(false),
            slot: AtomicUsize::new(usize::MAX),
            worker,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, StreamState> {
        // Every update of the state is a plain assignment sequence that a panic cannot
        // interrupt half-way in a way that breaks an invariant: recover from poisoning.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) enum Command {
    Add(Arc<MediaStream>),
    Remove(Arc<MediaStream>),
    Stop,
}

/// The signaling plane's handle on one worker thread.
#[derive(Debug)]
pub(crate) struct WorkerHandle {
    tx: Sender<Command>,
    waker: Waker,
    thread: Option<JoinHandle<()>>,
    /// Streams assigned to this worker, for balancing.
    pub(crate) load: AtomicUsize,
}

impl WorkerHandle {
    pub(crate) fn spawn(
        index: usize,
        batch: usize,
        policy: BeforeLatch,
        epoch: Instant,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        let (tx, rx) = channel();
        let batch_size = batch.clamp(1, crate::sys::MAX_BATCH);
        let thread = std::thread::Builder::new()
            .name(format!("media-worker-{index}"))
            .spawn(move || {
                // The batch holds raw pointers for the kernel: it is created on its thread.
                let worker = Worker {
                    poll,
                    rx,
                    slots: Vec::new(),
                    free: Vec::new(),
                    batch: Batch::new(),
                    batch_size,
                    queues: [SendQueue::new(), SendQueue::new()],
                    pending: Vec::with_capacity(256),
                    retry: Vec::with_capacity(256),
                    policy,
                    epoch,
                };
                worker.run();
            })?;
        Ok(WorkerHandle {
            tx,
            waker,
            thread: Some(thread),
            load: AtomicUsize::new(0),
        })
    }

    /// Queues a command; the worker takes it up within [`COMMAND_INTERVAL`]. Only Stop
    /// wakes it.
    pub(crate) fn send(&self, command: Command) -> bool {
        let wake = matches!(command, Command::Stop);
        self.tx.send(command).is_ok() && (!wake || self.waker.wake().is_ok())
    }

    pub(crate) fn stop(&mut self) {
        self.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    poll: Poll,
    rx: Receiver<Command>,
    slots: Vec<Option<Arc<MediaStream>>>,
    free: Vec<usize>,
    batch: Batch,
    batch_size: usize,
    /// Outgoing packets of the current batch, per component of the other leg.
    queues: [SendQueue; 2],
    /// Sockets left with packets queued after ROUNDS_PER_EVENT batches.
    pending: Vec<usize>,
    retry: Vec<usize>,
    policy: BeforeLatch,
    epoch: Instant,
}

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if self.pending.is_empty() {
                COMMAND_INTERVAL
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "media worker: poll failed, stopping");
                return;
            }
            std::mem::swap(&mut self.pending, &mut self.retry);
            if !self.commands() {
                return;
            }
            for event in events.iter() {
                if event.token() != WAKE {
                    self.service(event.token().0);
                }
            }
            let mut retry = std::mem::take(&mut self.retry);
            for token in retry.drain(..) {
                self.service(token);
            }
            self.retry = retry;
        }
    }

    /// Applies the signaling plane's commands; false on Stop.
    fn commands(&mut self) -> bool {
        while let Ok(command) = self.rx.try_recv() {
            match command {
                Command::Add(stream) => self.add(stream),
                Command::Remove(stream) => self.remove(&stream),
                Command::Stop => return false,
            }
        }
        true
    }

    fn add(&mut self, stream: Arc<MediaStream>) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let registry = self.poll.registry();
        for (i, socket) in stream.sockets.iter().enumerate() {
            let fd = socket.as_raw_fd();
            if let Err(e) =
                registry.register(&mut SourceFd(&fd), Token(slot * 4 + i), Interest::READABLE)
            {
                tracing::error!(error = %e, "media worker: cannot watch a relay socket");
            }
        }
        stream.slot.store(slot, Relaxed);
        self.slots[slot] = Some(stream);
    }

    fn remove(&mut self, stream: &Arc<MediaStream>) {
        let slot = stream.slot.load(Relaxed);
        let Some(entry) = self.slots.get_mut(slot) else {
            return;
        };
        if !entry.as_ref().is_some_and(|s| Arc::ptr_eq(s, stream)) {
            return;
        }
        let registry = self.poll.registry();
        for socket in &stream.sockets {
            let _ = registry.deregister(&mut SourceFd(&socket.as_raw_fd()));
        }
        *entry = None;
        self.free.push(slot);
    }

    /// Drains one readable socket (up to ROUNDS_PER_EVENT batches).
    fn service(&mut self, token: usize) {
        let Worker {
            slots,
            batch,
            batch_size,
            queues,
            pending,
            policy,
            epoch,
            ..
        } = self;
        let (slot, socket) = (token / 4, token % 4);
        let Some(Some(stream)) = slots.get(slot) else {
            return;
        };
        let leg = socket / 2;
        let component = if socket % 2 == 0 {
            Component::Rtp
        } else {
            Component::Rtcp
        };
        for _ in 0..ROUNDS_PER_EVENT {
            if stream.closed.load(Relaxed) {
                return;
            }
            let n = match batch.recv(&stream.sockets[socket], *batch_size) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "media worker: receive failed");
                    return;
                }
            };
            relay_batch(stream, leg, component, n, batch, queues, *policy, *epoch);
            // Epoll is edge-triggered: a short batch means the queue was empty, and a
            // packet arriving after that raises a new event.
            if n < *batch_size {
                return;
            }
        }
        pending.push(token);
    }
}

/// Sorts one received batch under the stream's lock, then sends what passed.
#[allow(clippy::too_many_arguments)]
fn relay_batch(
    stream: &MediaStream,
    leg: usize,
    socket_component: Component,
    n: usize,
    batch: &mut Batch,
    queues: &mut [SendQueue; 2],
    policy: BeforeLatch,
    epoch: Instant,
) {
    let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
    let (mut rtp, mut rtcp, mut bytes) = (0u64, 0u64, 0u64);
    let (mut foreign, mut malformed, mut no_target) = (0u64, 0u64, 0u64);
    let mut quality = None;
    {
        let mut state = stream.lock();
        let [a, b] = &mut state.legs;
        let (this, that) = if leg == 0 { (a, b) } else { (b, a) };
        for i in 0..n {
            let meta = batch.meta(i);
            let Some(source) = meta.source.filter(|_| !meta.truncated) else {
                malformed += 1;
                continue;
            };
            let (component, header) = match classify(batch.packet(i)) {
                Packet::Rtp(h) if socket_component == Component::Rtp => (Component::Rtp, Some(h)),
                Packet::Rtcp { .. } => (Component::Rtcp, None),
                _ => {
                    malformed += 1;
                    continue;
                }
            };
            if this.latch.accept(component, source, header.map(|h| h.ssrc)) == Verdict::Foreign {
                foreign += 1;
                continue;
            }
            bytes += meta.len as u64;
            match header {
                Some(h) => {
                    rtp += 1;
                    quality = Some(this.observe(&h, now));
                }
                None => rtcp += 1,
            }
            match that.latch.destination(component, policy) {
                Some((Component::Rtp, to)) => queues[0].push(i, meta.len, to),
                Some((Component::Rtcp, to)) => queues[1].push(i, meta.len, to),
                None => no_target += 1,
            }
        }
    }
    let counters = &stream.counters[leg];
    LegCounters::add(&counters.rtp_packets, rtp);
    LegCounters::add(&counters.rtcp_packets, rtcp);
    LegCounters::add(&counters.bytes, bytes);
    LegCounters::add(&counters.dropped_foreign, foreign);
    LegCounters::add(&counters.dropped_malformed, malformed);
    LegCounters::add(&counters.dropped_no_target, no_target);
    if rtp + rtcp > 0 {
        counters.last_packet.store(now + 1, Relaxed);
    }
    if let Some((lost, jitter)) = quality {
        counters.lost.store(lost, Relaxed);
        counters.jitter.store(jitter, Relaxed);
    }
    let other = 1 - leg;
    for (out, queue) in queues.iter_mut().enumerate() {
        if queue.len() == 0 {
            continue;
        }
        let outcome = batch.send(&stream.sockets[other * 2 + out], queue);
        queue.clear();
        LegCounters::add(&counters.forwarded, outcome.sent);
        LegCounters::add(&counters.dropped_send, outcome.dropped + outcome.failed);
    }
}
