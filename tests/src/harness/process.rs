//! A peer: a child process whose stdout and stderr go to files in the test directory,
//! stopped by PID (SIGTERM, then SIGKILL after a grace period) when dropped, with its logs
//! printed when the test panics.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How long a peer gets to exit after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

const POLL: Duration = Duration::from_millis(20);

/// A running (or exited) peer process. See the module documentation.
#[derive(Debug)]
pub struct Peer {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
    stdout: PathBuf,
    stderr: PathBuf,
    group_stopped: bool,
    dump: DumpOnPanic,
}

impl Peer {
    /// Starts `cmd` as the peer `name`, with stdout and stderr written to
    /// `<dir>/<name>.stdout` and `<dir>/<name>.stderr` and stdin closed. The child gets a
    /// process group of its own, so that processes it forks are stopped with it.
    pub fn spawn(name: &str, cmd: Command, dir: &Path) -> Peer {
        Peer::spawn_with_stdin(name, cmd, dir, Stdio::null())
    }

    /// Like [`Peer::spawn`], with stdin read from the file `input`.
    pub fn spawn_with_input(name: &str, cmd: Command, dir: &Path, input: &Path) -> Peer {
        let file = fs::File::open(input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        Peer::spawn_with_stdin(name, cmd, dir, Stdio::from(file))
    }

    fn spawn_with_stdin(name: &str, mut cmd: Command, dir: &Path, stdin: Stdio) -> Peer {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let out = fs::File::create(&stdout).unwrap_or_else(|e| panic!("{}: {e}", stdout.display()));
        let err = fs::File::create(&stderr).unwrap_or_else(|e| panic!("{}: {e}", stderr.display()));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.stdin(stdin).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start peer {name} ({:?}): {e}; `scripts/install-deps.sh` installs the \
                 peer programs",
                cmd.get_program()
            )
        });
        let mut dump = DumpOnPanic::new();
        dump.add(&format!("{name} stdout"), &stdout);
        dump.add(&format!("{name} stderr"), &stderr);
        Peer {
            name: name.to_owned(),
            child,
            status: None,
            stdout,
            stderr,
            group_stopped: false,
            dump,
        }
    }

    /// The peer's name, as given to [`Peer::spawn`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The file holding the peer's stdout.
    pub fn stdout_path(&self) -> &Path {
        &self.stdout
    }

    /// The file holding the peer's stderr.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    /// Also print `path` (a log the peer writes itself) when the test panics.
    pub fn dump_on_panic(&mut self, label: &str, path: &Path) {
        self.dump.add(label, path);
    }

    /// The peer's stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout)
    }

    /// The peer's stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr)
    }

    /// Exit status, if the peer has exited (without waiting).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.child.try_wait() {
                Ok(Some(s)) => self.status = Some(s),
                Ok(None) => {}
                Err(e) => panic!("peer {}: waiting for it failed: {e}", self.name),
            }
        }
        self.status
    }

    /// Whether the peer is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Waits until a line of stdout or stderr contains `needle` and returns that line.
    /// Panics if the peer exits first or `timeout` passes.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            for text in [self.stdout(), self.stderr()] {
                if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                    return line.to_owned();
                }
            }
            if let Some(status) = self.try_status() {
                // The last words may have landed between the read and the exit check.
                for text in [self.stdout(), self.stderr()] {
                    if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                        return line.to_owned();
                    }
                }
                panic!(
                    "peer {} exited ({status}) without printing a line containing {needle:?}",
                    self.name
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "peer {}: no line containing {needle:?} within {timeout:?}",
                    self.name
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits for the peer to exit and returns its status; panics after `timeout`.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                return s;
            }
            if Instant::now() >= deadline {
                panic!("peer {} did not exit within {timeout:?}", self.name);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sends `signal` to the peer's PID (not to its process group).
    pub fn signal(&mut self, signal: Signal) {
        if self.try_status().is_none() {
            // ESRCH: it exited meanwhile.
            let _ = kill(self.nix_pid(), signal);
        }
    }

    /// Stops the peer: SIGTERM to its PID, SIGKILL to its process group after
    /// [`STOP_GRACE`]; then stops whatever the peer forked that is still in its group.
    /// Returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let status = match self.try_status() {
            Some(s) => s,
            None => {
                let _ = kill(self.nix_pid(), Signal::SIGTERM);
                let deadline = Instant::now() + STOP_GRACE;
                loop {
                    if let Some(s) = self.try_status() {
                        break s;
                    }
                    if Instant::now() >= deadline {
                        let _ = killpg(self.nix_pid(), Signal::SIGKILL);
                        match self.child.wait() {
                            Ok(s) => {
                                self.status = Some(s);
                                break s;
                            }
                            Err(e) => panic!("peer {}: waiting for it failed: {e}", self.name),
                        }
                    }
                    std::thread::sleep(POLL);
                }
            }
        };
        // Children the peer forked (Kamailio's workers) share its process group, whose id is
        // the peer's PID: the id stays reserved while any member lives. ESRCH when none is left.
        if !self.group_stopped {
            self.group_stopped = true;
            let _ = killpg(self.nix_pid(), Signal::SIGKILL);
        }
        status
    }

    fn nix_pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
        // `self.dump` prints the logs when the test is panicking.
    }
}

/// A guard that prints files (peer logs, traces) to stderr when dropped during a panic.
#[derive(Debug, Default)]
pub struct DumpOnPanic {
    files: Vec<(String, PathBuf)>,
}

impl DumpOnPanic {
    /// An empty guard.
    pub fn new() -> DumpOnPanic {
        DumpOnPanic::default()
    }

    /// Adds a file to print, under a label.
    pub fn add(&mut self, label: &str, path: &Path) {
        self.files.push((label.to_owned(), path.to_path_buf()));
    }
}

/// The most printed of one file, so that a load test's trace cannot flood the output.
const DUMP_LIMIT: usize = 64 * 1024;

impl Drop for DumpOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for (label, path) in &self.files {
            let text = read_lossy(path);
            let shown = if text.len() > DUMP_LIMIT {
                let mut start = text.len() - DUMP_LIMIT;
                while !text.is_char_boundary(start) {
                    start += 1;
                }
                format!("[... first {start} bytes cut ...]\n{}", &text[start..])
            } else {
                text
            };
            eprintln!(
                "----- {label} ({}) -----\n{shown}\n----- end of {label} -----",
                path.display()
            );
        }
    }
}

/// A file's content as text; empty when it does not exist.
pub fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
