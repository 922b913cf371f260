//! The running SBC: the transports feed the B2BUA, whose output goes back to the
//! transports, on one task. The B2BUA is sans-IO, so this loop is all the glue there is:
//! events in, the clock, messages out.

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_b2bua::{
    B2bua, B2buaConfig, Destination, Event, Inbound, MediaControl, MediaError, MediaRemote,
    SideAddrs, Source, Transmit, Upstream,
};
use palisade_config::{Config, UpstreamHost};
use palisade_fraud::Fraud;
use palisade_guard::Guard;
use palisade_media::{
    Leg, PortRange, Relay, RelayConfig, RelayError, Remote, SessionId, SessionSpec,
};
use palisade_sip::Side;
use palisade_transport::{
    CertificateFiles, FlowId, ListenSpec, Target, TlsClientSettings, TlsSettings, TransportEvent,
    TransportLimits, Transports,
};
use tokio::signal::unix::{SignalKind, signal};

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
}

/// The media relay as the B2BUA sees it: call ids mapped to relay sessions.
#[derive(Debug)]
pub(crate) struct RelayMedia {
    relay: Arc<Relay>,
    sessions: HashMap<u64, SessionId>,
    calls: HashMap<SessionId, u64>,
}

impl RelayMedia {
    pub(crate) fn new(relay: Arc<Relay>) -> Self {
        Self {
            relay,
            sessions: HashMap::new(),
            calls: HashMap::new(),
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
            }
            Err(e) => tracing::debug!(error = %e, call, "media close"),
        }
    }
}

fn relay_config(config: &Config) -> RelayConfig {
    RelayConfig {
        ports: PortRange::new(config.media.ports.low, config.media.ports.high),
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

fn log_event(e: &Event) {
    match e {
        Event::Rejected { side, why } => tracing::debug!(?side, why, "message refused"),
        Event::UpstreamDown { upstream } => tracing::warn!(upstream, "upstream down"),
        Event::UpstreamUp { upstream } => tracing::info!(upstream, "upstream up"),
        Event::CallRefused {
            source,
            account,
            callee,
            reason,
        } => tracing::warn!(
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

/// Runs until SIGTERM or SIGINT, then drains: no new calls, and the process ends when the
/// last call has or the drain deadline passes.
pub(crate) async fn run(config: Config) -> Result<(), StartError> {
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
    let mut engine: Engine = B2bua::with_policy(
        b2bua_config(&config, &transports)?,
        seed()?,
        Instant::now(),
        RelayMedia::new(Arc::clone(&relay)),
        Fraud::new(config.fraud.rules.clone()),
    );
    set_wall_clock(&mut engine);
    let mut media_check = tokio::time::interval(Duration::from_secs(1));
    media_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut term = signal(SignalKind::terminate()).map_err(StartError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(StartError::Signal)?;
    let mut drain_until: Option<Instant> = None;
    let mut outgoing = Outgoing::default();
    let overload_queue = config.calls.overload_queue as usize;
    loop {
        let wait = engine
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600))
            .min(Duration::from_secs(1));
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => {
                    engine.set_overloaded(events.len() > overload_queue);
                    if protection::admit(&guard, &transports, &ev) {
                        handle(&mut engine, &mut outgoing, ev);
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
            _ = term.recv() => drain_until = Some(start_drain(&mut engine, &config)),
            _ = int.recv() => drain_until = Some(start_drain(&mut engine, &config)),
        }
        flush(&mut engine, &transports, &mut outgoing, &guard);
        if let Some(deadline) = drain_until
            && (engine.calls() == 0 || Instant::now() >= deadline)
        {
            tracing::info!(calls = engine.calls(), "drained; stopping");
            break;
        }
    }
    transports.shutdown().await;
    if let Some(file) = &config.security.bans.file {
        protection::save_bans(&guard, file);
    }
    Ok(())
}

/// The B2BUA with the media relay and the toll-fraud policy.
type Engine = B2bua<FlowId, RelayMedia, Fraud>;

/// Gives the fraud policy the wall clock (for its time windows and daily counters), every
/// second, so that a clock set by NTP is followed.
fn set_wall_clock(engine: &mut Engine) {
    let unix = std::time::SystemTime::now()
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

fn start_drain(engine: &mut Engine, config: &Config) -> Instant {
    tracing::info!(calls = engine.calls(), deadline = ?config.drain.deadline, "draining");
    engine.drain();
    Instant::now() + config.drain.deadline
}

/// Connections Palisade opened toward an address (a PBX over TCP or TLS). When one closes,
/// above all when it never opened (connection refused), the B2BUA hears of it as a
/// transport error for that address, so its transactions fail over at once instead of
/// waiting out their timers.
#[derive(Debug, Default)]
struct Outgoing {
    by_flow: HashMap<FlowId, Destination<FlowId>>,
}

fn handle(engine: &mut Engine, outgoing: &mut Outgoing, ev: TransportEvent) {
    let now = Instant::now();
    match ev {
        TransportEvent::Message { flow, message, .. } => engine.handle_inbound(
            now,
            Inbound {
                source: source(&flow),
                message,
            },
        ),
        TransportEvent::Malformed { flow, error, bytes } => {
            engine.handle_malformed(source(&flow), &bytes, &error)
        }
        TransportEvent::FlowClosed(id) => {
            if let Some(dest) = outgoing.by_flow.remove(&id) {
                engine.handle_transport_error(now, &dest);
            }
            engine.handle_flow_closed(&id);
        }
        TransportEvent::KeepAlive(_) => {}
    }
}

/// Sends what the B2BUA produced and logs what it reported.
fn flush(engine: &mut Engine, transports: &Transports, outgoing: &mut Outgoing, guard: &Guard) {
    loop {
        let mut failed = Vec::new();
        while let Some(Transmit {
            destination,
            message,
            ..
        }) = engine.poll_transmit()
        {
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
            if let Event::AuthFailed { source, account } = &e {
                guard.auth_failed(Instant::now(), source.ip(), account);
            }
            log_event(&e);
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
