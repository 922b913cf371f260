//! TCP and TLS: listeners, outgoing connections, and the reader and writer tasks of each
//! connection.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use palisade_sip::framing::{Frame, StreamFramer};
use rustls::pki_types::ServerName;
use socket2::{Domain, SockRef, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::limits::TransportLimits;
use crate::stats::TransportStats;
use crate::transports::Inner;
use crate::types::{Flow, FlowId, ListenSpec, Protocol, Side, TransportEvent};

/// Bytes read from a connection at a time. Small, because it lives in every connection's
/// task: a message larger than this is assembled by the framer.
const READ_CHUNK: usize = 4096;

/// How long a closing connection may take to flush a FIN or a TLS close_notify.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Opens a TCP listener (also used for TLS).
pub(crate) fn listen(addr: SocketAddr, limits: &TransportLimits) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(limits.listen_backlog)?;
    TcpListener::from_std(socket.into())
}

/// Opens a TCP connection from `source` (any port), or from whatever address the kernel
/// picks.
async fn tcp_connect(remote: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(remote),
        Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    if let Some(ip) = source {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    TcpSocket::from_std_stream(socket.into())
        .connect(remote)
        .await
}

/// A connection's share of the transport: its flow, its queue, its cancellation, and
/// its place in the tables, which it gives back when dropped.
pub(crate) struct ConnCtx {
    inner: Arc<Inner>,
    flow: Flow,
    rx: Option<mpsc::Receiver<Bytes>>,
    /// For pongs, which the reader queues like any other write.
    tx: mpsc::Sender<Bytes>,
    cancel: CancellationToken,
    /// Source address of an accepted connection, whose limit slot this holds.
    inbound: Option<IpAddr>,
    /// Milliseconds since `inner.epoch` of the last byte read or written.
    activity: Arc<AtomicU64>,
}

impl ConnCtx {
    pub(crate) fn new(
        inner: Arc<Inner>,
        flow: Flow,
        rx: mpsc::Receiver<Bytes>,
        tx: mpsc::Sender<Bytes>,
        cancel: CancellationToken,
        inbound: Option<IpAddr>,
    ) -> Self {
        let activity = Arc::new(AtomicU64::new(0));
        touch(&activity, inner.epoch);
        Self {
            inner,
            flow,
            rx: Some(rx),
            tx,
            cancel,
            inbound,
            activity,
        }
    }

    pub(crate) fn flow(&self) -> &Flow {
        &self.flow
    }

    pub(crate) fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    fn last_activity(&self) -> Instant {
        self.inner.epoch + Duration::from_millis(self.activity.load(Relaxed))
    }

    /// Leaves the tables, then reports the closed flow: a send after the event fails.
    async fn close(self) {
        let inner = self.inner.clone();
        let flow = self.flow;
        drop(self);
        if inner.cancel.is_cancelled() {
            let _ = inner.offer(TransportEvent::FlowClosed(flow));
        } else {
            inner.deliver(TransportEvent::FlowClosed(flow)).await;
        }
    }
}

impl Drop for ConnCtx {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.inner.unregister(&self.flow, self.inbound);
    }
}

fn touch(activity: &AtomicU64, epoch: Instant) {
    let ms = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
    activity.store(ms, Relaxed);
}

/// Accepts connections until shutdown, admitting those within the limits.
pub(crate) async fn accept(inner: Arc<Inner>, listener: TcpListener, spec: ListenSpec) {
    loop {
        let (stream, remote) = tokio::select! {
            biased;
            () = inner.cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    // Out of file descriptors, typically: back off instead of spinning.
                    tracing::warn!(local = %spec.addr, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let refused = spec.side == Side::Access
            && (!inner.admission.connection(remote)
                || (spec.protocol == Protocol::Tls && !inner.admission.tls_handshake(remote)));
        if refused || !inner.admit(remote.ip()) {
            TransportStats::bump(&inner.stats.connections_rejected);
            tracing::debug!(%remote, refused, "connection refused or limit reached, resetting");
            // A reset, so that no TIME_WAIT is left here.
            let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
            continue;
        }
        TransportStats::bump(&inner.stats.connections_accepted);
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(spec.addr);
        let (ctx, _) = inner.register(spec.side, spec.protocol, local, remote, Some(remote.ip()));
        if let FlowId::Conn(id) = ctx.flow.id {
            inner
                .by_addr
                .entry((spec.side, spec.protocol, remote))
                .or_insert(id);
        }
        inner.tracker.spawn(serve(ctx, stream));
    }
}

/// Runs an accepted connection: TLS handshake if need be, then reading and writing.
async fn serve(mut ctx: ConnCtx, stream: TcpStream) {
    let inner = ctx.inner.clone();
    let framer = StreamFramer::new(inner.parse_limits);
    match (ctx.flow.protocol, &inner.acceptor) {
        (Protocol::Tls, Some(acceptor)) => {
            let handshake =
                tokio::time::timeout(inner.limits.tls_handshake_timeout, acceptor.accept(stream));
            let tls = tokio::select! {
                biased;
                () = ctx.cancel.cancelled() => None,
                r = handshake => match r {
                    Ok(Ok(tls)) => Some(tls),
                    Ok(Err(e)) => {
                        tracing::debug!(remote = %ctx.flow.remote, error = %e, "TLS handshake failed");
                        TransportStats::bump(&inner.stats.tls_handshake_failures);
                        None
                    }
                    Err(_) => {
                        tracing::debug!(remote = %ctx.flow.remote, "TLS handshake timed out");
                        TransportStats::bump(&inner.stats.tls_handshake_failures);
                        None
                    }
                },
            };
            if let Some(tls) = tls {
                run(&mut ctx, tls, framer).await;
            }
        }
        (Protocol::Tls, None) => {}
        _ => run(&mut ctx, stream, framer).await,
    }
    ctx.close().await;
}

/// Opens an outgoing connection registered by `send`, then runs it like an accepted one.
pub(crate) async fn connect(mut ctx: ConnCtx, server_name: Option<ServerName<'static>>) {
    let inner = ctx.inner.clone();
    let remote = ctx.flow.remote;
    let source = inner.source_ip(ctx.flow.side, remote);
    let attempt = tokio::time::timeout(inner.limits.connect_timeout, tcp_connect(remote, source));
    let stream = tokio::select! {
        biased;
        () = ctx.cancel.cancelled() => None,
        r = attempt => match r {
            Ok(Ok(s)) => Some(s),
            Ok(Err(e)) => {
                tracing::debug!(%remote, error = %e, "connect failed");
                None
            }
            Err(_) => {
                tracing::debug!(%remote, "connect timed out");
                None
            }
        },
    };
    let Some(stream) = stream else {
        TransportStats::bump(&inner.stats.connect_failures);
        return ctx.close().await;
    };
    if let (Ok(local), FlowId::Conn(id)) = (stream.local_addr(), ctx.flow.id) {
        ctx.flow.local = local;
        inner.set_local(id, local);
    }
    // This end may send pings, so a lone CRLF is a pong at once.
    let framer = StreamFramer::new(inner.parse_limits).expect_pongs();
    match server_name {
        Some(name) => {
            let handshake = tokio::time::timeout(
                inner.limits.tls_handshake_timeout,
                inner.connector.connect(name, stream),
            );
            let tls = tokio::select! {
                biased;
                () = ctx.cancel.cancelled() => None,
                r = handshake => match r {
                    Ok(Ok(tls)) => Some(tls),
                    Ok(Err(e)) => {
                        tracing::debug!(%remote, error = %e, "TLS handshake failed");
                        None
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "TLS handshake timed out");
                        None
                    }
                },
            };
            match tls {
                Some(tls) => run(&mut ctx, tls, framer).await,
                None => TransportStats::bump(&inner.stats.tls_handshake_failures),
            }
        }
        None => run(&mut ctx, stream, framer).await,
    }
    ctx.close().await;
}

/// Reads and writes a connection until either side ends it.
async fn run<S>(ctx: &mut ConnCtx, stream: S, framer: StreamFramer)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Some(rx) = ctx.rx.take() else { return };
    let (rd, wr) = tokio::io::split(stream);
    let writer = ctx.inner.tracker.spawn(write_loop(
        wr,
        rx,
        ctx.cancel.clone(),
        ctx.activity.clone(),
        ctx.inner.epoch,
    ));
    read_loop(ctx, rd, framer).await;
    ctx.cancel.cancel();
    let _ = writer.await;
}

/// Why reading stopped, for the log.
#[derive(Debug)]
enum Stop {
    Cancelled,
    PeerClosed,
    Io,
    SlowMessage,
    Idle,
    Framing,
    QueueFull,
    AppGone,
}

async fn read_loop<R: AsyncRead + Unpin>(ctx: &ConnCtx, rd: R, framer: StreamFramer) {
    let stop = read_frames(ctx, rd, framer).await;
    tracing::debug!(remote = %ctx.flow.remote, ?stop, "connection closing");
}

async fn read_frames<R: AsyncRead + Unpin>(
    ctx: &ConnCtx,
    mut rd: R,
    mut framer: StreamFramer,
) -> Stop {
    let inner = &ctx.inner;
    let limits = &inner.limits;
    let flow = ctx.flow;
    let mut buf = [0u8; READ_CHUNK];
    // When the first byte of the message still incomplete in the framer arrived. An
    // accepted connection starts its clock at once: a peer that connects and sends
    // nothing gets no longer than one that sends slowly.
    let mut started: Option<Instant> = ctx.inbound.map(|_| Instant::now());
    loop {
        let idle_at = ctx.last_activity() + limits.idle_timeout;
        let deadline = started.map_or(idle_at, |s| idle_at.min(s + limits.message_timeout));
        let read = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return Stop::Cancelled,
            r = tokio::time::timeout_at(deadline.into(), rd.read(&mut buf)) => r,
        };
        let n = match read {
            Ok(Ok(0)) => return Stop::PeerClosed,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::debug!(remote = %flow.remote, error = %e, "read failed");
                return Stop::Io;
            }
            Err(_) => {
                let now = Instant::now();
                if started.is_some_and(|s| now >= s + limits.message_timeout) {
                    TransportStats::bump(&inner.stats.connections_timed_out);
                    return Stop::SlowMessage;
                }
                // Writes may have kept the connection alive meanwhile.
                if now >= ctx.last_activity() + limits.idle_timeout {
                    TransportStats::bump(&inner.stats.connections_timed_out);
                    return Stop::Idle;
                }
                continue;
            }
        };
        touch(&ctx.activity, inner.epoch);
        let now = Instant::now();
        let mut framed = false;
        let mut failed = framer.push(&buf[..n]).err();
        while failed.is_none() {
            let frame = match framer.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            framed = true;
            match frame {
                Frame::Message(message) => {
                    inner.stats.inc_in(flow.side, flow.protocol);
                    let event = TransportEvent::Message {
                        flow,
                        message,
                        at: now,
                    };
                    if !inner.deliver(event).await {
                        return Stop::AppGone;
                    }
                }
                Frame::Ping => {
                    if ctx.tx.try_send(Bytes::from_static(b"\r\n")).is_err() {
                        TransportStats::bump(&inner.stats.write_queue_overflows);
                        return Stop::QueueFull;
                    }
                    TransportStats::bump(&inner.stats.keepalives);
                    let _ = inner.offer(TransportEvent::KeepAlive(flow));
                }
                Frame::Pong => {
                    TransportStats::bump(&inner.stats.keepalives);
                    let _ = inner.offer(TransportEvent::KeepAlive(flow));
                }
            }
        }
        if let Some(error) = failed {
            TransportStats::bump(&inner.stats.malformed);
            let event = TransportEvent::Malformed {
                flow,
                error,
                bytes: Bytes::new(),
            };
            inner.deliver(event).await;
            return Stop::Framing;
        }
        // After a message, the clock of the next one starts now rather than when its first
        // bytes arrived: time spent waiting for room in the event channel is not the peer's.
        started = match (framer.buffered(), framed) {
            (0, _) => None,
            (_, true) => Some(Instant::now()),
            (_, false) => started.or(Some(now)),
        };
    }
}

/// Writes queued bytes, several per flush when they are waiting.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Bytes>,
    cancel: CancellationToken,
    activity: Arc<AtomicU64>,
    epoch: Instant,
) {
    loop {
        let first = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            m = rx.recv() => match m {
                Some(b) => b,
                None => break,
            },
        };
        let write = async {
            wr.write_all(&first).await?;
            while let Ok(more) = rx.try_recv() {
                wr.write_all(&more).await?;
            }
            wr.flush().await
        };
        let ok = tokio::select! {
            biased;
            () = cancel.cancelled() => false,
            r = write => r.is_ok(),
        };
        if !ok {
            break;
        }
        touch(&activity, epoch);
    }
    cancel.cancel();
    let _ = tokio::time::timeout(CLOSE_GRACE, wr.shutdown()).await;
}
