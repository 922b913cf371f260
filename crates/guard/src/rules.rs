//! The rules the guard enforces: one value, swapped whole at runtime.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ipnet::IpNet;

/// A request rate: so many per second, with a burst of two seconds' worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
}

impl Rate {
    /// `n` per second; 0 is taken as 1.
    pub fn per_second(n: u32) -> Rate {
        Rate {
            per_second: NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN),
        }
    }

    /// The burst a source may send at once after being quiet: two seconds' worth, so a
    /// phone that registers several lines and subscribes at boot is not cut off.
    pub fn burst(&self) -> NonZeroU32 {
        self.per_second
            .saturating_mul(NonZeroU32::MIN.saturating_add(1))
    }
}

/// Budgets per source address and request class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub register: Rate,
    pub invite: Rate,
    /// Every other request, every response, and datagrams that are not SIP at all.
    pub other: Rate,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            register: Rate::per_second(20),
            invite: Rate::per_second(20),
            other: Rate::per_second(100),
        }
    }
}

/// How long bans last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanTimes {
    /// The first ban of a source.
    pub time: Duration,
    /// Each further offence doubles the ban, up to this. A source's offences are forgotten
    /// once it has behaved for this long after its last ban ended.
    pub max_time: Duration,
}

impl Default for BanTimes {
    fn default() -> Self {
        Self {
            time: Duration::from_secs(600),
            max_time: Duration::from_secs(86_400),
        }
    }
}

/// Failed authentications that lead to a ban or an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailures {
    /// Failures from one source within `window` that ban it.
    pub max: u32,
    pub window: Duration,
    /// Failures for one account within `window`, from any sources, that raise an alert.
    pub account_alert: u32,
}

impl Default for AuthFailures {
    fn default() -> Self {
        Self {
            max: 5,
            window: Duration::from_secs(600),
            account_alert: 20,
        }
    }
}

/// Enumeration sweeps: many user names from one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Distinct user names one source may name within `window`; one more bans it.
    pub max_users: u32,
    pub window: Duration,
}

impl Default for Sweep {
    fn default() -> Self {
        Self {
            max_users: 30,
            window: Duration::from_secs(60),
        }
    }
}

/// Everything the guard enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Off: only the deny list and the TLS handshake budget apply.
    pub enabled: bool,
    /// Never banned nor rate limited (carriers' trunks; see also `allow`).
    pub trusted: Vec<IpNet>,
    /// Never banned nor rate limited.
    pub allow: Vec<IpNet>,
    /// Always dropped, before anything else (it wins over `allow` and `trusted`).
    pub deny: Vec<IpNet>,
    /// Domains Palisade serves. A request whose Request-URI host is neither an IP
    /// address nor one of these is dropped and its source banned. Empty: only IP
    /// addresses are served (phones configured with the SBC's address).
    pub domains: Vec<String>,
    /// Drop and ban known scanners by their fingerprints.
    pub scanners: bool,
    pub rates: Rates,
    pub bans: BanTimes,
    pub auth_failures: AuthFailures,
    pub sweep: Sweep,
    /// Most source addresses tracked per table (rate budgets, bans, sweeps, failures).
    pub max_tracked_sources: usize,
    /// TLS handshakes started per second, all sources together; 0: no limit.
    pub tls_handshakes_per_second: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            enabled: true,
            trusted: Vec::new(),
            allow: Vec::new(),
            deny: Vec::new(),
            domains: Vec::new(),
            scanners: true,
            rates: Rates::default(),
            bans: BanTimes::default(),
            auth_failures: AuthFailures::default(),
            sweep: Sweep::default(),
            max_tracked_sources: 100_000,
            tls_handshakes_per_second: 100,
        }
    }
}

impl Rules {
    /// Trusted or allowed: never banned nor rate limited.
    pub fn exempt(&self, ip: IpAddr) -> bool {
        contains(&self.trusted, ip) || contains(&self.allow, ip)
    }

    pub fn denied(&self, ip: IpAddr) -> bool {
        contains(&self.deny, ip)
    }

    /// Whether a Request-URI host is served: an IP address, or a configured domain
    /// (compared without case and without a trailing dot).
    pub fn serves(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        self.domains.iter().any(|d| {
            let d = d.strip_suffix('.').unwrap_or(d);
            d.eq_ignore_ascii_case(host)
        })
    }
}

/// IPv4-mapped IPv6 sources count as their IPv4 address.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key a source is tracked by: its IPv4 address, or the /64 network of its IPv6
/// address (one subscriber's allocation: an attacker picks any address in it at will, so
/// a per-address budget or ban would be worthless).
pub(crate) fn source_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    nets.iter().any(|n| n.contains(&ip))
}
