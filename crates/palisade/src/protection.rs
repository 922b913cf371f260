//! The guard at work: its rules from the configuration, the transport's admission check
//! answered by it, the checks on parsed requests, and the ban file.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use palisade_config::Config;
use palisade_guard::{Guard, Rate, Rates, Rules, Verdict};
use palisade_sip::Side;
use palisade_transport::{Admission, FlowId, TransportEvent, Transports};

/// The guard's rules, as configured.
pub(crate) fn rules(config: &Config) -> Rules {
    let s = &config.security;
    Rules {
        enabled: s.enabled,
        trusted: s.trusted.clone(),
        allow: s.allow.clone(),
        deny: s.deny.clone(),
        domains: s.domains.clone(),
        scanners: s.scanners,
        rates: Rates {
            register: Rate::per_second(s.rates.register),
            invite: Rate::per_second(s.rates.invite),
            other: Rate::per_second(s.rates.other),
        },
        bans: palisade_guard::BanTimes {
            time: s.bans.time,
            max_time: s.bans.max_time,
        },
        auth_failures: s.auth_failures,
        sweep: s.sweep,
        max_tracked_sources: s.max_tracked_sources as usize,
        tls_handshakes_per_second: config.transport.tcp.tls_handshakes_per_second,
    }
}

/// The transport's admission check, answered by the guard (access side only: the
/// transport never asks about the core side).
#[derive(Debug)]
pub(crate) struct GuardAdmission(pub(crate) Arc<Guard>);

impl Admission for GuardAdmission {
    fn datagram(&self, source: SocketAddr, bytes: &[u8]) -> bool {
        self.0
            .check_datagram(Instant::now(), source.ip(), bytes)
            .is_admit()
    }

    fn connection(&self, source: SocketAddr) -> bool {
        self.0
            .check_connection(Instant::now(), source.ip())
            .is_admit()
    }

    fn tls_handshake(&self, source: SocketAddr) -> bool {
        self.0.check_tls_handshake(Instant::now(), source.ip())
    }
}

/// Whether an event goes on to the B2BUA. Access-side messages read from a connection
/// pass the rate budget here (a datagram passed it in the transport), and every
/// access-side request passes the checks on parsed requests. A connection whose source
/// is banned is closed.
pub(crate) fn admit(guard: &Guard, transports: &Transports, ev: &TransportEvent) -> bool {
    let TransportEvent::Message { flow, message, .. } = ev else {
        return true;
    };
    if flow.side != Side::Access {
        return true;
    }
    let now = Instant::now();
    let ip = flow.remote.ip();
    let mut verdict = Verdict::Admit;
    if flow.protocol.is_stream() {
        verdict = guard.check_datagram(now, ip, message.as_bytes());
    }
    if verdict.is_admit() && message.is_request() {
        verdict = guard.inspect(now, ip, message);
    }
    if verdict.is_admit() {
        return true;
    }
    if matches!(flow.id, FlowId::Conn(_)) && guard.is_banned(now, ip) {
        transports.close(flow.id);
    }
    false
}

/// Loads the ban file, if there is one yet.
pub(crate) fn load_bans(guard: &Guard, file: &Path) {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let done = guard.import_bans(&text, Instant::now(), SystemTime::now());
            tracing::info!(
                file = %file.display(),
                loaded = done.loaded,
                skipped = done.skipped,
                bans = guard.bans(Instant::now()).len(),
                "ban file read"
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(file = %file.display(), error = %e, "cannot read the ban file"),
    }
}

/// Writes the ban file (a new file renamed over the old one, so a crash never leaves
/// half a file).
pub(crate) fn save_bans(guard: &Guard, file: &Path) {
    let text = guard.export_bans(Instant::now(), SystemTime::now());
    let tmp = file.with_extension("tmp");
    let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = result {
        tracing::warn!(file = %file.display(), error = %e, "cannot write the ban file");
    }
}

/// Once a second: forget what aged out, and write the ban file if bans changed.
pub(crate) fn maintain(guard: &Guard, config: &Config) {
    guard.maintain(Instant::now());
    if guard.take_bans_changed()
        && let Some(file) = &config.security.bans.file
    {
        save_bans(guard, file);
    }
}
