//! From the raw YAML tree to a [`Config`]: parse every value, fill in defaults, check
//! what no type can express, and collect every problem on the way instead of stopping at
//! the first one.
//!
//! # Positions
//!
//! Every raw value is a `serde_saphyr::Spanned<T>`, which records where its YAML node
//! starts (line and column, counted in characters from 1). An error about a value points
//! at that value: for `listen: [...]` entries at the entry, for `interval: 10` at `10`,
//! which is on the line of its key. An error about a key that is missing points at the
//! mapping that should hold it (a `Spanned` section starts at its first key), or at 1:1
//! when the whole section is missing. For a value reached through a YAML alias, the
//! position is that of the alias (`Spanned::referenced`), where the value is used.
//!
//! Errors the YAML reader itself raises (syntax, unknown keys, a list where a number
//! belongs) stop the reading, so there is one of those at most; their position comes
//! from `serde_saphyr::Error::location`.

use std::fmt::Display;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use crate::error::{ConfigError, Position};
use crate::raw::{self, F, List, RawConfig, RawHeaderPolicy};
use crate::sections::*;
use crate::types::{
    HeaderPolicy, Listen, PortRange, Protocol, Secret, TlsFiles, Upstream, check_log_level,
    parse_duration,
};
use crate::{Config, types::LogFormat};

/// Longest admin token file read, in bytes.
const MAX_TOKEN_FILE: u64 = 4096;
/// Shortest admin token accepted.
pub(crate) const MIN_TOKEN_LEN: usize = 16;
/// Longest text of `{ set: ... }` in a header policy.
const MAX_HEADER_TEXT: usize = 256;

pub(crate) fn position(l: &Location) -> Position {
    if l.line() == 0 {
        Position::START
    } else {
        Position {
            line: l.line(),
            column: l.column().max(1),
        }
    }
}

pub(crate) fn at<T>(f: &F<T>) -> Option<Position> {
    f.as_ref().map(|s| position(&s.referenced))
}

pub(crate) fn value<T>(f: &F<T>) -> Option<&T> {
    f.as_ref().map(|s| &s.value)
}

fn show(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

/// A listener with where it was written, for the conflict checks.
struct Placed {
    listen: Listen,
    path: String,
    at: Position,
}

pub(crate) struct Ctx<'a> {
    origin: &'a str,
    base_dir: Option<&'a Path>,
    errors: Vec<ConfigError>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(origin: &'a str, base_dir: Option<&'a Path>) -> Self {
        Self {
            origin,
            base_dir,
            errors: Vec::new(),
        }
    }

    pub(crate) fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }

    pub(crate) fn error(&mut self, at: Option<Position>, key: &str, msg: impl Display) {
        self.errors.push(ConfigError::new(
            self.origin,
            Some(at.unwrap_or(Position::START)),
            format!("{key}: {msg}"),
        ));
    }

    /// An unsigned number within `min..=max`, or the default.
    /// Digits, optionally grouped with `_` (`10_000`).
    pub(crate) fn number(
        &mut self,
        f: &F<String>,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> u64 {
        let Some(s) = f else { return default };
        let digits: String = s.value.trim().chars().filter(|&c| c != '_').collect();
        let n = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse::<u64>().ok()
        } else {
            None
        };
        match n {
            Some(n) if (min..=max).contains(&n) => n,
            Some(n) => {
                self.error(
                    at(f),
                    key,
                    format!("{n} is out of range: expected {min} to {max}"),
                );
                default
            }
            None => {
                self.error(
                    at(f),
                    key,
                    format!("{:?} is not a whole number from {min} to {max}", s.value),
                );
                default
            }
        }
    }

    pub(crate) fn count(
        &mut self,
        f: &F<String>,
        key: &str,
        default: u32,
        min: u32,
        max: u32,
    ) -> u32 {
        let n = self.number(f, key, default.into(), min.into(), max.into());
        u32::try_from(n).unwrap_or(default)
    }

    pub(crate) fn size(
        &mut self,
        f: &F<String>,
        key: &str,
        default: usize,
        min: u64,
        max: u64,
    ) -> usize {
        let d = u64::try_from(default).unwrap_or(u64::MAX);
        let n = self.number(f, key, d, min, max);
        usize::try_from(n).unwrap_or(default)
    }

    /// A duration within `min..=max`, or the default.
    pub(crate) fn duration(
        &mut self,
        f: &F<String>,
        key: &str,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let Some(s) = f else { return default };
        match parse_duration(&s.value) {
            Err(e) => {
                self.error(at(f), key, e);
                default
            }
            Ok(d) if d < min || d > max => {
                self.error(
                    at(f),
                    key,
                    format!(
                        "{} is out of range: expected {} to {}",
                        show(d),
                        show(min),
                        show(max)
                    ),
                );
                default
            }
            Ok(d) => d,
        }
    }

    /// A duration in whole seconds (for values SIP carries as seconds).
    fn seconds(
        &mut self,
        f: &F<String>,
        key: &str,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let d = self.duration(f, key, default, min, max);
        if d.subsec_nanos() != 0 {
            self.error(
                at(f),
                key,
                format!(
                    "{} is not a whole number of seconds (SIP carries this value in seconds)",
                    show(d)
                ),
            );
            return default;
        }
        d
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        match self.base_dir {
            Some(base) if p.is_relative() => base.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// A path to a regular file that can be opened for reading.
    fn readable_file(&mut self, f: &Spanned<String>, key: &str) -> Option<PathBuf> {
        let pos = Some(position(&f.referenced));
        if f.value.trim().is_empty() {
            self.error(pos, key, "the path is empty");
            return None;
        }
        let path = self.resolve(&f.value);
        let check = std::fs::metadata(&path).and_then(|m| {
            if m.is_dir() {
                Err(std::io::Error::other("it is a directory"))
            } else {
                std::fs::File::open(&path).map(drop)
            }
        });
        match check {
            Ok(()) => Some(path),
            Err(e) => {
                self.error(pos, key, format!("cannot read {}: {e}", path.display()));
                None
            }
        }
    }

    fn advertise(&mut self, f: &F<String>, key: &str) -> Option<IpAddr> {
        let s = f.as_ref()?;
        match s.value.trim().parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
                self.error(
                    at(f),
                    key,
                    format!("{ip} cannot be advertised: it must be a unicast address that peers can reach"),
                );
                None
            }
            Ok(IpAddr::V4(v4)) if v4.is_broadcast() => {
                self.error(at(f), key, format!("{v4} is a broadcast address"));
                None
            }
            Ok(ip) => Some(ip),
            Err(_) => {
                self.error(
                    at(f),
                    key,
                    format!(
                        "{:?} is not an IP address, such as \"203.0.113.10\"",
                        s.value
                    ),
                );
                None
            }
        }
    }

    /// The listen list of one side; reports an empty or missing list.
    fn listeners(
        &mut self,
        f: &F<List>,
        key: &str,
        section_at: Option<Position>,
        placed: &mut Vec<Placed>,
    ) -> Vec<Listen> {
        let items = value(f).map(Vec::as_slice).unwrap_or_default();
        if items.is_empty() {
            self.error(
                at(f).or(section_at),
                key,
                "at least one listener is required, such as \"udp:0.0.0.0:5060\"",
            );
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{key}[{i}]");
            let pos = position(&item.referenced);
            match item.value.trim().parse::<Listen>() {
                Ok(l) => {
                    placed.push(Placed {
                        listen: l,
                        path,
                        at: pos,
                    });
                    out.push(l);
                }
                Err(e) => self.error(Some(pos), &path, e),
            }
        }
        out
    }

    /// A list of networks in CIDR notation; a bare address is a network of one.
    fn networks(&mut self, f: &F<List>, key: &str) -> Vec<ipnet::IpNet> {
        let items = value(f).map(Vec::as_slice).unwrap_or_default();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let text = item.value.trim();
            let net = text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from));
            match net {
                Ok(n) => out.push(n.trunc()),
                Err(_) => self.error(
                    Some(position(&item.referenced)),
                    &format!("{key}[{i}]"),
                    format!("{text:?} is not a network such as \"198.51.100.0/24\" or an address"),
                ),
            }
        }
        out
    }

    /// `true` or `false`.
    fn flag(&mut self, f: &F<String>, key: &str, default: bool) -> bool {
        let Some(s) = f else { return default };
        match s.value.trim() {
            "true" => true,
            "false" => false,
            other => {
                self.error(at(f), key, format!("{other:?} is not true or false"));
                default
            }
        }
    }

    /// Domain names, such as `voip.example.com`: letters, digits, `-` and `.`. Kept in
    /// lower case and without a trailing dot.
    fn domains(&mut self, f: &F<List>, key: &str) -> Vec<String> {
        let items = value(f).map(Vec::as_slice).unwrap_or_default();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let text = item.value.trim();
            let name = text.strip_suffix('.').unwrap_or(text);
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.parse::<IpAddr>().is_err()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if valid {
                out.push(name.to_ascii_lowercase());
            } else {
                self.error(
                    Some(position(&item.referenced)),
                    &format!("{key}[{i}]"),
                    format!(
                        "{text:?} is not a domain name such as \"voip.example.com\" (IP addresses are always served)"
                    ),
                );
            }
        }
        out
    }

    /// A file Palisade writes: its directory must exist.
    fn writable_path(&mut self, f: &F<String>, key: &str) -> Option<PathBuf> {
        let s = f.as_ref()?;
        let pos = Some(position(&s.referenced));
        if s.value.trim().is_empty() {
            self.error(pos, key, "the path is empty");
            return None;
        }
        let path = self.resolve(s.value.trim());
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            self.error(
                pos,
                key,
                format!("directory {} does not exist", dir.display()),
            );
            return None;
        }
        if path.is_dir() {
            self.error(pos, key, format!("{} is a directory", path.display()));
            return None;
        }
        Some(path)
    }

    /// `security`.
    fn security(&mut self, f: &F<raw::RawSecurity>) -> SecurityConfig {
        let d = SecurityConfig::default();
        let Some(s) = f else { return d };
        let sec = &s.value;
        let k = "security";
        let bans = match value(&sec.bans) {
            None => d.bans.clone(),
            Some(b) => {
                let time = self.duration(
                    &b.time,
                    "security.bans.time",
                    d.bans.time,
                    secs(1),
                    30 * DAY,
                );
                let max_time = self.duration(
                    &b.max_time,
                    "security.bans.max_time",
                    d.bans.max_time.max(time),
                    secs(1),
                    365 * DAY,
                );
                if max_time < time {
                    self.error(
                        at(&b.max_time),
                        "security.bans.max_time",
                        format!(
                            "{} is shorter than security.bans.time ({})",
                            show(max_time),
                            show(time)
                        ),
                    );
                }
                BansConfig {
                    file: self.writable_path(&b.file, "security.bans.file"),
                    time,
                    max_time,
                }
            }
        };
        let rates = match value(&sec.rates) {
            None => d.rates,
            Some(r) => {
                let mut rate = |f: &F<String>, name: &str, default: u32| {
                    self.count(f, &format!("{k}.rates.{name}"), default, 1, 1_000_000)
                };
                RatesConfig {
                    register: rate(&r.register, "register", d.rates.register),
                    invite: rate(&r.invite, "invite", d.rates.invite),
                    other: rate(&r.other, "other", d.rates.other),
                }
            }
        };
        let da = d.auth_failures;
        let auth_failures = match value(&sec.auth_failures) {
            None => da,
            Some(a) => palisade_guard::AuthFailures {
                max: self.count(&a.max, "security.auth_failures.max", da.max, 1, 1000),
                window: self.duration(
                    &a.window,
                    "security.auth_failures.window",
                    da.window,
                    secs(1),
                    DAY,
                ),
                account_alert: self.count(
                    &a.account_alert,
                    "security.auth_failures.account_alert",
                    da.account_alert,
                    1,
                    1_000_000,
                ),
            },
        };
        let ds = d.sweep;
        let sweep = match value(&sec.sweep) {
            None => ds,
            Some(w) => palisade_guard::Sweep {
                max_users: self.count(
                    &w.max_users,
                    "security.sweep.max_users",
                    ds.max_users,
                    1,
                    100_000,
                ),
                window: self.duration(&w.window, "security.sweep.window", ds.window, secs(1), DAY),
            },
        };
        SecurityConfig {
            trusted: self.networks(&sec.trusted, "security.trusted"),
            enabled: self.flag(&sec.enabled, "security.enabled", d.enabled),
            allow: self.networks(&sec.allow, "security.allow"),
            deny: self.networks(&sec.deny, "security.deny"),
            domains: self.domains(&sec.domains, "security.domains"),
            scanners: self.flag(&sec.scanners, "security.scanners", d.scanners),
            max_tracked_sources: self.count(
                &sec.max_tracked_sources,
                "security.max_tracked_sources",
                d.max_tracked_sources,
                100,
                10_000_000,
            ),
            bans,
            rates,
            auth_failures,
            sweep,
        }
    }

    /// `SIDE.tls`, and the check that a `tls:` listener has it.
    fn tls(&mut self, f: &F<raw::RawTls>, key: &str, placed: &[Placed]) -> Option<TlsFiles> {
        let Some(s) = f else {
            let side = key.split('.').next().unwrap_or_default();
            let mine = |p: &&Placed| p.path.split('.').next() == Some(side);
            if let Some(p) = placed
                .iter()
                .filter(mine)
                .find(|p| p.listen.transport == Protocol::Tls)
            {
                self.error(
                    Some(p.at),
                    &p.path,
                    format!("{} needs {key}.cert and {key}.key", p.listen),
                );
            }
            return None;
        };
        let section = Some(position(&s.referenced));
        let file = |ctx: &mut Self, field: &F<String>, name: &str| match field {
            Some(p) => ctx.readable_file(p, &format!("{key}.{name}")),
            None => {
                ctx.error(section, key, format!("`{name}` is required"));
                None
            }
        };
        let cert = file(self, &s.value.cert, "cert");
        let key_path = file(self, &s.value.key, "key");
        Some(TlsFiles {
            cert: cert?,
            key: key_path?,
        })
    }

    fn upstreams(
        &mut self,
        f: &F<List>,
        section_at: Option<Position>,
        listeners: &[Listen],
    ) -> Vec<Upstream> {
        let key = "core.upstream";
        let items = value(f).map(Vec::as_slice).unwrap_or_default();
        if items.is_empty() {
            self.error(
                at(f).or(section_at),
                key,
                "at least one upstream is required, such as \"sip:127.0.0.1:5080\"",
            );
        }
        let mut out: Vec<Upstream> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{key}[{i}]");
            let pos = Some(position(&item.referenced));
            match item.value.trim().parse::<Upstream>() {
                Ok(u) => {
                    let same = |o: &Upstream| {
                        o.host == u.host && o.port() == u.port() && o.transport == u.transport
                    };
                    if let Some(j) = out.iter().position(same) {
                        self.error(
                            pos,
                            &path,
                            format!("{u} is the same upstream as {key}[{j}]"),
                        );
                    }
                    if !listeners.is_empty()
                        && !listeners.iter().any(|l| l.transport == u.transport)
                    {
                        self.error(
                            pos,
                            &path,
                            format!(
                                "{u} is reached over {t}, but core.listen has no {t}: listener to send from",
                                t = u.transport
                            ),
                        );
                    }
                    out.push(u);
                }
                Err(e) => self.error(pos, &path, e),
            }
        }
        out
    }

    fn header_policy(
        &mut self,
        f: &F<RawHeaderPolicy>,
        key: &str,
        default: HeaderPolicy,
    ) -> HeaderPolicy {
        match value(f) {
            None => default,
            Some(RawHeaderPolicy::Hide) => HeaderPolicy::Hide,
            Some(RawHeaderPolicy::Pass) => HeaderPolicy::Pass,
            Some(RawHeaderPolicy::Set(text)) => {
                let t = text.trim();
                if t.is_empty() || t.len() > MAX_HEADER_TEXT || t.chars().any(char::is_control) {
                    self.error(
                        at(f),
                        key,
                        format!(
                            "the header text must be 1 to {MAX_HEADER_TEXT} bytes without control characters"
                        ),
                    );
                    return default;
                }
                HeaderPolicy::Set(t.to_owned())
            }
        }
    }

    fn token_text(&mut self, text: &str, pos: Option<Position>, key: &str) -> Option<Secret> {
        if text.chars().count() < MIN_TOKEN_LEN {
            self.error(
                pos,
                key,
                format!("the token is too short: use at least {MIN_TOKEN_LEN} characters"),
            );
            return None;
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            self.error(pos, key, "the token must be printable ASCII without spaces");
            return None;
        }
        Some(Secret::new(text.to_owned()))
    }

    /// A size in bytes within `min..=max`: digits, optionally followed by a binary unit
    /// (`KiB`, `MiB`, `GiB`), such as `100MiB`.
    fn byte_size(&mut self, f: &F<String>, key: &str, default: u64, min: u64, max: u64) -> u64 {
        let Some(s) = f else { return default };
        let text = s.value.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit() && c != '_')
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let shift = match unit.trim() {
            "" => Some(0),
            "KiB" => Some(10),
            "MiB" => Some(20),
            "GiB" => Some(30),
            _ => None,
        };
        let digits: String = digits.chars().filter(|&c| c != '_').collect();
        let n = shift.and_then(|sh| {
            digits
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(1 << sh))
        });
        match n {
            Some(n) if (min..=max).contains(&n) => n,
            _ => {
                self.error(
                    at(f),
                    key,
                    format!(
                        "{:?} is not a size from {min} to {max} bytes, such as \"100MiB\" \
                         (units KiB, MiB, GiB)",
                        s.value
                    ),
                );
                default
            }
        }
    }

    fn records(&mut self, f: &F<raw::RawRecords>) -> RecordsConfig {
        let d = RecordsConfig::default();
        let Some(r) = value(f) else { return d };
        let path = r.path.as_ref().and_then(|p| {
            if p.value.trim().is_empty() {
                self.error(at(&r.path), "records.path", "the path is empty");
                return None;
            }
            Some(self.resolve(p.value.trim()))
        });
        RecordsConfig {
            path,
            rotate_size: self.byte_size(
                &r.rotate_size,
                "records.rotate_size",
                d.rotate_size,
                4096,
                1 << 40,
            ),
            rotate_age: self.duration(
                &r.rotate_age,
                "records.rotate_age",
                d.rotate_age,
                Duration::from_secs(60),
                Duration::from_secs(366 * 24 * 3600),
            ),
            keep: self.count(&r.keep, "records.keep", d.keep, 1, 100_000),
        }
    }

    fn admin(&mut self, f: &F<raw::RawAdmin>, placed: &[Placed]) -> AdminConfig {
        let d = AdminConfig::default();
        let Some(s) = f else { return d };
        let a = &s.value;
        let listen = match &a.listen {
            None => d.listen,
            Some(l) => match l.value.trim().parse::<SocketAddr>() {
                Ok(addr) => addr,
                Err(_) => {
                    self.error(
                        at(&a.listen),
                        "admin.listen",
                        format!("{:?} is not IP:PORT, such as \"127.0.0.1:9090\"", l.value),
                    );
                    d.listen
                }
            },
        };
        let token = match (&a.token, &a.token_file) {
            (Some(_), Some(_)) => {
                self.error(
                    at(&a.token_file),
                    "admin.token_file",
                    "set admin.token or admin.token_file, not both",
                );
                None
            }
            (Some(t), None) => self.token_text(&t.value, at(&a.token), "admin.token"),
            (None, Some(p)) => match self.readable_file(p, "admin.token_file") {
                None => None,
                Some(path) => match read_small(&path) {
                    Ok(text) => self.token_text(
                        text.trim_end_matches(['\n', '\r']),
                        at(&a.token_file),
                        "admin.token_file",
                    ),
                    Err(e) => {
                        self.error(
                            at(&a.token_file),
                            "admin.token_file",
                            format!("cannot read {}: {e}", path.display()),
                        );
                        None
                    }
                },
            },
            (None, None) => None,
        };
        let token_given = a.token.is_some() || a.token_file.is_some();
        if !listen.ip().is_loopback() && !token_given {
            self.error(
                at(&a.listen),
                "admin.listen",
                format!(
                    "{listen} is not a loopback address: set admin.token (or admin.token_file) \
                     so that the admin API is not open to anyone who can reach it"
                ),
            );
        }
        let as_tcp = Listen {
            transport: Protocol::Tcp,
            addr: listen,
        };
        if let Some(p) = placed.iter().find(|p| p.listen.overlaps(&as_tcp)) {
            self.error(
                at(&a.listen),
                "admin.listen",
                format!(
                    "{listen} needs the same TCP socket as {} ({}, line {})",
                    p.path, p.listen, p.at.line
                ),
            );
        }
        AdminConfig {
            listen,
            token,
            max_connections: self.count(
                &a.max_connections,
                "admin.max_connections",
                d.max_connections,
                1,
                10_000,
            ),
            header_timeout: self.duration(
                &a.header_timeout,
                "admin.header_timeout",
                d.header_timeout,
                Duration::from_millis(100),
                Duration::from_secs(300),
            ),
            request_timeout: self.duration(
                &a.request_timeout,
                "admin.request_timeout",
                d.request_timeout,
                Duration::from_millis(100),
                Duration::from_secs(300),
            ),
        }
    }

    /// No listener twice, no two listeners on one socket, and access and core apart.
    fn conflicts(&mut self, placed: &[Placed]) {
        for (j, b) in placed.iter().enumerate() {
            let Some(a) = placed[..j].iter().find(|a| a.listen.overlaps(&b.listen)) else {
                continue;
            };
            let side = |p: &Placed| p.path.split('.').next().unwrap_or_default().to_owned();
            let msg = if a.listen == b.listen && side(a) == side(b) {
                format!(
                    "{} is listed twice (also {} at line {})",
                    b.listen, a.path, a.at.line
                )
            } else if side(a) != side(b) {
                format!(
                    "{} is the same socket as {} ({}, line {}): the access and core sides \
                     must listen on different sockets",
                    b.listen, a.path, a.listen, a.at.line
                )
            } else {
                let proto = if b.listen.transport.is_stream() {
                    "TCP"
                } else {
                    "UDP"
                };
                format!(
                    "{} needs the same {proto} socket as {} ({}, line {})",
                    b.listen, a.path, a.listen, a.at.line
                )
            };
            self.error(Some(b.at), &b.path, msg);
        }
    }
}

fn read_small(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_TOKEN_FILE)
        .read_to_string(&mut text)?;
    Ok(text)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const HOUR: Duration = secs(3600);
const DAY: Duration = secs(86_400);

/// Builds the configuration; `None` when any error was recorded in `ctx`.
pub(crate) fn build(raw: &RawConfig, ctx: &mut Ctx<'_>) -> Option<Config> {
    let mut placed = Vec::new();

    // access
    let access_at = at(&raw.access);
    let access = value(&raw.access);
    let listen_f = access.and_then(|a| a.listen.clone());
    let access_listen = ctx.listeners(&listen_f, "access.listen", access_at, &mut placed);
    let access = AccessConfig {
        advertise: access.and_then(|a| ctx.advertise(&a.advertise, "access.advertise")),
        tls: access.and_then(|a| ctx.tls(&a.tls, "access.tls", &placed)),
        listen: access_listen,
    };

    // core
    let core_at = at(&raw.core);
    let core = value(&raw.core);
    let listen_f = core.and_then(|c| c.listen.clone());
    let core_listen = ctx.listeners(&listen_f, "core.listen", core_at, &mut placed);
    let upstream_f = core.and_then(|c| c.upstream.clone());
    let upstream = ctx.upstreams(&upstream_f, core_at, &core_listen);
    let probe = core.and_then(|c| value(&c.probe));
    let dp = ProbeConfig::default();
    let probe = match probe {
        None => dp,
        Some(p) => {
            let interval = ctx.duration(
                &p.interval,
                "core.probe.interval",
                dp.interval,
                secs(1),
                HOUR,
            );
            let timeout = ctx.duration(
                &p.timeout,
                "core.probe.timeout",
                dp.timeout,
                ms(100),
                secs(60),
            );
            if timeout > interval {
                ctx.error(
                    at(&p.timeout).or(at(&p.interval)),
                    "core.probe.timeout",
                    format!(
                        "{} is longer than the probe interval ({})",
                        show(timeout),
                        show(interval)
                    ),
                );
            }
            ProbeConfig {
                interval,
                timeout,
                failures_before_down: ctx.count(
                    &p.failures_before_down,
                    "core.probe.failures_before_down",
                    dp.failures_before_down,
                    1,
                    100,
                ),
                successes_before_up: ctx.count(
                    &p.successes_before_up,
                    "core.probe.successes_before_up",
                    dp.successes_before_up,
                    1,
                    100,
                ),
            }
        }
    };
    let core = CoreConfig {
        advertise: core.and_then(|c| ctx.advertise(&c.advertise, "core.advertise")),
        tls: core.and_then(|c| ctx.tls(&c.tls, "core.tls", &placed)),
        upstream_ca: core
            .and_then(|c| c.upstream_ca.as_ref())
            .and_then(|p| ctx.readable_file(p, "core.upstream_ca")),
        listen: core_listen,
        upstream,
        probe,
    };
    ctx.conflicts(&placed);

    // media
    let dm = MediaConfig::default();
    let raw_media = value(&raw.media);
    let ports = match raw_media.and_then(|m| m.ports.as_ref()) {
        None => dm.ports,
        Some(p) => match p.value.trim().parse::<PortRange>() {
            Ok(ports) => ports,
            Err(e) => {
                ctx.error(Some(position(&p.referenced)), "media.ports", e);
                dm.ports
            }
        },
    };
    let media = match raw_media {
        None => MediaConfig { ports, ..dm },
        Some(m) => MediaConfig {
            anchor: ctx.flag(&m.anchor, "media.anchor", dm.anchor),
            ports,
            timeout: ctx.duration(&m.timeout, "media.timeout", dm.timeout, secs(5), HOUR),
            hold_timeout: ctx.duration(
                &m.hold_timeout,
                "media.hold_timeout",
                dm.hold_timeout,
                secs(5),
                24 * HOUR,
            ),
            spare_pairs: ctx.count(&m.spare_pairs, "media.spare_pairs", dm.spare_pairs, 0, 1024),
        },
    };

    let admin = ctx.admin(&raw.admin, &placed);

    // sip
    let ds = SipConfig::default();
    let sip = match value(&raw.sip) {
        None => ds,
        Some(s) => {
            let limits = match value(&s.limits) {
                None => ds.limits,
                Some(l) => {
                    let d = ds.limits;
                    let k = "sip.limits";
                    let max_message_size = ctx.size(
                        &l.max_message_size,
                        &format!("{k}.max_message_size"),
                        d.max_message_size,
                        1500,
                        65_535,
                    );
                    let max_stream_message_size = ctx.size(
                        &l.max_stream_message_size,
                        &format!("{k}.max_stream_message_size"),
                        d.max_stream_message_size,
                        1500,
                        1 << 20,
                    );
                    let max_headers = ctx.size(
                        &l.max_headers,
                        &format!("{k}.max_headers"),
                        d.max_headers,
                        16,
                        1024,
                    );
                    let max_header_len = ctx.size(
                        &l.max_header_len,
                        &format!("{k}.max_header_len"),
                        d.max_header_len,
                        256,
                        65_535,
                    );
                    let smallest = max_message_size.min(max_stream_message_size);
                    if max_header_len > smallest {
                        ctx.error(
                            at(&l.max_header_len).or(at(&s.limits)),
                            &format!("{k}.max_header_len"),
                            format!(
                                "{max_header_len} is larger than the largest message ({smallest})"
                            ),
                        );
                    }
                    SipLimits {
                        max_message_size,
                        max_stream_message_size,
                        max_headers,
                        max_header_len,
                    }
                }
            };
            let timers = match value(&s.timers) {
                None => ds.timers,
                Some(t) => {
                    let d = ds.timers;
                    let t1 = ctx.duration(&t.t1, "sip.timers.t1", d.t1, ms(10), secs(10));
                    let t2 = ctx.duration(&t.t2, "sip.timers.t2", d.t2, ms(10), secs(60));
                    let t4 = ctx.duration(&t.t4, "sip.timers.t4", d.t4, ms(100), secs(60));
                    if t2 < t1 {
                        ctx.error(
                            at(&t.t2).or(at(&t.t1)),
                            "sip.timers.t2",
                            format!("{} is shorter than t1 ({})", show(t2), show(t1)),
                        );
                    }
                    SipTimers { t1, t2, t4 }
                }
            };
            let udp_mtu_allowance = ctx.size(
                &s.udp_mtu_allowance,
                "sip.udp_mtu_allowance",
                ds.udp_mtu_allowance,
                512,
                65_535,
            );
            SipConfig {
                limits,
                timers,
                udp_mtu_allowance,
            }
        }
    };

    // transport
    let dt = TcpConfig::default();
    let tcp = match value(&raw.transport).and_then(|t| value(&t.tcp)) {
        None => dt,
        Some(t) => {
            let k = "transport.tcp";
            let max_connections = ctx.count(
                &t.max_connections,
                &format!("{k}.max_connections"),
                dt.max_connections,
                1,
                1_000_000,
            );
            let max_connections_per_source = ctx.count(
                &t.max_connections_per_source,
                &format!("{k}.max_connections_per_source"),
                dt.max_connections_per_source,
                1,
                1_000_000,
            );
            if max_connections_per_source > max_connections {
                ctx.error(
                    at(&t.max_connections_per_source).or(at(&t.max_connections)),
                    &format!("{k}.max_connections_per_source"),
                    format!(
                        "{max_connections_per_source} is more than max_connections ({max_connections})"
                    ),
                );
            }
            TcpConfig {
                max_connections,
                max_connections_per_source,
                idle_timeout: ctx.duration(
                    &t.idle_timeout,
                    &format!("{k}.idle_timeout"),
                    dt.idle_timeout,
                    secs(1),
                    DAY,
                ),
                message_timeout: ctx.duration(
                    &t.message_timeout,
                    &format!("{k}.message_timeout"),
                    dt.message_timeout,
                    ms(100),
                    secs(600),
                ),
                tls_handshake_timeout: ctx.duration(
                    &t.tls_handshake_timeout,
                    &format!("{k}.tls_handshake_timeout"),
                    dt.tls_handshake_timeout,
                    ms(100),
                    secs(300),
                ),
                tls_handshakes_per_second: ctx.count(
                    &t.tls_handshakes_per_second,
                    &format!("{k}.tls_handshakes_per_second"),
                    dt.tls_handshakes_per_second,
                    0,
                    1_000_000,
                ),
                write_queue: ctx.count(
                    &t.write_queue,
                    &format!("{k}.write_queue"),
                    dt.write_queue,
                    1,
                    1_000_000,
                ),
            }
        }
    };
    let du = UdpConfig::default();
    let udp = match value(&raw.transport).and_then(|t| value(&t.udp)) {
        None => du,
        Some(u) => UdpConfig {
            socket_buffer: ctx.size(
                &u.socket_buffer,
                "transport.udp.socket_buffer",
                du.socket_buffer,
                4096,
                1 << 30,
            ),
            send_queue: ctx.size(
                &u.send_queue,
                "transport.udp.send_queue",
                du.send_queue,
                16,
                10_000_000,
            ),
        },
    };
    let event_queue = match value(&raw.transport) {
        None => TransportConfig::default().event_queue,
        Some(t) => ctx.size(
            &t.event_queue,
            "transport.event_queue",
            TransportConfig::default().event_queue,
            16,
            10_000_000,
        ),
    };

    // calls
    let dc = CallsConfig::default();
    let calls = match value(&raw.calls) {
        None => dc,
        Some(c) => {
            let session_timer = match value(&c.session_timer) {
                None => dc.session_timer,
                Some(st) => {
                    let d = dc.session_timer;
                    let k = "calls.session_timer";
                    let min_se =
                        ctx.seconds(&st.min_se, &format!("{k}.min_se"), d.min_se, secs(90), DAY);
                    let default_interval = ctx.seconds(
                        &st.default_interval,
                        &format!("{k}.default_interval"),
                        d.default_interval,
                        secs(90),
                        DAY,
                    );
                    if default_interval < min_se {
                        ctx.error(
                            at(&st.default_interval).or(at(&st.min_se)),
                            &format!("{k}.default_interval"),
                            format!(
                                "{} is shorter than min_se ({})",
                                show(default_interval),
                                show(min_se)
                            ),
                        );
                    }
                    SessionTimerConfig {
                        insert: ctx.flag(&st.insert, &format!("{k}.insert"), d.insert),
                        default_interval,
                        min_se,
                    }
                }
            };
            CallsConfig {
                max_active: ctx.count(
                    &c.max_active,
                    "calls.max_active",
                    dc.max_active,
                    1,
                    1_000_000,
                ),
                overload_delay: ctx.duration(
                    &c.overload_delay,
                    "calls.overload_delay",
                    dc.overload_delay,
                    ms(10),
                    secs(10),
                ),
                invite_timeout: ctx.duration(
                    &c.invite_timeout,
                    "calls.invite_timeout",
                    dc.invite_timeout,
                    secs(1),
                    HOUR,
                ),
                session_timer,
            }
        }
    };

    // registration
    let dr = RegistrationConfig::default();
    let registration = match value(&raw.registration) {
        None => dr,
        Some(r) => {
            let k = "registration";
            let min_expires = ctx.seconds(
                &r.min_expires,
                &format!("{k}.min_expires"),
                dr.min_expires,
                secs(1),
                DAY,
            );
            let max_expires = ctx.seconds(
                &r.max_expires,
                &format!("{k}.max_expires"),
                dr.max_expires,
                secs(1),
                DAY,
            );
            let default_expires = ctx.seconds(
                &r.default_expires,
                &format!("{k}.default_expires"),
                dr.default_expires,
                secs(1),
                DAY,
            );
            if min_expires > max_expires {
                ctx.error(
                    at(&r.max_expires).or(at(&r.min_expires)),
                    &format!("{k}.max_expires"),
                    format!(
                        "{} is shorter than min_expires ({})",
                        show(max_expires),
                        show(min_expires)
                    ),
                );
            } else if default_expires < min_expires || default_expires > max_expires {
                ctx.error(
                    at(&r.default_expires)
                        .or(at(&r.max_expires))
                        .or(at(&r.min_expires)),
                    &format!("{k}.default_expires"),
                    format!(
                        "{} is outside min_expires..max_expires ({} to {})",
                        show(default_expires),
                        show(min_expires),
                        show(max_expires)
                    ),
                );
            }
            let nat_expires = ctx.seconds(
                &r.nat_expires,
                &format!("{k}.nat_expires"),
                dr.nat_expires,
                secs(0),
                DAY,
            );
            let core_expires = ctx.seconds(
                &r.core_expires,
                &format!("{k}.core_expires"),
                dr.core_expires,
                secs(1),
                DAY,
            );
            let keepalive_interval = ctx.seconds(
                &r.keepalive_interval,
                &format!("{k}.keepalive_interval"),
                dr.keepalive_interval,
                secs(0),
                HOUR,
            );
            RegistrationConfig {
                min_expires,
                max_expires,
                default_expires,
                nat_expires,
                core_expires,
                keepalive_interval,
            }
        }
    };

    // topology
    let dtop = TopologyConfig::default();
    let topology = match value(&raw.topology) {
        None => dtop,
        Some(t) => TopologyConfig {
            server_header: ctx.header_policy(
                &t.server_header,
                "topology.server_header",
                dtop.server_header,
            ),
            user_agent_header: ctx.header_policy(
                &t.user_agent_header,
                "topology.user_agent_header",
                dtop.user_agent_header,
            ),
        },
    };

    let security = ctx.security(&raw.security);

    let fraud = crate::fraud::build(value(&raw.fraud), ctx);

    let dd = DrainConfig::default();
    let drain = match value(&raw.drain) {
        None => dd,
        Some(d) => DrainConfig {
            deadline: ctx.duration(&d.deadline, "drain.deadline", dd.deadline, secs(0), DAY),
        },
    };

    let dl = LogConfig::default();
    let log = match value(&raw.log) {
        None => dl,
        Some(l) => {
            let level = match &l.level {
                None => dl.level,
                Some(s) => match check_log_level(&s.value) {
                    Ok(()) => s.value.trim().to_owned(),
                    Err(e) => {
                        ctx.error(at(&l.level), "log.level", e);
                        dl.level
                    }
                },
            };
            LogConfig {
                level,
                format: value(&l.format).copied().unwrap_or(LogFormat::Human),
            }
        }
    };

    let records = ctx.records(&raw.records);

    if !ctx.errors.is_empty() {
        return None;
    }
    Some(Config {
        access,
        core,
        media,
        admin,
        sip,
        transport: TransportConfig {
            tcp,
            udp,
            event_queue,
        },
        calls,
        registration,
        topology,
        security,
        fraud,
        drain,
        log,
        records,
    })
}
