//! The scanner every SIP server meets, against Palisade with its default settings in
//! front of Kamailio (tests/kamailio/pbx.cfg: digest authentication, users 1001..1010),
//! while a phone registered through Palisade keeps working: `svmap` learns nothing that
//! names the product, `svwar` finds no extension (also when it hides its name, and also
//! with the fingerprints and sweep check off: the answers for known and unknown users
//! look alike), and `svcrack` is banned within 10 password attempts (by its fingerprint,
//! and by failed authentications when it hides its name).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use b2bua_support::*;
use palisade_tests::harness::kamailio::Pbx;
use palisade_tests::harness::palisade::Palisade;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::{free_port, role};
use palisade_tests::harness::process::Peer;
use palisade_tests::harness::programs::require;
use palisade_tests::harness::sipp::SippRun;
use palisade_tests::harness::workdir::TestDir;

/// Longest run of one scanner.
const SCAN: Duration = Duration::from_secs(40);

/// Where sipvicious's Python package is installed (Debian's `sipvicious`).
const SIPVICIOUS: &str = "/usr/share/sipvicious";

/// One of the sipvicious tools as installed, from the attacker's address.
fn tool(name: &str) -> Command {
    let mut c = Command::new(require(name));
    c.arg("-b").arg(role::ATTACKER.to_string());
    c.arg("-P").arg(free_port(role::ATTACKER).to_string());
    c
}

/// A sipvicious clone that hides its name: the installed package copied into the test
/// directory with its User-Agent and From name replaced.
fn clone_tool(dir: &TestDir, name: &str) -> Command {
    let lib = dir.join("sipvicious-clone");
    let pkg = lib.join("sipvicious");
    if !pkg.exists() {
        copy_tree(&Path::new(SIPVICIOUS).join("sipvicious"), &pkg);
        for entry in walk(&pkg) {
            if entry.extension().is_some_and(|e| e == "py") {
                let text = std::fs::read_to_string(&entry).unwrap();
                let text = text
                    .replace("friendly-scanner", "Zoiper rv2.10.20.4")
                    .replace("fromname='sipvicious'", "fromname='Office'");
                std::fs::write(&entry, text).unwrap();
            }
        }
        let check = std::fs::read_to_string(pkg.join("libs/svhelper.py")).unwrap();
        assert!(!check.contains("friendly-scanner"));
    }
    let mut c = Command::new(require("python3"));
    c.env("PYTHONPATH", &lib)
        .arg("-c")
        .arg(format!(
            "import sys; sys.argv[0] = '{name}'; from sipvicious.{name} import main; main()"
        ))
        .arg("-b")
        .arg(role::ATTACKER.to_string())
        .arg("-P")
        .arg(free_port(role::ATTACKER).to_string());
    c
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "__pycache__" {
                copy_tree(&e.path(), &target);
            }
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs a scanner to its end; returns what it printed (stdout and stderr).
fn scan(dir: &TestDir, name: &str, mut cmd: Command, target: SocketAddr) -> String {
    cmd.arg("-p").arg(target.port().to_string());
    cmd.arg(target.ip().to_string());
    let mut peer = Peer::spawn(name, cmd, dir.path());
    peer.wait_for_exit(SCAN);
    format!("{}\n{}", peer.stdout(), peer.stderr())
}

/// Kamailio, Palisade in front of it with `yaml` added to its defaults, and phone 1002
/// registered through Palisade, answering calls.
fn setup(dir: &TestDir, yaml: Option<&str>) -> (Pbx, Palisade, SippRun) {
    let pbx = Pbx::start(dir, role::PBX);
    let mut b = palisade(&[pbx.addr()]);
    if let Some(y) = yaml {
        b = b.yaml(y);
    }
    let mut sbc = b.start(dir);
    let phone = registered_1002(dir, &mut sbc);
    (pbx, sbc, phone)
}

/// The attacker's ban, with its reason, is in Palisade's log, and no phone was banned.
/// (svmap sends from the address it is given; svwar and svcrack ignore theirs and send
/// from 127.0.0.1.)
fn assert_banned(sbc: &Palisade, reason: &str) {
    let log = sbc.log();
    let bans: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("source banned"))
        .collect();
    assert!(
        bans.iter().any(|l| l.contains(&format!("reason={reason}"))),
        "no ban for {reason} in the log:\n{log}"
    );
    for phone in [role::PHONE_A, role::PHONE_B] {
        let phone = format!("source={phone} ");
        assert!(!bans.iter().any(|l| l.contains(&phone)), "{bans:?}");
    }
}

/// Password guesses that reached the PBX and were refused (401, 407 or 403 to a request
/// with credentials), from the B2BUA's reports in Palisade's log.
fn refused_guesses(sbc: &Palisade) -> usize {
    sbc.log_count("credentials refused by the PBX")
}

#[test]
fn svmap_learns_nothing_that_names_the_product() {
    let dir = peer_test("security-svmap");
    let (_pbx, sbc, _phone) = setup(&dir, None);
    let out = scan(&dir, "svmap", tool("svmap"), sbc.access());
    let lower = out.to_lowercase();
    for name in ["palisade", "kamailio", "pbx"] {
        assert!(!lower.contains(name), "svmap learnt {name:?}:\n{out}");
    }
    assert!(
        !out.contains(&sbc.access().ip().to_string()),
        "svmap listed the SBC:\n{out}"
    );
    assert_banned(&sbc, "scanner");
    call_1002(&dir, &sbc, "call-after-svmap", "uac_auth_call.xml");
    assert!(sbc.ping(Duration::from_secs(2)));
}

/// The same scan with the name hidden and the fingerprints off reaches Palisade and gets
/// answers, but none that names what answers.
#[test]
fn answers_to_a_scan_name_nothing() {
    let dir = peer_test("security-svmap-clone");
    let (_pbx, sbc, _phone) = setup(&dir, Some("security:\n  scanners: false\n"));
    let out = scan(&dir, "svmap-clone", clone_tool(&dir, "svmap"), sbc.access());
    assert!(
        out.contains(&sbc.access().ip().to_string()),
        "the clone got an answer:\n{out}"
    );
    let lower = out.to_lowercase();
    for name in ["palisade", "kamailio", "pbx"] {
        assert!(!lower.contains(name), "svmap learnt {name:?}:\n{out}");
    }
}

/// Runs svwar (or its clone) over 1000..1020 against Palisade with its defaults: it
/// finds nothing, its source is banned as a scanner, and phone 1002 can still be called.
fn svwar_against_defaults(test: &str, clone: bool) {
    let dir = peer_test(test);
    let (_pbx, sbc, _phone) = setup(&dir, None);
    let mut cmd = if clone {
        clone_tool(&dir, "svwar")
    } else {
        tool("svwar")
    };
    cmd.args(["--force", "-e", "1000-1020"]);
    let out = scan(&dir, "svwar", cmd, sbc.access());
    assert!(!names_extension(&out, "1002"), "svwar found 1002:\n{out}");
    assert!(!out.contains("reqauth"), "{out}");
    assert_banned(&sbc, "scanner");
    call_1002(&dir, &sbc, "call-after-svwar", "uac_auth_call.xml");
}

#[test]
fn svwar_finds_no_extension() {
    svwar_against_defaults("security-svwar", false);
}

/// svwar with its name hidden: the shape of its tags still gives it away.
#[test]
fn svwar_with_another_user_agent_finds_no_extension() {
    svwar_against_defaults("security-svwar-clone", true);
}

/// Whether svwar's output names `ext` as found: a row of its result table, or the
/// extension quoted in a log line. Not any occurrence of the digits: its timings hold
/// them now and then ("Total time: 0:00:03.010027").
fn names_extension(out: &str, ext: &str) -> bool {
    let row = |l: &str| {
        l.trim_start().starts_with('|') && l.split('|').nth(1).is_some_and(|c| c.trim() == ext)
    };
    out.lines().any(row) || out.contains(&format!("'{ext}'")) || out.contains(&format!("\"{ext}\""))
}

/// Without fingerprints and with the sweep check out of the way, svwar gets an answer
/// for every extension, and those answers do not tell a registered user (1002), a user
/// of the PBX (1001..1010) and an unknown one apart.
#[test]
fn known_and_unknown_users_get_the_same_answers() {
    let dir = peer_test("security-svwar-uniform");
    let (_pbx, sbc, _phone) = setup(
        &dir,
        Some("security:\n  scanners: false\n  sweep:\n    max_users: 100000\n"),
    );
    for method in ["REGISTER", "OPTIONS", "INVITE"] {
        let mut cmd = clone_tool(&dir, "svwar");
        cmd.args(["--force", "-v", "-m", method, "-e", "995-1015"]);
        let out = scan(&dir, &format!("svwar-{method}"), cmd, sbc.access());
        assert!(
            !names_extension(&out, "1002"),
            "{method}: svwar found 1002:\n{out}"
        );
        assert!(!out.contains("reqauth"), "{method}: {out}");
        // It was answered (its probe of a random user, then every extension) ...
        assert!(out.contains("Ok SIP device found"), "{method}: {out}");
        // ... and could not tell any extension from that random one.
        assert!(out.contains("found nothing"), "{method}: {out}");
    }
    assert!(!sbc.log().contains("source banned"), "nobody was banned");
    call_1002(&dir, &sbc, "call-after-uniform", "uac_auth_call.xml");
}

#[test]
fn svcrack_is_stopped_at_its_first_attempt() {
    let dir = peer_test("security-svcrack");
    let (_pbx, sbc, _phone) = setup(&dir, None);
    let mut cmd = tool("svcrack");
    cmd.args(["-u", "1001", "-r", "1-200"]);
    let out = scan(&dir, "svcrack", cmd, sbc.access());
    assert!(!out.contains("secret1001"), "{out}");
    assert_banned(&sbc, "scanner");
    assert_eq!(refused_guesses(&sbc), 0, "no guess reached the PBX");
    call_1002(&dir, &sbc, "call-after-svcrack", "uac_auth_call.xml");
}

/// svcrack with its name hidden and the fingerprints off: the PBX's refusals of its
/// guesses ban it, within 10 attempts with the default threshold.
#[test]
fn a_password_guesser_is_banned_by_its_failed_attempts() {
    let dir = peer_test("security-bruteforce");
    let (_pbx, sbc, _phone) = setup(
        &dir,
        Some("security:\n  scanners: false\n  rates:\n    register: 1000\n"),
    );
    let mut cmd = clone_tool(&dir, "svcrack");
    cmd.args(["-u", "1001", "-r", "1-200"]);
    let out = scan(&dir, "svcrack-clone", cmd, sbc.access());
    assert!(!out.contains("secret1001"), "{out}");
    assert_banned(&sbc, "auth_failures");
    let attempts = refused_guesses(&sbc);
    assert!(
        (5..=10).contains(&attempts),
        "{attempts} guesses reached the PBX\n{out}"
    );
    call_1002(&dir, &sbc, "call-after-bruteforce", "uac_auth_call.xml");
}

/// The operator's view of a ban: the scanner's ban is listed by the admin API and counted
/// in the metrics, and lifting it over the API ends it.
#[test]
fn a_ban_is_listed_counted_and_lifted_over_the_admin_api() {
    use palisade_tests::harness::admin::{json, metric};
    let dir = peer_test("security-bans-api");
    let (_pbx, sbc, _phone) = setup(&dir, None);
    let before = sbc.admin_get("/metrics");
    assert_eq!(metric(&before, "palisade_bans_active"), 0.0);
    assert_eq!(json(&sbc.admin_get("/api/bans")), serde_json::json!([]));

    scan(&dir, "svmap", tool("svmap"), sbc.access());
    let attacker = role::ATTACKER.to_string();
    let bans = json(&sbc.admin_get("/api/bans"));
    let listed = bans.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{bans}");
    assert_eq!(listed[0]["source"], attacker.as_str());
    assert_eq!(listed[0]["reason"], "scanner");
    assert!(listed[0]["expires_in"].as_u64().unwrap() > 0);
    let during = sbc.admin_get("/metrics");
    assert_eq!(metric(&during, "palisade_bans_active"), 1.0);
    assert!(
        metric(&during, "palisade_dropped_total{reason=\"scanner\"}") >= 1.0,
        "{during}"
    );

    let path = format!("/api/bans/{attacker}");
    let (code, body) = sbc.admin_request("DELETE", &path).unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&sbc.admin_get("/api/bans")), serde_json::json!([]));
    let after = sbc.admin_get("/metrics");
    assert_eq!(metric(&after, "palisade_bans_active"), 0.0);
    // Nothing left to lift; and an address is required.
    assert_eq!(sbc.admin_request("DELETE", &path).unwrap().0, 404);
    assert_eq!(
        sbc.admin_request("DELETE", "/api/bans/nobody").unwrap().0,
        400
    );
}
