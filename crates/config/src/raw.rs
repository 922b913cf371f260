//! The YAML schema as serde reads it. Every field is optional and carries its position
//! (`Spanned`), and every value that has a grammar of its own (listen specs, URIs,
//! durations, port ranges) is read as a string: `validate` parses those afterwards, so
//! that one bad value does not hide the next one. Numbers are read as strings too (a
//! plain scalar such as `128` reads as the string "128" when the target is a string), for
//! the same reason and for a message that says which numbers are allowed.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::types::LogFormat;

/// An optional key, with the position of its value.
pub(crate) type F<T> = Option<Spanned<T>>;

/// A list of strings, each with its position.
pub(crate) type List = Vec<Spanned<String>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) access: F<RawAccess>,
    pub(crate) core: F<RawCore>,
    pub(crate) media: F<RawMedia>,
    pub(crate) admin: F<RawAdmin>,
    pub(crate) sip: F<RawSip>,
    pub(crate) transport: F<RawTransport>,
    pub(crate) calls: F<RawCalls>,
    pub(crate) registration: F<RawRegistration>,
    pub(crate) topology: F<RawTopology>,
    pub(crate) security: F<RawSecurity>,
    pub(crate) fraud: F<crate::fraud::RawFraud>,
    pub(crate) drain: F<RawDrain>,
    pub(crate) log: F<RawLog>,
    pub(crate) records: F<RawRecords>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccess {
    pub(crate) listen: F<List>,
    pub(crate) advertise: F<String>,
    pub(crate) tls: F<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCore {
    pub(crate) listen: F<List>,
    pub(crate) advertise: F<String>,
    pub(crate) tls: F<RawTls>,
    pub(crate) upstream_ca: F<String>,
    pub(crate) upstream: F<List>,
    pub(crate) probe: F<RawProbe>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) cert: F<String>,
    pub(crate) key: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProbe {
    pub(crate) interval: F<String>,
    pub(crate) timeout: F<String>,
    pub(crate) failures_before_down: F<String>,
    pub(crate) successes_before_up: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMedia {
    pub(crate) anchor: F<String>,
    pub(crate) ports: F<String>,
    pub(crate) timeout: F<String>,
    pub(crate) hold_timeout: F<String>,
    pub(crate) spare_pairs: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) listen: F<String>,
    pub(crate) token: F<String>,
    pub(crate) token_file: F<String>,
    pub(crate) max_connections: F<String>,
    pub(crate) header_timeout: F<String>,
    pub(crate) request_timeout: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSip {
    pub(crate) limits: F<RawSipLimits>,
    pub(crate) timers: F<RawTimers>,
    pub(crate) udp_mtu_allowance: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSipLimits {
    pub(crate) max_message_size: F<String>,
    pub(crate) max_stream_message_size: F<String>,
    pub(crate) max_headers: F<String>,
    pub(crate) max_header_len: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimers {
    pub(crate) t1: F<String>,
    pub(crate) t2: F<String>,
    pub(crate) t4: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTransport {
    pub(crate) tcp: F<RawTcp>,
    pub(crate) udp: F<RawUdp>,
    pub(crate) event_queue: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUdp {
    pub(crate) socket_buffer: F<String>,
    pub(crate) send_queue: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTcp {
    pub(crate) max_connections: F<String>,
    pub(crate) max_connections_per_source: F<String>,
    pub(crate) idle_timeout: F<String>,
    pub(crate) message_timeout: F<String>,
    pub(crate) tls_handshake_timeout: F<String>,
    pub(crate) tls_handshakes_per_second: F<String>,
    pub(crate) write_queue: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCalls {
    pub(crate) max_active: F<String>,
    pub(crate) overload_delay: F<String>,
    pub(crate) invite_timeout: F<String>,
    pub(crate) session_timer: F<RawSessionTimer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSessionTimer {
    pub(crate) insert: F<String>,
    pub(crate) default_interval: F<String>,
    pub(crate) min_se: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegistration {
    pub(crate) min_expires: F<String>,
    pub(crate) max_expires: F<String>,
    pub(crate) default_expires: F<String>,
    pub(crate) nat_expires: F<String>,
    pub(crate) core_expires: F<String>,
    pub(crate) keepalive_interval: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTopology {
    pub(crate) server_header: F<RawHeaderPolicy>,
    pub(crate) user_agent_header: F<RawHeaderPolicy>,
}

/// `hide`, `pass` or `{ set: "text" }`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum RawHeaderPolicy {
    Hide,
    Pass,
    Set(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDrain {
    pub(crate) deadline: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub(crate) level: F<String>,
    pub(crate) format: F<LogFormat>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecords {
    pub(crate) path: F<String>,
    pub(crate) rotate_size: F<String>,
    pub(crate) rotate_age: F<String>,
    pub(crate) keep: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecurity {
    pub(crate) trusted: F<List>,
    pub(crate) enabled: F<String>,
    pub(crate) allow: F<List>,
    pub(crate) deny: F<List>,
    pub(crate) domains: F<List>,
    pub(crate) scanners: F<String>,
    pub(crate) max_tracked_sources: F<String>,
    pub(crate) bans: F<RawBans>,
    pub(crate) rates: F<RawRates>,
    pub(crate) auth_failures: F<RawAuthFailures>,
    pub(crate) sweep: F<RawSweep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBans {
    pub(crate) file: F<String>,
    pub(crate) time: F<String>,
    pub(crate) max_time: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRates {
    pub(crate) register: F<String>,
    pub(crate) invite: F<String>,
    pub(crate) other: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthFailures {
    pub(crate) max: F<String>,
    pub(crate) window: F<String>,
    pub(crate) account_alert: F<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSweep {
    pub(crate) max_users: F<String>,
    pub(crate) window: F<String>,
}
