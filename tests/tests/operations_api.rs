//! The admin API of the running Palisade, and `palisade ctl` against it: health checks,
//! the registrations and calls it holds, the bearer token, and a drain started over HTTP.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::process::Command;
use std::time::Duration;

use b2bua_support::*;
use palisade_tests::harness::admin::{json, metric};
use palisade_tests::harness::palisade::{Palisade, binary};
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::role;
use palisade_tests::harness::sipp::{Scenario, Sipp, SippRun};
use palisade_tests::harness::workdir::TestDir;

const TOKEN: &str = "operations-test-token-0123456789";

/// Runs `palisade ctl ARGS...`: exit success, stdout.
fn ctl(args: &[&str]) -> (bool, String) {
    let out = Command::new(binary())
        .arg("ctl")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A PBX, a Palisade in front of it, and a call through them answered and staying up
/// for 8 s: long enough for what the tests do meanwhile on a loaded machine.
fn a_call_in_progress(dir: &TestDir) -> (SippRun, Palisade, SippRun) {
    let pbx = callee(dir, "pbx", "uas_dialog.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(dir);
    let call = long_call(
        dir,
        "caller",
        role::PHONE_A,
        sbc.access(),
        Duration::from_secs(8),
    );
    sbc.wait_log_count("CallAnswered", 1, Duration::from_secs(5));
    (pbx, sbc, call)
}

/// A phone registered through Palisade, then a call in progress: both show in the API,
/// in the metrics and in `palisade ctl`.
#[test]
fn registrations_calls_and_health() {
    let dir = peer_test("ops-api");
    let mut registrar = callee(&dir, "registrar", "uas_registrar.xml", role::PBX, &[]);
    let mut sbc = palisade(&[registrar.local_addr()]).start(&dir);

    let health = json(&sbc.admin_get("/healthz"));
    assert_eq!(health["status"], "ok");
    let ready = json(&sbc.admin_get("/readyz"));
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["upstreams_up"], 1);
    assert_eq!(
        json(&sbc.admin_get("/api/registrations")),
        serde_json::json!([])
    );

    let phone = registering_phone(role::PHONE_B, sbc.access(), Duration::from_secs(20));
    let phone_addr = phone.local_addr();
    let _phone = phone.start(&dir);
    sbc.wait_log_count("Registered {", 1, Duration::from_secs(10));
    let regs = json(&sbc.admin_get("/api/registrations"));
    let regs = regs.as_array().unwrap();
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert!(
        regs[0]["aor"].as_str().unwrap().contains("1002@"),
        "{regs:?}"
    );
    assert_eq!(regs[0]["remote"], phone_addr.to_string());
    assert_eq!(regs[0]["transport"], "udp");
    assert!(regs[0]["expires_in"].as_u64().unwrap() > 0);
    let text = sbc.admin_get("/metrics");
    assert_eq!(
        metric(&text, "palisade_registrations_active"),
        1.0,
        "{text}"
    );

    // A call that stays up for 8 s, through a Palisade in front of a PBX that answers
    // calls (the registrar's scenario does not).
    finish_ok(&mut registrar);
    drop(sbc);

    let dir = peer_test("ops-api-calls");
    let (mut pbx, mut sbc, mut long_call) = a_call_in_progress(&dir);
    let calls = json(&sbc.admin_get("/api/calls"));
    let calls = calls.as_array().unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(c["state"], "answered", "{c}");
    assert_eq!(c["from"], "access");
    assert_eq!(c["callee"], format!("sip:1002@{}", sbc.access()));
    assert_eq!(c["legs"][1]["remote"], pbx.local_addr().to_string());
    assert!(c["answer"].is_string());
    let text = sbc.admin_get("/metrics");
    assert_eq!(metric(&text, "palisade_calls_active"), 1.0);
    assert_eq!(
        metric(&text, "palisade_media_streams_active"),
        1.0,
        "{text}"
    );

    // palisade ctl finds the API and its token in the configuration file.
    let config = sbc.config_path().to_str().unwrap().to_owned();
    let (ok, out) = ctl(&["--config", &config, "calls"]);
    assert!(ok, "{out}");
    assert_eq!(json(&out).as_array().unwrap().len(), 1, "{out}");
    let (ok, out) = ctl(&["--config", &config, "health"]);
    assert!(ok, "{out}");
    assert!(out.contains("\"ready\": true"), "{out}");
    let admin = sbc.admin().to_string();
    let (ok, out) = ctl(&["--admin", &admin, "metrics"]);
    assert!(ok, "{out}");
    assert!(out.contains("palisade_calls_active 1"), "{out}");

    let r = long_call.wait(RUN);
    assert!(r.all_succeeded(1), "{r:?}");
    sbc.wait_calls_ended(1, Duration::from_secs(5));
    assert_eq!(json(&sbc.admin_get("/api/calls")), serde_json::json!([]));
    finish_ok(&mut pbx);
}

/// With admin.token set, everything but the health checks wants it.
#[test]
fn the_token_is_enforced() {
    let dir = peer_test("ops-api-token");
    let mut pbx = callee(&dir, "pbx", "uas_dialog.xml", role::PBX, &[]);
    let sbc: Palisade = palisade(&[pbx.local_addr()]).admin_token(TOKEN).start(&dir);
    for path in ["/metrics", "/api/calls", "/api/registrations"] {
        let (code, body) = sbc.admin_request_with("GET", path, None).unwrap();
        assert_eq!(code, 401, "{path}: {body}");
        let (code, _) = sbc
            .admin_request_with("GET", path, Some("operations-test-token-wrong-value"))
            .unwrap();
        assert_eq!(code, 401, "{path} with a wrong token");
        let (code, _) = sbc.admin_request_with("GET", path, Some(TOKEN)).unwrap();
        assert_eq!(code, 200, "{path} with the token");
    }
    let (code, _) = sbc.admin_request_with("POST", "/api/drain", None).unwrap();
    assert_eq!(code, 401);
    for path in ["/healthz", "/readyz"] {
        let (code, _) = sbc.admin_request_with("GET", path, None).unwrap();
        assert_eq!(code, 200, "{path} needs no token");
    }
    assert_eq!(sbc.admin_request("GET", "/nothing").unwrap().0, 404);
    assert_eq!(sbc.admin_request("GET", "/api/drain").unwrap().0, 405);

    // ctl with the token on the command line; without it, refused.
    let admin = sbc.admin().to_string();
    let (ok, out) = ctl(&["--admin", &admin, "--token", TOKEN, "registrations"]);
    assert!(ok, "{out}");
    assert_eq!(json(&out), serde_json::json!([]));
    let (ok, out) = ctl(&["--admin", &admin, "calls"]);
    assert!(!ok, "{out}");
    assert!(out.contains("401"), "{out}");
    drop(sbc);
    let _ = pbx.finish(Duration::from_secs(10));
}

/// POST /api/drain (through palisade ctl): not ready any more, new calls get 503, and the
/// process exits once the call in progress has ended.
#[test]
fn drain_over_the_api() {
    let dir = peer_test("ops-api-drain");
    let (mut pbx, mut sbc, mut long_call) = a_call_in_progress(&dir);

    let config = sbc.config_path().to_str().unwrap().to_owned();
    let (ok, out) = ctl(&["--config", &config, "drain"]);
    assert!(ok, "{out}");
    let d = json(&out);
    assert_eq!(d["draining"], true, "{d}");
    assert_eq!(d["calls"], 1, "{d}");
    let (code, body) = sbc.admin_request("GET", "/readyz").unwrap();
    assert_eq!(code, 503, "{body}");
    assert_eq!(json(&body)["draining"], true);
    // The health check still answers: the process is alive.
    assert_eq!(sbc.admin_request("GET", "/healthz").unwrap().0, 200);
    let (ok, _) = ctl(&["--config", &config, "health"]);
    assert!(!ok, "ctl health fails while draining");
    let (ok, out) = ctl(&["--config", &config, "live"]);
    assert!(ok, "ctl live succeeds while draining: {out}");

    let mut refused = Sipp::new("refused", Scenario::BuiltIn("uac"), role::PHONE_B)
        .remote(sbc.access())
        .service("1002")
        .calls(1)
        .timeout(Duration::from_secs(5))
        .trace_messages(true)
        .start(&dir);
    let r = refused.wait(Duration::from_secs(10));
    assert_eq!(r.successful, 0, "{r:?}");
    assert!(refused.messages().contains("SIP/2.0 503"));

    let r = long_call.wait(RUN);
    assert!(r.all_succeeded(1), "{r:?}");
    let status = sbc.peer().wait_for_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    finish_ok(&mut pbx);
}

/// Sends `count` OPTIONS at once from one socket on `ip`, then counts the 200s that come
/// back within a second.
fn options_burst(ip: std::net::Ipv4Addr, to: std::net::SocketAddr, count: u32) -> usize {
    let sock = std::net::UdpSocket::bind((ip, 0)).unwrap();
    let local = sock.local_addr().unwrap();
    for n in 0..count {
        let req = format!(
            "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-burst-{n};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=b{n}\r\nTo: <sip:{to}>\r\n\
             Call-ID: burst-{n}@{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        sock.send_to(req.as_bytes(), to).unwrap();
    }
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    let mut ok = 0;
    let mut buf = vec![0u8; 65536];
    while std::time::Instant::now() < deadline {
        if let Ok((len, _)) = sock.recv_from(&mut buf)
            && buf[..len].starts_with(b"SIP/2.0 200")
        {
            ok += 1;
        }
    }
    ok
}

/// A reload (POST /api/reload, then SIGHUP) changes the rate limit for the next requests
/// while a call stays up; a file with an error is refused with its error, and the running
/// configuration stays.
#[test]
fn reload_applies_a_new_rate_limit_while_a_call_survives() {
    let dir = peer_test("ops-api-reload");
    let pbx_run = callee(&dir, "pbx", "uas_dialog.xml", role::PBX, &[]);
    let mut pbx = pbx_run;
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    let mut call = long_call(
        &dir,
        "caller",
        role::PHONE_A,
        sbc.access(),
        Duration::from_secs(8),
    );
    sbc.wait_log_count("CallAnswered", 1, Duration::from_secs(5));
    let original = std::fs::read_to_string(sbc.config_path()).unwrap();

    // The default budget for OPTIONS (100/s, a burst of 200) lets 30 through.
    assert_eq!(options_burst(role::ATTACKER, sbc.access(), 30), 30);

    // Two per second: a burst of 30 now gets a handful through, and its source is banned.
    std::fs::write(
        sbc.config_path(),
        format!("{original}security:\n  rates: {{ other: 2 }}\n  bans: {{ time: 1m }}\n"),
    )
    .unwrap();
    let (code, body) = sbc.admin_request("POST", "/api/reload").unwrap();
    assert_eq!(code, 200, "{body}");
    let view = json(&body);
    assert_eq!(view["reloaded"], true, "{view}");
    assert_eq!(view["applied"], serde_json::json!(["security"]), "{view}");
    assert_eq!(view["restart_required"], serde_json::json!([]), "{view}");
    let through = options_burst(role::ATTACKER, sbc.access(), 30);
    assert!(through <= 6, "{through} of 30 answered under 2/s");
    let bans = sbc.admin_get("/api/bans");
    assert!(bans.contains(&role::ATTACKER.to_string()), "{bans}");

    // A broken file: refused with FILE:LINE:COLUMN, nothing changes.
    std::fs::write(
        sbc.config_path(),
        format!("{original}security:\n  rates: {{ other: fast }}\n"),
    )
    .unwrap();
    let (code, body) = sbc.admin_request("POST", "/api/reload").unwrap();
    assert_eq!(code, 422, "{body}");
    let view = json(&body);
    assert_eq!(view["reloaded"], false, "{view}");
    let error = view["errors"][0].as_str().unwrap();
    let path = sbc.config_path().display().to_string();
    assert!(error.starts_with(&format!("{path}:")), "{error}");
    assert!(error.contains("other"), "{error}");
    let through = options_burst(role::PHONE_B, sbc.access(), 30);
    assert!(
        through <= 6,
        "the running limit stays: {through} of 30 answered"
    );

    // SIGHUP with a listener moved, the limit raised and the log level lowered to warn:
    // the limit and the level apply, the listener waits for a restart, and says so.
    let moved = original
        .replacen(
            &format!("udp:{}", sbc.access()),
            &format!("udp:{}:5999", sbc.access().ip()),
            1,
        )
        .replacen(
            "level: \"info,palisade=debug,palisade_b2bua=debug,palisade_transport=debug\"",
            "level: warn",
            1,
        );
    assert!(
        moved.contains("level: warn") && moved.contains(":5999"),
        "{moved}"
    );
    std::fs::write(
        sbc.config_path(),
        format!("{moved}security:\n  rates: {{ other: 100 }}\n"),
    )
    .unwrap();
    sbc.peer().signal(nix::sys::signal::Signal::SIGHUP);
    // Logged at warn, after the new level took effect.
    sbc.wait_log_count("key=\"access.listen\"", 1, Duration::from_secs(5));
    assert_eq!(
        sbc.log_count("configuration reloaded"),
        1,
        "at warn, the info line of the second reload is not written"
    );
    assert!(
        sbc.ping(Duration::from_secs(2)),
        "still on the old listener"
    );

    let text = sbc.admin_get("/metrics");
    assert_eq!(
        metric(&text, "palisade_config_reloads_total{result=\"ok\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, "palisade_config_reloads_total{result=\"error\"}"),
        1.0
    );
    assert_eq!(metric(&text, "palisade_calls_active"), 1.0, "{text}");

    // The call went on through all of it (its end is logged at info, no longer written).
    let r = call.wait(RUN);
    assert!(r.all_succeeded(1), "{r:?}");
    // The call ended in Palisade.
    sbc.wait_metric(
        "palisade_calls_active",
        |n| n == 0.0,
        Duration::from_secs(5),
    );
    assert_eq!(
        sbc.log_count("CallEnded"),
        0,
        "CallEnded is info: not written at warn"
    );
    finish_ok(&mut pbx);
}
