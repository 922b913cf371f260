//! A temporary directory per test for logs, configs and generated files. Removed when the
//! test passes; kept, and its path printed, when the test panics.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// The test's own directory. See the module documentation.
#[derive(Debug)]
pub struct TestDir {
    dir: Option<TempDir>,
    path: PathBuf,
}

impl TestDir {
    /// Creates a fresh directory whose name starts with `palisade-<test_name>-`.
    pub fn new(test_name: &str) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("palisade-{test_name}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let path = dir.path().to_path_buf();
        TestDir {
            dir: Some(dir),
            path,
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory after this value is dropped, and returns its path.
    pub fn keep(mut self) -> PathBuf {
        match self.dir.take() {
            Some(dir) => dir.keep(),
            None => self.path.clone(),
        }
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates (if needed) and returns a subdirectory.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!("test files kept in {}", kept.display());
        }
    }
}

/// The directory of this crate (`tests/`), where `sipp/` and `kamailio/` live.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
