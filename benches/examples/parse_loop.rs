//! Parses the benchmark INVITE in a loop, for instruction-level profiling with callgrind
//! (`valgrind --tool=callgrind target/release/examples/parse_loop`).
#![allow(clippy::unwrap_used, missing_docs)]

use bytes::Bytes;
use palisade_sip::{Message, ParseLimits, Transport};

fn main() {
    let data = Bytes::from_static(palisade_benches::INVITE_SDP);
    let limits = ParseLimits::default();
    let mut total = 0usize;
    for _ in 0..100_000 {
        let m = Message::parse(data.clone(), Transport::Datagram, &limits).unwrap();
        total += m.via().unwrap().branch().unwrap().len()
            + m.from().unwrap().tag().map_or(0, str::len)
            + m.to().unwrap().tag().map_or(0, str::len)
            + m.call_id().unwrap().len()
            + m.cseq().unwrap().seq as usize;
    }
    println!("{total}");
}
