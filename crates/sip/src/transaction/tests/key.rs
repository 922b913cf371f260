use super::support::*;
use crate::message::Message;
use crate::method::Method;
use crate::transaction::client_invite::build_ack;
use crate::transaction::{
    KeyError, Reliability, ServerInvite, ServerInviteState, TimerConfig, Transaction,
    TransactionKey, TransactionTable,
};

const INV2543: &[u8] = include_bytes!("../../../../../tests/data/corpus/rfc4475/inv2543.dat");
const INSUF: &[u8] = include_bytes!("../../../../../tests/data/corpus/rfc4475/insuf.dat");
const BADBRANCH: &[u8] = include_bytes!("../../../../../tests/data/corpus/rfc4475/badbranch.dat");

/// `msg` with text replaced, reparsed.
fn rewrite(msg: &[u8], pairs: &[(&str, &str)]) -> Message {
    let mut s = String::from_utf8(msg.to_vec()).unwrap();
    for (from, to) in pairs {
        assert!(s.contains(from), "{from} not in message");
        s = s.replacen(from, to, 1);
    }
    parse(s.as_bytes())
}

#[test]
fn rfc3261_server_key_is_branch_sent_by_and_method() {
    let inv = TransactionKey::for_server(&invite()).unwrap();
    assert!(
        matches!(&inv, TransactionKey::Server { branch, sent_by, method }
        if &**branch == "z9hg4bkinv1" && &**sent_by == "192.0.2.1:5060" && *method == Method::Invite)
    );
    // The ACK for a non-2xx response belongs to the INVITE transaction.
    let ack = build_ack(&invite(), &response(&invite(), 486)).unwrap();
    assert_eq!(TransactionKey::for_server(&ack).unwrap(), inv);
    // Branches compare case-insensitively; another sent-by is another transaction.
    let upper = rewrite(invite().as_bytes(), &[("z9hG4bKinv1", "z9hG4bKINV1")]);
    assert_eq!(TransactionKey::for_server(&upper).unwrap(), inv);
    let moved = rewrite(invite().as_bytes(), &[("192.0.2.1:5060", "192.0.2.1:5070")]);
    assert_ne!(TransactionKey::for_server(&moved).unwrap(), inv);
    // Client and server keys never collide.
    assert_ne!(TransactionKey::for_client(&invite()).unwrap(), inv);
}

#[test]
fn cancel_finds_its_invite_server_transaction() {
    let clock = Clock::new();
    let inv_key = TransactionKey::for_server(&invite()).unwrap();
    let cancel_key = TransactionKey::for_server(&request("CANCEL", "z9hG4bKinv1")).unwrap();
    assert_ne!(cancel_key, inv_key, "CANCEL is its own transaction");
    assert_eq!(cancel_key.cancel_target(), Some(inv_key.clone()));
    assert_eq!(inv_key.cancel_target(), None);

    let mut table = TransactionTable::new();
    let t = ServerInvite::new(
        clock.now,
        invite(),
        Reliability::Unreliable,
        TimerConfig::default(),
    )
    .unwrap();
    table.insert(t.key().clone(), t);
    assert!(table.get(&cancel_key).is_none());
    assert!(table.cancel_target_mut(&cancel_key).is_some());
    let stray = TransactionKey::for_server(&request("CANCEL", "z9hG4bKnope")).unwrap();
    assert!(table.cancel_target_mut(&stray).is_none());

    // Client side: a CANCEL reuses its INVITE's branch, and its response is told apart by
    // the CSeq method.
    let client_cancel = TransactionKey::for_client(&request("CANCEL", "z9hG4bKinv1")).unwrap();
    assert_eq!(
        client_cancel.cancel_target(),
        Some(TransactionKey::for_client(&invite()).unwrap())
    );
}

#[test]
fn client_key_matches_responses_by_branch_and_cseq_method() {
    let key = TransactionKey::for_client(&invite()).unwrap();
    let ok = response(&invite(), 200);
    assert!(key.matches_response(&ok));
    assert_eq!(TransactionKey::for_client(&ok).unwrap(), key);
    assert!(!key.matches_response(&response(&request("CANCEL", "z9hG4bKinv1"), 200)));
    assert!(!key.matches_response(&response(&request("INVITE", "z9hG4bKx"), 200)));
    assert!(
        !key.matches_response(&invite()),
        "a request is not a response"
    );
    let no_branch = rewrite(invite().as_bytes(), &[(";branch=z9hG4bKinv1", "")]);
    assert_eq!(
        TransactionKey::for_client(&no_branch),
        Err(KeyError::NoBranch)
    );
}

#[test]
fn insufficient_headers_do_not_matter_with_an_rfc3261_branch() {
    // RFC 4475 §3.3.1 insuf: no From, To, Call-ID; the branch alone identifies it.
    let m = parse(INSUF);
    assert!(matches!(
        TransactionKey::for_server(&m).unwrap(),
        TransactionKey::Server { .. }
    ));
}

#[test]
fn bare_magic_cookie_falls_back_to_rfc2543_matching() {
    // RFC 4475 §3.2.1 badbranch: `branch=z9hG4bK` alone is not an RFC 3261 branch.
    let m = parse(BADBRANCH);
    let key = TransactionKey::for_server(&m).unwrap();
    let TransactionKey::Legacy(k) = &key else {
        panic!("expected a legacy key, got {key:?}");
    };
    assert_eq!(k.from_tag.as_deref(), Some("33242"));
    assert_eq!(k.cseq, 8);
    assert_eq!(k.method, Method::Options);
    let next = rewrite(BADBRANCH, &[("CSeq: 8", "CSeq: 9")]);
    assert_ne!(TransactionKey::for_server(&next).unwrap(), key);
}

#[test]
fn rfc2543_invite_matches_its_retransmission_cancel_and_ack() {
    let clock = Clock::new();
    let inv = parse(INV2543);
    let key = TransactionKey::for_server(&inv).unwrap();
    let TransactionKey::Legacy(k) = &key else {
        panic!("expected a legacy key, got {key:?}");
    };
    assert_eq!(&*k.request_uri, "sip:UserB@example.com");
    assert_eq!(&*k.call_id, "inv2543.1717@ift.client.example.com");
    assert_eq!((k.to_tag.as_deref(), k.from_tag.as_deref()), (None, None));
    assert_eq!(&*k.top_via, "SIP/2.0/UDP iftgw.example.com");
    assert_eq!(TransactionKey::for_server(&parse(INV2543)).unwrap(), key);
    // Each field takes part.
    for (from, to) in [
        ("CSeq: 56", "CSeq: 57"),
        ("Call-ID: inv2543.1717", "Call-ID: inv2543.1718"),
        ("INVITE sip:UserB@", "INVITE sip:UserC@"),
        ("iftgw.example.com", "iftgw2.example.com"),
        ("user=phone>", "user=phone>;tag=9"),
    ] {
        let other = rewrite(INV2543, &[(from, to)]);
        assert_ne!(TransactionKey::for_server(&other).unwrap(), key, "{from}");
    }

    let cancel = rewrite(
        INV2543,
        &[("INVITE sip:", "CANCEL sip:"), ("56 INVITE", "56 CANCEL")],
    );
    let cancel_key = TransactionKey::for_server(&cancel).unwrap();
    assert_ne!(cancel_key, key);
    assert_eq!(cancel_key.cancel_target(), Some(key.clone()));

    // The ACK carries the To tag of our response, so the INVITE transaction publishes
    // that key and a table maps it.
    let mut t = ServerInvite::new(
        clock.now,
        inv.clone(),
        Reliability::Unreliable,
        TimerConfig::default(),
    )
    .unwrap();
    assert!(t.ack_key().is_none());
    let busy = response(&inv, 486);
    t.send_response(clock.now, busy.clone()).unwrap();
    let ack = build_ack(&inv, &busy).unwrap();
    let ack_key = TransactionKey::for_server(&ack).unwrap();
    assert_ne!(ack_key, key);
    assert_eq!(t.ack_key(), Some(&ack_key));

    let mut table = TransactionTable::new();
    let alias = t.ack_key().cloned().unwrap();
    table.insert(key.clone(), t);
    table.alias(alias, key.clone());
    let t = table.get_mut(&ack_key).unwrap();
    t.on_request(clock.now, ack).unwrap();
    assert_eq!(t.state(), ServerInviteState::Confirmed);
    assert!(table.remove(&ack_key).is_some());
    assert!(table.is_empty() && table.get(&key).is_none());
}
