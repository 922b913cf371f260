//! What the B2BUA needs to know about its surroundings. The binary builds this from the
//! YAML configuration and the addresses its listeners actually bound.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use palisade_sip::ParseLimits;
use palisade_sip::transaction::TimerConfig;

use crate::types::Protocol;

/// Palisade's own addresses on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideAddrs {
    /// Bound listeners.
    pub listeners: Vec<(Protocol, SocketAddr)>,
    /// The address written into Via and Contact instead of the bound one (1:1 NAT).
    pub advertise: Option<IpAddr>,
}

impl SideAddrs {
    /// The address and port to write into Via and Contact for `protocol`: the listener of
    /// that protocol, else the first listener.
    pub fn contact_addr(&self, protocol: Protocol) -> Option<SocketAddr> {
        let bound = self
            .listeners
            .iter()
            .find(|(p, _)| *p == protocol)
            .or_else(|| self.listeners.first())
            .map(|(_, a)| *a)?;
        Some(match self.advertise {
            Some(ip) => SocketAddr::new(ip, bound.port()),
            None => bound,
        })
    }

    /// The bound address of the listener for `protocol` (else the first listener): where
    /// media sockets are bound on this side. Unlike [`Self::contact_addr`], never the
    /// advertised address.
    pub fn bound_addr(&self, protocol: Protocol) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(p, _)| *p == protocol)
            .or_else(|| self.listeners.first())
            .map(|(_, a)| *a)
    }

    /// `host:port` text for a socket address, bracketing IPv6.
    pub fn host_port(addr: SocketAddr) -> String {
        match addr {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        }
    }
}

/// A PBX Palisade relays to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// As configured, for logs and metrics (`sip:127.0.0.1:5080`).
    pub name: String,
    pub addr: SocketAddr,
    pub protocol: Protocol,
}

/// OPTIONS health probing of upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeConfig {
    pub interval: Duration,
    /// How long a probe may go unanswered before it counts as a failure.
    pub timeout: Duration,
    /// Consecutive failures after which an upstream is down.
    pub failures_before_down: u32,
    /// Consecutive successes after which a down upstream is up again.
    pub successes_before_up: u32,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            failures_before_down: 2,
            successes_before_up: 1,
        }
    }
}

/// What to do with a Server or User-Agent header crossing to the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderPolicy {
    /// Remove it: software versions help attackers pick exploits.
    Hide,
    /// Copy it unchanged.
    Pass,
    /// Replace it with this text.
    Set(String),
}

/// Registration expiry bounds, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationConfig {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    /// Registration caching ("hosted NAT traversal"): the expiry a phone behind NAT is
    /// told, short so that its re-REGISTERs keep the NAT binding open. 0 turns caching off.
    pub nat_expires: u32,
    /// The expiry asked of the PBX for a phone behind NAT; the phone's refreshes in between
    /// are answered by Palisade.
    pub core_expires: u32,
    /// How often a phone behind NAT is sent an OPTIONS keep-alive over its flow; one left
    /// unanswered removes its binding. Zero turns keep-alives off.
    pub keepalive_interval: Duration,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            nat_expires: 60,
            core_expires: 3600,
            keepalive_interval: Duration::from_secs(30),
        }
    }
}

/// The B2BUA's configuration.
#[derive(Debug, Clone)]
pub struct B2buaConfig {
    pub access: SideAddrs,
    pub core: SideAddrs,
    /// The PBXs, in failover order.
    pub upstreams: Vec<Upstream>,
    pub timers: TimerConfig,
    pub probe: ProbeConfig,
    /// Calls beyond this are refused with 503.
    pub max_calls: usize,
    /// How long an INVITE may ring before Palisade gives up (408 to the caller).
    pub invite_timeout: Duration,
    /// The smallest Session-Expires a call may ask for (RFC 4028 Min-SE); less is answered
    /// 422.
    pub min_se: u32,
    /// Session-Expires (seconds) asked of the PBX, with `refresher=uas`, when a phone's
    /// INVITE carries none; `None`: the INVITE goes as the phone sent it.
    pub session_insert: Option<u32>,
    /// Server and User-Agent headers relayed toward the access side.
    pub toward_access: HeaderPolicy,
    /// Server and User-Agent headers relayed toward the core side.
    pub toward_core: HeaderPolicy,
    pub registration: RegistrationConfig,
    /// Seconds a phone is told to wait when no PBX is reachable.
    pub retry_after: u32,
    /// Limits for reading what can be read of a request that failed to parse.
    pub parse_limits: ParseLimits,
    /// Who may place calls from the access side.
    pub calling: CallingConfig,
}

/// Who may place calls from the access side (toll fraud). What they may call is the
/// [`crate::CallPolicy`]'s business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingConfig {
    /// An INVITE from the access side is accepted only from a flow that holds a binding
    /// (a registered phone) or from a trusted network; anything else gets 403.
    pub registered_only: bool,
    /// Trusted networks (carriers' trunks): may call without registering.
    pub trusted: Vec<ipnet::IpNet>,
}

impl Default for CallingConfig {
    fn default() -> Self {
        Self {
            registered_only: true,
            trusted: Vec::new(),
        }
    }
}

impl B2buaConfig {
    /// A configuration with defaults around the given addresses.
    pub fn new(access: SideAddrs, core: SideAddrs, upstreams: Vec<Upstream>) -> Self {
        Self {
            access,
            core,
            upstreams,
            timers: TimerConfig::default(),
            probe: ProbeConfig::default(),
            max_calls: 10_000,
            invite_timeout: Duration::from_secs(180),
            min_se: 90,
            session_insert: None,
            toward_access: HeaderPolicy::Hide,
            toward_core: HeaderPolicy::Pass,
            registration: RegistrationConfig::default(),
            retry_after: 30,
            parse_limits: ParseLimits::default(),
            calling: CallingConfig::default(),
        }
    }
}
