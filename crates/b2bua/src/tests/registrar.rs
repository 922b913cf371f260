//! The registrar's table and its index by source address, on their own.

use std::time::Instant;

use crate::registrar::{Binding, Registrar, Token};
use crate::types::Destination;

fn binding(flow: u32, remote: &str) -> Binding<u32> {
    let now = Instant::now();
    Binding {
        aor: "sip:1001@example.com".into(),
        contact: "sip:1001@10.0.0.1".into(),
        destination: Destination::Flow {
            flow,
            protocol: crate::types::Protocol::Tcp,
            remote: remote.parse().unwrap(),
        },
        expires_at: now,
        core_expires_at: now,
        nat: false,
    }
}

#[test]
fn the_index_follows_moves_and_closed_flows() {
    let mut r = Registrar::default();
    let (a, b, c) = (
        Token::new([1; 10]),
        Token::new([2; 10]),
        Token::new([3; 10]),
    );
    r.upsert(a, binding(1, "192.0.2.1:5060"));
    r.upsert(b, binding(1, "192.0.2.1:5060"));
    r.upsert(c, binding(2, "192.0.2.2:5060"));
    // b moves to flow 2: closing flow 1 takes only a.
    r.upsert(b, binding(2, "192.0.2.2:5060"));
    assert_eq!(
        r.remove_flow(&1, "192.0.2.1:5060".parse().unwrap()),
        vec![a]
    );
    assert!(r.get(&a).is_none());
    let two = binding(2, "192.0.2.2:5060").destination;
    assert!(r.on_flow(&two).is_some());
    assert_eq!(
        r.remove_flow(&2, "192.0.2.2:5060".parse().unwrap()),
        vec![b, c]
    );
    assert!(r.is_empty());
    assert_eq!(r.indexed(), 0);
    assert!(r.on_flow(&two).is_none());
}
