//! The relay: configuration, the session table and the API the signaling plane calls.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use socket2::{Domain, Protocol, Socket, Type};

use crate::counters::{SessionStats, StreamStats};
use crate::latch::{BeforeLatch, Component, LatchMode, LegLatch, Remote};
use crate::ports::{PortPool, PortRange};
use crate::spares::{BoundPair, Spares};
use crate::worker::{Command, LegState, MediaStream, StreamState, WorkerHandle};

/// Why a relay operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Every port pair of the range is in use: answer the call with 503 (or 488).
    #[error("no free RTP/RTCP port pair in {range}")]
    PortsExhausted {
        /// The configured range.
        range: PortRange,
    },
    /// A relay socket could not be created or bound.
    #[error("cannot open a media socket on {addr}: {source}")]
    Socket {
        /// The address being bound.
        addr: SocketAddr,
        /// The system error.
        source: io::Error,
    },
    /// No session with that id (never created, or deleted).
    #[error("no media session {0}")]
    NoSession(SessionId),
    /// The session has no stream with that index.
    #[error("media session {0} has no stream {1}")]
    NoStream(SessionId, usize),
    /// A session would exceed [`RelayConfig::max_streams`].
    #[error("too many media streams in one session (limit {0})")]
    TooManyStreams(usize),
    /// The relay's worker threads are gone (the relay is shutting down).
    #[error("the media relay is stopped")]
    Stopped,
    /// The worker threads could not be started.
    #[error("cannot start the media relay: {0}")]
    Start(io::Error),
}

/// The two legs of a session: A is the side whose offer created it, B the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The offerer's side (for a call from a phone: the access side).
    A,
    /// The answerer's side.
    B,
}

impl Leg {
    /// 0 for A, 1 for B: the index into per-leg arrays such as [`StreamStats::legs`].
    pub const fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }

    /// The other leg.
    pub const fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }
}

/// Identifies a media session (one call) in the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    /// The numeric id, for logs and call records.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Ports for RTP/RTCP pairs.
    pub ports: PortRange,
    /// Worker threads; 0 means one per available CPU.
    pub workers: usize,
    /// Datagrams per `recvmmsg`/`sendmmsg` call (1 to 64).
    pub batch: usize,
    /// Default latching mode of new sessions.
    pub latch_mode: LatchMode,
    /// Where packets for a leg go before it latches.
    pub before_latch: BeforeLatch,
    /// Streams (m-lines) a session may have.
    pub max_streams: usize,
    /// `SO_RCVBUF` for each relay socket; `None` keeps the system default.
    pub recv_buffer: Option<usize>,
    /// Port pairs kept bound ahead of need for each local address, by a thread of its own,
    /// so that opening a stream does not wait for `socket` and `bind`; 0 binds on demand.
    pub spare_pairs: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            ports: PortRange::default(),
            workers: 0,
            batch: 32,
            latch_mode: LatchMode::Strict,
            before_latch: BeforeLatch::SdpAddress,
            max_streams: 8,
            recv_buffer: None,
            spare_pairs: 16,
        }
    }
}

/// What a new session needs: the local address of each leg and the number of streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// The relay's address on each leg's network, indexed by [`Leg::index`] (for an SBC
    /// with an access and a core interface, two different addresses).
    pub local: [IpAddr; 2],
    /// Streams (m-lines) to allocate now; more can be added with [`Relay::add_stream`].
    pub streams: usize,
    /// Latching mode for this session; `None` takes [`RelayConfig::latch_mode`].
    pub latch_mode: Option<LatchMode>,
}

impl SessionSpec {
    /// A session with `streams` streams, both legs on `local`.
    pub fn new(local: IpAddr, streams: usize) -> Self {
        SessionSpec {
            local: [local, local],
            streams,
            latch_mode: None,
        }
    }
}

/// The relay's port pair on one leg: what the SDP sent to that leg advertises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalPorts {
    /// The RTP address (even port); with rtcp-mux, RTCP too.
    pub rtp: SocketAddr,
    /// The RTCP address (RTP port + 1), for `a=rtcp` when not muxed.
    pub rtcp: SocketAddr,
}

/// The relay's ports of one stream on both legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPorts {
    /// Indexed by [`Leg::index`].
    pub legs: [LocalPorts; 2],
}

impl StreamPorts {
    /// The ports on `leg`.
    pub fn leg(&self, leg: Leg) -> LocalPorts {
        self.legs[leg.index()]
    }
}

/// A session just created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Its id.
    pub id: SessionId,
    /// The ports of each stream, in m-line order.
    pub streams: Vec<StreamPorts>,
}

/// What a leg of a stream is latched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchState {
    /// The RTP source latched to.
    pub rtp: Option<SocketAddr>,
    /// The RTCP source latched to.
    pub rtcp: Option<SocketAddr>,
    /// The pinned SSRC.
    pub ssrc: Option<u32>,
}

/// A session with no media for longer than its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaTimeout {
    /// The session.
    pub session: SessionId,
    /// Time since the last packet in either direction on any stream (or since the session
    /// was created or its hold state changed, if later).
    pub idle: Duration,
    /// Whether a leg is on hold (the hold timeout applied).
    pub on_hold: bool,
}

#[derive(Debug)]
struct SessionEntry {
    local: [IpAddr; 2],
    mode: LatchMode,
    /// Touched only by the signaling plane and scrapes, never by the packet path.
    streams: Mutex<Vec<Arc<MediaStream>>>,
    hold: [AtomicBool; 2],
    /// Nanoseconds since the relay epoch when idleness is counted from at the earliest.
    since: AtomicU64,
}

impl SessionEntry {
    fn streams(&self) -> std::sync::MutexGuard<'_, Vec<Arc<MediaStream>>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The media relay: worker threads moving RTP/RTCP between the two legs of each session,
/// and the session table the signaling plane drives.
///
/// All methods take `&self`: share the relay in an `Arc`. None of them waits for the
/// packet path; the workers pick up new and deleted streams through a channel.
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    pool: PortPool,
    spares: Spares,
    sessions: DashMap<SessionId, Arc<SessionEntry>>,
    workers: Vec<WorkerHandle>,
    epoch: Instant,
    next_id: AtomicU64,
    next_worker: AtomicUsize,
}

impl Relay {
    /// Starts the worker threads. Ports are bound per session, not here.
    pub fn start(config: RelayConfig) -> Result<Relay, RelayError> {
        let count = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let epoch = Instant::now();
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let handle = WorkerHandle::spawn(index, config.batch, config.before_latch, epoch);
            match handle {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    for mut w in workers {
                        w.stop();
                    }
                    return Err(RelayError::Start(e));
                }
            }
        }
        let pool = PortPool::new(config.ports);
        let spares = {
            let (pool, ports, recv_buffer) = (pool.clone(), config.ports, config.recv_buffer);
            let depth = config.spare_pairs;
            Spares::start(depth, move |ip| {
                // The last `depth` free pairs are left to calls that bind their own.
                if pool.free_pairs() <= depth {
                    return Err(RelayError::PortsExhausted { range: ports });
                }
                bind_pair(&pool, ports, recv_buffer, ip)
            })
        };
        let spares = match spares {
            Ok(spares) => spares,
            Err(e) => {
                for mut w in workers {
                    w.stop();
                }
                return Err(RelayError::Start(e));
            }
        };
        tracing::info!(ports = %config.ports, workers = count, batch = config.batch, "media relay started");
        Ok(Relay {
            pool,
            spares,
            config,
            sessions: DashMap::new(),
            workers,
            epoch,
            next_id: AtomicU64::new(1),
            next_worker: AtomicUsize::new(0),
        })
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn entry(&self, id: SessionId) -> Result<Arc<SessionEntry>, RelayError> {
        self.sessions
            .get(&id)
            .map(|e| Arc::clone(e.value()))
            .ok_or(RelayError::NoSession(id))
    }

    fn stream(&self, id: SessionId, stream: usize) -> Result<Arc<MediaStream>, RelayError> {
        let entry = self.entry(id)?;
        let streams = entry.streams();
        streams
            .get(stream)
            .cloned()
            .ok_or(RelayError::NoStream(id, stream))
    }

    /// Creates a session: allocates and binds a port pair per leg for each stream.
    /// Fails with [`RelayError::PortsExhausted`] when the range is used up (nothing is
    /// kept from a failed creation).
    pub fn create_session(&self, spec: &SessionSpec) -> Result<NewSession, RelayError> {
        if spec.streams > self.config.max_streams {
            return Err(RelayError::TooManyStreams(self.config.max_streams));
        }
        let mode = spec.latch_mode.unwrap_or(self.config.latch_mode);
        let mut streams = Vec::with_capacity(spec.streams);
        let mut ports = Vec::with_capacity(spec.streams);
        for _ in 0..spec.streams {
            let (stream, p) = self.open_stream(spec.local, mode)?;
            streams.push(stream);
            ports.push(p);
        }
        let id = SessionId(self.next_id.fetch_add(1, Relaxed));
        let entry = Arc::new(SessionEntry {
            local: spec.local,
            mode,
            streams: Mutex::new(Vec::with_capacity(streams.len())),
            hold: [AtomicBool::new(false), AtomicBool::new(false)],
            since: AtomicU64::new(self.nanos(Instant::now())),
        });
        for stream in &streams {
            self.attach(stream)?;
        }
        *entry.streams() = streams;
        self.sessions.insert(id, entry);
        Ok(NewSession { id, streams: ports })
    }

    /// Adds a stream to a session (an m-line added by a re-INVITE); returns its index.
    pub fn add_stream(&self, id: SessionId) -> Result<(usize, StreamPorts), RelayError> {
        let entry = self.entry(id)?;
        if entry.streams().len() >= self.config.max_streams {
            return Err(RelayError::TooManyStreams(self.config.max_streams));
        }
        let (stream, ports) = self.open_stream(entry.local, entry.mode)?;
        self.attach(&stream)?;
        let mut streams = entry.streams();
        streams.push(stream);
        Ok((streams.len() - 1, ports))
    }

    fn open_stream(
        &self,
        local: [IpAddr; 2],
        mode: LatchMode,
    ) -> Result<(Arc<MediaStream>, StreamPorts), RelayError> {
        let (a_lease, [a_rtp, a_rtcp]) = self.pair(local[0])?;
        let (b_lease, [b_rtp, b_rtcp]) = self.pair(local[1])?;
        let ports = StreamPorts {
            legs: [
                LocalPorts {
                    rtp: SocketAddr::new(local[0], a_lease.rtp()),
                    rtcp: SocketAddr::new(local[0], a_lease.rtcp()),
                },
                LocalPorts {
                    rtp: SocketAddr::new(local[1], b_lease.rtp()),
                    rtcp: SocketAddr::new(local[1], b_lease.rtcp()),
                },
            ],
        };
        let state = StreamState {
            legs: [
                LegState::new(LegLatch::new(mode)),
                LegState::new(LegLatch::new(mode)),
            ],
        };
        let worker = self.pick_worker();
        let stream = MediaStream::new(
            [a_rtp, a_rtcp, b_rtp, b_rtcp],
            [a_lease, b_lease],
            state,
            worker,
        );
        for leg in &stream.counters {
            leg.clock_rate.store(8000, Relaxed);
        }
        Ok((Arc::new(stream), ports))
    }

    fn pick_worker(&self) -> usize {
        // The least loaded worker, starting the scan at a rotating index so ties spread.
        let n = self.workers.len().max(1);
        let start = self.next_worker.fetch_add(1, Relaxed) % n;
        (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| {
                self.workers
                    .get(i)
                    .map_or(usize::MAX, |w| w.load.load(Relaxed))
            })
            .unwrap_or(0)
    }

    fn attach(&self, stream: &Arc<MediaStream>) -> Result<(), RelayError> {
        let worker = self.workers.get(stream.worker).ok_or(RelayError::Stopped)?;
        worker.load.fetch_add(1, Relaxed);
        if worker.send(Command::Add(Arc::clone(stream))) {
            Ok(())
        } else {
            Err(RelayError::Stopped)
        }
    }

    fn detach(&self, stream: &Arc<MediaStream>) {
        stream.closed.store(true, Relaxed);
        if let Some(worker) = self.workers.get(stream.worker) {
            worker.load.fetch_sub(1, Relaxed);
            worker.send(Command::Remove(Arc::clone(stream)));
        }
    }

    /// A pair bound on `ip`: one bound ahead of need, or else one bound now. When the pool
    /// is empty, the pairs waiting on other addresses go back to it first.
    fn pair(&self, ip: IpAddr) -> Result<BoundPair, RelayError> {
        if let Some(pair) = self.spares.take(ip) {
            return Ok(pair);
        }
        let (ports, recv_buffer) = (self.config.ports, self.config.recv_buffer);
        match bind_pair(&self.pool, ports, recv_buffer, ip) {
            Err(RelayError::PortsExhausted { .. }) => {
                self.spares.release();
                bind_pair(&self.pool, ports, recv_buffer, ip)
            }
            bound => bound,
        }
    }

    /// A new offer/answer for one leg of one stream: its SDP address, RTCP and rtcp-mux,
    /// clock rate and signaling source. Re-arms the leg's latch (a re-INVITE that
    /// re-targets the far end, a NAT binding that changed, a hold or a resume).
    pub fn set_remote(
        &self,
        id: SessionId,
        leg: Leg,
        stream: usize,
        remote: Remote,
    ) -> Result<(), RelayError> {
        let stream = self.stream(id, stream)?;
        let clock_rate = if remote.clock_rate == 0 {
            8000
        } else {
            remote.clock_rate
        };
        stream.counters[leg.index()]
            .clock_rate
            .store(clock_rate, Relaxed);
        let mut state = stream.lock();
        let leg_state = &mut state.legs[leg.index()];
        leg_state.clock_rate = clock_rate;
        leg_state.latch.reset(remote);
        Ok(())
    }

    /// Tells the relay a leg is on hold (or resumed): held sessions get the longer media
    /// timeout. Ports and sockets stay as they are.
    pub fn set_hold(&self, id: SessionId, leg: Leg, on_hold: bool) -> Result<(), RelayError> {
        let entry = self.entry(id)?;
        if entry.hold[leg.index()].swap(on_hold, Relaxed) != on_hold {
            entry.since.store(self.nanos(Instant::now()), Relaxed);
        }
        Ok(())
    }

    /// Starts the session's idle clock again now: media timeouts count from here if no
    /// packet is later. Called when the call is answered, so that ringing time (often
    /// without media) is not counted against it.
    pub fn restart_idle(&self, id: SessionId) -> Result<(), RelayError> {
        let entry = self.entry(id)?;
        entry.since.store(self.nanos(Instant::now()), Relaxed);
        Ok(())
    }

    /// Deletes a session: relaying stops at once, and the ports return to the pool as
    /// soon as the worker has let go of the sockets. Returns the final counters.
    pub fn delete_session(&self, id: SessionId) -> Result<SessionStats, RelayError> {
        let (_, entry) = self.sessions.remove(&id).ok_or(RelayError::NoSession(id))?;
        let streams = std::mem::take(&mut *entry.streams());
        for stream in &streams {
            self.detach(stream);
        }
        Ok(self.collect(&streams))
    }

    fn collect(&self, streams: &[Arc<MediaStream>]) -> SessionStats {
        SessionStats {
            streams: streams
                .iter()
                .map(|s| StreamStats {
                    legs: [
                        s.counters[0].snapshot(self.epoch),
                        s.counters[1].snapshot(self.epoch),
                    ],
                })
                .collect(),
        }
    }

    /// The counters of a session, read from atomics: the packet path is not stopped.
    pub fn stats(&self, id: SessionId) -> Option<SessionStats> {
        let entry = self.entry(id).ok()?;
        let streams = entry.streams();
        Some(self.collect(&streams))
    }

    /// What a leg of a stream is latched to (taken under the stream's lock).
    pub fn latch(&self, id: SessionId, leg: Leg, stream: usize) -> Option<LatchState> {
        let stream = self.stream(id, stream).ok()?;
        let state = stream.lock();
        let latch = &state.legs[leg.index()].latch;
        Some(LatchState {
            rtp: latch.latched(Component::Rtp),
            rtcp: latch.latched(Component::Rtcp),
            ssrc: latch.ssrc(),
        })
    }

    /// The relay's ports of a session's streams.
    pub fn local_ports(&self, id: SessionId) -> Option<Vec<StreamPorts>> {
        let entry = self.entry(id).ok()?;
        let streams = entry.streams();
        let ports = streams
            .iter()
            .filter_map(|s| {
                let a = (
                    s.sockets[0].local_addr().ok()?,
                    s.sockets[1].local_addr().ok()?,
                );
                let b = (
                    s.sockets[2].local_addr().ok()?,
                    s.sockets[3].local_addr().ok()?,
                );
                Some(StreamPorts {
                    legs: [
                        LocalPorts {
                            rtp: a.0,
                            rtcp: a.1,
                        },
                        LocalPorts {
                            rtp: b.0,
                            rtcp: b.1,
                        },
                    ],
                })
            })
            .collect();
        Some(ports)
    }

    /// Sessions where one leg has sent no accepted packet, on any stream, for longer than
    /// `timeout`, or `hold_timeout` when a leg is on hold. The caller ends them (BYE on
    /// both legs) and deletes them; they are reported until then.
    ///
    /// Each leg is judged on its own: a phone that vanished without a BYE (crashed,
    /// lost its network) goes silent while the other side goes on talking into the void,
    /// and that call must end too. A held call may be silent on both legs, hence its
    /// longer timeout.
    pub fn media_timeouts(
        &self,
        now: Instant,
        timeout: Duration,
        hold_timeout: Duration,
    ) -> Vec<MediaTimeout> {
        let now_nanos = self.nanos(now);
        let mut out = Vec::new();
        for item in &self.sessions {
            let entry = item.value();
            let streams = entry.streams();
            let since = entry.since.load(Relaxed);
            let heard_from = |leg: usize| {
                streams
                    .iter()
                    .filter_map(|s| s.counters[leg].last_packet_nanos())
                    .fold(since, u64::max)
            };
            let last = heard_from(0).min(heard_from(1));
            let on_hold = entry.hold.iter().any(|h| h.load(Relaxed));
            let limit = if on_hold { hold_timeout } else { timeout };
            let idle = Duration::from_nanos(now_nanos.saturating_sub(last));
            if idle > limit {
                out.push(MediaTimeout {
                    session: *item.key(),
                    idle,
                    on_hold,
                });
            }
        }
        out.sort_by_key(|t| t.session);
        out
    }

    /// Ids of the live sessions.
    pub fn sessions(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self.sessions.iter().map(|e| *e.key()).collect();
        ids.sort();
        ids
    }

    /// Port pairs free for allocation (pairs bound ahead of need are in use).
    pub fn free_port_pairs(&self) -> usize {
        self.pool.free_pairs()
    }

    /// Port pairs in the configured range.
    pub fn total_port_pairs(&self) -> usize {
        self.pool.total_pairs()
    }

    /// Stops the worker threads (also done on drop).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.spares.stop();
        for worker in &mut self.workers {
            worker.stop();
        }
    }
}

/// Takes free pairs from `pool` until one binds on `ip` (a port may be held by another
/// program).
fn bind_pair(
    pool: &PortPool,
    range: PortRange,
    recv_buffer: Option<usize>,
    ip: IpAddr,
) -> Result<BoundPair, RelayError> {
    const ATTEMPTS: usize = 32;
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let lease = pool.allocate()?;
        let rtp = SocketAddr::new(ip, lease.rtp());
        let rtcp = SocketAddr::new(ip, lease.rtcp());
        match (bind(rtp, recv_buffer), bind(rtcp, recv_buffer)) {
            (Ok(a), Ok(b)) => return Ok((lease, [a, b])),
            (Err(e), _) | (_, Err(e)) => {
                let addr = e.0;
                if e.1.kind() != io::ErrorKind::AddrInUse {
                    return Err(RelayError::Socket { addr, source: e.1 });
                }
                // Dropping the lease puts the pair at the back of the queue.
                last = Some(RelayError::Socket { addr, source: e.1 });
            }
        }
    }
    Err(last.unwrap_or(RelayError::PortsExhausted { range }))
}

fn bind(
    addr: SocketAddr,
    recv_buffer: Option<usize>,
) -> Result<UdpSocket, (SocketAddr, io::Error)> {
    let open = || -> io::Result<UdpSocket> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        Ok(socket.into())
    };
    open().map_err(|e| (addr, e))
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}
