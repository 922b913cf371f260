//! End-to-end test harness: real peers (SIPp, Kamailio, baresip, tshark) run as child
//! processes of the test, inside the network namespace that `scripts/test.sh` creates for
//! the test run.
//!
//! A test that starts a peer first calls [`isolation::assert_isolated`], gets a
//! [`workdir::TestDir`] for its logs and generated files, picks addresses with
//! [`ports::loopback`] and ports with [`ports::free_port`], then starts peers. Every peer is
//! stopped by PID when its handle drops, and when the test panics the peers' logs are
//! printed and the test directory is kept.
//!
//! ```no_run
//! use std::time::Duration;
//! use palisade_tests::harness::{isolation, ports, sipp::{Scenario, Sipp}, workdir::TestDir};
//!
//! isolation::assert_isolated();
//! let dir = TestDir::new("example");
//! let mut uas = Sipp::new("uas", Scenario::BuiltIn("uas"), ports::loopback(3)).calls(1).start(&dir);
//! uas.wait_ready(Duration::from_secs(5));
//! let mut uac = Sipp::new("uac", Scenario::BuiltIn("uac"), ports::loopback(2))
//!     .remote(uas.local_addr())
//!     .calls(1)
//!     .start(&dir);
//! assert_eq!(uac.wait(Duration::from_secs(15)).successful, 1);
//! ```

// The harness runs only inside tests. A helper that cannot do its job (a peer that does not
// start, a log line that never comes, a missing program) panics with a message saying what
// went wrong: that panic is the test failure, so panics, `expect` and `unwrap` are allowed
// here and nowhere else outside `#[test]` code.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

pub mod admin;
pub mod baresip;
pub mod capture;
pub mod isolation;
pub mod kamailio;
pub mod palisade;
pub mod ports;
pub mod process;
pub mod programs;
pub mod sipp;
pub mod tls;
pub mod topology;
pub mod workdir;

/// The start of every test that runs peers: checks the network namespace is isolated
/// ([`isolation::assert_isolated`]) and creates the test's directory.
pub fn peer_test(name: &str) -> workdir::TestDir {
    isolation::assert_isolated();
    workdir::TestDir::new(name)
}
