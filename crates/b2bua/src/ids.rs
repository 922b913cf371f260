//! Identifiers Palisade creates: Call-IDs, tags, branches, binding tokens.
//!
//! They must be unguessable (a guessed tag lets an attacker inject requests into a dialog)
//! and must not reveal anything about either side. Each is a SHA-256 of a secret seed and
//! a counter, so the core needs no source of randomness of its own: the caller passes the
//! seed once, from the operating system.

use sha2::{Digest, Sha256};

/// Creates identifiers from a secret seed.
#[derive(Clone)]
pub struct IdGen {
    seed: [u8; 32],
    counter: u64,
}

impl std::fmt::Debug for IdGen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdGen")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

impl IdGen {
    pub fn new(seed: [u8; 32]) -> Self {
        Self { seed, counter: 0 }
    }

    fn next_bytes(&mut self, label: &[u8]) -> [u8; 32] {
        self.counter = self.counter.wrapping_add(1);
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(label);
        h.update(self.counter.to_be_bytes());
        h.finalize().into()
    }

    /// A fresh identifier of `len` bytes of entropy, hex encoded.
    fn fresh(&mut self, label: &[u8], len: usize) -> String {
        let b = self.next_bytes(label);
        hex(&b[..len.min(32)])
    }

    /// A Call-ID for a leg Palisade originates.
    pub fn call_id(&mut self) -> String {
        self.fresh(b"call-id", 16)
    }

    /// A From or To tag.
    pub fn tag(&mut self) -> String {
        self.fresh(b"tag", 8)
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        let mut b = String::from(palisade_sip::headers::MAGIC_COOKIE);
        b.push_str(&self.fresh(b"branch", 12));
        b
    }

    /// A stable identifier derived from `input`: the same input always gives the same
    /// output (for one seed), and the output reveals nothing about the input. Used where
    /// Palisade must recognise something again without storing it, such as the Call-ID
    /// of a phone's registrations toward the PBX.
    pub fn derive(&self, label: &[u8], input: &[u8], len: usize) -> String {
        hex(&self.digest(label, input)[..len.min(32)])
    }

    /// [`IdGen::derive`] as `N` raw bytes, for identifiers kept in fixed-size form.
    pub fn derive_bytes<const N: usize>(&self, label: &[u8], input: &[u8]) -> [u8; N] {
        let digest = self.digest(label, input);
        let mut out = [0; N];
        let n = N.min(32);
        out[..n].copy_from_slice(&digest[..n]);
        out
    }

    fn digest(&self, label: &[u8], input: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(label);
        h.update((input.len() as u64).to_be_bytes());
        h.update(input);
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_derivations_stable() {
        let mut g = IdGen::new([7; 32]);
        let a = g.tag();
        let b = g.tag();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(g.branch().starts_with("z9hG4bK"));
        assert_eq!(g.derive(b"x", b"abc", 8), g.derive(b"x", b"abc", 8));
        assert_ne!(g.derive(b"x", b"abc", 8), g.derive(b"y", b"abc", 8));
        assert_ne!(
            IdGen::new([1; 32]).derive(b"x", b"abc", 8),
            g.derive(b"x", b"abc", 8)
        );
    }
}
