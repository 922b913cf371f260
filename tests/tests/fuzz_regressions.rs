//! Replays the fuzz seed corpora (`fuzz/corpus/<target>/`) and saved crash inputs
//! (`fuzz/regressions/<target>/`) through the checks the fuzz targets run, so that
//! `cargo test` covers them without libFuzzer.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use palisade_tests::fuzz_checks;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` over every input of `target`, then fails naming each input that panicked.
fn replay(target: &str, check: fn(&[u8])) {
    let corpus = inputs("corpus", target);
    assert!(!corpus.is_empty(), "no seed corpus for {target}");
    let mut failures = Vec::new();
    for path in corpus.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} input(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn parse() {
    replay("parse", fuzz_checks::parse);
}

#[test]
fn roundtrip() {
    replay("roundtrip", fuzz_checks::roundtrip);
}

#[test]
fn framing() {
    replay("framing", fuzz_checks::framing);
}

#[test]
fn sdp() {
    replay("sdp", fuzz_checks::sdp);
}

#[test]
fn transaction() {
    replay("transaction", fuzz_checks::transaction);
}
