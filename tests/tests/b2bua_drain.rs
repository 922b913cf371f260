//! SIGTERM drains Palisade: no new calls (503), the call in progress goes on to its BYE,
//! and the process exits by itself once it has ended, well before the drain deadline.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::time::{Duration, Instant};

use b2bua_support::*;
use nix::sys::signal::Signal;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::role;

#[test]
fn sigterm_lets_the_active_call_end_and_refuses_new_ones() {
    let dir = peer_test("b2bua-drain");
    let mut pbx = callee(&dir, "pbx", "uas_dialog.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);

    // A call that stays up for 8 s before its BYE (a new call is refused meanwhile).
    let mut long_call = long_call(
        &dir,
        "phone-long",
        role::PHONE_A,
        sbc.access(),
        Duration::from_secs(8),
    );
    sbc.wait_log_count("CallAnswered", 1, Duration::from_secs(5));

    let drained_at = Instant::now();
    sbc.peer().signal(Signal::SIGTERM);
    sbc.wait_log_count("draining", 1, Duration::from_secs(5));

    // A new call while draining gets 503.
    assert_new_call_gets_503(&dir, "phone-new", role::PHONE_B, sbc.access());

    // The call in progress completes, BYE and all.
    let r = long_call.wait(RUN);
    assert!(r.all_succeeded(1), "the active call: {r:?}");
    let status = sbc.peer().wait_for_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
    assert!(
        drained_at.elapsed() < Duration::from_secs(15),
        "stopped only after {:?}",
        drained_at.elapsed()
    );
    finish_ok(&mut pbx);
}
