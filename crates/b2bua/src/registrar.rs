//! Registrations: which phone flow answers for which AOR.
//!
//! Palisade rewrites each Contact a phone registers into a token of its own
//! (`sip:<token>@<palisade core address>`), so the PBX sends calls for the user to
//! Palisade, which finds the phone's flow again by the token. Contact rewriting works with
//! every PBX; Path (RFC 3327) would need the PBX to support it. A binding exists only
//! after the PBX's 2xx accepted it, and leaves with the PBX's 2xx that removes it, with
//! its expiry, or with the flow it lives on.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use crate::types::Destination;

/// The user part Palisade registers at the PBX in place of a phone's contact: ten bytes
/// derived from the AOR and the contact, written `b` and 20 hex digits. Fixed-size and
/// `Copy`, so that the table, its index and the timers hold it without an allocation each.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token([u8; Token::LEN]);

impl Token {
    const LEN: usize = 10;

    pub fn new(bytes: [u8; Token::LEN]) -> Self {
        Self(bytes)
    }

    /// The token a Contact's user part names, if it names one.
    pub fn parse(user: &str) -> Option<Self> {
        let hex = user.strip_prefix('b')?.as_bytes();
        if hex.len() != 2 * Self::LEN {
            return None;
        }
        let mut out = [0; Self::LEN];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Self(out))
    }
}

fn nibble(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One registered contact.
#[derive(Debug, Clone)]
pub struct Binding<F> {
    /// The address-of-record (the To URI of the REGISTER), as written.
    pub aor: String,
    /// The phone's own Contact URI: the Request-URI of requests sent to it.
    pub contact: String,
    /// The flow the phone registered over.
    pub destination: Destination<F>,
    /// When the phone must have registered again (its own, possibly shorter, expiry).
    pub expires_at: Instant,
    /// When the PBX's registration of this binding runs out.
    pub core_expires_at: Instant,
    /// The phone is behind NAT: Palisade caches its registration and pings it.
    pub nat: bool,
}

/// The binding table, keyed by token, with an index by the phone's source address: an
/// INVITE's account is the binding of the flow it came over (toll fraud), and a closed
/// connection takes its bindings with it, both found without a scan of the table. The
/// index is ordered by (address, token) so that one address with many bindings (an IP-PBX
/// registering all its users, a load generator) costs a logarithm, not a scan, to update.
#[derive(Debug)]
pub struct Registrar<F> {
    /// Boxed: a table holds up to twice as many slots as entries, and a slot of a pointer
    /// costs a tenth of a binding's.
    bindings: HashMap<Token, Box<Binding<F>>>,
    by_remote: BTreeSet<(SocketAddr, Token)>,
}

impl<F> Default for Registrar<F> {
    fn default() -> Self {
        Self {
            bindings: HashMap::new(),
            by_remote: BTreeSet::new(),
        }
    }
}

impl<F> Registrar<F> {
    pub fn get(&self, token: &Token) -> Option<&Binding<F>> {
        self.bindings.get(token).map(|b| &**b)
    }

    /// The binding a Contact's user part names.
    pub fn find(&self, user: &str) -> Option<&Binding<F>> {
        self.get(&Token::parse(user)?)
    }

    pub fn upsert(&mut self, token: Token, binding: Binding<F>) {
        let remote = binding.destination.remote();
        if let Some(old) = self.bindings.insert(token, Box::new(binding)) {
            self.by_remote.remove(&(old.destination.remote(), token));
        }
        self.by_remote.insert((remote, token));
    }

    /// A binding to change in place. Its destination must not change: [`Registrar::upsert`]
    /// moves a binding to another flow.
    pub fn get_mut(&mut self, token: &Token) -> Option<&mut Binding<F>> {
        self.bindings.get_mut(token).map(|b| &mut **b)
    }

    pub fn remove(&mut self, token: &Token) -> Option<Binding<F>> {
        let b = self.bindings.remove(token)?;
        self.by_remote.remove(&(b.destination.remote(), *token));
        Some(*b)
    }

    /// Removes every binding of an AOR (`Contact: *`). A scan: it happens only when the
    /// PBX accepted an authenticated unregister-all.
    pub fn remove_aor(&mut self, aor: &str) {
        let gone: Vec<Token> = self
            .bindings
            .iter()
            .filter(|(_, b)| b.aor == aor)
            .map(|(t, _)| *t)
            .collect();
        for t in &gone {
            self.remove(t);
        }
    }

    /// The tokens of the bindings registered from `remote`, in token order.
    fn on_remote(&self, remote: SocketAddr) -> impl Iterator<Item = Token> + '_ {
        let first = (remote, Token([0; Token::LEN]));
        let last = (remote, Token([u8::MAX; Token::LEN]));
        self.by_remote.range(first..=last).map(|(_, t)| *t)
    }

    /// A binding that lives on the flow `dest` (when a phone registers several AORs over
    /// one flow, the one with the lowest token: any one stands for the flow).
    pub fn on_flow(&self, dest: &Destination<F>) -> Option<&Binding<F>>
    where
        F: PartialEq,
    {
        self.on_remote(dest.remote())
            .filter_map(|t| self.get(&t))
            .find(|b| b.destination == *dest)
    }

    /// Removes the bindings that live on the connection `flow` to `remote`; returns their
    /// tokens.
    pub fn remove_flow(&mut self, flow: &F, remote: SocketAddr) -> Vec<Token>
    where
        F: PartialEq,
    {
        let gone: Vec<Token> = self
            .on_remote(remote)
            .filter(|t| {
                self.bindings.get(t).is_some_and(
                    |b| matches!(&b.destination, Destination::Flow { flow: f, .. } if f == flow),
                )
            })
            .collect();
        for t in &gone {
            self.remove(t);
        }
        gone
    }

    /// Removes the binding if it has expired by `now`; true if it did.
    pub fn expire(&mut self, token: &Token, now: Instant) -> bool {
        match self.bindings.get(token) {
            Some(b) if b.expires_at <= now => {
                self.remove(token);
                true
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Entries of the index by source address, for tests.
    #[cfg(test)]
    pub(crate) fn indexed(&self) -> usize {
        self.by_remote.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Token, &Binding<F>)> {
        self.bindings.iter().map(|(t, b)| (t, &**b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_back_what_they_write() {
        let t = Token::new([0, 1, 0x7f, 0x80, 0xff, 9, 10, 11, 12, 0xab]);
        let text = t.to_string();
        assert_eq!(text, "b00017f80ff090a0b0cab");
        assert_eq!(Token::parse(&text), Some(t));
        assert_eq!(
            Token::parse(&text.to_ascii_uppercase().replace('B', "b")),
            Some(t)
        );
        for bad in [
            "",
            "b",
            "x00017f80ff090a0b0cab",
            "b00017f80ff090a0b0ca",
            "b00017f80ff090a0b0cag",
        ] {
            assert_eq!(Token::parse(bad), None, "{bad}");
        }
    }
}
