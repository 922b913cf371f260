//! `palisade check-config` and `palisade --config` on real files.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn palisade(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .output()
        .expect("run palisade")
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn check_config_accepts_the_shipped_file() {
    let file = repo("config/palisade.yaml");
    let out = palisade(&[Path::new("check-config"), &file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}: ok\n", file.display()));
}

#[test]
fn check_config_prints_every_error_and_fails() {
    let file = repo("crates/config/tests/data/bad/empty.yaml");
    let out = palisade(&[Path::new("check-config"), &file]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].starts_with(&format!("{}:1:1: access.listen: ", file.display())));
    assert!(lines[2].starts_with(&format!("{}:1:1: core.upstream: ", file.display())));
}

/// A file with errors stops the service before it binds anything. (A valid file starts
/// it; tests/service.rs runs it, inside a network namespace.)
#[test]
fn config_option_refuses_a_bad_file() {
    let bad = repo("crates/config/tests/data/bad/unknown-top.yaml");
    let out = palisade(&[Path::new("--config"), &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(&format!("{}:6:1: unknown field `medai`", bad.display()))
    );
}
