//! An in-process store: sharded, expiring, and reaped in the background.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use super::{SessionStore, StoreError, expires_at};
use crate::id::SessionId;
use crate::record::Record;
use crate::time::now_ms;

/// Sessions in this process's memory.
///
/// - **Concurrent**: the map is split into shards, each behind its own
///   read-write lock, so requests for different sessions rarely wait on each other.
/// - **Expiring**: an expired session is never returned, and a background task
///   removes expired sessions every [`reap interval`](MemoryStore::with_reap_interval),
///   so memory does not grow without bound (express-session's `MemoryStore` only
///   drops an expired entry when it is read again).
/// - **Encoded**: records are kept as JSON text, never as live objects, so a
///   handler can never alias stored state.
/// - **Field merge**: a save that names its changed fields merges just those
///   into the stored record, so concurrent requests that change different
///   fields keep each other's writes.
///
/// Sessions are lost when the process exits; use a persistent store to keep them.
///
/// ```
/// use std::time::Duration;
/// use session_runtime::MemoryStore;
///
/// let store = MemoryStore::new()
///     .with_ttl(Duration::from_secs(30 * 60))
///     .with_reap_interval(Duration::from_secs(60));
/// # let _ = store;
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

type Shard = RwLock<HashMap<Box<str>, Entry>>;

struct Inner {
    shards: Box<[Shard]>,
    hasher: RandomState,
    ttl: Duration,
    reap_interval: Duration,
    reaper_started: AtomicBool,
}

struct Entry {
    expires_at: u64,
    json: Box<str>,
}

const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
const DEFAULT_REAP_INTERVAL: Duration = Duration::from_secs(60);

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("ttl", &self.inner.ttl)
            .field("reap_interval", &self.inner.reap_interval)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store: browser-session cookies live one day after their last
    /// access, and expired sessions are removed every minute.
    #[must_use]
    pub fn new() -> Self {
        let shard_count = std::thread::available_parallelism()
            .map_or(4, std::num::NonZero::get)
            .saturating_mul(16)
            .next_power_of_two();
        let shards = (0..shard_count)
            .map(|_| RwLock::new(HashMap::new()))
            .collect();
        MemoryStore {
            inner: Arc::new(Inner {
                shards,
                hasher: RandomState::new(),
                ttl: DEFAULT_TTL,
                reap_interval: DEFAULT_REAP_INTERVAL,
                reaper_started: AtomicBool::new(false),
            }),
        }
    }

    /// How long a session whose cookie has no max age lives after its last
    /// access (default: one day). Sessions with a max age live that long instead.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let store = session_runtime::MemoryStore::new().with_ttl(Duration::from_secs(3600));
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_ttl(self, ttl: Duration) -> Self {
        self.configure(|inner| inner.ttl = ttl)
    }

    /// How often the background task removes expired sessions (default: one minute).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let store = session_runtime::MemoryStore::new().with_reap_interval(Duration::from_secs(10));
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_reap_interval(self, interval: Duration) -> Self {
        self.configure(|inner| inner.reap_interval = interval.max(Duration::from_millis(1)))
    }

    fn configure(self, apply: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            // Configuring a store that is already shared: start a fresh one with its settings.
            shards: (0..shared.shards.len())
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
            hasher: RandomState::new(),
            ttl: shared.ttl,
            reap_interval: shared.reap_interval,
            reaper_started: AtomicBool::new(false),
        });
        apply(&mut inner);
        MemoryStore {
            inner: Arc::new(inner),
        }
    }

    /// How many unexpired sessions the store holds.
    #[must_use]
    pub fn len(&self) -> usize {
        let now = now_ms();
        self.inner
            .shards
            .iter()
            .map(|shard| read(shard).values().filter(|e| e.expires_at > now).count())
            .sum()
    }

    /// Whether the store holds no unexpired session.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired session now; returns how many were removed.
    /// The background task calls this every reap interval.
    pub fn remove_expired(&self) -> usize {
        self.inner.remove_expired()
    }

    fn shard(&self, id: &str) -> &RwLock<HashMap<Box<str>, Entry>> {
        let hash = self.inner.hasher.hash_one(id);
        // The shard count is a power of two.
        &self.inner.shards[(hash as usize) & (self.inner.shards.len() - 1)]
    }

    fn start_reaper(&self) {
        if self.inner.reaper_started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let interval = self.inner.reap_interval;
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                // The task ends with the store.
                let Some(inner) = weak.upgrade() else { break };
                let removed = inner.remove_expired();
                if removed > 0 {
                    tracing::debug!(removed, "memory store removed expired sessions");
                }
            }
        });
    }
}

impl Inner {
    fn remove_expired(&self) -> usize {
        let now = now_ms();
        let mut removed = 0;
        for shard in &*self.shards {
            let mut map = write(shard);
            let before = map.len();
            map.retain(|_, entry| entry.expires_at > now);
            removed += before - map.len();
            // Give memory back after a wave of sessions has expired.
            if map.capacity() > 64 && map.len() < map.capacity() / 4 {
                map.shrink_to_fit();
            }
        }
        removed
    }
}

// A panic while a lock is held cannot leave an entry half-written (entries are
// replaced whole), so a poisoned lock is still consistent.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let json = {
            let map = read(self.shard(id.as_str()));
            match map.get(id.as_str()) {
                Some(entry) if entry.expires_at > now_ms() => entry.json.clone(),
                _ => return Ok(None),
            }
        };
        match Record::from_json(&json) {
            Ok(record) => Ok(Some(record)),
            Err(error) => {
                tracing::warn!(%error, "memory store holds an unreadable session; treating it as missing");
                Ok(None)
            }
        }
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        changed: &[&str],
    ) -> Result<(), StoreError> {
        self.start_reaper();
        let ttl = self.inner.ttl;
        let mut map = write(self.shard(id.as_str()));
        let merged;
        let to_store = match map.get(id.as_str()) {
            // Merge the changed fields into what other requests may have saved meanwhile.
            Some(existing) if !changed.is_empty() && existing.expires_at > now_ms() => {
                match Record::from_json(&existing.json) {
                    Ok(mut current) => {
                        for key in changed {
                            if let Some(value) = record.fields.get(key) {
                                current.fields.set(key, value.to_owned());
                            }
                        }
                        current.cookie = record.cookie.clone();
                        current.last_access = record.last_access;
                        merged = current;
                        &merged
                    }
                    Err(_) => record,
                }
            }
            _ => record,
        };
        let entry = Entry {
            expires_at: expires_at(to_store, ttl),
            json: to_store.to_json().into_boxed_str(),
        };
        map.insert(id.as_str().into(), entry);
        Ok(())
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let ttl = self.inner.ttl;
        let mut map = write(self.shard(id.as_str()));
        let Some(entry) = map.get_mut(id.as_str()) else {
            return Ok(());
        };
        if entry.expires_at <= now_ms() {
            return Ok(());
        }
        // Keep the stored fields (a concurrent request may have changed them);
        // refresh only the cookie and the access time, as express's MemoryStore does.
        if let Ok(mut current) = Record::from_json(&entry.json) {
            current.cookie = record.cookie.clone();
            current.last_access = record.last_access;
            entry.expires_at = expires_at(&current, ttl);
            entry.json = current.to_json().into_boxed_str();
        }
        Ok(())
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        write(self.shard(id.as_str())).remove(id.as_str());
        Ok(())
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl
    }
}
