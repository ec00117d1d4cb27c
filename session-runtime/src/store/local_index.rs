//! An index kept in this process's memory: the memory store's.
//!
//! Entries are grouped by key, then by value, each value holding the set of
//! ids recorded under it. A value whose last id goes is removed with it, and a
//! key with it, so the index holds nothing for a value nobody has.

use std::collections::{HashMap, HashSet};
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

    /// Removes every entry recorded before [`INDEX_GRACE`] ago whose id
    /// `live` says is gone; returns how many. A younger entry may be one
    /// written just before its session: it stays until the next sweep.
    ///
    /// The ids are checked outside the index's lock, so that logins do not
    /// wait for a whole sweep; an id found gone is never live again (ids are
    /// not reused), so removing it after the check is safe.
    pub(crate) fn retain_live(&self, now: u64, live: impl Fn(&SessionId) -> bool) -> usize {
        let settled = now.saturating_sub(duration_ms(INDEX_GRACE));
        let ids: HashSet<SessionId> = lock(&self.keys)
            .values()
            .flat_map(HashMap::values)
            .flatten()
            .filter(|&(_, &since)| since <= settled)
            .map(|(id, _)| id.clone())
            .collect();
        let gone: HashSet<SessionId> = ids.into_iter().filter(|id| !live(id)).collect();
        if gone.is_empty() {
            return 0;
        }
        let mut removed = 0;
        let mut keys = lock(&self.keys);
        keys.retain(|_, values| {
            values.retain(|_, ids| {
                let before = ids.len();
                ids.retain(|id, since| *since > settled || !gone.contains(id));
                removed += before - ids.len();
                !ids.is_empty()
            });
            !values.is_empty()
        });
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
        assert_eq!(index.retain_live(1000 + grace - 1, |_| false), 0);
        assert_eq!(index.len(), 4);
        assert_eq!(index.retain_live(1000 + grace, |id| id.as_str() != "b"), 2);
        assert_eq!(index.members(alice), vec![id("a")]);
        assert_eq!(index.members(bob), vec![id("c")]);
        assert_eq!(index.retain_live(1000 + grace, |_| true), 0);
        // Written again: the grace starts again.
        index.insert(bob, &id("c"), 5000);
        assert_eq!(index.retain_live(1000 + grace, |_| false), 1);
        assert_eq!(index.members(bob), vec![id("c")]);
        assert_eq!(index.retain_live(5000 + grace, |_| false), 1);
        assert!(index.keys().is_empty());
    }
}
