//! The validated configuration, one struct per YAML section. The `Default` of each
//! section is the documented default of its keys (docs/configuration.md).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use palisade_sip::ParseLimits;
use palisade_sip::transaction::TimerConfig;

use crate::types::{
    HeaderPolicy, Listen, LogFormat, PortRange, Protocol, Secret, TlsFiles, Upstream,
};

/// `access`: the untrusted side, where phones and the Internet are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// At least one.
    pub listen: Vec<Listen>,
    /// The address written into Via, Contact and SDP instead of the listening address
    /// (behind a 1:1 NAT, or on a cloud instance with a floating public address).
    pub advertise: Option<IpAddr>,
    /// Certificate and key of the `tls:` listeners; present whenever one is configured.
    pub tls: Option<TlsFiles>,
}

/// `core`: the trusted side, where the PBX is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// At least one.
    pub listen: Vec<Listen>,
    pub advertise: Option<IpAddr>,
    pub tls: Option<TlsFiles>,
    /// CA certificates (PEM) that a TLS upstream's certificate must chain to; without it,
    /// the web PKI roots.
    pub upstream_ca: Option<std::path::PathBuf>,
    /// The PBXs, tried in this order: the first healthy one gets the traffic.
    pub upstream: Vec<Upstream>,
    pub probe: ProbeConfig,
}

impl CoreConfig {
    /// The first listener of the given transport, the one used to reach an upstream.
    pub fn listener_for(&self, transport: Protocol) -> Option<&Listen> {
        self.listen.iter().find(|l| l.transport == transport)
    }
}

/// `core.probe`: the OPTIONS health check of the upstreams; the B2BUA's own type, so that
/// what is configured is what runs.
pub use palisade_b2bua::config::ProbeConfig;

/// `media`: the RTP relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaConfig {
    /// Whether calls' media goes through the relay (SDP rewritten), or straight between
    /// the endpoints (SDP unchanged).
    pub anchor: bool,
    pub ports: PortRange,
    /// An answered call with no RTP in either direction for this long is ended.
    pub timeout: Duration,
    /// The same for a call on hold.
    pub hold_timeout: Duration,
    /// Port pairs the relay keeps bound ahead of need on each of its addresses.
    pub spare_pairs: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            anchor: true,
            ports: PortRange {
                low: 20_000,
                high: 39_999,
            },
            timeout: Duration::from_secs(60),
            hold_timeout: Duration::from_secs(3600),
            spare_pairs: 16,
        }
    }
}

/// `admin`: the HTTP admin API and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Loopback unless a token is set.
    pub listen: SocketAddr,
    /// Bearer token the admin API requires, from `admin.token` or read from
    /// `admin.token_file`.
    pub token: Option<Secret>,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: u32,
    /// A request's head must arrive within this (slowloris).
    pub header_timeout: Duration,
    /// How long a request that needs the engine waits for it.
    pub request_timeout: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9090),
            token: None,
            max_connections: 32,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// `sip`: message limits and transaction timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipConfig {
    pub limits: SipLimits,
    pub timers: SipTimers,
    /// Requests larger than this many bytes go over TCP instead of UDP when the
    /// destination allows it (RFC 3261 §18.1.1).
    pub udp_mtu_allowance: usize,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            limits: SipLimits::default(),
            timers: SipTimers::default(),
            udp_mtu_allowance: 1300,
        }
    }
}

/// `sip.limits`: the largest input the SIP parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipLimits {
    /// Largest UDP message, in bytes.
    pub max_message_size: usize,
    /// Largest TCP/TLS message, in bytes.
    pub max_stream_message_size: usize,
    /// Most header fields in a message.
    pub max_headers: usize,
    /// Longest header field (or start line), in bytes.
    pub max_header_len: usize,
}

impl Default for SipLimits {
    fn default() -> Self {
        Self {
            max_message_size: 65_535,
            max_stream_message_size: 65_535,
            max_headers: 128,
            max_header_len: 8_192,
        }
    }
}

impl SipLimits {
    /// Parser limits for UDP datagrams.
    pub fn datagram(&self) -> ParseLimits {
        ParseLimits {
            max_message_size: self.max_message_size,
            max_headers: self.max_headers,
            max_header_len: self.max_header_len,
        }
    }

    /// Parser and framing limits for TCP and TLS streams.
    pub fn stream(&self) -> ParseLimits {
        ParseLimits {
            max_message_size: self.max_stream_message_size,
            ..self.datagram()
        }
    }
}

/// `sip.timers`: RFC 3261 T1, T2 and T4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipTimers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for SipTimers {
    fn default() -> Self {
        let d = TimerConfig::default();
        Self {
            t1: d.t1,
            t2: d.t2,
            t4: d.t4,
        }
    }
}

impl SipTimers {
    /// The transaction layer's timers: these three, the others at their defaults.
    pub fn timer_config(&self) -> TimerConfig {
        TimerConfig {
            t1: self.t1,
            t2: self.t2,
            t4: self.t4,
            ..TimerConfig::default()
        }
    }
}

/// `transport`: connection limits and the queues between the sockets and the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportConfig {
    pub tcp: TcpConfig,
    pub udp: UdpConfig,
    /// Messages read from the sockets and waiting for the service loop. When it is full,
    /// UDP datagrams are dropped (and counted) and connections wait.
    pub event_queue: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            tcp: TcpConfig::default(),
            udp: UdpConfig::default(),
            event_queue: 8192,
        }
    }
}

/// `transport.udp`: UDP sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpConfig {
    /// Receive and send buffer asked for on each SIP UDP socket, in bytes (the kernel caps
    /// it at `net.core.rmem_max` / `wmem_max`).
    pub socket_buffer: usize,
    /// Datagrams waiting for the UDP sending thread; a datagram beyond it is dropped.
    pub send_queue: usize,
}

impl Default for UdpConfig {
    fn default() -> Self {
        Self {
            socket_buffer: 4 << 20,
            send_queue: 65_536,
        }
    }
}

/// `transport.tcp`: TCP and TLS connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// Open connections, all sources together.
    pub max_connections: u32,
    /// Open connections from one source IP address.
    pub max_connections_per_source: u32,
    /// A connection that carries nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Longest time a message may take to arrive once its first byte has (slowloris).
    pub message_timeout: Duration,
    /// Longest TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// TLS handshakes started per second on access-side `tls:` listeners, all
    /// untrusted sources together; 0: no limit.
    pub tls_handshakes_per_second: u32,
    /// Messages queued for writing on one connection; a peer that lets it fill is
    /// disconnected.
    pub write_queue: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_source: 32,
            idle_timeout: Duration::from_secs(600),
            message_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            tls_handshakes_per_second: palisade_guard::Rules::default().tls_handshakes_per_second,
            write_queue: 256,
        }
    }
}

/// `calls`: call admission and call timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallsConfig {
    /// Calls in progress at once; more are refused with 503.
    pub max_active: u32,
    /// How long a received INVITE may have waited to be handled; one that waited longer is
    /// refused with 503, so an overload sheds new calls instead of delaying everything past
    /// its retransmissions (T1, 500 ms).
    pub overload_delay: Duration,
    /// How long an INVITE may ring unanswered before it is cancelled.
    pub invite_timeout: Duration,
    pub session_timer: SessionTimerConfig,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            max_active: 10_000,
            overload_delay: Duration::from_millis(200),
            invite_timeout: Duration::from_secs(180),
            session_timer: SessionTimerConfig::default(),
        }
    }
}

/// `calls.session_timer`: RFC 4028 session timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// Whether Palisade asks the PBX for a session timer when a phone's INVITE has none.
    pub insert: bool,
    /// Session-Expires requested when the caller asks for none.
    pub default_interval: Duration,
    /// Smallest Session-Expires accepted (Min-SE).
    pub min_se: Duration,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        Self {
            insert: true,
            default_interval: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
        }
    }
}

/// `registration`: the expiry of registrations accepted from phones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationConfig {
    /// Shorter requested expiries are answered 423 with this Min-Expires.
    pub min_expires: Duration,
    /// Longer requested expiries are cut to this.
    pub max_expires: Duration,
    /// Expiry granted when the REGISTER asks for none.
    pub default_expires: Duration,
    /// Registration caching: the expiry a phone behind NAT is told (0 turns caching off).
    pub nat_expires: Duration,
    /// Registration caching: the expiry asked of the PBX for a phone behind NAT.
    pub core_expires: Duration,
    /// OPTIONS keep-alives to phones behind NAT (0 turns them off).
    pub keepalive_interval: Duration,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            default_expires: Duration::from_secs(3600),
            nat_expires: Duration::from_secs(60),
            core_expires: Duration::from_secs(3600),
            keepalive_interval: Duration::from_secs(30),
        }
    }
}

/// `topology`: what the two sides learn about each other and about Palisade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyConfig {
    /// The Server header of responses sent to the access side.
    pub server_header: HeaderPolicy,
    /// The User-Agent header of requests sent to the core side.
    pub user_agent_header: HeaderPolicy,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        Self {
            server_header: HeaderPolicy::Hide,
            user_agent_header: HeaderPolicy::Pass,
        }
    }
}

/// `drain`: graceful shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainConfig {
    /// How long calls in progress may go on after a shutdown starts; new calls are
    /// refused meanwhile.
    pub deadline: Duration,
}

impl Default for DrainConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(300),
        }
    }
}

/// `security`: the edge protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Networks that are never banned or rate limited and may place calls without
    /// registering: carriers' trunks. The core side (the PBX) is always trusted.
    pub trusted: Vec<ipnet::IpNet>,
    /// Off: only `deny` and the TLS handshake budget apply.
    pub enabled: bool,
    /// Networks never banned nor rate limited (but not allowed to call unregistered).
    pub allow: Vec<ipnet::IpNet>,
    /// Networks always dropped, before any other check.
    pub deny: Vec<ipnet::IpNet>,
    /// Domains served, lower case. Empty: only IP addresses in the Request-URI.
    pub domains: Vec<String>,
    /// Drop and ban known scanners by their fingerprints.
    pub scanners: bool,
    /// Most source addresses tracked per table (rate budgets, bans, sweeps, failures).
    pub max_tracked_sources: u32,
    pub bans: BansConfig,
    pub rates: RatesConfig,
    pub auth_failures: palisade_guard::AuthFailures,
    pub sweep: palisade_guard::Sweep,
}

/// The guard's own defaults: what is configured is what runs.
impl Default for SecurityConfig {
    fn default() -> Self {
        let g = palisade_guard::Rules::default();
        Self {
            trusted: Vec::new(),
            enabled: g.enabled,
            allow: Vec::new(),
            deny: Vec::new(),
            domains: Vec::new(),
            scanners: g.scanners,
            max_tracked_sources: u32::try_from(g.max_tracked_sources).unwrap_or(u32::MAX),
            bans: BansConfig::default(),
            rates: RatesConfig::default(),
            auth_failures: g.auth_failures,
            sweep: g.sweep,
        }
    }
}

/// `security.bans`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BansConfig {
    /// Where bans are kept across restarts; `None`: in memory only.
    pub file: Option<std::path::PathBuf>,
    /// A source's first ban.
    pub time: Duration,
    /// Each repeat offence doubles the ban, up to this.
    pub max_time: Duration,
}

impl Default for BansConfig {
    fn default() -> Self {
        let d = palisade_guard::BanTimes::default();
        Self {
            file: None,
            time: d.time,
            max_time: d.max_time,
        }
    }
}

/// `security.rates`: requests per second from one source address, by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatesConfig {
    pub register: u32,
    pub invite: u32,
    /// Every other request, responses, and datagrams that are not SIP.
    pub other: u32,
}

impl Default for RatesConfig {
    fn default() -> Self {
        let d = palisade_guard::Rates::default();
        Self {
            register: d.register.per_second.get(),
            invite: d.invite.per_second.get(),
            other: d.other.per_second.get(),
        }
    }
}

/// `log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A filter: `info`, or `warn,palisade_sip=debug`.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Human,
        }
    }
}

/// `records`: call detail records, one JSON line per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsConfig {
    /// The file records are appended to; `None` writes no records.
    pub path: Option<std::path::PathBuf>,
    /// The file is rotated when the next record would make it larger than this many bytes.
    pub rotate_size: u64,
    /// ... or when it has been written to for this long.
    pub rotate_age: Duration,
    /// Rotated files kept; older ones are deleted.
    pub keep: u32,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        Self {
            path: None,
            rotate_size: 100 << 20,
            rotate_age: Duration::from_secs(24 * 3600),
            keep: 30,
        }
    }
}
