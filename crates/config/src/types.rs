//! Typed configuration values and the parsers that turn their YAML strings into them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use palisade_sip::uri::{Host, Uri, UriKind};

/// Why a value string was refused; the text is the message shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(pub(crate) String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

fn bad(msg: impl Into<String>) -> ValueError {
    ValueError(msg.into())
}

pub use palisade_sip::Protocol;

/// A socket to listen on: `udp:0.0.0.0:5060`, `tcp:[::1]:5060`, `tls:0.0.0.0:5061`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Listen {
    pub transport: Protocol,
    pub addr: SocketAddr,
}

impl Listen {
    /// True when both would need the same kernel socket: the same protocol (TCP and TLS
    /// share TCP), the same port, and the same address or a wildcard of the same family.
    /// Port 0 (a port picked by the kernel) never conflicts.
    pub fn overlaps(&self, other: &Listen) -> bool {
        let (a, b) = (self.addr, other.addr);
        self.transport.is_stream() == other.transport.is_stream()
            && a.port() == b.port()
            && a.port() != 0
            && a.is_ipv4() == b.is_ipv4()
            && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

impl FromStr for Listen {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        const FORM: &str =
            "expected TRANSPORT:ADDRESS:PORT, such as \"udp:0.0.0.0:5060\" or \"tcp:[::1]:5060\"";
        let Some((name, addr)) = s.split_once(':') else {
            return Err(bad(format!("invalid listen address {s:?}: {FORM}")));
        };
        let Some(transport) = Protocol::from_token(name) else {
            return Err(bad(format!(
                "invalid listen address {s:?}: unknown transport {name:?} (expected udp, tcp or tls)"
            )));
        };
        let addr = addr.parse::<SocketAddr>().map_err(|_| {
            bad(format!(
                "invalid listen address {s:?}: {addr:?} is not IP:PORT; {FORM}"
            ))
        })?;
        Ok(Listen { transport, addr })
    }
}

/// The host of an upstream URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpstreamHost {
    Ip(IpAddr),
    /// A host name, resolved when the connection is made.
    Name(String),
}

impl fmt::Display for UpstreamHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamHost::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            UpstreamHost::Ip(a) => write!(f, "{a}"),
            UpstreamHost::Name(n) => f.write_str(n),
        }
    }
}

/// A PBX on the core side: `sip:HOST[:PORT][;transport=udp|tcp|tls]`, or `sips:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upstream {
    /// The URI as written.
    pub uri: String,
    pub host: UpstreamHost,
    /// The port as written; see [`Upstream::port`].
    pub port: Option<u16>,
    /// `;transport=` when given; otherwise TLS for `sips:` and UDP for `sip:`.
    pub transport: Protocol,
}

impl Upstream {
    /// The port to send to: the written one, else 5060 (5061 for TLS).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.transport.default_port())
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl FromStr for Upstream {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let uri = Uri::parse(s).map_err(|e| bad(format!("invalid upstream URI {s:?}: {e}")))?;
        let UriKind::Sip(sip) = uri.kind() else {
            return Err(bad(format!(
                "invalid upstream URI {s:?}: expected a sip: or sips: URI such as \"sip:127.0.0.1:5080\""
            )));
        };
        if sip.user.is_some() || sip.password.is_some() {
            return Err(bad(format!(
                "invalid upstream URI {s:?}: an upstream names a host, it has no user part"
            )));
        }
        if sip.headers.is_some() {
            return Err(bad(format!(
                "invalid upstream URI {s:?}: headers (`?...`) are not allowed here"
            )));
        }
        let mut transport = if sip.secure {
            Protocol::Tls
        } else {
            Protocol::Udp
        };
        for (name, value) in sip.params.iter() {
            if name.eq_ignore_ascii_case("lr") {
                continue;
            }
            if !name.eq_ignore_ascii_case("transport") {
                return Err(bad(format!(
                    "invalid upstream URI {s:?}: unknown parameter {name:?} (only transport and lr are allowed)"
                )));
            }
            let value = value.unwrap_or("");
            let Some(t) = Protocol::from_token(value) else {
                return Err(bad(format!(
                    "invalid upstream URI {s:?}: unsupported transport {value:?} (expected udp, tcp or tls)"
                )));
            };
            if sip.secure && t == Protocol::Udp {
                return Err(bad(format!(
                    "invalid upstream URI {s:?}: a sips: URI cannot use transport=udp"
                )));
            }
            transport = if sip.secure { Protocol::Tls } else { t };
        }
        let host = match sip.host {
            Host::Domain(d) => UpstreamHost::Name(d.to_ascii_lowercase()),
            Host::V4(a) => UpstreamHost::Ip(a.into()),
            Host::V6(a) => UpstreamHost::Ip(a.into()),
        };
        Ok(Upstream {
            uri: s.to_owned(),
            host,
            port: sip.port,
            transport,
        })
    }
}

/// The UDP ports of the media relay: `LOW-HIGH`, inclusive, with LOW even and HIGH odd so
/// that the range holds whole RTP/RTCP pairs (RTP on the even port, RTCP on the next).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    /// Lowest port allowed in a range: the ports below are reserved for system services.
    pub const MIN_PORT: u16 = 1024;

    /// How many RTP/RTCP pairs, and so how many media streams, the range can hold.
    pub fn pairs(&self) -> u32 {
        u32::from(self.high.saturating_sub(self.low)) / 2 + 1
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

impl FromStr for PortRange {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let Some((low, high)) = s.split_once('-') else {
            return Err(bad(format!(
                "invalid port range {s:?}: expected LOW-HIGH, such as \"20000-39999\""
            )));
        };
        let port = |t: &str| t.trim().parse::<u16>().ok();
        let (Some(low), Some(high)) = (port(low), port(high)) else {
            return Err(bad(format!(
                "invalid port range {s:?}: expected LOW-HIGH with ports from {} to 65535",
                Self::MIN_PORT
            )));
        };
        if low < Self::MIN_PORT {
            return Err(bad(format!(
                "invalid port range {s:?}: ports below {} are reserved",
                Self::MIN_PORT
            )));
        }
        if low >= high {
            return Err(bad(format!(
                "invalid port range {s:?}: the low port must be below the high port"
            )));
        }
        if low % 2 != 0 || high % 2 != 1 {
            return Err(bad(format!(
                "invalid port range {s:?}: it must start on an even port and end on an odd one, \
                 so that it holds whole RTP/RTCP pairs (such as \"20000-39999\")"
            )));
        }
        Ok(PortRange { low, high })
    }
}

/// Paths of a PEM certificate chain and its private key. Relative paths in the file are
/// resolved against the directory of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// A secret (the admin token). `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(s: String) -> Self {
        Self(s)
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What to do with a header that would reveal the software behind Palisade: the B2BUA's
/// own type, so that what is configured is what runs.
pub use palisade_b2bua::HeaderPolicy;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// Parses a duration: a number with a unit, such as `500ms`, `10s`, `5m`, `1h`, `1h 30m`.
/// Bare numbers are refused, so that `timeout: 10` cannot be read as milliseconds by one
/// person and seconds by another.
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad(format!(
            "duration {s:?} has no unit: write it as \"{t}s\" (or with ms, m, h)"
        )));
    }
    humantime::parse_duration(t).map_err(|e| {
        bad(format!(
            "invalid duration {s:?} ({e}): expected a number with a unit, such as \"500ms\", \"10s\", \"5m\" or \"1h\""
        ))
    })
}

/// Checks a log filter: a comma-separated list of `LEVEL` or `TARGET=LEVEL`, LEVEL one of
/// off, error, warn, info, debug, trace.
pub(crate) fn check_log_level(s: &str) -> Result<(), ValueError> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |l: &str| LEVELS.iter().any(|x| x.eq_ignore_ascii_case(l.trim()));
    if s.trim().is_empty() {
        return Err(bad("the log level is empty (expected info, debug, ...)"));
    }
    for directive in s.split(',') {
        let ok = match directive.split_once('=') {
            None => is_level(directive),
            Some((target, level)) => {
                let target = target.trim();
                !target.is_empty()
                    && target
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'))
                    && is_level(level)
            }
        };
        if !ok {
            return Err(bad(format!(
                "invalid log level {directive:?}: expected LEVEL or TARGET=LEVEL, LEVEL one of {}",
                LEVELS.join(", ")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_specs() {
        let l: Listen = "udp:[::1]:5060".parse().unwrap();
        assert_eq!(l.transport, Protocol::Udp);
        assert_eq!(l.to_string(), "udp:[::1]:5060");
        assert!("udp:0.0.0.0".parse::<Listen>().is_err());
        assert!("ws:0.0.0.0:80".parse::<Listen>().is_err());
        assert!("udp:localhost:5060".parse::<Listen>().is_err());
        let any: Listen = "tcp:0.0.0.0:5060".parse().unwrap();
        let lo: Listen = "tls:127.0.0.1:5060".parse().unwrap();
        let udp: Listen = "udp:127.0.0.1:5060".parse().unwrap();
        assert!(any.overlaps(&lo));
        assert!(!any.overlaps(&udp));
    }

    #[test]
    fn upstreams() {
        let u: Upstream = "sip:PBX.example.com;transport=TCP".parse().unwrap();
        assert_eq!(u.host, UpstreamHost::Name("pbx.example.com".into()));
        assert_eq!((u.transport, u.port()), (Protocol::Tcp, 5060));
        let u: Upstream = "sips:[2001:db8::1]:5071".parse().unwrap();
        assert_eq!((u.transport, u.port()), (Protocol::Tls, 5071));
        for bad in [
            "sip:alice@pbx",
            "tel:+123",
            "sip:pbx;transport=ws",
            "sips:pbx;transport=udp",
            "sip:pbx;foo=1",
            "sip:pbx?x=y",
            "pbx:5060",
        ] {
            assert!(bad.parse::<Upstream>().is_err(), "{bad}");
        }
    }

    #[test]
    fn port_ranges() {
        let r: PortRange = "20000-39999".parse().unwrap();
        assert_eq!(r.pairs(), 10_000);
        assert!("1024-1025".parse::<PortRange>().is_ok());
        for bad in [
            "20000",
            "20001-39999",
            "20000-40000",
            "1000-2001",
            "3001-3000",
            "2000-2000",
        ] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("10").unwrap_err().0.contains("\"10s\""));
        assert!(parse_duration("ten seconds").is_err());
    }

    #[test]
    fn log_levels() {
        assert!(check_log_level("info").is_ok());
        assert!(check_log_level("warn,palisade_sip=debug").is_ok());
        assert!(check_log_level("loud").is_err());
        assert!(check_log_level("a b=info").is_err());
    }
}
