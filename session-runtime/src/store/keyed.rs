//! Per-session async locks in this process: the first half of every store's
//! [`SessionStore::lock`](super::SessionStore::lock), and all of the memory
//! store's.
//!
//! One `tokio::sync::Mutex` per session that is held or waited for, kept in a
//! sharded map and removed as soon as nobody holds or waits for it, so the
//! table never grows with the number of sessions ever seen. Waiters queue in
//! order (tokio's mutex is fair), and a waiter that gives up (its future is
//! dropped, or its wait runs out) leaves nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

use super::hash::fnv1a;
use crate::sync::lock;

/// Shards of the table: a lookup locks one shard for a map operation, so
/// requests for different sessions do not wait on one global lock.
const SHARDS: usize = 64;

type Slot = Arc<tokio::sync::Mutex<()>>;
type Shard = Mutex<HashMap<Box<str>, Slot>>;

/// The in-process locks of one store (shared by its clones).
pub(crate) struct KeyedLocks {
    shards: Box<[Shard]>,
}

impl Default for KeyedLocks {
    fn default() -> Self {
        KeyedLocks {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

/// A held lock: released when dropped, and its table entry removed if nobody
/// else holds or waits for it.
pub(crate) struct KeyedGuard {
    // Dropped first: releases the mutex, then `_claim` tidies the table.
    _guard: OwnedMutexGuard<()>,
    _claim: Claim,
}

/// A claim on a table entry: while one exists the entry stays; the last one
/// dropped removes it.
struct Claim {
    locks: Arc<KeyedLocks>,
    key: Box<str>,
    slot: Option<Slot>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Our own reference first, so that the count below is everyone else's.
        drop(self.slot.take());
        let mut shard = lock(self.locks.shard(&self.key));
        // Under the shard lock nobody can take a new reference: if the map's
        // is the only one left, nobody holds or waits for this lock.
        if shard
            .get(&self.key)
            .is_some_and(|slot| Arc::strong_count(slot) == 1)
        {
            shard.remove(&self.key);
        }
    }
}

impl KeyedLocks {
    fn shard(&self, key: &str) -> &Shard {
        let index = (fnv1a(key.as_bytes()) % SHARDS as u64) as usize;
        #[allow(
            clippy::indexing_slicing,
            reason = "the index is below SHARDS, the shards' length"
        )]
        &self.shards[index]
    }

    /// Takes `key`'s lock, waiting at most `wait` behind its holder and any
    /// earlier waiters; `None` if it is still held after that.
    pub(crate) async fn lock(self: &Arc<Self>, key: &str, wait: Duration) -> Option<KeyedGuard> {
        let slot = Arc::clone(lock(self.shard(key)).entry(key.into()).or_default());
        let claim = Claim {
            locks: Arc::clone(self),
            key: key.into(),
            slot: Some(Arc::clone(&slot)),
        };
        // Free (and nobody queued: tokio hands a released lock to the first
        // waiter), it is taken at once, without arming the wait's timer.
        let guard = match Arc::clone(&slot).try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => tokio::time::timeout(wait, slot.lock_owned()).await.ok()?,
        };
        Some(KeyedGuard {
            _guard: guard,
            _claim: claim,
        })
    }

    /// How many sessions have an entry (held, or waited for).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn a_second_holder_waits_for_the_first() {
        let locks = Arc::new(KeyedLocks::default());
        let first = locks.lock("a", LONG).await.unwrap();
        assert!(
            locks.lock("a", Duration::from_millis(20)).await.is_none(),
            "a held lock must not be taken twice"
        );
        // Another session is not held up.
        let other = locks.lock("b", Duration::ZERO).await;
        assert!(other.is_some());
        let waiter = tokio::spawn({
            let locks = Arc::clone(&locks);
            async move { locks.lock("a", LONG).await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(first);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn the_table_empties_when_nobody_holds_or_waits() {
        let locks = Arc::new(KeyedLocks::default());
        for i in 0..1000 {
            drop(locks.lock(&format!("id{i}"), LONG).await.unwrap());
        }
        assert_eq!(locks.len(), 0, "released locks must leave no entry");

        // Waiters that time out, and waiters whose future is dropped, leave
        // nothing either.
        let held = locks.lock("a", LONG).await.unwrap();
        assert!(locks.lock("a", Duration::from_millis(5)).await.is_none());
        let abandoned = tokio::spawn({
            let locks = Arc::clone(&locks);
            async move { locks.lock("a", LONG).await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        abandoned.abort();
        let _ = abandoned.await;
        assert_eq!(locks.len(), 1, "only the held lock has an entry");
        drop(held);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn waiters_are_served_in_order() {
        let locks = Arc::new(KeyedLocks::default());
        let first = locks.lock("a", LONG).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for n in 0..4 {
            let (locks, order) = (Arc::clone(&locks), Arc::clone(&order));
            waiters.push(tokio::spawn(async move {
                let _held = locks.lock("a", LONG).await.unwrap();
                lock(&order).push(n);
            }));
            // Each waiter queues before the next is spawned.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(*lock(&order), [0, 1, 2, 3]);
        assert_eq!(locks.len(), 0);
    }
}
