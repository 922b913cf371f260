//! Call records from the running Palisade: a call with RTP both ways is up when SIGTERM
//! comes; the drain deadline passes, Palisade ends the call itself, and the call's record
//! is on disk, with both legs, the disconnect cause and the relay's media counters, when
//! the process has exited.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod b2bua_support;

use std::time::Duration;

use b2bua_support::media_call::*;
use b2bua_support::*;
use nix::sys::signal::Signal;
use palisade_tests::harness::admin::json;
use palisade_tests::harness::peer_test;
use palisade_tests::harness::ports::role;

/// Sends `count` RTP packets from `from` to `to` with sequence numbers from 0, leaving
/// out `skip`, and returns how many came out at `sink`.
fn send_rtp(
    from: &Udp,
    to: std::net::SocketAddr,
    sink: &Udp,
    ssrc: u32,
    count: u16,
    skip: Option<u16>,
) -> u32 {
    let mut got = 0;
    for seq in (0..count).filter(|s| Some(*s) != skip) {
        from.send(to, &rtp(seq, ssrc, 0x11));
        if sink.recv(Duration::from_millis(300)).is_some() {
            got += 1;
        }
    }
    got
}

#[test]
fn sigterm_with_a_call_up_writes_its_record_before_exit() {
    let dir = peer_test("ops-records");
    let records = dir.join("records/calls.jsonl");
    std::fs::create_dir_all(records.parent().unwrap()).unwrap();
    let (phone, phone_rtp) = (Udp::bind(role::PHONE_A), Udp::bind(role::PHONE_A));
    let (pbx, pbx_rtp) = (Udp::bind(role::PBX), Udp::bind(role::PBX));
    let mut sbc = palisade(&[pbx.addr()])
        .records(&records)
        .drain_deadline("1s")
        .start(&dir);
    let c = answered_call(&phone, &phone_rtp, &pbx, &pbx_rtp, sbc.access());
    // 20 packets from the phone with sequence number 7 missing (one lost), 12 from the PBX.
    let to_pbx = send_rtp(&phone_rtp, c.relay_access, &pbx_rtp, 0x1111, 21, Some(7));
    let to_phone = send_rtp(&pbx_rtp, c.relay_core, &phone_rtp, 0x2222, 12, None);
    assert!(to_pbx >= 18 && to_phone >= 10, "{to_pbx} {to_phone}");

    sbc.peer().signal(Signal::SIGTERM);
    // Palisade ends the call at the deadline: BYE to both sides. Nobody answers them.
    phone.sip(|t| t.starts_with("BYE "));
    pbx.sip(|t| t.starts_with("BYE "));
    let status = sbc.peer().wait_for_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");

    let text = std::fs::read_to_string(&records).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let r = json(lines[0]);
    assert_eq!(r["call_id"], "media-call-1");
    assert_eq!(r["caller"], "sip:1001@example.com");
    assert_eq!(r["callee"], format!("sip:1002@{}", sbc.access()));
    assert_eq!(r["from"], "access");
    assert_eq!(r["account"], serde_json::Value::Null);
    assert_eq!(r["flags"], serde_json::json!([]));
    assert_eq!(r["legs"][0]["side"], "access");
    assert_eq!(r["legs"][0]["remote"], phone.addr().to_string());
    assert_eq!(r["legs"][1]["side"], "core");
    assert_eq!(r["legs"][1]["remote"], pbx.addr().to_string());
    assert_eq!(r["disconnect"]["cause"], "drain deadline");
    assert_eq!(r["disconnect"]["by"], "palisade");
    for key in ["start", "answer", "end"] {
        let t = r[key].as_str().unwrap_or_else(|| panic!("{key} in {r}"));
        assert!(t.ends_with('Z') && t.len() == 24, "{key}: {t}");
    }
    assert!(r["start"].as_str() <= r["answer"].as_str());
    assert!(r["answer"].as_str() <= r["end"].as_str());
    assert!(r["duration"].as_f64().unwrap() >= 1.0, "{r}");
    let media = r["media"].as_array().unwrap();
    assert_eq!(media.len(), 1, "{r}");
    let access = &media[0]["access"];
    let core = &media[0]["core"];
    assert_eq!(access["rtp_packets"], 20, "{r}");
    assert_eq!(access["packets_lost"], 1, "{r}");
    assert_eq!(access["bytes"], 20 * 172, "{r}");
    assert_eq!(core["rtp_packets"], 12, "{r}");
    assert_eq!(core["packets_lost"], 0, "{r}");
    assert!(access["jitter_ms"].as_f64().is_some(), "{r}");
}
