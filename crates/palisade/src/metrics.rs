//! Prometheus metrics. The names are a contract with dashboards and alerts
//! (deploy/grafana/palisade.json, docs/operations.md): add new ones with the same prefix,
//! never rename one.
//!
//! Nothing here slows the packet path. The media relay and the transports keep their own
//! atomic counters; a [`MetricSource`] copies them into the registry when a scrape asks.
//! What the service loop counts itself (SIP messages, call outcomes) goes to counters
//! resolved once at start, so a message costs an atomic add, not a label lookup.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use palisade_media::{Relay, SessionStats};
use palisade_sip::{Message, Method, Side};
use palisade_transport::TransportStats;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Where metrics kept elsewhere come from. Each source copies its counters into the
/// registry's metrics just before a scrape. The edge-security and fraud modules join here.
pub(crate) trait MetricSource: Send + Sync {
    fn refresh(&self, metrics: &Metrics);
}

/// Why a registration failed: a name or a label set given twice, which is a programming
/// error caught by the unit test below.
pub(crate) type MetricsError = prometheus::Error;

/// Methods counted under their own label; the rest are `other`.
const METHODS: [(Method, &str); 14] = [
    (Method::Invite, "INVITE"),
    (Method::Ack, "ACK"),
    (Method::Bye, "BYE"),
    (Method::Cancel, "CANCEL"),
    (Method::Register, "REGISTER"),
    (Method::Options, "OPTIONS"),
    (Method::Info, "INFO"),
    (Method::Prack, "PRACK"),
    (Method::Update, "UPDATE"),
    (Method::Subscribe, "SUBSCRIBE"),
    (Method::Notify, "NOTIFY"),
    (Method::Refer, "REFER"),
    (Method::Message, "MESSAGE"),
    (Method::Publish, "PUBLISH"),
];

const SIDES: [(Side, &str); 2] = [(Side::Access, "access"), (Side::Core, "core")];

fn side_index(side: Side) -> usize {
    match side {
        Side::Access => 0,
        Side::Core => 1,
    }
}

/// SIP messages received (or sent), by side and method (requests) or class (responses).
struct SipCounters {
    /// `[side][method]`, the last method slot being `other`.
    requests: [Vec<IntCounter>; 2],
    /// `[side][class - 1]` for 1xx to 6xx.
    responses: [Vec<IntCounter>; 2],
}

impl SipCounters {
    fn new(requests: &IntCounterVec, responses: &IntCounterVec) -> Self {
        let per_side = |side: &str| {
            let mut methods: Vec<IntCounter> = METHODS
                .iter()
                .map(|(_, m)| requests.with_label_values(&[side, m]))
                .collect();
            methods.push(requests.with_label_values(&[side, "other"]));
            let classes = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"]
                .iter()
                .map(|c| responses.with_label_values(&[side, c]))
                .collect();
            (methods, classes)
        };
        let (a_req, a_resp) = per_side(SIDES[0].1);
        let (c_req, c_resp) = per_side(SIDES[1].1);
        Self {
            requests: [a_req, c_req],
            responses: [a_resp, c_resp],
        }
    }

    fn count(&self, side: Side, message: &Message) {
        let s = side_index(side);
        if let Some(method) = message.method() {
            let i = METHODS
                .iter()
                .position(|(m, _)| m == method)
                .unwrap_or(METHODS.len());
            if let Some(c) = self.requests[s].get(i) {
                c.inc();
            }
        } else if let Some(status) = message.status() {
            let class = usize::from(status / 100).saturating_sub(1);
            if let Some(c) = self.responses[s].get(class) {
                c.inc();
            }
        }
    }
}

/// How a call ended, for `palisade_calls_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallResult {
    /// It was answered (whatever ended it later).
    Answered,
    /// The callee refused it (busy, not found, declined...).
    Rejected,
    /// The caller gave up before an answer.
    Cancelled,
    /// Palisade could not complete it: no upstream, no media ports, no answer in time.
    Failed,
    /// Palisade refused it (403): an unregistered source, or the toll-fraud policy.
    Refused,
}

impl CallResult {
    fn label(self) -> &'static str {
        match self {
            CallResult::Answered => "answered",
            CallResult::Rejected => "rejected",
            CallResult::Cancelled => "cancelled",
            CallResult::Failed => "failed",
            CallResult::Refused => "refused",
        }
    }
}

/// Every metric Palisade exports, registered in one registry.
pub(crate) struct Metrics {
    registry: Registry,
    sip: SipCounters,
    sip_sent: SipCounters,
    pub(crate) calls_active: IntGauge,
    calls_total: IntCounterVec,
    pub(crate) call_setup: Histogram,
    pub(crate) registrations_active: IntGauge,
    pub(crate) registrations_absorbed: IntCounter,
    /// REGISTERs Palisade refused itself (registration hijacking).
    pub(crate) registrations_refused: IntCounter,
    pub(crate) media_streams_active: IntGauge,
    pub(crate) media_packets: IntCounterVec,
    pub(crate) media_bytes: IntCounterVec,
    pub(crate) media_packets_lost: IntCounter,
    /// Addresses banned now.
    pub(crate) bans_active: IntGauge,
    /// Packets and messages dropped before they were handled, by reason.
    pub(crate) dropped: IntCounterVec,
    /// Toll-fraud events by level (warning, critical).
    pub(crate) fraud_events: IntCounterVec,
    /// Configuration reloads, by result (`ok`, `error`).
    config_reloads: IntCounterVec,
    pub(crate) upstream_up: IntGaugeVec,
    pub(crate) connections_open: IntGauge,
    pub(crate) send_errors: IntCounter,
    /// The allocator's bytes allocated and not freed, and the bytes of pages it holds.
    pub(crate) memory_allocated: IntGauge,
    pub(crate) memory_resident: IntGauge,
    sources: Vec<Box<dyn MetricSource>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

/// Histogram buckets for call setup: from a PBX answering at once to a phone ringing for
/// two minutes.
const SETUP_BUCKETS: [f64; 13] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];

impl Metrics {
    pub(crate) fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, MetricsError>(c)
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, MetricsError>(c)
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, MetricsError>(g)
        };
        let requests = counter_vec(
            "palisade_sip_requests_total",
            "SIP requests received, by side and method.",
            &["side", "method"],
        )?;
        let responses = counter_vec(
            "palisade_sip_responses_total",
            "SIP responses received, by side and status class.",
            &["side", "class"],
        )?;
        let sent_requests = counter_vec(
            "palisade_sip_requests_sent_total",
            "SIP requests Palisade sent, by side and method (relayed and its own: probes, keep-alives, BYE and CANCEL it generates).",
            &["side", "method"],
        )?;
        let sent_responses = counter_vec(
            "palisade_sip_responses_sent_total",
            "SIP responses Palisade sent, by side and status class (relayed and its own answers).",
            &["side", "class"],
        )?;
        let call_setup = Histogram::with_opts(
            HistogramOpts::new(
                "palisade_call_setup_seconds",
                "Time from a call's first request to its final answer.",
            )
            .buckets(SETUP_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(call_setup.clone()))?;
        let upstream_up = IntGaugeVec::new(
            Opts::new(
                "palisade_upstream_up",
                "1 when the upstream (PBX) answers its health probes, else 0.",
            ),
            &["upstream"],
        )?;
        registry.register(Box::new(upstream_up.clone()))?;
        let calls_total = counter_vec(
            "palisade_calls_total",
            "Calls ended, by result: answered, rejected, cancelled, failed, refused (by Palisade: unregistered source or toll-fraud policy).",
            &["result"],
        )?;
        for r in [
            CallResult::Answered,
            CallResult::Rejected,
            CallResult::Cancelled,
            CallResult::Failed,
            CallResult::Refused,
        ] {
            calls_total.with_label_values(&[r.label()]);
        }
        Ok(Self {
            sip: SipCounters::new(&requests, &responses),
            sip_sent: SipCounters::new(&sent_requests, &sent_responses),
            calls_active: gauge("palisade_calls_active", "Calls in progress.")?,
            calls_total,
            call_setup,
            registrations_active: gauge(
                "palisade_registrations_active",
                "Phone registrations Palisade holds.",
            )?,
            registrations_absorbed: counter(
                "palisade_registrations_absorbed_total",
                "Re-REGISTERs of phones behind NAT answered by Palisade without the PBX.",
            )?,
            registrations_refused: counter(
                "palisade_registrations_refused_total",
                "REGISTERs refused with 403 by Palisade: a digest username that is not the AOR's user.",
            )?,
            media_streams_active: gauge(
                "palisade_media_streams_active",
                "Media streams (m-lines) the relay holds.",
            )?,
            media_packets: counter_vec(
                "palisade_media_packets_total",
                "RTP and RTCP packets accepted by the relay, by direction.",
                &["direction"],
            )?,
            media_bytes: counter_vec(
                "palisade_media_bytes_total",
                "Bytes (UDP payload) accepted by the relay, by direction.",
                &["direction"],
            )?,
            media_packets_lost: counter(
                "palisade_media_packets_lost_total",
                "RTP packets lost on the way to the relay (from sequence numbers).",
            )?,
            bans_active: gauge("palisade_bans_active", "Source addresses banned now.")?,
            dropped: counter_vec(
                "palisade_dropped_total",
                "Messages, packets and connections dropped before they were handled, by reason.",
                &["reason"],
            )?,
            fraud_events: counter_vec(
                "palisade_fraud_events_total",
                "Toll-fraud rule events, by level.",
                &["level"],
            )?,
            config_reloads: {
                let c = counter_vec(
                    "palisade_config_reloads_total",
                    "Configuration reloads (SIGHUP, POST /api/reload), by result: ok, error (the file was refused and the running configuration kept).",
                    &["result"],
                )?;
                c.with_label_values(&["ok"]);
                c.with_label_values(&["error"]);
                c
            },
            upstream_up,
            connections_open: gauge(
                "palisade_connections_open",
                "SIP TCP and TLS connections open, in both directions.",
            )?,
            send_errors: counter(
                "palisade_send_errors_total",
                "SIP sends refused: the UDP send queue was full, or the socket refused them.",
            )?,
            memory_allocated: gauge(
                "palisade_memory_allocated_bytes",
                "Bytes the process has allocated and not freed (jemalloc's stats.allocated).",
            )?,
            memory_resident: gauge(
                "palisade_memory_resident_bytes",
                "Bytes in the allocator's resident pages: what is allocated, what it keeps free for reuse, and its metadata (jemalloc's stats.resident).",
            )?,
            registry,
            sources: Vec::new(),
        })
    }

    /// Adds a source of metrics read at scrape time. Sources are added before the
    /// metrics are shared.
    pub(crate) fn add_source(&mut self, source: Box<dyn MetricSource>) {
        self.sources.push(source);
    }

    /// Counts a SIP message received on `side`.
    pub(crate) fn sip_received(&self, side: Side, message: &Message) {
        self.sip.count(side, message);
    }

    /// Counts a SIP message sent on `side`.
    pub(crate) fn sip_sent(&self, side: Side, message: &Message) {
        self.sip_sent.count(side, message);
    }

    pub(crate) fn config_reloaded(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.config_reloads.with_label_values(&[result]).inc();
    }

    pub(crate) fn call_ended(&self, result: CallResult) {
        self.calls_total.with_label_values(&[result.label()]).inc();
    }

    /// The text exposition format, after every source has refreshed its metrics.
    pub(crate) fn render(&self) -> String {
        for s in &self.sources {
            s.refresh(self);
        }
        let mut out = Vec::new();
        // Encoding into a Vec fails only on a metric family without metrics or type,
        // which the registry does not produce.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics encoding");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Brings a counter mirrored from an atomic up to `value`.
pub(crate) fn mirror(counter: &IntCounter, value: u64) {
    let current = counter.get();
    if value >= current {
        counter.inc_by(value - current);
    } else {
        counter.reset();
        counter.inc_by(value);
    }
}

/// The transports' counters: drops and connections.
pub(crate) struct TransportSource(pub(crate) Arc<TransportStats>);

impl MetricSource for TransportSource {
    fn refresh(&self, m: &Metrics) {
        let s = &self.0;
        for (reason, value) in [
            ("malformed", s.malformed()),
            ("queue_full", s.dropped_channel_full()),
            ("connection_limit", s.connections_rejected()),
            ("connection_timeout", s.connections_timed_out()),
            ("tls_handshake", s.tls_handshake_failures()),
            ("write_queue_full", s.write_queue_overflows()),
        ] {
            mirror(&m.dropped.with_label_values(&[reason]), value);
        }
        m.connections_open
            .set(i64::try_from(s.connections_open()).unwrap_or(i64::MAX));
        mirror(&m.send_errors, s.send_errors());
    }
}

/// The allocator's own account of the heap: what is allocated now, which the resident
/// set cannot tell apart from what the allocator keeps free for reuse.
pub(crate) struct MemorySource;

impl MetricSource for MemorySource {
    fn refresh(&self, m: &Metrics) {
        // The statistics are a snapshot taken when the epoch advances.
        if tikv_jemalloc_ctl::epoch::advance().is_err() {
            return;
        }
        if let Ok(v) = tikv_jemalloc_ctl::stats::allocated::read() {
            m.memory_allocated.set(i64::try_from(v).unwrap_or(i64::MAX));
        }
        if let Ok(v) = tikv_jemalloc_ctl::stats::resident::read() {
            m.memory_resident.set(i64::try_from(v).unwrap_or(i64::MAX));
        }
    }
}

/// The edge protection's counters: bans in force and what it dropped, by reason.
pub(crate) struct GuardSource(pub(crate) Arc<palisade_guard::Guard>);

impl MetricSource for GuardSource {
    fn refresh(&self, m: &Metrics) {
        let s = self.0.snapshot(std::time::Instant::now());
        m.bans_active
            .set(i64::try_from(s.bans_active).unwrap_or(i64::MAX));
        for (reason, value) in s.drops {
            mirror(&m.dropped.with_label_values(&[reason.as_str()]), value);
        }
    }
}

/// Totals of the media sessions already closed: the relay forgets a session's counters
/// when it is deleted, so they are added up here for the counters to stay monotonic.
#[derive(Debug, Default)]
pub(crate) struct MediaTotals {
    /// By leg: what leg A (access) sent, what leg B (core) sent.
    packets: [AtomicU64; 2],
    bytes: [AtomicU64; 2],
    lost: AtomicU64,
    foreign: AtomicU64,
}

/// Sums of one or more sessions' counters.
#[derive(Debug, Default, Clone, Copy)]
struct MediaSums {
    packets: [u64; 2],
    bytes: [u64; 2],
    lost: u64,
    foreign: u64,
    streams: u64,
}

impl MediaSums {
    fn add(&mut self, stats: &SessionStats) {
        for s in &stats.streams {
            self.streams += 1;
            for (i, leg) in s.legs.iter().enumerate() {
                self.packets[i] += leg.rtp_packets + leg.rtcp_packets;
                self.bytes[i] += leg.bytes;
                self.lost += leg.packets_lost;
                self.foreign += leg.dropped_foreign;
            }
        }
    }
}

impl MediaTotals {
    /// Adds a closed session's final counters.
    pub(crate) fn add_closed(&self, stats: &SessionStats) {
        let mut sums = MediaSums::default();
        sums.add(stats);
        for i in 0..2 {
            self.packets[i].fetch_add(sums.packets[i], Relaxed);
            self.bytes[i].fetch_add(sums.bytes[i], Relaxed);
        }
        self.lost.fetch_add(sums.lost, Relaxed);
        self.foreign.fetch_add(sums.foreign, Relaxed);
    }
}

/// The media relay's counters: the closed sessions' totals plus the live sessions'.
pub(crate) struct MediaSource {
    pub(crate) relay: Arc<Relay>,
    pub(crate) closed: Arc<MediaTotals>,
}

/// The direction labels, by the leg that sent the packets.
const DIRECTIONS: [&str; 2] = ["from_access", "from_core"];

impl MetricSource for MediaSource {
    fn refresh(&self, m: &Metrics) {
        let mut live = MediaSums::default();
        for id in self.relay.sessions() {
            if let Some(stats) = self.relay.stats(id) {
                live.add(&stats);
            }
        }
        let c = &self.closed;
        for (i, direction) in DIRECTIONS.iter().enumerate() {
            mirror(
                &m.media_packets.with_label_values(&[direction]),
                c.packets[i].load(Relaxed) + live.packets[i],
            );
            mirror(
                &m.media_bytes.with_label_values(&[direction]),
                c.bytes[i].load(Relaxed) + live.bytes[i],
            );
        }
        mirror(&m.media_packets_lost, c.lost.load(Relaxed) + live.lost);
        mirror(
            &m.dropped.with_label_values(&["rtp_foreign"]),
            c.foreign.load(Relaxed) + live.foreign,
        );
        m.media_streams_active
            .set(i64::try_from(live.streams).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn msg(text: &str) -> Message {
        Message::parse(
            bytes::Bytes::from(text.replace('\n', "\r\n")),
            palisade_sip::Transport::Datagram,
            &palisade_sip::ParseLimits::default(),
        )
        .unwrap()
    }

    #[test]
    fn every_contract_name_is_exported() {
        let m = Metrics::new().unwrap();
        m.upstream_up.with_label_values(&["sip:pbx"]).set(1);
        m.dropped.with_label_values(&["malformed"]);
        m.fraud_events.with_label_values(&["warning"]);
        m.media_packets.with_label_values(&["from_access"]);
        m.media_bytes.with_label_values(&["from_access"]);
        let text = m.render();
        for name in [
            "palisade_sip_requests_total{",
            "palisade_sip_responses_total{",
            "palisade_sip_requests_sent_total{",
            "palisade_sip_responses_sent_total{",
            "palisade_calls_active ",
            "palisade_calls_total{result=\"answered\"}",
            "palisade_call_setup_seconds_bucket{",
            "palisade_registrations_active ",
            "palisade_registrations_absorbed_total ",
            "palisade_registrations_refused_total ",
            "palisade_calls_total{result=\"refused\"}",
            "palisade_media_streams_active ",
            "palisade_media_packets_total{direction=",
            "palisade_media_bytes_total{direction=",
            "palisade_media_packets_lost_total ",
            "palisade_bans_active ",
            "palisade_dropped_total{reason=",
            "palisade_fraud_events_total{level=",
            "palisade_upstream_up{upstream=",
            "palisade_config_reloads_total{result=\"error\"}",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }

    #[test]
    fn sip_messages_are_counted_by_method_and_class() {
        let m = Metrics::new().unwrap();
        let invite = msg(
            "INVITE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:x@y>;tag=1\nTo: <sip:a@b>\nCall-ID: c\nCSeq: 1 INVITE\nMax-Forwards: 70\nContent-Length: 0\n\n",
        );
        let busy = msg(
            "SIP/2.0 486 Busy\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:x@y>;tag=1\nTo: <sip:a@b>;tag=2\nCall-ID: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n",
        );
        m.sip_received(Side::Access, &invite);
        m.sip_received(Side::Access, &invite);
        m.sip_received(Side::Core, &busy);
        let text = m.render();
        assert!(
            text.contains("palisade_sip_requests_total{method=\"INVITE\",side=\"access\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("palisade_sip_responses_total{class=\"4xx\",side=\"core\"} 1"),
            "{text}"
        );
    }

    /// The Grafana dashboard shipped in deploy/ plots only metrics Palisade exports.
    #[test]
    fn the_dashboard_uses_exported_names_only() {
        let dashboard = include_str!("../../../deploy/grafana/palisade.json");
        let m = Metrics::new().unwrap();
        m.upstream_up.with_label_values(&["u"]).set(1);
        for v in [
            &m.dropped,
            &m.fraud_events,
            &m.media_packets,
            &m.media_bytes,
        ] {
            v.with_label_values(&["x"]);
        }
        let exported = m.render();
        let mut used = 0;
        for (i, _) in dashboard.match_indices("palisade_") {
            let name: String = dashboard[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            if base == "palisade_" {
                continue;
            }
            assert!(
                exported.contains(&format!("# TYPE {base} ")),
                "the dashboard plots {name}, which is not exported"
            );
            used += 1;
        }
        assert!(used >= 15, "{used}");
    }

    #[test]
    fn mirrored_counters_follow_their_atomic() {
        let c = IntCounter::new("x", "x").unwrap();
        mirror(&c, 5);
        mirror(&c, 9);
        assert_eq!(c.get(), 9);
    }

    #[test]
    fn memory_follows_what_is_allocated() {
        let m = Metrics::new().unwrap();
        MemorySource.refresh(&m);
        let before = m.memory_allocated.get();
        let held = vec![1u8; 64 << 20];
        MemorySource.refresh(&m);
        let during = m.memory_allocated.get();
        assert!(during - before >= 60 << 20, "{before} -> {during}");
        assert!(m.memory_resident.get() > 0);
        drop(held);
        MemorySource.refresh(&m);
        assert!(m.memory_allocated.get() < during);
    }
}
