//! The running SBC: the transports feed the B2BUA, whose output goes back to the
//! transports, on one task. The B2BUA is sans-IO, so this loop is all the glue there is:
//! events in, the clock, messages out. The B2BUA's events feed the logs, the metrics and
//! the call records ([`Observer`]); the admin API asks the loop through a channel.

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime};

use palisade_b2bua::{
    B2bua, B2buaConfig, Destination, Event, Inbound, MediaControl, MediaError, MediaRemote,
    SideAddrs, Source, Transmit, Upstream,
};
use palisade_config::{Config, UpstreamHost};
use palisade_fraud::Fraud;
use palisade_guard::Guard;
use palisade_media::{
    Leg, PortRange, Relay, RelayConfig, RelayError, Remote, SessionId, SessionSpec, SessionStats,
};
use palisade_sip::Side;
use palisade_transport::{
    CertificateFiles, FlowId, ListenSpec, Target, TlsClientSettings, TlsSettings, TransportEvent,
    TransportLimits, Transports,
};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::admin::{self, Admin, Command, DrainView, RegistrationView, Status};
use crate::book::CallBook;
use crate::logging::LogLevel;
use crate::metrics::{
    GuardSource, MediaSource, MediaTotals, MemorySource, Metrics, TransportSource,
};
use crate::records::Records;
use crate::reload::{self, ReloadView};

/// Admin requests waiting for the loop; more wait in their HTTP handlers.
const COMMAND_QUEUE: usize = 16;

use crate::protection::{self, GuardAdmission};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error(transparent)]
    Bind(#[from] palisade_transport::BindError),
    #[error("cannot resolve upstream {0}")]
    Resolve(String),
    #[error("cannot read random seed: {0}")]
    Seed(std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Media(#[from] RelayError),
    #[error("cannot listen on admin.listen {0}: {1}")]
    Admin(SocketAddr, std::io::Error),
    #[error("cannot open records.path {0}: {1}")]
    Records(std::path::PathBuf, std::io::Error),
    #[error("cannot register the metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// The media relay as the B2BUA sees it: call ids mapped to relay sessions.
#[derive(Debug)]
pub(crate) struct RelayMedia {
    relay: Arc<Relay>,
    sessions: HashMap<u64, SessionId>,
    calls: HashMap<SessionId, u64>,
    /// The final counters of sessions just closed, until their call's record takes them
    /// (the B2BUA closes the media and reports the call's end in the same step).
    closed: HashMap<u64, SessionStats>,
    totals: Arc<MediaTotals>,
    /// `media.anchor`: without it, SDP crosses unchanged and nothing is opened here.
    anchor: bool,
}

impl RelayMedia {
    pub(crate) fn new(relay: Arc<Relay>, totals: Arc<MediaTotals>, anchor: bool) -> Self {
        Self {
            relay,
            sessions: HashMap::new(),
            calls: HashMap::new(),
            closed: HashMap::new(),
            totals,
            anchor,
        }
    }

    fn leg(leg: usize) -> Leg {
        if leg == 0 { Leg::A } else { Leg::B }
    }

    /// Calls whose media has been idle past their timeout.
    fn timed_out(&self, now: Instant, timeout: Duration, hold_timeout: Duration) -> Vec<u64> {
        self.relay
            .media_timeouts(now, timeout, hold_timeout)
            .into_iter()
            .filter_map(|t| self.calls.get(&t.session).copied())
            .collect()
    }
}

fn media_error(e: RelayError) -> MediaError {
    match e {
        RelayError::PortsExhausted { .. } => MediaError::Exhausted,
        other => {
            tracing::warn!(error = %other, "media relay");
            MediaError::Failed
        }
    }
}

impl MediaControl for RelayMedia {
    fn enabled(&self) -> bool {
        self.anchor
    }

    fn open(
        &mut self,
        call: u64,
        streams: usize,
        local: [IpAddr; 2],
    ) -> Result<Vec<[SocketAddr; 2]>, MediaError> {
        let mut spec = SessionSpec::new(local[0], streams);
        spec.local = local;
        let session = self.relay.create_session(&spec).map_err(media_error)?;
        self.sessions.insert(call, session.id);
        self.calls.insert(session.id, call);
        Ok(session
            .streams
            .iter()
            .map(|s| [s.leg(Leg::A).rtp, s.leg(Leg::B).rtp])
            .collect())
    }

    fn add_stream(&mut self, call: u64) -> Result<[SocketAddr; 2], MediaError> {
        let id = self.sessions.get(&call).ok_or(MediaError::Failed)?;
        let (_, s) = self.relay.add_stream(*id).map_err(media_error)?;
        Ok([s.leg(Leg::A).rtp, s.leg(Leg::B).rtp])
    }

    fn remote(&mut self, call: u64, leg: usize, stream: usize, remote: MediaRemote) {
        let Some(id) = self.sessions.get(&call) else {
            return;
        };
        let mut r = Remote::new(remote.rtp)
            .with_signaling_source(remote.signaling_source)
            .with_rtcp_mux(remote.rtcp_mux)
            .with_clock_rate(remote.clock_rate);
        r.rtcp = remote.rtcp;
        if let Err(e) = self.relay.set_remote(*id, Self::leg(leg), stream, r) {
            tracing::debug!(error = %e, call, "media remote");
        }
    }

    fn hold(&mut self, call: u64, leg: usize, on_hold: bool) {
        if let Some(id) = self.sessions.get(&call)
            && let Err(e) = self.relay.set_hold(*id, Self::leg(leg), on_hold)
        {
            tracing::debug!(error = %e, call, "media hold");
        }
    }

    fn answered(&mut self, call: u64) {
        if let Some(id) = self.sessions.get(&call)
            && let Err(e) = self.relay.restart_idle(*id)
        {
            tracing::debug!(error = %e, call, "media answered");
        }
    }

    fn close(&mut self, call: u64) {
        let Some(id) = self.sessions.remove(&call) else {
            return;
        };
        self.calls.remove(&id);
        match self.relay.delete_session(id) {
            Ok(stats) => {
                let (mut packets, mut lost) = (0u64, 0u64);
                for leg in stats.streams.iter().flat_map(|s| s.legs.iter()) {
                    packets += leg.rtp_packets;
                    lost += leg.packets_lost;
                }
                tracing::info!(call, session = %id, packets, lost, "media session closed");
                tracing::debug!(call, session = %id, ?stats, "media counters");
                self.totals.add_closed(&stats);
                self.closed.insert(call, stats);
            }
            Err(e) => tracing::debug!(error = %e, call, "media close"),
        }
    }
}

fn relay_config(config: &Config) -> RelayConfig {
    RelayConfig {
        ports: PortRange::new(config.media.ports.low, config.media.ports.high),
        spare_pairs: config.media.spare_pairs as usize,
        ..RelayConfig::default()
    }
}

fn listen_specs(config: &Config) -> Vec<ListenSpec> {
    let side = |side, list: &[palisade_config::Listen]| {
        list.iter()
            .map(move |l| ListenSpec {
                side,
                protocol: l.transport,
                addr: l.addr,
            })
            .collect::<Vec<_>>()
    };
    let mut v = side(Side::Access, &config.access.listen);
    v.extend(side(Side::Core, &config.core.listen));
    v
}

fn tls_settings(config: &Config) -> TlsSettings {
    let files = config.access.tls.as_ref().or(config.core.tls.as_ref());
    TlsSettings {
        server: files.map(|f| CertificateFiles {
            cert_chain: f.cert.clone(),
            private_key: f.key.clone(),
        }),
        client: TlsClientSettings {
            ca_file: config.core.upstream_ca.clone(),
            ..TlsClientSettings::default()
        },
    }
}

fn transport_limits(config: &Config) -> TransportLimits {
    let tcp = &config.transport.tcp;
    TransportLimits {
        max_message_size: config.sip.limits.max_stream_message_size,
        max_connections: tcp.max_connections as usize,
        max_connections_per_source: tcp.max_connections_per_source as usize,
        idle_timeout: tcp.idle_timeout,
        message_timeout: tcp.message_timeout,
        tls_handshake_timeout: tcp.tls_handshake_timeout,
        udp_mtu_allowance: config.sip.udp_mtu_allowance,
        channel_capacity: config.transport.event_queue,
        write_queue: tcp.write_queue as usize,
        udp_socket_buffer: config.transport.udp.socket_buffer,
        udp_send_queue: config.transport.udp.send_queue,
        ..TransportLimits::default()
    }
}

/// Resolves the configured upstreams once, at start.
fn upstreams(config: &Config) -> Result<Vec<Upstream>, StartError> {
    config
        .core
        .upstream
        .iter()
        .map(|u| {
            let addr = match &u.host {
                UpstreamHost::Ip(ip) => SocketAddr::new(*ip, u.port()),
                UpstreamHost::Name(name) => (name.as_str(), u.port())
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| StartError::Resolve(u.uri.clone()))?,
            };
            Ok(Upstream {
                name: u.uri.clone(),
                addr,
                protocol: u.transport,
            })
        })
        .collect()
}

fn b2bua_config(config: &Config, transports: &Transports) -> Result<B2buaConfig, StartError> {
    let bound = transports.listening();
    let side_addrs = |side, advertise| SideAddrs {
        listeners: bound
            .iter()
            .filter(|l| l.side == side)
            .map(|l| (l.protocol, l.addr))
            .collect(),
        advertise,
    };
    let mut c = B2buaConfig::new(
        side_addrs(Side::Access, config.access.advertise),
        side_addrs(Side::Core, config.core.advertise),
        upstreams(config)?,
    );
    c.timers = config.sip.timers.timer_config();
    c.probe = config.core.probe;
    c.max_calls = config.calls.max_active as usize;
    c.invite_timeout = config.calls.invite_timeout;
    c.toward_access = config.topology.server_header.clone();
    c.toward_core = config.topology.user_agent_header.clone();
    let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    c.min_se = secs(config.calls.session_timer.min_se);
    c.session_insert = config
        .calls
        .session_timer
        .insert
        .then(|| secs(config.calls.session_timer.default_interval));
    c.registration = palisade_b2bua::config::RegistrationConfig {
        min_expires: secs(config.registration.min_expires),
        max_expires: secs(config.registration.max_expires),
        default_expires: secs(config.registration.default_expires),
        nat_expires: secs(config.registration.nat_expires),
        core_expires: secs(config.registration.core_expires),
        keepalive_interval: config.registration.keepalive_interval,
    };
    c.parse_limits = config.sip.limits.datagram();
    c.calling = palisade_b2bua::CallingConfig {
        registered_only: config.fraud.registered_only,
        trusted: config.security.trusted.clone(),
    };
    Ok(c)
}

/// A secret seed for the identifiers the B2BUA writes, from the kernel's generator.
fn seed() -> Result<[u8; 32], StartError> {
    let mut s = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut s))
        .map_err(StartError::Seed)?;
    Ok(s)
}

fn target(d: &Destination<FlowId>) -> Target {
    match d {
        Destination::Flow { flow, .. } => Target::Flow(*flow),
        Destination::Address {
            side,
            protocol,
            addr,
        } => Target::Addr {
            side: *side,
            protocol: *protocol,
            addr: *addr,
            tls_name: None,
        },
    }
}

fn source(flow: &palisade_transport::Flow) -> Source<FlowId> {
    Source {
        side: flow.side,
        protocol: flow.protocol,
        flow: flow.id,
        remote: flow.remote,
    }
}

/// Every line about a call carries `call`, Palisade's number for it, which is also the
/// `call` field of its record.
fn log_event(e: &Event) {
    match e {
        Event::CallStarted {
            call,
            from,
            call_id,
            caller,
            callee,
            remotes,
        } => tracing::info!(
            call,
            ?from,
            call_id,
            caller,
            callee,
            remote = %remotes[0],
            upstream = %remotes[1],
            "CallStarted"
        ),
        Event::CallAnswered { call, remote } => {
            tracing::info!(call, %remote, "CallAnswered");
        }
        Event::CallEnded {
            call,
            why,
            by,
            status,
        } => tracing::info!(call, why, ?by, ?status, "CallEnded"),
        Event::Rejected { side, why } => tracing::debug!(?side, why, "message refused"),
        Event::UpstreamDown { upstream } => tracing::warn!(upstream, "upstream down"),
        Event::UpstreamUp { upstream } => tracing::info!(upstream, "upstream up"),
        Event::CallRefused {
            call,
            source,
            account,
            callee,
            reason,
            ..
        } => tracing::warn!(
            call,
            %source,
            account = account.as_deref().unwrap_or("-"),
            callee,
            reason,
            "call refused"
        ),
        Event::FraudAlert {
            level,
            account,
            rule,
            what,
            value,
            threshold,
            call,
            callee,
        } => tracing::warn!(
            %level,
            account,
            rule,
            what,
            value,
            threshold,
            call,
            callee,
            "fraud alert"
        ),
        Event::RegisterRefused {
            source,
            aor,
            username,
        } => tracing::warn!(
            %source,
            aor,
            username,
            reason = "digest username is not the AOR's user",
            "register refused"
        ),
        Event::AuthFailed { source, account } => {
            tracing::info!(%source, account, "credentials refused by the PBX")
        }
        other => tracing::info!(event = ?other),
    }
}

/// What watches the B2BUA: the call book, the metrics, the record writer and the state
/// the health checks read. Every event the B2BUA reports passes through [`Observer::event`].
#[derive(Debug)]
struct Observer {
    book: CallBook,
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    records: Option<Records>,
    /// Told of failed authentications.
    guard: Arc<Guard>,
}

impl Observer {
    fn event(&mut self, engine: &mut Engine, e: &Event) {
        log_event(e);
        match e {
            Event::AuthFailed { source, account } => {
                self.guard.auth_failed(Instant::now(), source.ip(), account);
            }
            Event::FraudAlert { level, .. } => self
                .metrics
                .fraud_events
                .with_label_values(&[&level.to_string()])
                .inc(),
            _ => {}
        }
        let now = (SystemTime::now(), Instant::now());
        let m = &self.metrics;
        if let Some(record) = self
            .book
            .on_event(e, now.0, now.1, m, &mut engine.media_mut().closed)
        {
            match &self.records {
                Some(r) => {
                    self.book.hold_until_synced(record.clone());
                    r.write(record);
                }
                None => tracing::debug!(call = record.call, "no records.path: record not kept"),
            }
        }
        match e {
            Event::RegistrationAbsorbed { .. } => m.registrations_absorbed.inc(),
            Event::RegisterRefused { .. } => m.registrations_refused.inc(),
            Event::UpstreamUp { .. } | Event::UpstreamDown { .. } => self.upstreams(engine),
            _ => {}
        }
    }

    /// The upstreams' health, for `palisade_upstream_up` and the readiness check.
    fn upstreams(&self, engine: &Engine) {
        let mut up = 0;
        for u in engine.upstreams() {
            up += usize::from(u.up);
            self.metrics
                .upstream_up
                .with_label_values(&[&u.upstream.name])
                .set(i64::from(u.up));
        }
        self.status.upstreams_up.store(up, Relaxed);
    }

    /// After each step of the loop: the gauges that follow the engine's state.
    fn after_step(&self, engine: &Engine) {
        self.metrics
            .registrations_active
            .set(i64::try_from(engine.registrar().len()).unwrap_or(i64::MAX));
    }
}

/// Opens the record file and starts its writer, when `records.path` is set. Records made
/// durable are reported on `synced`.
fn start_records(
    config: &Config,
    synced: mpsc::UnboundedSender<Vec<u64>>,
) -> Result<Option<Records>, StartError> {
    let Some(path) = &config.records.path else {
        return Ok(None);
    };
    let r = Records::start(&config.records, path, synced)
        .map_err(|e| StartError::Records(path.clone(), e))?;
    tracing::info!(path = %path.display(), "writing call records");
    Ok(Some(r))
}

/// Binds the admin listener and serves it on this runtime.
async fn start_admin(
    config: &Config,
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    guard: Arc<Guard>,
) -> Result<mpsc::Receiver<Command>, StartError> {
    let addr = config.admin.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Admin(addr, e))?;
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let admin = Arc::new(Admin {
        metrics,
        status,
        commands: tx,
        token: config.admin.token.clone(),
        max_connections: config.admin.max_connections as usize,
        header_timeout: config.admin.header_timeout,
        request_timeout: config.admin.request_timeout,
        guard,
    });
    tracing::info!(%addr, "admin API and metrics listening");
    tokio::spawn(admin::serve(listener, admin));
    Ok(rx)
}

/// Where the running configuration came from, and what a reload changes outside the
/// engine.
#[derive(Debug)]
pub(crate) struct Reloader {
    pub(crate) file: std::path::PathBuf,
    pub(crate) log: LogLevel,
}

/// Runs until SIGTERM or SIGINT (or `POST /api/drain`), then drains: no new calls, and
/// the process ends when the last call has or the drain deadline passes, when the calls
/// left are ended. The records of every call are on disk before it returns. SIGHUP (or
/// `POST /api/reload`) re-reads the configuration file.
pub(crate) async fn run(mut config: Config, reloader: Reloader) -> Result<(), StartError> {
    let guard = Arc::new(Guard::new(protection::rules(&config), Instant::now()));
    if let Some(file) = &config.security.bans.file {
        protection::load_bans(&guard, file);
    }
    let (transports, mut events) = Transports::bind_with(
        &listen_specs(&config),
        tls_settings(&config),
        transport_limits(&config),
        Arc::new(GuardAdmission(Arc::clone(&guard))),
    )?;
    for l in transports.listening() {
        tracing::info!(side = ?l.side, protocol = %l.protocol, addr = %l.addr, "listening");
    }
    let relay = Arc::new(Relay::start(relay_config(&config))?);
    let totals = Arc::new(MediaTotals::default());
    let mut metrics = Metrics::new()?;
    metrics.add_source(Box::new(TransportSource(transports.stats())));
    metrics.add_source(Box::new(MediaSource {
        relay: Arc::clone(&relay),
        closed: Arc::clone(&totals),
    }));
    metrics.add_source(Box::new(GuardSource(Arc::clone(&guard))));
    metrics.add_source(Box::new(MemorySource));
    let metrics = Arc::new(metrics);
    let status = Arc::new(Status::default());
    let mut commands = start_admin(
        &config,
        Arc::clone(&metrics),
        Arc::clone(&status),
        Arc::clone(&guard),
    )
    .await?;
    let (synced_tx, mut synced) = mpsc::unbounded_channel();
    let mut observer = Observer {
        book: CallBook::default(),
        metrics,
        status,
        records: start_records(&config, synced_tx.clone())?,
        guard: Arc::clone(&guard),
    };
    let mut engine: Engine = B2bua::with_policy(
        b2bua_config(&config, &transports)?,
        seed()?,
        Instant::now(),
        RelayMedia::new(Arc::clone(&relay), totals, config.media.anchor),
        Fraud::new(config.fraud.rules.clone()),
    );
    set_wall_clock(&mut engine);
    observer.upstreams(&engine);
    let mut media_check = tokio::time::interval(Duration::from_secs(1));
    media_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut term = signal(SignalKind::terminate()).map_err(StartError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(StartError::Signal)?;
    let mut hup = signal(SignalKind::hangup()).map_err(StartError::Signal)?;
    let mut drain_until: Option<Instant> = None;
    let mut outgoing = Outgoing::default();
    loop {
        let wait = engine
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600))
            .min(Duration::from_secs(1));
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => {
                    // What else is queued already is handled before the answers go out: one
                    // turn of this loop (its timer, its wake-ups) per batch, not per message.
                    let mut next = Some(ev);
                    let mut handled = 0;
                    while let Some(ev) = next {
                        let now = Instant::now();
                        if let TransportEvent::Message { at, .. } = &ev {
                            let waited = now.saturating_duration_since(*at);
                            engine.set_overloaded(waited > config.calls.overload_delay);
                        }
                        if protection::admit(&guard, &transports, &ev) {
                            handle(&mut engine, &mut outgoing, &observer.metrics, now, ev);
                        }
                        handled += 1;
                        next = (handled < EVENT_BATCH).then(|| events.try_recv().ok()).flatten();
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep(wait) => engine.handle_timeout(Instant::now()),
            _ = media_check.tick() => {
                set_wall_clock(&mut engine);
                media_timeouts(&mut engine, &config);
                protection::maintain(&guard, &config);
            }
            Some(cmd) = commands.recv() => command(
                &mut engine,
                &observer,
                &mut config,
                &reloader,
                &mut drain_until,
                &transports,
                cmd,
            ),
            _ = hup.recv() => {
                reload_config(&reloader, &mut config, &mut engine, &transports, &observer);
            }
            Some(calls) = synced.recv() => observer.book.synced(&calls),
            _ = term.recv() => start_drain(&mut engine, &observer, &config, &mut drain_until),
            _ = int.recv() => start_drain(&mut engine, &observer, &config, &mut drain_until),
        }
        flush(&mut engine, &transports, &mut outgoing, &mut observer);
        observer.after_step(&engine);
        if let Some(deadline) = drain_until {
            if engine.calls() > 0 && Instant::now() >= deadline {
                tracing::info!(
                    calls = engine.calls(),
                    "drain deadline: ending the calls left"
                );
                engine.end_all_calls(Instant::now(), "drain deadline");
                flush(&mut engine, &transports, &mut outgoing, &mut observer);
            }
            if engine.calls() == 0 {
                tracing::info!("drained; stopping");
                break;
            }
        }
    }
    transports.shutdown().await;
    if let Some(r) = observer.records.take() {
        // Writes and syncs what is queued; the loop no longer runs, so this may block.
        r.finish();
        while let Ok(calls) = synced.try_recv() {
            observer.book.synced(&calls);
        }
        tracing::info!(unsynced = observer.book.unsynced(), "call records written");
    }
    drop(synced_tx);
    if let Some(file) = &config.security.bans.file {
        protection::save_bans(&guard, file);
    }
    Ok(())
}

/// Transport events handled in one turn of the service loop before what they produced is
/// sent: enough to spread the loop's own cost over a burst, few enough that the first
/// answers of a burst do not wait long.
const EVENT_BATCH: usize = 32;

/// The B2BUA with the media relay and the toll-fraud policy.
type Engine = B2bua<FlowId, RelayMedia, Fraud>;

/// Gives the fraud policy the wall clock (for its time windows and daily counters), every
/// second, so that a clock set by NTP is followed.
fn set_wall_clock(engine: &mut Engine) {
    let unix = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    engine.policy_mut().set_wall_clock(Instant::now(), unix);
}

/// Ends the calls whose media went silent.
fn media_timeouts(engine: &mut Engine, config: &Config) {
    let now = Instant::now();
    let idle = engine
        .media()
        .timed_out(now, config.media.timeout, config.media.hold_timeout);
    for call in idle {
        engine.handle_media_timeout(now, call);
    }
}

/// Stops taking calls; the first drain sets the deadline, a second one changes nothing.
fn start_drain(
    engine: &mut Engine,
    observer: &Observer,
    config: &Config,
    drain_until: &mut Option<Instant>,
) {
    if drain_until.is_some() {
        return;
    }
    tracing::info!(calls = engine.calls(), deadline = ?config.drain.deadline, "draining");
    engine.drain();
    observer.status.draining.store(true, Relaxed);
    *drain_until = Some(Instant::now() + config.drain.deadline);
}

/// Re-reads the configuration file and applies what may change while running
/// ([`reload`] says which settings those are). A file with an error changes nothing.
fn reload_config(
    reloader: &Reloader,
    config: &mut Config,
    engine: &mut Engine,
    transports: &Transports,
    observer: &Observer,
) -> ReloadView {
    let file = &reloader.file;
    let refuse = |errors: Vec<String>| {
        for e in &errors {
            tracing::error!(error = %e, "configuration reload refused; the running configuration stays");
        }
        observer.metrics.config_reloaded(false);
        ReloadView::refused(errors)
    };
    let new = match Config::load(file) {
        Ok(c) => c,
        Err(errors) => return refuse(errors.iter().map(ToString::to_string).collect()),
    };
    let (merged, applied, restart_required) = reload::merge(config, new);
    // Everything that can fail comes before anything is applied.
    let b2bua = match b2bua_config(&merged, transports) {
        Ok(c) => c,
        Err(e) => return refuse(vec![format!("{}: {e}", file.display())]),
    };
    engine.reconfigure(Instant::now(), b2bua);
    if merged.fraud.rules != config.fraud.rules {
        engine.policy_mut().set_rules(merged.fraud.rules.clone());
    }
    let rules = protection::rules(&merged);
    if rules != protection::rules(config) {
        observer.guard.reconfigure(rules);
    }
    if merged.log.level != config.log.level {
        reloader.log.set(&merged.log.level);
    }
    // Upstreams removed from the file leave the metric.
    observer.metrics.upstream_up.reset();
    observer.upstreams(engine);
    *config = merged;
    observer.metrics.config_reloaded(true);
    for key in &restart_required {
        tracing::warn!(key, "changed in the file; takes effect after a restart");
    }
    tracing::info!(file = %file.display(), ?applied, ?restart_required, "configuration reloaded");
    ReloadView {
        reloaded: true,
        applied,
        restart_required,
        errors: Vec::new(),
    }
}

/// Answers an admin API request from the engine's state.
fn command(
    engine: &mut Engine,
    observer: &Observer,
    config: &mut Config,
    reloader: &Reloader,
    drain_until: &mut Option<Instant>,
    transports: &Transports,
    cmd: Command,
) {
    // A requester that gave up has dropped its receiver: nothing to do about it.
    match cmd {
        Command::Calls(reply) => {
            let _ = reply.send(observer.book.view());
        }
        Command::Registrations(reply) => {
            let _ = reply.send(registrations(engine));
        }
        Command::Reload(reply) => {
            let view = reload_config(reloader, config, engine, transports, observer);
            let _ = reply.send(view);
        }
        Command::Drain(reply) => {
            start_drain(engine, observer, config, drain_until);
            let left = drain_until.map_or(Duration::ZERO, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let _ = reply.send(DrainView {
                draining: true,
                calls: engine.calls(),
                deadline_in: left.as_secs(),
            });
        }
    }
}

fn registrations(engine: &Engine) -> Vec<RegistrationView> {
    let now = Instant::now();
    let mut v: Vec<_> = engine
        .registrar()
        .iter()
        .map(|(token, b)| {
            let protocol = match &b.destination {
                Destination::Flow { protocol, .. } | Destination::Address { protocol, .. } => {
                    *protocol
                }
            };
            RegistrationView {
                aor: b.aor.clone(),
                contact: b.contact.clone(),
                remote: b.destination.remote(),
                transport: protocol.to_string(),
                nat: b.nat,
                expires_in: b.expires_at.saturating_duration_since(now).as_secs(),
                token: token.to_string(),
            }
        })
        .collect();
    v.sort_by(|a, b| a.aor.cmp(&b.aor).then(a.contact.cmp(&b.contact)));
    v
}

/// Connections Palisade opened toward an address (a PBX over TCP or TLS). When one closes,
/// above all when it never opened (connection refused), the B2BUA hears of it as a
/// transport error for that address, so its transactions fail over at once instead of
/// waiting out their timers.
#[derive(Debug, Default)]
struct Outgoing {
    by_flow: HashMap<FlowId, Destination<FlowId>>,
}

fn handle(
    engine: &mut Engine,
    outgoing: &mut Outgoing,
    metrics: &Metrics,
    now: Instant,
    ev: TransportEvent,
) {
    match ev {
        TransportEvent::Message { flow, message, .. } => {
            metrics.sip_received(flow.side, &message);
            engine.handle_inbound(
                now,
                Inbound {
                    source: source(&flow),
                    message,
                },
            );
        }
        TransportEvent::Malformed { flow, error, bytes } => {
            engine.handle_malformed(source(&flow), &bytes, &error)
        }
        TransportEvent::FlowClosed(flow) => {
            if let Some(dest) = outgoing.by_flow.remove(&flow.id) {
                engine.handle_transport_error(now, &dest);
            }
            engine.handle_flow_closed(&flow.id, flow.remote);
        }
        TransportEvent::SendFailed(flow) => {
            // A UDP transaction is sent either back over a flow or to an address; the
            // failed datagram says which socket and address, not which of the two.
            let (protocol, remote) = (flow.protocol, flow.remote);
            engine.handle_transport_error(
                now,
                &Destination::Flow {
                    flow: flow.id,
                    protocol,
                    remote,
                },
            );
            engine.handle_transport_error(
                now,
                &Destination::Address {
                    side: flow.side,
                    protocol,
                    addr: remote,
                },
            );
        }
        TransportEvent::KeepAlive(_) => {}
    }
}

/// Sends what the B2BUA produced and passes on what it reported.
fn flush(
    engine: &mut Engine,
    transports: &Transports,
    outgoing: &mut Outgoing,
    observer: &mut Observer,
) {
    // Everything sent here reaches the UDP sending thread in one wake-up.
    let _batch = transports.batch();
    loop {
        let mut failed = Vec::new();
        while let Some(Transmit {
            destination,
            message,
            side,
        }) = engine.poll_transmit()
        {
            observer.metrics.sip_sent(side, &message);
            match transports.send(target(&destination), message.as_bytes().clone()) {
                Ok(flow) => {
                    if matches!(destination, Destination::Address { protocol, .. } if protocol.is_stream())
                    {
                        outgoing.by_flow.entry(flow).or_insert(destination);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, remote = %destination.remote(), "send failed");
                    failed.push(destination);
                }
            }
        }
        while let Some(e) = engine.poll_event() {
            observer.event(engine, &e);
        }
        if failed.is_empty() {
            return;
        }
        let now = Instant::now();
        for d in failed {
            engine.handle_transport_error(now, &d);
        }
    }
}
