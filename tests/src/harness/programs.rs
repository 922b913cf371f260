//! Finding the peer programs. A missing program fails the test, in CI and outside it: a
//! peer test that skipped would hide that nothing was tested.

use std::path::PathBuf;

/// Returns the path of `program` found in `PATH` (or `/usr/sbin`, `/sbin`), or panics
/// saying how to install it.
pub fn require(program: &str) -> PathBuf {
    find(program).unwrap_or_else(|| {
        panic!(
            "`{program}` is not installed: run `scripts/install-deps.sh` as root (`make test` \
             does), which installs every peer program the tests use"
        )
    })
}

/// The path of `program` in `PATH` (or `/usr/sbin`, `/sbin`), if any.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}
