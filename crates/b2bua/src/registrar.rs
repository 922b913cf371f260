//! Registrations: which phone flow answers for which AOR.
//!
//! Palisade rewrites each Contact a phone registers into a token of its own
//! (`sip:<token>@<palisade core address>`), so the PBX sends calls for the user to
//! Palisade, which finds the phone's flow again by the token. Contact rewriting works with
//! every PBX; Path (RFC 3327) would need the PBX to support it. A binding exists only
//! after the PBX's 2xx accepted it, and leaves with the PBX's 2xx that removes it, with
//! its expiry, or with the flow it lives on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::types::Destination;

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
/// INVITE's account is the binding of the flow it came over (toll fraud), found without a
/// scan of the table.
#[derive(Debug)]
pub struct Registrar<F> {
    bindings: HashMap<String, Binding<F>>,
    by_remote: HashMap<SocketAddr, Vec<String>>,
}

impl<F> Default for Registrar<F> {
    fn default() -> Self {
        Self {
            bindings: HashMap::new(),
            by_remote: HashMap::new(),
        }
    }
}

impl<F> Registrar<F> {
    pub fn get(&self, token: &str) -> Option<&Binding<F>> {
        self.bindings.get(token)
    }

    pub fn upsert(&mut self, token: String, binding: Binding<F>) {
        let remote = binding.destination.remote();
        if let Some(old) = self.bindings.insert(token.clone(), binding) {
            self.unindex(&token, old.destination.remote());
        }
        self.by_remote.entry(remote).or_default().push(token);
    }

    /// A binding to change in place. Its destination must not change: [`Registrar::upsert`]
    /// moves a binding to another flow.
    pub fn get_mut(&mut self, token: &str) -> Option<&mut Binding<F>> {
        self.bindings.get_mut(token)
    }

    pub fn remove(&mut self, token: &str) -> Option<Binding<F>> {
        let b = self.bindings.remove(token)?;
        self.unindex(token, b.destination.remote());
        Some(b)
    }

    /// Removes every binding of an AOR (`Contact: *`).
    pub fn remove_aor(&mut self, aor: &str) {
        let gone: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, b)| b.aor == aor)
            .map(|(t, _)| t.clone())
            .collect();
        for t in &gone {
            self.remove(t);
        }
    }

    /// A binding that lives on the flow `dest` (the first one registered there, when a
    /// phone registers several AORs over one flow).
    pub fn on_flow(&self, dest: &Destination<F>) -> Option<&Binding<F>>
    where
        F: PartialEq,
    {
        self.by_remote
            .get(&dest.remote())?
            .iter()
            .filter_map(|t| self.bindings.get(t))
            .find(|b| b.destination == *dest)
    }

    fn unindex(&mut self, token: &str, remote: SocketAddr) {
        if let Some(tokens) = self.by_remote.get_mut(&remote) {
            tokens.retain(|t| t != token);
            if tokens.is_empty() {
                self.by_remote.remove(&remote);
            }
        }
    }

    /// Removes the bindings that live on a flow; returns their tokens.
    pub fn remove_flow(&mut self, is_flow: impl Fn(&Destination<F>) -> bool) -> Vec<String> {
        let gone: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, b)| is_flow(&b.destination))
            .map(|(t, _)| t.clone())
            .collect();
        for t in &gone {
            self.remove(t);
        }
        gone
    }

    /// Removes the binding if it has expired by `now`; true if it did.
    pub fn expire(&mut self, token: &str, now: Instant) -> bool {
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

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Binding<F>)> {
        self.bindings.iter().map(|(k, v)| (k.as_str(), v))
    }
}
