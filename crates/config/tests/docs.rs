//! docs/configuration.md is tested: every YAML example in it loads, every error line it
//! shows is what Palisade prints for the matching fixture, and every key is documented.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};

use palisade_config::Config;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn doc() -> String {
    std::fs::read_to_string(repo("docs/configuration.md")).unwrap()
}

/// The fenced blocks of the given language, with the line each starts on.
fn blocks(text: &str, lang: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut current {
            Some((_, body)) if line.trim_start() == "```" => {
                let _ = body;
                out.push(current.take().unwrap());
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None if line.trim_start() == format!("```{lang}") => {
                current = Some((i + 1, String::new()));
            }
            None => {}
        }
    }
    out
}

/// Sections every example may lean on when it shows only one section.
const BASE_ACCESS: &str = "access:\n  listen: [\"udp:127.0.0.1:5060\"]\n";
const BASE_CORE: &str =
    "core:\n  listen: [\"udp:127.0.0.1:5062\"]\n  upstream: [\"sip:127.0.0.1:5080\"]\n";

#[test]
fn every_yaml_example_loads() {
    let examples = blocks(&doc(), "yaml");
    assert!(examples.len() >= 10, "found {} examples", examples.len());
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("doc-examples");
    for (line, body) in examples {
        // Each example in a directory of its own holding the files examples refer to.
        let dir = root.join(format!("line-{line}"));
        std::fs::create_dir_all(dir.join("tls")).unwrap();
        for f in ["tls/cert.pem", "tls/key.pem", "admin-token"] {
            std::fs::copy(data(&format!("good/{f}")), dir.join(f)).unwrap();
        }
        let has = |section: &str| body.lines().any(|l| l.starts_with(&format!("{section}:")));
        let mut text = body.clone();
        if !has("access") {
            text.push_str(BASE_ACCESS);
        }
        if !has("core") {
            text.push_str(BASE_CORE);
        }
        let file = dir.join("palisade.yaml");
        std::fs::write(&file, &text).unwrap();
        if let Err(e) = Config::load(&file) {
            panic!("the example at docs/configuration.md line {line} is refused:\n{e}\n{text}");
        }
    }
}

#[test]
fn error_lines_shown_are_real() {
    let mut actual = Vec::new();
    for fixture in ["bad/values.yaml", "bad/unknown-top.yaml"] {
        let errs = Config::from_str(
            &std::fs::read_to_string(data(fixture)).unwrap(),
            "palisade.yaml",
        )
        .unwrap_err();
        actual.extend(errs.iter().map(ToString::to_string));
    }
    let mut shown = 0;
    for (_, body) in blocks(&doc(), "text") {
        for line in body.lines().filter(|l| l.starts_with("palisade.yaml:")) {
            assert!(
                actual.iter().any(|a| a == line),
                "not printed by Palisade: {line}"
            );
            shown += 1;
        }
    }
    assert!(shown >= 4);
}

#[test]
fn every_key_is_documented() {
    const KEYS: &[&str] = &[
        "access.listen",
        "access.advertise",
        "access.tls.cert",
        "access.tls.key",
        "core.listen",
        "core.advertise",
        "core.tls.cert",
        "core.tls.key",
        "core.upstream_ca",
        "core.upstream",
        "core.probe.interval",
        "core.probe.timeout",
        "core.probe.failures_before_down",
        "core.probe.successes_before_up",
        "media.anchor",
        "media.ports",
        "media.timeout",
        "media.hold_timeout",
        "media.spare_pairs",
        "admin.listen",
        "admin.token",
        "admin.token_file",
        "admin.max_connections",
        "admin.header_timeout",
        "admin.request_timeout",
        "sip.limits.max_message_size",
        "sip.limits.max_stream_message_size",
        "sip.limits.max_headers",
        "sip.limits.max_header_len",
        "sip.timers.t1",
        "sip.timers.t2",
        "sip.timers.t4",
        "sip.udp_mtu_allowance",
        "transport.tcp.max_connections",
        "transport.tcp.max_connections_per_source",
        "transport.tcp.idle_timeout",
        "transport.tcp.message_timeout",
        "transport.tcp.tls_handshake_timeout",
        "calls.max_active",
        "calls.overload_delay",
        "calls.invite_timeout",
        "calls.session_timer.insert",
        "calls.session_timer.default_interval",
        "calls.session_timer.min_se",
        "registration.min_expires",
        "registration.max_expires",
        "registration.default_expires",
        "registration.nat_expires",
        "registration.core_expires",
        "registration.keepalive_interval",
        "topology.server_header",
        "topology.user_agent_header",
        "transport.tcp.tls_handshakes_per_second",
        "security.trusted",
        "security.enabled",
        "security.allow",
        "security.deny",
        "security.domains",
        "security.scanners",
        "security.max_tracked_sources",
        "security.bans.file",
        "security.bans.time",
        "security.bans.max_time",
        "security.rates.register",
        "security.rates.invite",
        "security.rates.other",
        "security.auth_failures.max",
        "security.auth_failures.window",
        "security.auth_failures.account_alert",
        "security.sweep.max_users",
        "security.sweep.window",
        "fraud.registered_only",
        "fraud.default_class",
        "fraud.emergency",
        "fraud.block_time",
        "fraud.utc_offset",
        "fraud.max_accounts",
        "fraud.classes[].name",
        "fraud.classes[].allow",
        "fraud.classes[].deny",
        "fraud.classes[].max_concurrent",
        "fraud.classes[].calls_per_minute",
        "fraud.classes[].calls_per_day",
        "fraud.classes[].minutes_per_day",
        "fraud.classes[].max_duration",
        "fraud.accounts",
        "fraud.rules[].name",
        "fraud.rules[].prefix",
        "fraud.rules[].hours",
        "fraud.rules[].days",
        "fraud.rules[].calls_per_minute",
        "fraud.rules[].concurrent_calls",
        "fraud.rules[].sequential_calls",
        "fraud.rules[].total_calls",
        "fraud.rules[].call_duration",
        "drain.deadline",
        "log.level",
        "log.format",
        "records.path",
        "records.rotate_size",
        "records.rotate_age",
        "records.keep",
    ];
    let doc = doc();
    let shipped = std::fs::read_to_string(repo("config/palisade.yaml")).unwrap();
    for key in KEYS {
        assert!(
            doc.contains(&format!("| `{key}`")) || doc.contains(&format!(", `{key}`")),
            "{key} is not in the reference"
        );
        // The shipped file shows every key, commented out where it has no default.
        let leaf = key.rsplit('.').next().unwrap();
        assert!(
            shipped.contains(&format!("{leaf}:")),
            "{key} is not in config/palisade.yaml"
        );
    }
    // Each key of the reference is one the reader knows: a file setting all of them,
    // full.yaml, loads (its values are checked in tests/files.rs).
    Config::load(data("good/full.yaml")).unwrap();
}
