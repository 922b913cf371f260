//! The configuration loaded from real files: the shipped one, good fixtures, and one bad
//! fixture per class of error, each with the exact messages and positions expected.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use palisade_config::{Config, HeaderPolicy, LogFormat, PortRange, Protocol, UpstreamHost};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/palisade.yaml")
}

/// Loads a fixture that must be refused; returns its errors as `LINE:COLUMN: message`,
/// with the fixture directory written as `DATA/`.
fn errors(name: &str) -> Vec<String> {
    let path = data(name);
    let errs = Config::load(&path).expect_err("the fixture must be refused");
    let dir = format!(
        "{}/",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .display()
    );
    errs.iter()
        .map(|e| {
            assert_eq!(e.origin(), path.display().to_string());
            let p = e.position().expect("a position");
            format!(
                "{}:{}: {}",
                p.line,
                p.column,
                e.message().replace(&dir, "DATA/")
            )
        })
        .collect()
}

fn assert_errors(name: &str, expected: &[&str]) {
    let got = errors(name);
    assert_eq!(got, expected, "errors of {name}");
}

#[test]
fn shipped_config_is_valid() {
    let c = Config::load(shipped()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.access.listen.len(), 2);
    assert_eq!(c.core.upstream[0].uri, "sip:127.0.0.1:5080");
    // The shipped file spells out the defaults, so it must equal the minimal file.
    let minimal = Config::load(data("good/minimal.yaml")).unwrap();
    let Config {
        access: _,
        core,
        media,
        admin,
        sip,
        transport,
        calls,
        registration,
        topology,
        security,
        fraud,
        drain,
        log,
        records,
    } = c;
    assert_eq!(core.probe, minimal.core.probe);
    assert_eq!(media, minimal.media);
    assert_eq!(admin, minimal.admin);
    assert_eq!(sip, minimal.sip);
    assert_eq!(transport, minimal.transport);
    assert_eq!(calls, minimal.calls);
    assert_eq!(registration, minimal.registration);
    assert_eq!(topology, minimal.topology);
    assert_eq!(security, minimal.security);
    assert!(security.trusted.is_empty());
    assert_eq!(fraud, minimal.fraud);
    assert!(fraud.registered_only);
    assert_eq!(drain, minimal.drain);
    assert_eq!(log, minimal.log);
    assert_eq!(records, minimal.records);
}

#[test]
fn defaults_are_filled_in() {
    let c = Config::load(data("good/minimal.yaml")).unwrap();
    let s = Duration::from_secs;
    assert_eq!(c.access.advertise, None);
    assert_eq!(c.access.tls, None);
    assert_eq!(c.core.probe.interval, s(10));
    assert_eq!(c.core.probe.timeout, s(2));
    assert_eq!(c.core.probe.failures_before_down, 2);
    assert_eq!(c.core.probe.successes_before_up, 1);
    assert_eq!(
        c.media.ports,
        PortRange {
            low: 20_000,
            high: 39_999
        }
    );
    assert_eq!(c.media.timeout, s(60));
    assert_eq!(c.media.hold_timeout, s(3600));
    assert_eq!(
        c.admin.listen,
        "127.0.0.1:9090".parse::<SocketAddr>().unwrap()
    );
    assert!(c.admin.token.is_none());
    assert_eq!(c.sip.limits.max_message_size, 65_535);
    assert_eq!(c.sip.limits.max_stream_message_size, 65_535);
    assert_eq!(c.sip.limits.max_headers, 128);
    assert_eq!(c.sip.limits.max_header_len, 8192);
    assert_eq!(c.sip.timers.t1, Duration::from_millis(500));
    assert_eq!(c.sip.timers.t2, s(4));
    assert_eq!(c.sip.timers.t4, s(5));
    assert_eq!(c.sip.udp_mtu_allowance, 1300);
    assert_eq!(c.transport.tcp.max_connections, 10_000);
    assert_eq!(c.transport.tcp.max_connections_per_source, 32);
    assert_eq!(c.transport.tcp.idle_timeout, s(600));
    assert_eq!(c.transport.tcp.message_timeout, s(10));
    assert_eq!(c.transport.tcp.tls_handshake_timeout, s(10));
    assert_eq!(c.transport.tcp.write_queue, 256);
    assert_eq!(c.transport.udp.socket_buffer, 4 << 20);
    assert_eq!(c.transport.udp.send_queue, 65_536);
    assert_eq!(c.transport.event_queue, 8192);
    assert_eq!(c.calls.max_active, 10_000);
    assert_eq!(c.calls.invite_timeout, s(180));
    assert_eq!(c.calls.session_timer.default_interval, s(1800));
    assert_eq!(c.calls.session_timer.min_se, s(90));
    assert_eq!(c.registration.min_expires, s(60));
    assert_eq!(c.registration.max_expires, s(3600));
    assert_eq!(c.registration.default_expires, s(3600));
    assert_eq!(c.topology.server_header, HeaderPolicy::Hide);
    assert_eq!(c.topology.user_agent_header, HeaderPolicy::Pass);
    assert_eq!(c.drain.deadline, s(300));
    assert_eq!(c.log.level, "info");
    assert_eq!(c.log.format, LogFormat::Human);
    assert_eq!(c.records.path, None);
    assert_eq!(c.records.rotate_size, 100 << 20);
    assert_eq!(c.records.rotate_age, s(86_400));
    assert_eq!(c.records.keep, 30);
    // The limits and timers convert to what the SIP core takes.
    assert_eq!(
        c.sip.limits.datagram(),
        palisade_sip::ParseLimits::default()
    );
    assert_eq!(
        c.sip.timers.timer_config(),
        palisade_sip::transaction::TimerConfig::default()
    );
}

#[test]
fn every_key_is_read() {
    let c = Config::load(data("good/full.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let s = Duration::from_secs;
    assert_eq!(c.access.listen.len(), 4);
    assert_eq!(c.access.listen[3].to_string(), "udp:[::1]:5060");
    assert_eq!(c.access.listen[2].transport, Protocol::Tls);
    assert_eq!(c.access.advertise, Some("203.0.113.10".parse().unwrap()));
    let tls = c.access.tls.unwrap();
    assert_eq!(tls.cert, data("good/tls/cert.pem"));
    assert_eq!(tls.key, data("good/tls/key.pem"));
    assert!(c.core.tls.is_some());
    assert_eq!(
        c.core.advertise,
        Some("2001:db8::5".parse::<IpAddr>().unwrap())
    );
    let up = &c.core.upstream;
    assert_eq!((up[0].transport, up[0].port()), (Protocol::Udp, 5080));
    assert_eq!(up[1].host, UpstreamHost::Name("pbx2.example.net".into()));
    assert_eq!((up[1].transport, up[1].port()), (Protocol::Tcp, 5090));
    assert_eq!((up[2].transport, up[2].port()), (Protocol::Tls, 5061));
    assert_eq!(c.core.probe.interval, s(30));
    assert_eq!(c.core.probe.timeout, s(5));
    assert_eq!(c.core.probe.failures_before_down, 3);
    assert_eq!(c.core.probe.successes_before_up, 2);
    assert_eq!(c.media.ports.to_string(), "30000-30999");
    assert_eq!(c.media.ports.pairs(), 500);
    assert_eq!(c.media.timeout, s(30));
    assert_eq!(c.media.hold_timeout, s(7200));
    assert_eq!(c.admin.listen.to_string(), "0.0.0.0:9091");
    assert_eq!(
        c.admin.token.as_ref().map(|t| t.expose()),
        Some("fixture-admin-token-0123456789")
    );
    assert!(!format!("{:?}", c.admin).contains("fixture-admin-token"));
    assert_eq!(c.sip.limits.max_message_size, 4096);
    assert_eq!(c.sip.limits.stream().max_message_size, 131_072);
    assert_eq!(c.sip.limits.max_headers, 64);
    assert_eq!(c.sip.limits.max_header_len, 2048);
    assert_eq!(c.sip.timers.t1, Duration::from_millis(250));
    assert_eq!(c.sip.timers.t2, s(2));
    assert_eq!(c.sip.timers.t4, Duration::from_millis(2500));
    assert_eq!(c.sip.udp_mtu_allowance, 1400);
    assert_eq!(c.transport.tcp.max_connections, 2000);
    assert_eq!(c.transport.tcp.max_connections_per_source, 8);
    assert_eq!(c.transport.tcp.idle_timeout, s(3600));
    assert_eq!(c.transport.tcp.message_timeout, s(5));
    assert_eq!(c.transport.tcp.tls_handshake_timeout, s(3));
    assert_eq!(c.transport.tcp.tls_handshakes_per_second, 0);
    assert_eq!(c.transport.tcp.write_queue, 64);
    assert_eq!(c.transport.udp.socket_buffer, 1 << 20);
    assert_eq!(c.transport.udp.send_queue, 4096);
    assert_eq!(c.transport.event_queue, 1024);
    assert_eq!(c.calls.max_active, 500);
    assert_eq!(c.calls.invite_timeout, s(60));
    assert_eq!(c.calls.session_timer.default_interval, s(900));
    assert_eq!(c.calls.session_timer.min_se, s(120));
    assert_eq!(c.registration.min_expires, s(30));
    assert_eq!(c.registration.max_expires, s(7200));
    assert_eq!(c.registration.default_expires, s(600));
    assert_eq!(
        c.topology.server_header,
        HeaderPolicy::Set("Palisade".into())
    );
    assert_eq!(c.topology.user_agent_header, HeaderPolicy::Hide);
    let trusted: Vec<String> = c.security.trusted.iter().map(ToString::to_string).collect();
    assert_eq!(
        trusted,
        ["198.51.100.0/24", "203.0.113.7/32", "2001:db8::/32"]
    );
    let f = &c.fraud;
    assert!(!f.registered_only);
    assert_eq!(f.rules.classes[f.rules.default_class].name, "intl");
    assert_eq!(f.rules.classes[f.rules.accounts["1001"]].name, "open");
    let intl = f.rules.class_of("1003").unwrap();
    assert!(intl.allows("0044207946000"));
    assert!(!intl.allows("00891234"), "denied by _00[1-9]9.");
    assert_eq!(intl.limits.max_concurrent, 3);
    assert_eq!(intl.limits.max_duration, s(3600));
    assert_eq!(f.rules.emergency, ["112", "911"]);
    assert_eq!((f.rules.block_time, f.rules.utc_offset), (s(7200), 3600));
    assert_eq!(f.rules.max_accounts, 5000);
    let night = &f.rules.rules[0];
    assert_eq!((night.window.start, night.window.end), (20 * 60, 6 * 60));
    assert_eq!(night.window.days, 0b001_1111);
    assert_eq!(night.calls_per_minute.critical, Some(5));
    assert_eq!(night.sequential_calls.critical, None);
    assert_eq!(night.call_duration.warning, Some(1800));
    let sec = &c.security;
    assert!(!sec.enabled);
    assert!(!sec.scanners);
    assert_eq!(sec.allow[0].to_string(), "192.168.10.0/24");
    assert_eq!(sec.deny[0].to_string(), "203.0.113.128/25");
    assert_eq!(sec.domains, ["voip.example.com"]);
    assert_eq!(sec.max_tracked_sources, 5000);
    assert_eq!(
        sec.bans.file.as_deref(),
        Some(data("good").join("./bans.txt").as_path())
    );
    assert_eq!((sec.bans.time, sec.bans.max_time), (s(300), s(7 * 86_400)));
    assert_eq!(
        (sec.rates.register, sec.rates.invite, sec.rates.other),
        (5, 7, 50)
    );
    assert_eq!(
        (
            sec.auth_failures.max,
            sec.auth_failures.window,
            sec.auth_failures.account_alert
        ),
        (8, s(900), 40)
    );
    assert_eq!((sec.sweep.max_users, sec.sweep.window), (12, s(120)));
    assert_eq!(c.drain.deadline, s(0));
    assert_eq!(c.log.level, "warn,palisade_sip=debug");
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.records.path, Some(data("good/records/calls.jsonl")));
    assert_eq!(c.records.rotate_size, 16 << 20);
    assert_eq!(c.records.rotate_age, s(3600));
    assert_eq!(c.records.keep, 7);
}

#[test]
fn unknown_key_at_the_top_level() {
    assert_errors(
        "bad/unknown-top.yaml",
        &[
            "6:1: unknown field `medai`, expected one of access, core, media, admin, sip, \
           transport, calls, registration, topology, security, fraud, drain, log, records",
        ],
    );
}

#[test]
fn unknown_key_nested() {
    assert_errors(
        "bad/unknown-nested.yaml",
        &[
            "8:5: unknown field `timout`, expected one of interval, timeout, \
           failures_before_down, successes_before_up",
        ],
    );
}

#[test]
fn yaml_syntax_error() {
    assert_errors(
        "bad/syntax.yaml",
        &["3:5: illegal placement of ':' indicator"],
    );
}

#[test]
fn wrong_shape() {
    assert_errors("bad/wrong-type.yaml", &["2:11: expected a list"]);
}

#[test]
fn unknown_enum_value() {
    assert_errors(
        "bad/enum.yaml",
        &["7:11: unknown variant `xml`, expected one of human, json"],
    );
}

#[test]
fn empty_file_lacks_listeners_and_upstreams() {
    assert_errors(
        "bad/empty.yaml",
        &[
            "1:1: access.listen: at least one listener is required, such as \"udp:0.0.0.0:5060\"",
            "1:1: core.listen: at least one listener is required, such as \"udp:0.0.0.0:5060\"",
            "1:1: core.upstream: at least one upstream is required, such as \"sip:127.0.0.1:5080\"",
        ],
    );
}

#[test]
fn empty_upstream_list() {
    assert_errors(
        "bad/no-upstream.yaml",
        &["5:13: core.upstream: at least one upstream is required, such as \"sip:127.0.0.1:5080\""],
    );
}

#[test]
fn listener_errors() {
    assert_errors(
        "bad/listeners.yaml",
        &[
            "5:7: access.listen[2]: udp:0.0.0.0:5060 is listed twice (also access.listen[0] at line 3)",
            "6:7: access.listen[3]: tls:127.0.0.1:5060 needs access.tls.cert and access.tls.key",
            "6:7: access.listen[3]: tls:127.0.0.1:5060 needs the same TCP socket as access.listen[1] (tcp:0.0.0.0:5060, line 4)",
            "7:7: access.listen[4]: invalid listen address \"ws:0.0.0.0:80\": unknown transport \"ws\" (expected udp, tcp or tls)",
            "8:7: access.listen[5]: invalid listen address \"udp:localhost:5060\": \"localhost:5060\" is not IP:PORT; expected TRANSPORT:ADDRESS:PORT, such as \"udp:0.0.0.0:5060\" or \"tcp:[::1]:5060\"",
            "9:7: access.listen[6]: invalid listen address \"udp:[::1]\": \"[::1]\" is not IP:PORT; expected TRANSPORT:ADDRESS:PORT, such as \"udp:0.0.0.0:5060\" or \"tcp:[::1]:5060\"",
            "10:14: access.advertise: \"pbx.example.com\" is not an IP address, such as \"203.0.113.10\"",
            "12:12: core.listen[0]: udp:127.0.0.1:5060 is the same socket as access.listen[0] (udp:0.0.0.0:5060, line 3): the access and core sides must listen on different sockets",
        ],
    );
}

#[test]
fn tls_listener_without_certificate() {
    assert_errors(
        "bad/tls-missing.yaml",
        &["4:7: access.listen[1]: tls:127.0.0.1:5061 needs access.tls.cert and access.tls.key"],
    );
}

#[test]
fn tls_files_must_be_readable() {
    assert_errors(
        "bad/tls-files.yaml",
        &[
            "4:11: access.tls.cert: cannot read DATA/bad/no-such-cert.pem: No such file or directory (os error 2)",
            "5:10: access.tls.key: cannot read DATA/bad/tls-dir: it is a directory",
            "10:5: core.tls: `cert` is required",
            "10:10: core.tls.key: cannot read DATA/bad/key.pem: No such file or directory (os error 2)",
        ],
    );
}

#[test]
fn upstream_errors() {
    assert_errors(
        "bad/upstreams.yaml",
        &[
            "7:7: core.upstream[1]: invalid upstream URI \"http://pbx.example.com\": expected a sip: or sips: URI such as \"sip:127.0.0.1:5080\"",
            "8:7: core.upstream[2]: invalid upstream URI \"sip:alice@127.0.0.1\": an upstream names a host, it has no user part",
            "9:7: core.upstream[3]: sip:127.0.0.1:5080 is the same upstream as core.upstream[0]",
            "10:7: core.upstream[4]: sip:127.0.0.1:5081;transport=tcp is reached over tcp, but core.listen has no tcp: listener to send from",
            "11:7: core.upstream[5]: invalid upstream URI \"sip:127.0.0.1;transprot=tcp\": unknown parameter \"transprot\" (only transport and lr are allowed)",
        ],
    );
}

#[test]
fn admin_must_be_loopback_without_token() {
    assert_errors(
        "bad/admin.yaml",
        &[
            "7:11: admin.listen: 0.0.0.0:9090 is not a loopback address: set admin.token (or admin.token_file) so that the admin API is not open to anyone who can reach it",
            "7:11: admin.listen: 0.0.0.0:9090 needs the same TCP socket as access.listen[1] (tcp:0.0.0.0:9090, line 2)",
        ],
    );
}

#[test]
fn admin_token_checks() {
    assert_errors(
        "bad/admin-token.yaml",
        &["8:10: admin.token: the token is too short: use at least 16 characters"],
    );
    assert_errors(
        "bad/admin-both.yaml",
        &["8:15: admin.token_file: set admin.token or admin.token_file, not both"],
    );
}

#[test]
fn value_errors_are_all_reported_together() {
    assert_errors(
        "bad/values.yaml",
        &[
            "7:15: core.probe.interval: duration \"10\" has no unit: write it as \"10s\" (or with ms, m, h)",
            "8:14: core.probe.timeout: 20s is longer than the probe interval (10s)",
            "9:27: core.probe.failures_before_down: 0 is out of range: expected 1 to 100",
            "11:10: media.ports: invalid port range \"20000-40000\": it must start on an even port and end on an odd one, so that it holds whole RTP/RTCP pairs (such as \"20000-39999\")",
            "14:23: sip.limits.max_message_size: 1400 is out of range: expected 1500 to 65535",
            "15:18: sip.limits.max_headers: \"many\" is not a whole number from 16 to 1024",
            "16:21: sip.limits.max_header_len: 70000 is out of range: expected 256 to 65535",
            "19:9: sip.timers.t2: 1s is shorter than t1 (2s)",
            "20:22: sip.udp_mtu_allowance: \"-5\" is not a whole number from 512 to 65535",
            "24:33: transport.tcp.max_connections_per_source: 20 is more than max_connections (10)",
            "25:19: transport.tcp.idle_timeout: invalid duration \"forever\" (expected number at 0): expected a number with a unit, such as \"500ms\", \"10s\", \"5m\" or \"1h\"",
            "27:15: calls.max_active: 0 is out of range: expected 1 to 1000000",
            "29:23: calls.session_timer.default_interval: 1m is out of range: expected 1m 30s to 1day",
            "33:16: registration.max_expires: 1m is shorter than min_expires (1h)",
            "35:18: topology.server_header: the header text must be 1 to 256 bytes without control characters",
            "37:27: security.trusted[1]: \"10.0.0.0/33\" is not a network such as \"198.51.100.0/24\" or an address",
            "38:12: security.enabled: \"maybe\" is not true or false",
            "39:33: security.domains[1]: \"not a domain\" is not a domain name such as \"voip.example.com\" (IP addresses are always served)",
            "40:31: security.bans.max_time: 10m is shorter than security.bans.time (1h)",
            "41:20: security.rates.invite: 0 is out of range: expected 1 to 1000000",
            "43:13: drain.deadline: 2days is out of range: expected 0s to 1day",
            "45:10: log.level: invalid log level \"verbose\": expected LEVEL or TARGET=LEVEL, LEVEL one of off, error, warn, info, debug, trace",
        ],
    );
}

#[test]
fn display_is_one_error_per_line_with_file_line_column() {
    let path = data("bad/empty.yaml");
    let text = Config::load(&path).unwrap_err().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    for line in lines {
        assert!(
            line.starts_with(&format!("{}:1:1: ", path.display())),
            "{line}"
        );
    }
}

#[test]
fn unreadable_file() {
    let path = data("no-such-file.yaml");
    let errs = Config::load(&path).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs.errors()[0].position(), None);
    assert!(
        errs.to_string()
            .starts_with(&format!("{}: cannot read: ", path.display()))
    );
}

#[test]
fn from_str_names_the_origin() {
    let err = Config::from_str("access: {listen: [\"udp:1.2.3.4\"]}\n", "inline").unwrap_err();
    let last = err.errors().last().unwrap().to_string();
    assert!(last.starts_with("inline:1:19: access.listen[0]: "), "{err}");
}

#[test]
fn fraud_errors_point_at_their_values() {
    let text = "access:\n  listen: [\"udp:127.0.0.1:5060\"]\ncore:\n  listen: [\"udp:127.0.0.1:5062\"]\n  upstream: [\"sip:127.0.0.1:5080\"]\n\
fraud:\n  default_class: intl\n  rules:\n    - name: x\n      prefix: \"_[9-1]\"\n      hours: \"8-18\"\n      calls_per_minute: { warning: 5, critical: 2 }\n";
    let err = Config::from_str(text, "p.yaml").unwrap_err().to_string();
    for line in [
        "p.yaml:7:18: fraud.default_class: \"intl\" is not a class: expected one of open, restricted",
        "p.yaml:10:15: fraud.rules[0].prefix: the range 9-1 runs backwards",
        "p.yaml:11:14: fraud.rules[0].hours: \"8-18\" is not a span of hours such as \"08:00-18:00\"",
        "p.yaml:12:36: fraud.rules[0].calls_per_minute.warning: 5 is above the critical threshold (2)",
    ] {
        assert!(err.contains(line), "{line}\nnot in\n{err}");
    }
}

#[test]
fn record_sizes_take_binary_units_and_refuse_others() {
    let base = "access:\n  listen: [\"udp:127.0.0.1:5060\"]\ncore:\n  listen: [\"udp:127.0.0.1:5062\"]\n  upstream: [\"sip:127.0.0.1:5080\"]\n";
    let with = |size: &str| {
        Config::from_str(
            &format!("{base}records:\n  rotate_size: {size}\n"),
            "p.yaml",
        )
    };
    assert_eq!(with("64KiB").unwrap().records.rotate_size, 64 << 10);
    assert_eq!(with("1_048_576").unwrap().records.rotate_size, 1 << 20);
    assert_eq!(with("2GiB").unwrap().records.rotate_size, 2 << 30);
    for bad in ["12MB", "1KiB", "99999999999999999999GiB", "-1", "MiB"] {
        let e = with(bad).unwrap_err().to_string();
        assert!(
            e.contains("p.yaml:7:16: records.rotate_size:"),
            "{bad}: {e}"
        );
    }
}
