//! An index kept in this process's memory: the memory store's.
//!
//! Entries are grouped by key, then by value, each value holding the set of
//! ids recorded under it. A value whose last id goes is removed with it, and a
//! key with it, so the index holds nothing for a value nobody has.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{INDEX_GRACE, IndexEntry};
use crate::id::SessionId;
use crate::sync::lock;
use crate::time::duration_ms;

/// Per value, each id recorded under it and when (ms since the epoch).
type Values = HashMap<Box<str>, HashMap<SessionId, u64>>;

#[derive(Default)]
pub(crate) struct LocalIndex {
    keys: Mutex<HashMap<Box<str>, Values>>,
}

impl LocalIndex {
    pub(crate) fn insert(&self, entry: IndexEntry<'_>, id: &SessionId, now: u64) {
        let mut keys = lock(&self.keys);
        let values = match keys.get_mut(entry.key) {
            Some(values) => values,
            None => keys.entry(entry.key.into()).or_default(),
        };
        let ids = match values.get_mut(entry.value) {
            Some(ids) => ids,
            None => values.entry(entry.value.into()).or_default(),
        };
        match ids.get_mut(id) {
            Some(since) => *since = now,
            None => {
                ids.insert(id.clone(), now);
            }
        }
    }

    pub(crate) fn remove(&self, entry: IndexEntry<'_>, ids: &[SessionId]) {
        let mut keys = lock(&self.keys);
        let Some(values) = keys.get_mut(entry.key) else {
            return;
        };
        let Some(members) = values.get_mut(entry.value) else {
            return;
        };
        for id in ids {
            members.remove(id);
        }
        if members.is_empty() {
            values.remove(entry.value);
            if values.is_empty() {
                keys.remove(entry.key);
            }
        }
    }

    pub(crate) fn members(&self, entry: IndexEntry<'_>) -> Vec<SessionId> {
        lock(&self.keys)
            .get(entry.key)
            .and_then(|values| values.get(entry.value))
            .map(|ids| ids.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn keys(&self) -> Vec<String> {
        lock(&self.keys).keys().map(|key| key.to_string()).collect()
    }

    /// How many (value, id) entries the index holds, over every key.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.keys)
            .values()
            .flat_map(HashMap::values)
            .map(HashMap::len)
            .sum()
    }

    /// Removes every entry recorded before [`INDEX_GRACE`] ago for which
    /// `holds(key, value, id)` is false (the session is gone, or holds
    /// another value now); returns how many. A younger entry may be one
    /// written just before its session: it stays until a later sweep.
    ///
    /// The entries are checked outside the index's lock; one written again
    /// meanwhile (a request setting the value back) is young again, and stays.
    pub(crate) fn retain_live(
        &self,
        now: u64,
        holds: impl Fn(&str, &str, &SessionId) -> bool,
    ) -> usize {
        let settled = now.saturating_sub(duration_ms(INDEX_GRACE));
        let mut candidates: Vec<(Box<str>, Box<str>, SessionId)> = Vec::new();
        for (key, values) in lock(&self.keys).iter() {
            for (value, ids) in values {
                for (id, since) in ids {
                    if *since <= settled {
                        candidates.push((key.clone(), value.clone(), id.clone()));
                    }
                }
            }
        }
        candidates.retain(|(key, value, id)| !holds(key, value, id));
        if candidates.is_empty() {
            return 0;
        }
        let mut removed = 0;
        let mut keys = lock(&self.keys);
        for (key, value, id) in candidates {
            let Some(values) = keys.get_mut(&key) else {
                continue;
            };
            let Some(ids) = values.get_mut(&value) else {
                continue;
            };
            if ids.get(&id).is_some_and(|since| *since <= settled) {
                ids.remove(&id);
                removed += 1;
            }
            if ids.is_empty() {
                values.remove(&value);
            }
            if values.is_empty() {
                keys.remove(&key);
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> SessionId {
        SessionId::parse(text).unwrap()
    }

    #[test]
    fn values_and_keys_go_with_their_last_id() {
        let index = LocalIndex::default();
        let alice = IndexEntry::new("user", r#""alice""#);
        index.insert(alice, &id("a"), 0);
        index.insert(alice, &id("a"), 0);
        index.insert(alice, &id("b"), 0);
        assert_eq!(index.len(), 2);
        index.remove(alice, &[id("a")]);
        assert_eq!(index.members(alice), vec![id("b")]);
        assert_eq!(index.keys(), vec!["user".to_owned()]);
        index.remove(alice, &[id("b"), id("c")]);
        assert!(index.members(alice).is_empty());
        assert!(index.keys().is_empty(), "no key is kept for nobody");
    }

    #[test]
    fn a_sweep_removes_exactly_the_gone_ids_once_settled() {
        let index = LocalIndex::default();
        let grace = duration_ms(INDEX_GRACE);
        let alice = IndexEntry::new("user", r#""alice""#);
        let bob = IndexEntry::new("user", r#""bob""#);
        index.insert(alice, &id("a"), 1000);
        index.insert(alice, &id("b"), 1000);
        index.insert(bob, &id("b"), 1000);
        index.insert(bob, &id("c"), 1000);
        // Written a moment ago, perhaps just before their session: kept.
        assert_eq!(index.retain_live(1000 + grace - 1, |_, _, _| false), 0);
        assert_eq!(index.len(), 4);
        assert_eq!(
            index.retain_live(1000 + grace, |_, _, id| id.as_str() != "b"),
            2
        );
        assert_eq!(index.members(alice), vec![id("a")]);
        assert_eq!(index.members(bob), vec![id("c")]);
        assert_eq!(index.retain_live(1000 + grace, |_, _, _| true), 0);
        // Written again: the grace starts again.
        index.insert(bob, &id("c"), 5000);
        assert_eq!(index.retain_live(1000 + grace, |_, _, _| false), 1);
        assert_eq!(index.members(bob), vec![id("c")]);
        assert_eq!(index.retain_live(5000 + grace, |_, _, _| false), 1);
        assert!(index.keys().is_empty());
    }
}
