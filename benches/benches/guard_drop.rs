//! The cost of dropping a flood packet at the edge, against the cost of parsing it, in one
//! run: a banned source (the deny list, then the ban table), a source over its rate
//! budget (the ban table, then the governor limiter; the ban table is kept full so that
//! the source stays rate limited instead of banned), and a source that is allowed (the
//! two list checks only). Parsing the same INVITE is the reference: a drop must cost a
//! small fraction of it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_benches::INVITE_SDP;
use palisade_guard::{DropReason, Guard, Rules, Verdict};
use palisade_sip::{Message, ParseLimits, Transport};

const FLOODER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 67));

fn guard_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("guard_drop");
    g.throughput(Throughput::Elements(1));
    let now = Instant::now();

    let banned = Guard::new(Rules::default(), now);
    banned.ban(now, FLOODER, Some(Duration::from_secs(3600)));
    assert_eq!(
        banned.check_datagram(now, FLOODER, INVITE_SDP),
        Verdict::Drop(DropReason::Banned)
    );
    g.bench_function("banned", |b| {
        b.iter(|| black_box(banned.check_datagram(now, black_box(FLOODER), INVITE_SDP)))
    });

    // One table entry: the ban table holds OTHER, so FLOODER, over its budget, cannot be
    // banned and every packet takes the rate-limit path.
    let limited = Guard::new(
        Rules {
            max_tracked_sources: 1,
            ..Rules::default()
        },
        now,
    );
    limited.ban(now, OTHER, Some(Duration::from_secs(3600)));
    while limited.check_datagram(now, FLOODER, INVITE_SDP).is_admit() {}
    assert_eq!(
        limited.check_datagram(now, FLOODER, INVITE_SDP),
        Verdict::Drop(DropReason::RateLimited)
    );
    g.bench_function("rate_limited", |b| {
        b.iter(|| black_box(limited.check_datagram(now, black_box(FLOODER), INVITE_SDP)))
    });

    let allowed = Guard::new(
        Rules {
            allow: vec!["203.0.113.0/24".parse().unwrap()],
            ..Rules::default()
        },
        now,
    );
    g.bench_function("allowed", |b| {
        b.iter(|| black_box(allowed.check_datagram(now, black_box(FLOODER), INVITE_SDP)))
    });

    let limits = ParseLimits::default();
    let bytes = Bytes::from_static(INVITE_SDP);
    g.bench_function("parse_reference", |b| {
        b.iter(|| {
            black_box(Message::parse(bytes.clone(), Transport::Datagram, &limits).unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, guard_drop);
criterion_main!(benches);
