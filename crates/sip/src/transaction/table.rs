//! Transactions kept by key, for the transport layer's matching step (§17.1.3, §17.2.3).

use std::collections::HashMap;

use super::{Transaction, TransactionKey};

/// Transactions by [`TransactionKey`], with secondary keys for the few messages that
/// carry a different key than the request that created the transaction (the ACK of an
/// RFC 2543 peer, see [`super::ServerInvite::ack_key`]).
#[derive(Debug)]
pub struct TransactionTable<T> {
    entries: HashMap<TransactionKey, T>,
    /// Secondary key -> primary key.
    aliases: HashMap<TransactionKey, TransactionKey>,
    /// Primary key -> its secondary key, so that removing a transaction finds its alias
    /// without a scan (a peer could otherwise make every removal cost the alias count).
    alias_of: HashMap<TransactionKey, TransactionKey>,
}

/// Tables shrink only above this many slots: small tables are not worth reallocating.
const SHRINK_ABOVE: usize = 4096;

impl<T> Default for TransactionTable<T> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            aliases: HashMap::new(),
            alias_of: HashMap::new(),
        }
    }
}

impl<T> TransactionTable<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a transaction; returns the one it replaces, if any.
    pub fn insert(&mut self, key: TransactionKey, transaction: T) -> Option<T> {
        self.entries.insert(key, transaction)
    }

    /// Makes `alias` find the transaction stored under `key`.
    pub fn alias(&mut self, alias: TransactionKey, key: TransactionKey) {
        if alias != key && self.entries.contains_key(&key) {
            if let Some(old) = self.alias_of.insert(key.clone(), alias.clone()) {
                self.aliases.remove(&old);
            }
            self.aliases.insert(alias, key);
        }
    }

    /// The transaction a message with this key belongs to.
    pub fn get(&self, key: &TransactionKey) -> Option<&T> {
        match self.entries.get(key) {
            Some(t) => Some(t),
            None => self.entries.get(self.aliases.get(key)?),
        }
    }

    pub fn get_mut(&mut self, key: &TransactionKey) -> Option<&mut T> {
        if self.entries.contains_key(key) {
            return self.entries.get_mut(key);
        }
        let primary = self.aliases.get(key)?;
        self.entries.get_mut(primary)
    }

    /// The INVITE server transaction a CANCEL with this key refers to (§9.2).
    pub fn cancel_target_mut(&mut self, cancel_key: &TransactionKey) -> Option<&mut T> {
        let target = cancel_key.cancel_target()?;
        self.get_mut(&target)
    }

    /// Removes a transaction (found by its key or an alias) and its aliases.
    pub fn remove(&mut self, key: &TransactionKey) -> Option<T> {
        let (primary, removed) = match self.entries.remove_entry(key) {
            Some(entry) => entry,
            None => {
                let primary = self.aliases.remove(key)?;
                self.entries.remove_entry(&primary)?
            }
        };
        if let Some(alias) = self.alias_of.remove(&primary) {
            self.aliases.remove(&alias);
        }
        self.shrink_if_sparse();
        Some(removed)
    }

    /// A table sized for a burst gives its memory back once the burst is over: a hash
    /// map never shrinks by itself, so without this the peak of a flood or a load test
    /// would stay allocated. Shrinking at an eighth full keeps the cost amortised.
    fn shrink_if_sparse(&mut self) {
        let cap = self.entries.capacity();
        if cap > SHRINK_ABOVE && self.entries.len() * 8 < cap {
            self.entries.shrink_to(self.entries.len() * 2);
        }
    }

    /// Slots allocated, for tests and diagnostics.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TransactionKey, &T)> {
        self.entries.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&TransactionKey, &mut T)> {
        self.entries.iter_mut()
    }
}

impl<T: Transaction> TransactionTable<T> {
    /// Drops every terminated transaction (after the caller has drained its outputs).
    pub fn remove_terminated(&mut self) {
        self.entries.retain(|_, t| !t.is_terminated());
        let entries = &self.entries;
        self.aliases.retain(|_, k| entries.contains_key(k));
        self.alias_of.retain(|k, _| entries.contains_key(k));
        self.shrink_if_sparse();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;

    use super::*;
    use crate::{Message, ParseLimits, Transport};

    fn key(branch: &str) -> TransactionKey {
        let text = format!(
            "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch={branch}\r\n\
             From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        let m = Message::parse(
            Bytes::from(text),
            Transport::Datagram,
            &ParseLimits::default(),
        );
        TransactionKey::for_server(&m.unwrap()).unwrap()
    }

    #[test]
    fn an_alias_finds_its_transaction_and_goes_with_it() {
        let mut t = TransactionTable::new();
        let (primary, alias) = (key("z9hG4bK-primary"), key("z9hG4bK-alias"));
        t.insert(primary.clone(), 7u32);
        t.alias(alias.clone(), primary.clone());
        assert_eq!(t.get(&alias), Some(&7));
        assert_eq!(t.remove(&alias), Some(7));
        assert!(t.get(&primary).is_none() && t.get(&alias).is_none());
        assert!(t.aliases.is_empty() && t.alias_of.is_empty());
        // An alias for a transaction that is not there is not kept.
        t.alias(alias.clone(), primary);
        assert!(t.aliases.is_empty());
    }

    #[test]
    fn a_table_gives_back_the_memory_of_a_burst() {
        let mut t = TransactionTable::new();
        let keys: Vec<_> = (0..20_000).map(|i| key(&format!("z9hG4bK-{i}"))).collect();
        for (i, k) in keys.iter().enumerate() {
            t.insert(k.clone(), i);
        }
        let peak = t.capacity();
        assert!(peak >= 20_000);
        for k in &keys[..19_990] {
            t.remove(k);
        }
        assert_eq!(t.len(), 10);
        assert!(
            t.capacity() <= SHRINK_ABOVE,
            "{} slots for 10 entries",
            t.capacity()
        );
        for k in &keys[19_990..] {
            assert!(t.get(k).is_some());
        }
    }
}
