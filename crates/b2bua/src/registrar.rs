//! Registrations: which phone flow answers for which AOR.
//!
//! Palisade rewrites each Contact a phone registers into a token of its own
//! (`sip:<token>@<palisade core address>`), so the PBX sends calls for the user to
//! Palisade, which finds the phone's flow again by the token. Contact rewriting works with
//! every PBX; Path (RFC 3327) would need the PBX to support it. A binding exists only
//! after the PBX's 2xx accepted it, and leaves with the PBX's 2xx that removes it, with
//! its expiry, or with the flow it lives on.

use std::collections::HashMap;
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

/// The binding table, keyed by token.
#[derive(Debug)]
pub struct Registrar<F> {
    bindings: HashMap<String, Binding<F>>,
}

impl<F> Default for Registrar<F> {
    fn default() -> Self {
        Self {
            bindings: HashMap::new(),
        }
    }
}

impl<F> Registrar<F> {
    pub fn get(&self, token: &str) -> Option<&Binding<F>> {
        self.bindings.get(token)
    }

    pub fn upsert(&mut self, token: String, binding: Binding<F>) {
        self.bindings.insert(token, binding);
    }

    pub fn get_mut(&mut self, token: &str) -> Option<&mut Binding<F>> {
        self.bindings.get_mut(token)
    }

    pub fn remove(&mut self, token: &str) -> Option<Binding<F>> {
        self.bindings.remove(token)
    }

    /// Removes every binding of an AOR (`Contact: *`).
    pub fn remove_aor(&mut self, aor: &str) {
        self.bindings.retain(|_, b| b.aor != aor);
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
            self.bindings.remove(t);
        }
        gone
    }

    /// Removes the binding if it has expired by `now`; true if it did.
    pub fn expire(&mut self, token: &str, now: Instant) -> bool {
        match self.bindings.get(token) {
            Some(b) if b.expires_at <= now => {
                self.bindings.remove(token);
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
