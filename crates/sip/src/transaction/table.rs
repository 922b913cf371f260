//! Transactions kept by key, for the transport layer's matching step (§17.1.3, §17.2.3).

use std::collections::HashMap;

use super::{Transaction, TransactionKey};

/// Transactions by [`TransactionKey`], with secondary keys for the few messages that
/// carry a different key than the request that created the transaction (the ACK of an
/// RFC 2543 peer, see [`super::ServerInvite::ack_key`]).
#[derive(Debug)]
pub struct TransactionTable<T> {
    entries: HashMap<TransactionKey, T>,
    aliases: HashMap<TransactionKey, TransactionKey>,
}

impl<T> Default for TransactionTable<T> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            aliases: HashMap::new(),
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
        if alias != key {
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
        if !self.aliases.is_empty() {
            self.aliases.retain(|_, k| *k != primary);
        }
        Some(removed)
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
    }
}
