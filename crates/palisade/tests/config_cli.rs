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

/// Every YAML file under `dir`, recursively.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// The Palisade configurations a Kubernetes manifest carries: the `palisade.yaml: |`
/// block scalars of its ConfigMaps, dedented.
fn embedded_configs(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = manifest.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() != "palisade.yaml: |" {
            continue;
        }
        let key_indent = line.len() - line.trim_start().len();
        let mut body = Vec::new();
        while let Some(next) = lines.peek() {
            let indent = next.len() - next.trim_start().len();
            if !next.trim().is_empty() && indent <= key_indent {
                break;
            }
            body.push(*next);
            lines.next();
        }
        let strip = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let text: Vec<&str> = body.iter().map(|l| l.get(strip..).unwrap_or("")).collect();
        out.push(text.join("\n") + "\n");
    }
    out
}

/// `palisade check-config` accepts every configuration shipped in config/ and deploy/,
/// including the one inside the Kubernetes manifest (checked with a token file beside
/// it, as the manifest mounts one).
#[test]
fn check_config_accepts_every_shipped_configuration() {
    let mut files = Vec::new();
    yaml_files(&repo("config"), &mut files);
    yaml_files(&repo("deploy"), &mut files);
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shipped-configs");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::copy(
        repo("crates/config/tests/data/good/admin-token"),
        scratch.join("admin-token"),
    )
    .unwrap();
    let mut checked = 0;
    for file in files {
        let content = std::fs::read_to_string(&file).unwrap();
        let configs = if content.lines().any(|l| l.starts_with("apiVersion:")) {
            let embedded = embedded_configs(&content);
            assert!(!embedded.is_empty(), "{}: no palisade.yaml", file.display());
            embedded
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    let name = file.file_stem().unwrap().to_str().unwrap();
                    let f = scratch.join(format!("{name}-{i}.yaml"));
                    std::fs::write(&f, body).unwrap();
                    f
                })
                .collect()
        } else {
            vec![file.clone()]
        };
        for c in configs {
            let out = palisade(&[Path::new("check-config"), &c]);
            assert!(
                out.status.success(),
                "{} ({}): {}",
                c.display(),
                file.display(),
                text(&out.stderr)
            );
            checked += 1;
        }
    }
    // config/palisade.yaml, deploy/config/palisade.yaml, the Kubernetes manifest's.
    assert!(checked >= 3, "only {checked} configurations found");
}
