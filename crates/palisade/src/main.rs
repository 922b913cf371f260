//! `palisade`: the session border controller binary.
#![forbid(unsafe_code)]

fn main() {
    println!("palisade {}", env!("CARGO_PKG_VERSION"));
}
