//! Metrics from the running Palisade: scrape, place calls with SIPp through it, scrape
//! again. The counters and the call-setup histogram moved by what the calls did, and
//! `palisade_calls_active` is back to 0 once they ended.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::time::Duration;

use b2bua_support::*;
use palisade_tests::harness::admin::metric;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::role;
use palisade_tests::harness::sipp::Scenario;

#[test]
fn metrics_move_as_calls_happen() {
    let dir = peer_test("ops-metrics");
    let mut pbx = callee(&dir, "pbx", "uas_dialog.xml", role::PBX, &[]);
    let mut sbc = palisade(&[pbx.local_addr()]).start(&dir);
    let upstream = format!(
        "palisade_upstream_up{{upstream=\"sip:{}\"}}",
        pbx.local_addr()
    );
    // The probe sent at start is answered by the PBX (a 2xx from the core side): wait for
    // it, so that it is not counted as one of the calls' responses.
    let before = sbc.wait_metric(
        r#"palisade_sip_responses_total{class="2xx",side="core"}"#,
        |n| n >= 1.0,
        Duration::from_secs(5),
    );
    assert_eq!(metric(&before, &upstream), 1.0, "{before}");
    assert_eq!(metric(&before, "palisade_calls_active"), 0.0);

    let (_, r) = call(&dir, "phone", Scenario::BuiltIn("uac"), sbc.access(), 3);
    assert!(r.all_succeeded(3), "phone: {r:?}");
    sbc.wait_calls_ended(3, Duration::from_secs(5));
    let after = sbc.admin_get("/metrics");
    let grew = |name: &str| metric(&after, name) - metric(&before, name);
    assert_eq!(
        grew(r#"palisade_sip_requests_total{method="INVITE",side="access"}"#),
        3.0,
        "{after}"
    );
    assert_eq!(
        grew(r#"palisade_sip_requests_total{method="BYE",side="access"}"#),
        3.0
    );
    assert_eq!(
        grew(r#"palisade_sip_requests_total{method="ACK",side="access"}"#),
        3.0
    );
    // 180 and 200 for each INVITE, 200 for each BYE: from the PBX.
    assert_eq!(
        grew(r#"palisade_sip_responses_total{class="1xx",side="core"}"#),
        3.0
    );
    assert_eq!(
        grew(r#"palisade_sip_responses_total{class="2xx",side="core"}"#),
        6.0
    );
    // Relayed the other way: INVITE, ACK and BYE to the PBX; 200 (INVITE, BYE) to the
    // phone, and 100 Trying (Palisade's own) and 180 to it.
    for method in ["INVITE", "ACK", "BYE"] {
        assert_eq!(
            grew(&format!(
                r#"palisade_sip_requests_sent_total{{method="{method}",side="core"}}"#
            )),
            3.0,
            "{method} sent to the PBX"
        );
    }
    assert_eq!(
        grew(r#"palisade_sip_responses_sent_total{class="2xx",side="access"}"#),
        6.0
    );
    assert!(grew(r#"palisade_sip_responses_sent_total{class="1xx",side="access"}"#) >= 3.0);
    assert_eq!(grew(r#"palisade_calls_total{result="answered"}"#), 3.0);
    assert_eq!(grew("palisade_call_setup_seconds_count"), 3.0);
    assert!(grew("palisade_call_setup_seconds_sum") > 0.0);
    assert_eq!(
        grew(r#"palisade_call_setup_seconds_bucket{le="+Inf"}"#),
        3.0
    );
    assert_eq!(metric(&after, "palisade_calls_active"), 0.0, "{after}");
    assert_eq!(metric(&after, "palisade_media_streams_active"), 0.0);
    assert_eq!(metric(&after, upstream.as_str()), 1.0);
    // The drop counters exist for the dashboards even when nothing was dropped.
    assert!(after.contains(r#"palisade_dropped_total{reason="malformed"}"#));

    // A refused call counts as rejected, and its setup time (INVITE to the 486) too.
    finish_ok(&mut pbx);
    let mut busy = callee_with(
        &dir,
        "pbx-busy",
        reject_scenario(&dir, 486, "Busy Here"),
        role::PBX,
        Some(pbx.local_addr().port()),
    );
    let (_, r) = call(
        &dir,
        "phone-refused",
        Scenario::file("uac_refused.xml"),
        sbc.access(),
        1,
    );
    assert!(r.all_succeeded(1), "{r:?}");
    sbc.wait_calls_ended(4, Duration::from_secs(5));
    let last = sbc.admin_get("/metrics");
    let grew = |name: &str| metric(&last, name) - metric(&after, name);
    assert_eq!(
        grew(r#"palisade_calls_total{result="rejected"}"#),
        1.0,
        "{last}"
    );
    assert_eq!(grew(r#"palisade_calls_total{result="answered"}"#), 0.0);
    assert_eq!(grew("palisade_call_setup_seconds_count"), 1.0);
    assert_eq!(
        grew(r#"palisade_sip_responses_total{class="4xx",side="core"}"#),
        1.0
    );
    assert_eq!(metric(&last, "palisade_calls_active"), 0.0);
    finish_ok(&mut busy);
}
