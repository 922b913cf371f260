//! SIP parsing: Palisade's core against the `rsip` crate, on the same messages in one run.
//!
//! Each iteration parses a message and does the header lookups a B2BUA does for every
//! message it receives: top Via branch, From and To tags, Call-ID and CSeq. Both parsers
//! receive the bytes as a shared buffer they may keep (`Bytes` for Palisade, a slice for
//! rsip, which copies what it keeps).
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_benches::{INVITE_SDP, OK_SDP, REGISTER_AUTH};
use palisade_sip::{HeaderName, Message, ParseLimits, Transport};
use rsip::prelude::*;

const MESSAGES: [(&str, &[u8]); 3] = [
    ("invite_sdp", INVITE_SDP),
    ("register_auth", REGISTER_AUTH),
    ("ok_sdp", OK_SDP),
];

/// Palisade: parse, then the lookups.
fn palisade_parse(data: &Bytes, limits: &ParseLimits) -> usize {
    let m = Message::parse(data.clone(), Transport::Datagram, limits).unwrap();
    let via = m.via().unwrap();
    let from = m.from().unwrap();
    let to = m.to().unwrap();
    let cseq = m.cseq().unwrap();
    let call_id = m.call_id().unwrap();
    via.branch().unwrap().len()
        + from.tag().map_or(0, str::len)
        + to.tag().map_or(0, str::len)
        + call_id.len()
        + cseq.seq as usize
}

/// rsip: parse, then the same lookups through its typed headers.
fn rsip_parse(data: &[u8]) -> usize {
    let m = rsip::SipMessage::try_from(data).unwrap();
    let via = m.via_header().unwrap().typed().unwrap();
    let from_tag = m.from_header().unwrap().tag().unwrap();
    let to_tag = m.to_header().unwrap().tag().unwrap();
    let call_id = m.call_id_header().unwrap().value().len();
    let cseq = m.cseq_header().unwrap().seq().unwrap();
    via.branch().map_or(0, |b| b.to_string().len())
        + from_tag.map_or(0, |t| t.value().len())
        + to_tag.map_or(0, |t| t.value().len())
        + call_id
        + cseq as usize
}

fn parse(c: &mut Criterion) {
    let limits = ParseLimits::default();
    for (name, msg) in MESSAGES {
        let bytes = Bytes::from_static(msg);
        assert_eq!(palisade_parse(&bytes, &limits), rsip_parse(msg), "{name}");
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function("palisade", |b| {
            b.iter(|| palisade_parse(black_box(&bytes), &limits))
        });
        g.bench_function("rsip", |b| b.iter(|| rsip_parse(black_box(msg))));
        g.finish();
    }
}

/// What an SBC does to an INVITE before relaying it: received/rport on the top Via, the
/// Contact pointed at itself, the body replaced. Each system parses, edits and writes.
fn edit(c: &mut Criterion) {
    let limits = ParseLimits::default();
    let bytes = Bytes::from_static(INVITE_SDP);
    let new_body = Bytes::from_static(b"v=0\r\no=- 1 2 IN IP4 203.0.113.10\r\ns=-\r\nc=IN IP4 203.0.113.10\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\n");
    let mut g = c.benchmark_group("edit/invite_sdp");
    g.bench_function("palisade", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(bytes.clone()), Transport::Datagram, &limits).unwrap();
            let contact = m.headers_named(HeaderName::Contact).next().unwrap().index;
            let mut e = m.edit();
            e.set_via_received("198.51.100.77".parse().unwrap(), Some(40312))
                .unwrap();
            e.replace(contact, "<sip:alice@203.0.113.10:5060>").unwrap();
            e.set_body(new_body.clone(), None).unwrap();
            e.finish().len()
        })
    });
    g.bench_function("rsip", |b| {
        b.iter(|| {
            let mut m = rsip::SipMessage::try_from(black_box(INVITE_SDP)).unwrap();
            let via = m.via_header().unwrap().value().to_owned();
            *m.via_header_mut().unwrap() =
                rsip::headers::Via::new(format!("{via};received=198.51.100.77;rport=40312"));
            *m.contact_header_mut().unwrap() =
                rsip::headers::Contact::new("<sip:alice@203.0.113.10:5060>");
            *m.body_mut() = new_body.to_vec();
            m.to_string().len()
        })
    });
    g.finish();
}

criterion_group!(benches, parse, edit);
criterion_main!(benches);
