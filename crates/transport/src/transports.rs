//! The handle the application holds: binding, sending, looking up flows, shutting down.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use bytes::Bytes;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use palisade_sip::ParseLimits;
use rustls::pki_types::ServerName;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::{Admission, AdmitAll};
use crate::limits::TransportLimits;
use crate::stats::TransportStats;
use crate::stream::{self, ConnCtx};
use crate::tls::{self, TlsError, TlsSettings};
use crate::types::{Flow, FlowId, ListenSpec, Protocol, SendOptions, Side, Target, TransportEvent};
use crate::udp;
use crate::udp_sender::{Datagram, Outlet, SendBatch, UdpSender};
use crate::via;

/// A socket or listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{protocol:?} {addr}: {source}")]
    Io {
        protocol: Protocol,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("more than 65535 UDP sockets")]
    TooManyUdpSockets,
    #[error("Transports::bind must be called from within a Tokio runtime")]
    NoRuntime,
    #[error("could not start the UDP sending thread: {0}")]
    Thread(io::Error),
}

/// A message could not be handed to the network.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The flow is unknown, or its connection has closed. The caller decides what follows
    /// (for a request: a new connection with `Target::Addr`; for a response: RFC 3261
    /// §18.2.2 fallbacks).
    #[error("flow closed or unknown")]
    FlowClosed,
    /// No socket of that side and protocol (and address family, for UDP).
    #[error("no {protocol:?} transport on the {side:?} side for {addr}")]
    NoTransport {
        side: Side,
        protocol: Protocol,
        addr: SocketAddr,
    },
    /// The connection's write queue was full: the peer does not read. The connection has
    /// been closed.
    #[error("write queue full; connection closed")]
    QueueFull,
    /// `tls_name` is not a valid DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    InvalidTlsName(String),
    /// The UDP send queue is full (`TransportLimits::udp_send_queue`): the datagram was
    /// dropped, as a full socket buffer would drop it (UDP sends never wait).
    #[error("UDP send queue full")]
    UdpQueueFull,
    #[error("transport shut down")]
    ShutDown,
}

/// One bound UDP socket.
#[derive(Debug)]
pub(crate) struct UdpEndpoint {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) side: Side,
    pub(crate) local: SocketAddr,
}

/// An open (or opening) connection, as `send` sees it.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) flow: Flow,
    pub(crate) tx: mpsc::Sender<Bytes>,
    pub(crate) cancel: CancellationToken,
}

/// State shared by the handle and every task.
pub(crate) struct Inner {
    pub(crate) udp: Vec<UdpEndpoint>,
    /// Bound TCP and TLS listeners.
    pub(crate) listeners: Vec<ListenSpec>,
    pub(crate) conns: DashMap<u64, ConnEntry>,
    /// Open connections by (side, protocol, remote address), for reuse by `send`.
    pub(crate) by_addr: DashMap<(Side, Protocol, SocketAddr), u64>,
    /// Accepted connections per source address.
    pub(crate) per_source: DashMap<IpAddr, usize>,
    /// Accepted connections open now.
    pub(crate) inbound: AtomicUsize,
    pub(crate) next_id: AtomicU64,
    pub(crate) events: mpsc::Sender<TransportEvent>,
    pub(crate) limits: TransportLimits,
    pub(crate) parse_limits: ParseLimits,
    pub(crate) acceptor: Option<TlsAcceptor>,
    pub(crate) connector: TlsConnector,
    pub(crate) stats: Arc<TransportStats>,
    /// Asked about every access-side datagram and accepted connection.
    pub(crate) admission: Arc<dyn Admission>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    /// Time origin of the connections' activity clocks.
    pub(crate) epoch: Instant,
    /// The thread that sends datagrams for every UDP socket.
    pub(crate) udp_sender: Arc<UdpSender>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.udp_sender.close();
    }
}

/// What became of an event offered without waiting.
pub(crate) enum Offer {
    Sent,
    Dropped,
    Closed,
}

impl Inner {
    /// Offers an event without waiting; a full channel drops it (and counts the drop).
    pub(crate) fn offer(&self, event: TransportEvent) -> Offer {
        match self.events.try_send(event) {
            Ok(()) => Offer::Sent,
            Err(TrySendError::Full(_)) => {
                TransportStats::bump(&self.stats.dropped_channel_full);
                Offer::Dropped
            }
            Err(TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    /// Delivers an event, waiting for room unless the transport shuts down. `false` when
    /// the application is gone or the transport is shutting down.
    pub(crate) async fn deliver(&self, event: TransportEvent) -> bool {
        tokio::select! {
            biased;
            r = self.events.send(event) => r.is_ok(),
            () = self.cancel.cancelled() => false,
        }
    }

    /// Admits an accepted connection from `ip` if the limits allow it.
    pub(crate) fn admit(&self, ip: IpAddr) -> bool {
        if self.inbound.fetch_add(1, Relaxed) >= self.limits.max_connections {
            self.inbound.fetch_sub(1, Relaxed);
            return false;
        }
        let mut count = self.per_source.entry(ip).or_insert(0);
        if *count >= self.limits.max_connections_per_source {
            drop(count);
            self.per_source.remove_if(&ip, |_, c| *c == 0);
            self.inbound.fetch_sub(1, Relaxed);
            return false;
        }
        *count += 1;
        true
    }

    /// Enters a new connection in the table. `inbound` is the source of an admitted
    /// accepted connection, whose limit slot the returned context frees when dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        side: Side,
        protocol: Protocol,
        local: SocketAddr,
        remote: SocketAddr,
        inbound: Option<IpAddr>,
    ) -> (ConnCtx, mpsc::Sender<Bytes>) {
        let id = self.next_id.fetch_add(1, Relaxed);
        let (tx, rx) = mpsc::channel(self.limits.write_queue.max(1));
        let cancel = self.cancel.child_token();
        let flow = Flow {
            id: FlowId::Conn(id),
            side,
            protocol,
            local,
            remote,
        };
        self.conns.insert(
            id,
            ConnEntry {
                flow,
                tx: tx.clone(),
                cancel: cancel.clone(),
            },
        );
        self.stats.connections_open.fetch_add(1, Relaxed);
        let ctx = ConnCtx::new(self.clone(), flow, rx, tx.clone(), cancel, inbound);
        (ctx, tx)
    }

    /// Removes a connection from the tables and frees its limit slot.
    pub(crate) fn unregister(&self, flow: &Flow, inbound: Option<IpAddr>) {
        let FlowId::Conn(id) = flow.id else { return };
        if let Some((_, entry)) = self.conns.remove(&id) {
            entry.cancel.cancel();
            self.stats.connections_open.fetch_sub(1, Relaxed);
        }
        self.by_addr
            .remove_if(&(flow.side, flow.protocol, flow.remote), |_, v| *v == id);
        if let Some(ip) = inbound {
            if let Some(mut c) = self.per_source.get_mut(&ip) {
                *c = c.saturating_sub(1);
            }
            self.per_source.remove_if(&ip, |_, c| *c == 0);
            self.inbound.fetch_sub(1, Relaxed);
        }
    }

    /// Records the local address of an outgoing connection once it is known.
    pub(crate) fn set_local(&self, id: u64, local: SocketAddr) {
        if let Some(mut e) = self.conns.get_mut(&id) {
            e.flow.local = local;
        }
    }

    /// A local address to send from towards `remote` on `side`: the address of one of
    /// the side's stream listeners of the same family, unless it is a wildcard.
    pub(crate) fn source_ip(&self, side: Side, remote: SocketAddr) -> Option<IpAddr> {
        self.listeners
            .iter()
            .filter(|l| l.side == side && l.addr.is_ipv4() == remote.is_ipv4())
            .map(|l| l.addr.ip())
            .find(|ip| !ip.is_unspecified())
    }
}

/// The transports of one Palisade instance: a cheap, cloneable handle.
///
/// Sending never waits: [`Transports::send`] hands a datagram to the kernel or queues
/// bytes for a connection's writer task, and returns. Outcomes that come later (a
/// connection that fails to open, or closes) arrive as [`TransportEvent::FlowClosed`] for
/// the [`FlowId`] that `send` returned.
#[derive(Clone)]
pub struct Transports {
    inner: Arc<Inner>,
}

impl fmt::Debug for Transports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transports")
            .field("listening", &self.listening())
            .field("connections", &self.inner.conns.len())
            .finish()
    }
}

impl Transports {
    /// Opens every socket in `specs` and starts reading from them. Must be called from
    /// within a Tokio runtime. Events arrive on the returned channel, whose capacity is
    /// `limits.channel_capacity`.
    pub fn bind(
        specs: &[ListenSpec],
        tls: TlsSettings,
        limits: TransportLimits,
    ) -> Result<(Transports, mpsc::Receiver<TransportEvent>), BindError> {
        Self::bind_with(specs, tls, limits, Arc::new(AdmitAll))
    }

    /// As [`Transports::bind`], with an admission check for the access side: datagrams
    /// it refuses are dropped before parsing, connections it refuses are reset at once,
    /// and a TLS connection it refuses a handshake is reset before the handshake.
    pub fn bind_with(
        specs: &[ListenSpec],
        tls: TlsSettings,
        limits: TransportLimits,
        admission: Arc<dyn Admission>,
    ) -> Result<(Transports, mpsc::Receiver<TransportEvent>), BindError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BindError::NoRuntime);
        }
        let acceptor = match (
            &tls.server,
            specs.iter().any(|s| s.protocol == Protocol::Tls),
        ) {
            (Some(files), true) => Some(TlsAcceptor::from(Arc::new(tls::server_config(files)?))),
            (None, true) => return Err(TlsError::NoServerCertificate.into()),
            (_, false) => None,
        };
        let connector = TlsConnector::from(Arc::new(tls::client_config(&tls.client)?));

        let mut udp_sockets = Vec::new();
        let mut tcp_listeners = Vec::new();
        for spec in specs {
            let io_err = |source| BindError::Io {
                protocol: spec.protocol,
                addr: spec.addr,
                source,
            };
            match spec.protocol {
                Protocol::Udp => {
                    let socket = udp::bind(spec.addr, &limits).map_err(io_err)?;
                    let local = socket.local_addr().map_err(io_err)?;
                    udp_sockets.push(UdpEndpoint {
                        socket: Arc::new(socket),
                        side: spec.side,
                        local,
                    });
                }
                Protocol::Tcp | Protocol::Tls => {
                    let listener = stream::listen(spec.addr, &limits).map_err(io_err)?;
                    let local = listener.local_addr().map_err(io_err)?;
                    tcp_listeners.push((
                        ListenSpec {
                            side: spec.side,
                            protocol: spec.protocol,
                            addr: local,
                        },
                        listener,
                    ));
                }
            }
        }
        if udp_sockets.len() > usize::from(u16::MAX) {
            return Err(BindError::TooManyUdpSockets);
        }

        let (events, rx) = mpsc::channel(limits.channel_capacity.max(1));
        let stats = Arc::new(TransportStats::default());
        let outlets = udp_sockets
            .iter()
            .map(|ep| Outlet {
                socket: Arc::clone(&ep.socket),
                side: ep.side,
                local: ep.local,
            })
            .collect();
        let udp_sender = UdpSender::start(
            outlets,
            limits.udp_send_queue,
            Arc::clone(&stats),
            events.clone(),
        )
        .map_err(BindError::Thread)?;
        let inner = Arc::new(Inner {
            udp: udp_sockets,
            listeners: tcp_listeners.iter().map(|(s, _)| *s).collect(),
            conns: DashMap::new(),
            by_addr: DashMap::new(),
            per_source: DashMap::new(),
            inbound: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            events,
            limits,
            parse_limits: ParseLimits {
                max_message_size: limits.max_message_size,
                ..ParseLimits::default()
            },
            acceptor,
            connector,
            stats,
            admission,
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            epoch: Instant::now(),
            udp_sender,
        });
        for index in 0..inner.udp.len() {
            if let Ok(index) = u16::try_from(index) {
                inner.tracker.spawn(udp::receive(inner.clone(), index));
            }
        }
        for (spec, listener) in tcp_listeners {
            inner
                .tracker
                .spawn(stream::accept(inner.clone(), listener, spec));
        }
        Ok((Transports { inner }, rx))
    }

    /// Sends `bytes` with default [`SendOptions`]; see [`Transports::send_with`].
    pub fn send(&self, target: Target, bytes: Bytes) -> Result<FlowId, SendError> {
        self.send_with(target, bytes, SendOptions::default())
    }

    /// Sends one message (or a keep-alive) without waiting, and returns the flow it went
    /// out on. For `Target::Addr` over TCP or TLS that is the connection reused or opened
    /// for it; a connection still opening queues the bytes until it is up, and if it
    /// cannot be set up a [`TransportEvent::FlowClosed`] for the returned id follows.
    ///
    /// RFC 3261 §18.1.1: a request to a `Target::Addr` over UDP that is larger than
    /// `limits.udp_mtu_allowance` goes over TCP to the same address when the side has a
    /// TCP listener, with the transport of its top Via changed to TCP; the returned
    /// [`FlowId::Conn`] shows it. `opts.udp_only` keeps it on UDP. Responses and sends to
    /// an existing UDP flow (a phone's NAT binding) never change transport.
    pub fn send_with(
        &self,
        target: Target,
        bytes: Bytes,
        opts: SendOptions,
    ) -> Result<FlowId, SendError> {
        let inner = &self.inner;
        if inner.cancel.is_cancelled() {
            return Err(SendError::ShutDown);
        }
        match target {
            Target::Flow(FlowId::Udp { socket, remote }) => {
                let ep = inner
                    .udp
                    .get(usize::from(socket))
                    .ok_or(SendError::FlowClosed)?;
                self.send_datagram(socket, ep.side, remote, bytes)?;
                Ok(FlowId::Udp { socket, remote })
            }
            Target::Flow(FlowId::Conn(id)) => {
                let (flow, tx, cancel) = inner
                    .conns
                    .get(&id)
                    .map(|e| (e.flow, e.tx.clone(), e.cancel.clone()))
                    .ok_or(SendError::FlowClosed)?;
                self.enqueue(&flow, &tx, &cancel, bytes)?;
                Ok(flow.id)
            }
            Target::Addr {
                side,
                protocol: Protocol::Udp,
                addr,
                tls_name,
            } => {
                let large = bytes.len() > inner.limits.udp_mtu_allowance;
                let tcp_here = inner
                    .listeners
                    .iter()
                    .any(|l| l.side == side && l.protocol == Protocol::Tcp);
                if large && !opts.udp_only && tcp_here && via::looks_like_request(&bytes) {
                    let bytes =
                        via::with_via_transport(&bytes, Protocol::Tcp.via_token()).unwrap_or(bytes);
                    return self.send_stream(side, Protocol::Tcp, addr, tls_name, bytes);
                }
                let socket = inner
                    .udp
                    .iter()
                    .position(|ep| ep.side == side && ep.local.is_ipv4() == addr.is_ipv4())
                    .ok_or(SendError::NoTransport {
                        side,
                        protocol: Protocol::Udp,
                        addr,
                    })?;
                let socket = u16::try_from(socket).map_err(|_| SendError::FlowClosed)?;
                self.send_datagram(socket, side, addr, bytes)?;
                Ok(FlowId::Udp {
                    socket,
                    remote: addr,
                })
            }
            Target::Addr {
                side,
                protocol,
                addr,
                tls_name,
            } => self.send_stream(side, protocol, addr, tls_name, bytes),
        }
    }

    /// Queues a datagram for the sending thread (see `udp_sender`) from the socket at
    /// index `socket`, which is on `side`.
    fn send_datagram(
        &self,
        socket: u16,
        side: Side,
        to: SocketAddr,
        bytes: Bytes,
    ) -> Result<(), SendError> {
        if self
            .inner
            .udp_sender
            .push(Datagram { socket, to, bytes })
            .is_err()
        {
            TransportStats::bump(&self.inner.stats.send_errors);
            return Err(SendError::UdpQueueFull);
        }
        self.inner.stats.inc_out(side, Protocol::Udp);
        Ok(())
    }

    /// Queues bytes on a connection; a full queue closes it.
    fn enqueue(
        &self,
        flow: &Flow,
        tx: &mpsc::Sender<Bytes>,
        cancel: &CancellationToken,
        bytes: Bytes,
    ) -> Result<(), SendError> {
        match tx.try_send(bytes) {
            Ok(()) => {
                self.inner.stats.inc_out(flow.side, flow.protocol);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                TransportStats::bump(&self.inner.stats.write_queue_overflows);
                tracing::debug!(remote = %flow.remote, "write queue full, closing connection");
                cancel.cancel();
                Err(SendError::QueueFull)
            }
            Err(TrySendError::Closed(_)) => Err(SendError::FlowClosed),
        }
    }

    /// Sends over an open connection to `addr`, or opens one.
    fn send_stream(
        &self,
        side: Side,
        protocol: Protocol,
        addr: SocketAddr,
        tls_name: Option<String>,
        bytes: Bytes,
    ) -> Result<FlowId, SendError> {
        let inner = &self.inner;
        let live = |id: &u64| {
            inner
                .conns
                .get(id)
                .filter(|e| !e.cancel.is_cancelled())
                .map(|e| (e.flow, e.tx.clone(), e.cancel.clone()))
        };
        let key = (side, protocol, addr);
        if let Some(found) = inner.by_addr.get(&key).and_then(|id| live(&id)) {
            let (flow, tx, cancel) = found;
            self.enqueue(&flow, &tx, &cancel, bytes)?;
            return Ok(flow.id);
        }
        let server_name = match (protocol, tls_name) {
            (Protocol::Tls, Some(name)) => Some(
                ServerName::try_from(name.clone()).map_err(|_| SendError::InvalidTlsName(name))?,
            ),
            (Protocol::Tls, None) => Some(ServerName::IpAddress(addr.ip().into())),
            _ => None,
        };
        // Holding the entry makes concurrent sends to the same address share one new
        // connection.
        let entry = inner.by_addr.entry(key);
        if let Entry::Occupied(o) = &entry
            && let Some((flow, tx, cancel)) = live(o.get())
        {
            drop(entry);
            self.enqueue(&flow, &tx, &cancel, bytes)?;
            return Ok(flow.id);
        }
        let unspecified = match addr {
            SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
            SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
        };
        let (ctx, tx) = inner.register(side, protocol, unspecified, addr, None);
        let flow = *ctx.flow();
        let FlowId::Conn(id) = flow.id else {
            return Err(SendError::FlowClosed);
        };
        entry.insert(id);
        TransportStats::bump(&inner.stats.connections_opened);
        let cancel = ctx.cancel().clone();
        inner.tracker.spawn(stream::connect(ctx, server_name));
        self.enqueue(&flow, &tx, &cancel, bytes)?;
        Ok(flow.id)
    }

    /// The address of the first socket or listener of this side and protocol.
    pub fn local_addr(&self, side: Side, protocol: Protocol) -> Option<SocketAddr> {
        self.listening()
            .into_iter()
            .find(|s| s.side == side && s.protocol == protocol)
            .map(|s| s.addr)
    }

    /// Every socket and listener, with the addresses actually bound (ports chosen for
    /// port 0 filled in), UDP sockets first in [`FlowId::Udp`] index order.
    pub fn listening(&self) -> Vec<ListenSpec> {
        let udp = self.inner.udp.iter().map(|ep| ListenSpec {
            side: ep.side,
            protocol: Protocol::Udp,
            addr: ep.local,
        });
        udp.chain(self.inner.listeners.iter().copied()).collect()
    }

    /// What is known about a flow: for a connection while it is open; for UDP whenever
    /// its socket index is valid.
    pub fn flow(&self, id: FlowId) -> Option<Flow> {
        match id {
            FlowId::Udp { socket, remote } => {
                self.inner.udp.get(usize::from(socket)).map(|ep| Flow {
                    id,
                    side: ep.side,
                    protocol: Protocol::Udp,
                    local: ep.local,
                    remote,
                })
            }
            FlowId::Conn(c) => self.inner.conns.get(&c).map(|e| e.flow),
        }
    }

    /// Closes a connection (a banned source, for instance). A
    /// [`TransportEvent::FlowClosed`] follows. Returns whether it was open.
    pub fn close(&self, id: FlowId) -> bool {
        let FlowId::Conn(c) = id else { return false };
        match self.inner.conns.get(&c) {
            Some(e) => {
                e.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// The counters, shared: keep the `Arc` to read them later.
    pub fn stats(&self) -> Arc<TransportStats> {
        self.inner.stats.clone()
    }

    /// Stops accepting and reading, closes every connection and waits until every task
    /// has ended. TCP and TLS ports are free when it returns; UDP sockets close when the
    /// last clone of this handle is dropped. Sends fail from now on.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        self.inner.udp_sender.close();
    }

    /// Starts a batch of sends: UDP datagrams sent while it (or any other batch) is alive
    /// go to the sending thread in one wake-up when the last batch ends, not one each.
    /// Datagrams are not held back while that thread is busy anyway.
    pub fn batch(&self) -> SendBatch {
        self.inner.udp_sender.hold()
    }
}
