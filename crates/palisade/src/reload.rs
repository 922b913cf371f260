//! Reloading the configuration file (SIGHUP, `POST /api/reload`): which settings change
//! while Palisade runs, and which only a restart can change.
//!
//! A reload reads and validates the whole file first; a file with an error changes
//! nothing. A valid file is merged into the running configuration: settings that are
//! sockets or that running transactions were built with (listeners, advertised
//! addresses, certificates, the media port range, the admin API's settings, SIP
//! limits and timers, the connection limits, the ringing timeout, the log format, the
//! record file) keep their running values and are named in the answer as needing a
//! restart. Everything else (security rules and rates, ban times, fraud rules, upstreams
//! and probing, call and registration limits, topology headers, media timeouts, the
//! drain deadline, the log level) applies to what happens next; calls and registrations
//! in progress go on.

use palisade_config::Config;
use serde::Serialize;

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ReloadView {
    pub(crate) reloaded: bool,
    /// Sections (or keys) whose new values are in force.
    pub(crate) applied: Vec<&'static str>,
    /// Keys that changed in the file but keep their running values until a restart.
    pub(crate) restart_required: Vec<&'static str>,
    /// Why the file was refused (`FILE:LINE:COLUMN: message`), when it was.
    pub(crate) errors: Vec<String>,
}

impl ReloadView {
    pub(crate) fn refused(errors: Vec<String>) -> Self {
        Self {
            errors,
            ..Self::default()
        }
    }
}

/// The configuration to run after a reload: `new`, with the settings that need a restart
/// kept at their `running` values. Returns it with the keys that changed and apply
/// now, and the keys that changed but wait for a restart.
pub(crate) fn merge(
    running: &Config,
    mut new: Config,
) -> (Config, Vec<&'static str>, Vec<&'static str>) {
    let mut restart = Vec::new();
    // Keeps one restart-only setting at its running value, and names it if it changed.
    macro_rules! keep {
        ($name:literal, $($field:ident).+) => {
            if new.$($field).+ != running.$($field).+ {
                restart.push($name);
                new.$($field).+ = running.$($field).+.clone();
            }
        };
    }
    keep!("access.listen", access.listen);
    keep!("access.advertise", access.advertise);
    keep!("access.tls", access.tls);
    keep!("core.listen", core.listen);
    keep!("core.advertise", core.advertise);
    keep!("core.tls", core.tls);
    keep!("core.upstream_ca", core.upstream_ca);
    keep!("media.anchor", media.anchor);
    keep!("media.ports", media.ports);
    keep!("media.spare_pairs", media.spare_pairs);
    keep!("admin", admin);
    keep!("sip", sip);
    keep!(
        "transport.tcp.max_connections",
        transport.tcp.max_connections
    );
    keep!(
        "transport.tcp.max_connections_per_source",
        transport.tcp.max_connections_per_source
    );
    keep!("transport.tcp.idle_timeout", transport.tcp.idle_timeout);
    keep!(
        "transport.tcp.message_timeout",
        transport.tcp.message_timeout
    );
    keep!(
        "transport.tcp.tls_handshake_timeout",
        transport.tcp.tls_handshake_timeout
    );
    keep!("transport.tcp.write_queue", transport.tcp.write_queue);
    keep!("transport.udp", transport.udp);
    keep!("transport.event_queue", transport.event_queue);
    keep!("calls.invite_timeout", calls.invite_timeout);
    keep!("log.format", log.format);
    keep!("records", records);

    let mut applied = Vec::new();
    macro_rules! changed {
        ($name:literal, $($field:ident).+) => {
            if new.$($field).+ != running.$($field).+ {
                applied.push($name);
            }
        };
    }
    changed!("core.upstream", core.upstream);
    changed!("core.probe", core.probe);
    changed!("media.timeout", media.timeout);
    changed!("media.hold_timeout", media.hold_timeout);
    changed!(
        "transport.tcp.tls_handshakes_per_second",
        transport.tcp.tls_handshakes_per_second
    );
    changed!("calls", calls);
    changed!("registration", registration);
    changed!("topology", topology);
    changed!("security", security);
    changed!("fraud", fraud);
    changed!("drain", drain);
    changed!("log.level", log.level);
    debug_assert_eq!(
        new == *running,
        applied.is_empty(),
        "every setting is either kept or reported"
    );
    (new, applied, restart)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "
access:
  listen: [\"udp:127.0.0.1:5060\"]
core:
  listen: [\"udp:127.0.0.1:5062\"]
  upstream: [\"sip:127.0.0.1:5080\"]
";

    fn config(extra: &str) -> Config {
        Config::from_str(&format!("{BASE}{extra}"), "test.yaml").unwrap()
    }

    #[test]
    fn live_settings_apply_and_sockets_wait_for_a_restart() {
        let running = config("");
        let new = Config::from_str(
            "
access:
  listen: [\"udp:127.0.0.1:6060\"]
core:
  listen: [\"udp:127.0.0.1:5062\"]
  upstream: [\"sip:127.0.0.1:5080\", \"sip:127.0.0.1:5081\"]
media:
  ports: \"40000-40099\"
  timeout: 20s
security:
  rates: { invite: 3 }
transport:
  udp: { send_queue: 1000 }
log:
  level: debug
",
            "test.yaml",
        )
        .unwrap();
        let (merged, applied, restart) = merge(&running, new.clone());
        assert_eq!(restart, ["access.listen", "media.ports", "transport.udp"]);
        assert_eq!(
            applied,
            ["core.upstream", "media.timeout", "security", "log.level"]
        );
        assert_eq!(merged.access.listen, running.access.listen);
        assert_eq!(merged.media.ports, running.media.ports);
        assert_eq!(merged.transport.udp, running.transport.udp);
        assert_eq!(merged.core.upstream, new.core.upstream);
        assert_eq!(merged.security.rates.invite, 3);
        assert_eq!(merged.log.level, "debug");
    }

    #[test]
    fn the_same_file_changes_nothing() {
        let running = config("");
        let (merged, applied, restart) = merge(&running, running.clone());
        assert_eq!(merged, running);
        assert!(applied.is_empty() && restart.is_empty());
    }
}
