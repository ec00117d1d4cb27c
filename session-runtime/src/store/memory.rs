//! An in-process store: sharded, expiring, and reaped in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::handle::Handle;
use super::hash::fnv1a;
use super::keyed::KeyedLocks;
use super::local_index::LocalIndex;
use super::{
    Created, IndexEntry, SessionLock, SessionStore, StoreError, Update, Updated, expires_at,
    is_live, spawn_reaper,
};
use crate::error::DecodeError;
use crate::id::SessionId;
use crate::index::same_json;
use crate::record::{CookieMeta, Record, SameSite, merge_fields_json};
use crate::sync::{read, write};
use crate::time::now_ms;

/// Sessions in this process's memory.
///
/// - **Concurrent**: the map is split into shards, each behind its own
///   read-write lock, so requests for different sessions rarely wait on each other.
/// - **Expiring**: an expired session is never returned, and a background task
///   removes expired sessions every [`reap interval`](MemoryStore::with_reap_interval),
///   so memory does not grow without bound (express-session's `MemoryStore` only
///   drops an expired entry when it is read again). The reap runs on tokio's
///   blocking pool and takes a shard's write lock for a few hundred removals at
///   a time, so no request waits for a whole reap. The first write starts it,
///   and the next write starts it again if the runtime it ran in was dropped.
/// - **Bounded, if asked**: [`with_max_sessions`](MemoryStore::with_max_sessions)
///   caps how many sessions it holds; a create over the cap fails, and no live
///   session is ever evicted.
/// - **Indexed** ([`#[session(index)]`](crate::Sessions)): the ids of the
///   sessions holding each value of an indexed field, in a map beside the
///   shards; each reap also removes the entries of sessions no longer stored
///   once they are a minute old ([`INDEX_GRACE`](super::INDEX_GRACE)).
/// - **Encoded**: records are kept as JSON text, never as live objects, so a
///   handler can never alias stored state.
/// - **Field merge**: a save that names its changed fields merges just those
///   into the stored record, so concurrent requests that change different
///   fields keep each other's writes.
///
/// Sessions are lost when the process exits; use a persistent store to keep them.
///
/// Clones share their sessions, whenever they are cloned: settings belong to
/// the value they are set on, so `store.clone().with_ttl(..)` changes the
/// clone's ttl (for the sessions it writes), not `store`'s, and both see the
/// same sessions. The clones share one background reap, every
/// [`reap interval`](MemoryStore::with_reap_interval) of the clone whose write
/// started it.
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
    inner: Handle<Settings, Shared>,
}

type Shard = RwLock<HashMap<Box<str>, Entry>>;

/// What the `with_*` methods set, per handle.
#[derive(Clone, Copy)]
struct Settings {
    ttl: Duration,
    reap_interval: Duration,
    max_sessions: Option<usize>,
}

/// What every clone of a store shares: the sessions.
struct Shared {
    shards: Box<[Shard]>,
    /// Whether a background reap runs (see `spawn_reaper`).
    reaper_running: AtomicBool,
    /// How many entries the shards hold, expired or not: what
    /// [`MemoryStore::with_max_sessions`] bounds.
    entries: AtomicUsize,
    /// The locks of exclusive sessions.
    locks: Arc<KeyedLocks>,
    /// The indexed fields' values (`#[session(index)]`).
    index: LocalIndex,
}

/// One session, kept small: the fields as JSON text, the cookie settings only
/// when they differ from the defaults, and the access time as a number, so a
/// touch never re-encodes anything.
struct Entry {
    expires_at: u64,
    last_access: u64,
    /// When the session was created (`__created`), 0 when unknown: kept
    /// beside the JSON, so that a save never parses or writes it.
    created: u64,
    cookie: StoredCookie,
    fields: Box<str>,
}

/// Cookie settings as the memory store keeps them: almost every session has
/// the defaults, with the layer's `SameSite`, so those take no allocation.
enum StoredCookie {
    Defaults(Option<SameSite>),
    Other(Box<CookieMeta>),
}

impl StoredCookie {
    fn new(cookie: &CookieMeta) -> Self {
        if cookie.is_default_but_same_site() {
            StoredCookie::Defaults(cookie.same_site)
        } else {
            StoredCookie::Other(Box::new(cookie.clone()))
        }
    }
}

impl Entry {
    /// Whether the session holds `value` (JSON) under `key`.
    fn holds(&self, key: &str, value: &str) -> bool {
        self.decode().is_ok_and(|record| {
            record
                .fields
                .get(key)
                .is_some_and(|stored| same_json(stored.get(), value))
        })
    }

    fn new(record: &Record, ttl: Duration) -> Self {
        let mut entry = Entry {
            expires_at: 0,
            last_access: 0,
            created: 0,
            cookie: StoredCookie::Defaults(None),
            fields: record.fields_json().into_boxed_str(),
        };
        entry.set_meta(record, ttl);
        entry
    }

    /// Takes the cookie settings and the access time of `record`, and its
    /// expiry by the stores' one rule, [`expires_at`].
    fn set_meta(&mut self, record: &Record, ttl: Duration) {
        let (Some(last_access), Some(expires_at)) = (record.last_access, expires_at(record, ttl))
        else {
            // A record that comes without an access time is accessed now, as
            // the file store stamps it (the layer always sets one).
            let mut stamped = record.clone();
            stamped.last_access = Some(now_ms());
            return self.set_meta(&stamped, ttl);
        };
        self.last_access = last_access;
        self.expires_at = expires_at;
        self.cookie = StoredCookie::new(&record.cookie);
        if let Some(created) = record.created {
            self.created = created;
        }
    }

    fn is_live(&self, now: u64) -> bool {
        is_live(self.expires_at, now)
    }

    fn decode(&self) -> Result<Record, DecodeError> {
        let mut record = Record::from_json(&self.fields)?;
        record.last_access = Some(self.last_access);
        record.created = (self.created != 0).then_some(self.created);
        // The fields hold no `cookie`, so the record has the default one.
        match &self.cookie {
            StoredCookie::Defaults(same_site) => record.cookie.same_site = *same_site,
            StoredCookie::Other(cookie) => record.cookie.clone_from(&**cookie),
        }
        Ok(record)
    }
}

use super::DEFAULT_TTL;

const DEFAULT_REAP_INTERVAL: Duration = Duration::from_secs(60);

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("ttl", &self.inner.settings.ttl)
            .field("reap_interval", &self.inner.settings.reap_interval)
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
        let settings = Settings {
            ttl: DEFAULT_TTL,
            reap_interval: DEFAULT_REAP_INTERVAL,
            max_sessions: None,
        };
        let shared = Shared {
            shards,
            reaper_running: AtomicBool::new(false),
            entries: AtomicUsize::new(0),
            locks: Arc::default(),
            index: LocalIndex::default(),
        };
        MemoryStore {
            inner: Handle::new(settings, shared),
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
        self.configure(|settings| settings.ttl = ttl)
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
        self.configure(|settings| settings.reap_interval = interval.max(Duration::from_millis(1)))
    }

    /// At most `max` sessions (default: no bound): a create that would store
    /// one more fails with a [`StoreError`], which the layer handles by its
    /// [`OnStoreError`](crate::OnStoreError) policy. No session is ever evicted
    /// to make room. Expired sessions count until the background reap removes
    /// them (every [reap interval](Self::with_reap_interval)).
    ///
    /// The bound caps this process's memory when clients can start sessions
    /// faster than they expire. It is checked by the handle that creates:
    /// clones share the count of sessions, each has its own bound.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use session_runtime::{MemoryStore, Record, SessionId, SessionStore};
    ///
    /// let store = MemoryStore::new().with_max_sessions(1);
    /// let mut record = Record::default();
    /// record.last_access = Some(4_102_444_800_000); // 2100
    /// assert!(store.create(&SessionId::generate(), &record).await.is_ok());
    /// let error = store.create(&SessionId::generate(), &record).await.unwrap_err();
    /// assert!(error.to_string().contains("max_sessions"));
    /// # }
    /// ```
    #[must_use]
    pub fn with_max_sessions(self, max: usize) -> Self {
        self.configure(|settings| settings.max_sessions = Some(max))
    }

    fn configure(self, apply: impl FnOnce(&mut Settings)) -> Self {
        MemoryStore {
            inner: self.inner.configure(apply),
        }
    }

    /// How many unexpired sessions the store holds.
    #[must_use]
    pub fn len(&self) -> usize {
        let now = now_ms();
        self.inner
            .shared
            .shards
            .iter()
            .map(|shard| read(shard).values().filter(|e| e.is_live(now)).count())
            .sum()
    }

    /// Whether the store holds no unexpired session.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired session now, and the index entries of sessions
    /// no longer stored that are older than [`INDEX_GRACE`](super::INDEX_GRACE);
    /// returns how many sessions were removed. The background task calls this every reap interval, on tokio's
    /// blocking pool: it takes time in proportion to the sessions stored, so
    /// call it from a blocking context too when the store is large.
    ///
    /// It never holds a lock for long: it finds the expired sessions of each
    /// shard under the shard's read lock (requests keep reading), then removes
    /// them a few hundred at a time under its write lock, checking each again,
    /// so a session saved meanwhile stays.
    ///
    /// ```
    /// let store = session_runtime::MemoryStore::new();
    /// assert_eq!(store.remove_expired(), 0);
    /// ```
    pub fn remove_expired(&self) -> usize {
        self.inner.shared.remove_expired(now_ms())
    }

    /// Starts the background reap, unless it runs: called after each write,
    /// so that a store only read never starts one, and a store whose reaper
    /// died with its runtime gets a new one in the runtime of the next write.
    fn start_reaper(&self) {
        spawn_reaper(
            |shared| &shared.reaper_running,
            &self.inner.shared,
            self.inner.settings.reap_interval,
            |shared| async move {
                // Off the async workers: a reap is O(sessions stored).
                match tokio::task::spawn_blocking(move || shared.remove_expired(now_ms())).await {
                    Ok(0) => {}
                    Ok(removed) => {
                        tracing::debug!(removed, "memory store removed expired sessions");
                    }
                    Err(error) => tracing::warn!(%error, "memory store reap did not complete"),
                }
            },
        );
    }
}

/// How many expired sessions a reap removes per hold of a shard's write lock.
const REAP_BATCH: usize = 256;

/// The store's operations at the instant `now`, so that the expiry rule is
/// tested at its exact boundary.
impl Shared {
    fn shard(&self, id: &str) -> &Shard {
        // FNV-1a picks the shard: the shard's own map hashes the id again with
        // its keyed SipHash, so this one need only spread ids, not resist attacks.
        let hash = fnv1a(id.as_bytes());
        // The shard count is a power of two.
        #[allow(
            clippy::indexing_slicing,
            reason = "the shard count is a power of two, so the mask is below it"
        )]
        &self.shards[(hash as usize) & (self.shards.len() - 1)]
    }

    fn load(&self, id: &str, now: u64) -> Option<Result<Record, DecodeError>> {
        self.load_entry(id, now, Entry::decode)
    }

    fn create(
        &self,
        id: &str,
        record: &Record,
        settings: &Settings,
        now: u64,
    ) -> Result<Created, StoreError> {
        let entry = Entry::new(record, settings.ttl);
        let mut map = write(self.shard(id));
        match map.get(id) {
            Some(stored) if stored.is_live(now) => return Ok(Created::IdTaken),
            // Replaces an expired entry: the count stays.
            Some(_) => {}
            None => self.count_new_entry(settings.max_sessions)?,
        }
        map.insert(id.into(), entry);
        Ok(Created::Stored)
    }

    /// Counts one more entry, unless that would exceed `max`.
    fn count_new_entry(&self, max: Option<usize>) -> Result<(), StoreError> {
        let Some(max) = max else {
            self.entries.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        self.entries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .map(drop)
            .map_err(|_| {
                StoreError::new(format!(
                    "memory store is full: it holds `max_sessions` ({max}) sessions; \
                     raise `with_max_sessions` or shorten the ttl"
                ))
            })
    }

    fn destroy(&self, id: &str) {
        if write(self.shard(id)).remove(id).is_some() {
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn update(&self, id: &str, update: Update<'_>, ttl: Duration, now: u64) -> Updated {
        let mut map = write(self.shard(id));
        let Some(entry) = map.get_mut(id).filter(|entry| entry.is_live(now)) else {
            return Updated::Gone;
        };
        if !update.changed.is_empty() || !update.taken.is_empty() {
            // Merge into what other requests may have saved meanwhile.
            let merged = merge_fields_json(&entry.fields, &update).unwrap_or_else(|| {
                tracing::warn!("memory store holds an unreadable session; replacing its fields");
                let mut current = Record::default();
                update.apply_to(&mut current);
                current.fields_json()
            });
            entry.fields = merged.into_boxed_str();
        }
        entry.set_meta(update.record, ttl);
        Updated::Stored
    }

    /// Removes the sessions expired at `now`, one shard at a time, then the
    /// index entries of every session no longer stored.
    fn remove_expired(&self, now: u64) -> usize {
        let removed = self
            .shards
            .iter()
            .map(|shard| {
                let removed = remove_expired_from(shard, now);
                self.entries.fetch_sub(removed, Ordering::Relaxed);
                // Let request threads in between shards.
                std::thread::yield_now();
                removed
            })
            .sum();
        self.index.retain_live(now, |key, value, id| {
            self.load_entry(id.as_str(), now, |entry| entry.holds(key, value))
                .unwrap_or(false)
        });
        removed
    }

    /// Runs `f` on the live entry under `id`, if there is one.
    fn load_entry<R>(&self, id: &str, now: u64, f: impl FnOnce(&Entry) -> R) -> Option<R> {
        let map = read(self.shard(id));
        map.get(id).filter(|entry| entry.is_live(now)).map(f)
    }
}

/// Removes the sessions of `shard` expired at `now`; returns how many.
fn remove_expired_from(shard: &Shard, now: u64) -> usize {
    let expired: Vec<Box<str>> = read(shard)
        .iter()
        .filter(|(_, entry)| !entry.is_live(now))
        .map(|(id, _)| id.clone())
        .collect();
    if expired.is_empty() {
        return 0;
    }
    let mut removed = 0;
    for batch in expired.chunks(REAP_BATCH) {
        let mut map = write(shard);
        for id in batch {
            // Saved again since it was found expired: it stays.
            if map.get(id).is_some_and(|entry| !entry.is_live(now)) {
                map.remove(id);
                removed += 1;
            }
        }
    }
    let mut map = write(shard);
    // Give memory back after a wave of expiries, keeping room to grow: the
    // rehash moves at most a quarter of the shard's capacity.
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        let keep = map.len().saturating_mul(2);
        map.shrink_to(keep);
    }
    removed
}

impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        match self.inner.shared.load(id.as_str(), now_ms()) {
            None => Ok(None),
            Some(Ok(record)) => Ok(Some(record)),
            Some(Err(error)) => {
                tracing::warn!(%error, "memory store holds an unreadable session; treating it as missing");
                Ok(None)
            }
        }
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        let settings = &self.inner.settings;
        let created = self
            .inner
            .shared
            .create(id.as_str(), record, settings, now_ms())?;
        if created == Created::Stored {
            self.start_reaper();
        }
        Ok(created)
    }

    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        let ttl = self.inner.settings.ttl;
        let updated = self.inner.shared.update(id.as_str(), update, ttl, now_ms());
        if updated == Updated::Stored {
            self.start_reaper();
        }
        Ok(updated)
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.shared.destroy(id.as_str());
        Ok(())
    }

    fn ttl(&self) -> Duration {
        self.inner.settings.ttl
    }

    fn supports_locking(&self) -> bool {
        true
    }

    fn supports_indexes(&self) -> bool {
        true
    }

    async fn index_insert(&self, entry: IndexEntry<'_>, id: &SessionId) -> Result<(), StoreError> {
        self.inner.shared.index.insert(entry, id, now_ms());
        Ok(())
    }

    async fn index_remove(
        &self,
        entry: IndexEntry<'_>,
        ids: &[SessionId],
    ) -> Result<(), StoreError> {
        self.inner.shared.index.remove(entry, ids);
        Ok(())
    }

    async fn index_members(&self, entry: IndexEntry<'_>) -> Result<Vec<SessionId>, StoreError> {
        Ok(self.inner.shared.index.members(entry))
    }

    async fn index_keys(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.inner.shared.index.keys())
    }

    /// An in-process lock per session, taken in the order requests asked;
    /// nothing is kept for a session nobody holds or waits for.
    async fn lock(
        &self,
        id: &SessionId,
        wait: Duration,
    ) -> Result<Option<SessionLock>, StoreError> {
        Ok(self
            .inner
            .shared
            .locks
            .lock(id.as_str(), wait)
            .await
            .map(SessionLock::new))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use serde_json::value::RawValue;

    fn record(fields: &[(&str, &str)], last_access: u64, max_age: Option<u64>) -> Record {
        let mut record = Record::default();
        for (key, value) in fields {
            record
                .fields
                .set(key, RawValue::from_string((*value).to_owned()).unwrap());
        }
        record.last_access = Some(last_access);
        record.cookie.original_max_age = max_age;
        record
    }

    #[tokio::test]
    async fn expired_sessions_are_never_returned() {
        let store = MemoryStore::new().with_ttl(Duration::from_secs(60));
        let id = SessionId::generate();
        // Last accessed two minutes ago, browser-session cookie: past the one-minute ttl.
        let stale = record(&[("a", "1")], now_ms() - 120_000, None);
        assert_eq!(store.create(&id, &stale).await.unwrap(), Created::Stored);
        assert!(store.load(&id).await.unwrap().is_none());
        // A max age on the cookie overrides the store's ttl.
        let kept = record(&[("a", "1")], now_ms() - 120_000, Some(600_000));
        // The expired session's id may be taken again.
        assert_eq!(store.create(&id, &kept).await.unwrap(), Created::Stored);
        assert!(store.load(&id).await.unwrap().is_some());
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn a_store_configured_after_being_cloned_still_shares_its_sessions() {
        let store = MemoryStore::new();
        let before = SessionId::generate();
        let fresh = record(&[("a", "1")], now_ms(), None);
        assert_eq!(
            store.create(&before, &fresh).await.unwrap(),
            Created::Stored
        );
        let configured = store
            .clone()
            .with_ttl(Duration::from_secs(60))
            .with_reap_interval(Duration::from_secs(5));
        assert!(configured.load(&before).await.unwrap().is_some());
        let after = SessionId::generate();
        assert_eq!(
            configured.create(&after, &fresh).await.unwrap(),
            Created::Stored
        );
        assert!(store.load(&after).await.unwrap().is_some());
        assert_eq!((store.len(), configured.len()), (2, 2));
        // The settings are the handle's own.
        assert_eq!(store.ttl(), DEFAULT_TTL);
        assert_eq!(configured.ttl(), Duration::from_secs(60));
    }

    #[tokio::test]
    async fn a_max_age_of_zero_or_none_means_the_ttl() {
        let store = MemoryStore::new().with_ttl(Duration::from_secs(60));
        for max_age in [None, Some(0)] {
            let (live, dead) = (SessionId::generate(), SessionId::generate());
            let within = record(&[], now_ms() - 30_000, max_age);
            let past = record(&[], now_ms() - 90_000, max_age);
            assert_eq!(store.create(&live, &within).await.unwrap(), Created::Stored);
            assert_eq!(store.create(&dead, &past).await.unwrap(), Created::Stored);
            assert!(store.load(&live).await.unwrap().is_some(), "{max_age:?}");
            assert!(store.load(&dead).await.unwrap().is_none(), "{max_age:?}");
        }
    }

    #[tokio::test]
    async fn a_record_without_an_access_time_is_stored_as_accessed_now() {
        let store = MemoryStore::new().with_ttl(Duration::from_secs(60));
        let id = SessionId::generate();
        let mut unstamped = record(&[("a", "1")], 0, None);
        unstamped.last_access = None;
        let before = now_ms();
        assert_eq!(
            store.create(&id, &unstamped).await.unwrap(),
            Created::Stored
        );
        let stored = store.load(&id).await.unwrap().unwrap();
        assert!(stored.last_access.unwrap() >= before);
    }

    /// Every entry the store holds, expired or not.
    fn stored_entries(store: &MemoryStore) -> usize {
        store
            .inner
            .shared
            .shards
            .iter()
            .map(|shard| read(shard).len())
            .sum()
    }

    /// Waits until the store holds `n` entries; fails after ten seconds.
    async fn wait_for_entries(store: &MemoryStore, n: usize, failure: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while stored_entries(store) != n {
            assert!(std::time::Instant::now() < deadline, "{failure}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// What a create of `record` under `id` at the instant `now` does.
    fn create_at(store: &MemoryStore, id: &str, record: &Record, now: u64) -> Created {
        let settings = &store.inner.settings;
        store
            .inner
            .shared
            .create(id, record, settings, now)
            .unwrap()
    }

    /// Stores `count` sessions that expired long ago, without starting a reaper.
    fn store_expired(store: &MemoryStore, count: usize) {
        let long_ago = record(&[], 1, None);
        for i in 0..count {
            let created = create_at(store, &format!("expired-{i}"), &long_ago, 1);
            assert_eq!(created, Created::Stored);
        }
    }

    /// A record that expires at `expires_at` (accessed a second before, with a max age of a second).
    fn expiring_at(expires_at: u64) -> Record {
        record(&[("a", "1")], expires_at - 1000, Some(1000))
    }

    #[test]
    fn remove_expired_removes_exactly_the_expired_sessions() {
        let store = MemoryStore::new();
        let shared = &store.inner.shared;
        let now = 1_000_000;
        // Expiring exactly now is still live (`store::is_live`); a ms earlier is not.
        let expiries = [now - 60_000, now - 1, now, now + 1, now - 2];
        for (i, expires_at) in expiries.into_iter().enumerate() {
            let created = create_at(&store, &format!("s{i}"), &expiring_at(expires_at), 0);
            assert_eq!(created, Created::Stored);
        }
        assert_eq!(shared.remove_expired(now), 3);
        let left = ["s0", "s1", "s2", "s3", "s4"].map(|id| shared.load(id, now).is_some());
        assert_eq!(left, [false, false, true, true, false]);
        assert_eq!(stored_entries(&store), 2);
        assert_eq!(shared.remove_expired(now), 0);
        assert_eq!(shared.remove_expired(now + 2), 2);
        assert_eq!(stored_entries(&store), 0);
    }

    #[test]
    fn the_reap_removes_the_index_entries_of_gone_sessions_once_settled() {
        use crate::store::{INDEX_GRACE, IndexEntry};
        use crate::time::duration_ms;
        let store = MemoryStore::new();
        let shared = &store.inner.shared;
        let now = 10_000_000;
        let grace = duration_ms(INDEX_GRACE);
        let alice = IndexEntry::new("user", r#""alice""#);
        let id = |text: &str| SessionId::parse(text).unwrap();
        // `live` holds alice and lives on; `switched` lives on but holds bob
        // now; `expiring` holds alice and expires at `now`; `destroyed` was
        // stored once; `coming` is an entry just written for a session whose
        // create is still under way.
        let holding =
            |user: &str, expires_at: u64| record(&[("user", user)], expires_at - 1000, Some(1000));
        for (name, user, expires_at) in [
            ("live", r#""alice""#, now + 10 * grace),
            ("switched", r#""bob""#, now + 10 * grace),
            ("expiring", r#""alice""#, now),
        ] {
            let created = create_at(&store, name, &holding(user, expires_at), now - 2 * grace);
            assert_eq!(created, Created::Stored);
        }
        for name in ["live", "switched", "expiring", "destroyed"] {
            shared.index.insert(alice, &id(name), now - 2 * grace);
        }
        shared.index.insert(alice, &id("coming"), now);
        assert_eq!(shared.remove_expired(now + 1), 1);
        let mut left = shared.index.members(alice);
        left.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(left, [id("coming"), id("live")]);
        // A grace later, the session still not stored: its entry goes too.
        shared.remove_expired(now + grace + 1);
        assert_eq!(shared.index.members(alice), [id("live")]);
        assert_eq!(shared.index.len(), 1, "nothing else is kept");
    }

    #[test]
    fn every_operation_sees_a_session_live_until_its_expiry_and_gone_a_ms_later() {
        let store = MemoryStore::new();
        let shared = &store.inner.shared;
        let expires_at = 1_000_000;
        let session = expiring_at(expires_at);
        let replacement = record(&[("a", "2")], expires_at, Some(1000));
        let ttl = DEFAULT_TTL;
        assert_eq!(create_at(&store, "id", &session, 0), Created::Stored);
        // At the expiry instant (these writes keep the same expiry).
        assert!(shared.load("id", expires_at).is_some());
        assert_eq!(
            create_at(&store, "id", &replacement, expires_at),
            Created::IdTaken
        );
        let update = Update::new(&session, &["a"]);
        assert_eq!(
            shared.update("id", update, ttl, expires_at),
            Updated::Stored
        );
        let touch = Update::new(&session, &[]);
        assert_eq!(shared.update("id", touch, ttl, expires_at), Updated::Stored);
        // A millisecond later.
        let later = expires_at + 1;
        assert!(shared.load("id", later).is_none());
        assert_eq!(shared.update("id", update, ttl, later), Updated::Gone);
        assert_eq!(shared.update("id", touch, ttl, later), Updated::Gone);
        assert_eq!(
            create_at(&store, "id", &replacement, later),
            Created::Stored
        );
        let stored = shared.load("id", later).unwrap().unwrap();
        assert_eq!(stored.fields.get("a").unwrap().get(), "2");
    }

    #[test]
    fn a_bounded_store_refuses_a_create_over_its_bound_and_evicts_nothing() {
        let store = MemoryStore::new().with_max_sessions(2);
        let shared = &store.inner.shared;
        let now = 1_000_000;
        let live = expiring_at(now + 60_000);
        let create = |id: &str, at| shared.create(id, &live, &store.inner.settings, at);
        assert_eq!(create("a", now).unwrap(), Created::Stored);
        assert_eq!(create("b", now).unwrap(), Created::Stored);
        assert_eq!(create("a", now).unwrap(), Created::IdTaken);
        let error = create("c", now).unwrap_err();
        assert!(error.to_string().contains("`max_sessions` (2)"), "{error}");
        assert!(shared.load("a", now).is_some() && shared.load("b", now).is_some());
        // A destroyed session makes room.
        shared.destroy("a");
        assert_eq!(create("c", now).unwrap(), Created::Stored);
        // Expired sessions count until reaped; replacing one takes no more room.
        let later = now + 60_001;
        assert!(create("d", later).is_err());
        assert_eq!(create("b", later).unwrap(), Created::Stored);
        assert_eq!(shared.remove_expired(later), 2);
        assert_eq!(create("d", later).unwrap(), Created::Stored);
        assert_eq!(create("e", later).unwrap(), Created::Stored);
        assert!(create("f", later).is_err());
        // Without a bound, the same shared sessions take any number more.
        let unbounded = MemoryStore {
            inner: store.inner.clone().configure(|s| s.max_sessions = None),
        };
        assert_eq!(create_at(&unbounded, "f", &live, later), Created::Stored);
    }

    #[test]
    fn only_a_write_starts_the_reaper_and_only_one_runs() {
        let alive_tasks = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        current_thread_runtime().block_on(async {
            let store = MemoryStore::new();
            let (id, view) = (SessionId::generate(), record(&[], now_ms(), None));
            assert!(store.load(&id).await.unwrap().is_none());
            assert_eq!(store.touch(&id, &view).await.unwrap(), Updated::Gone);
            let update = Update::new(&view, &["a"]);
            assert_eq!(store.update(&id, update).await.unwrap(), Updated::Gone);
            store.destroy(&id).await.unwrap();
            assert_eq!(store.remove_expired(), 0);
            assert_eq!(alive_tasks(), 0, "a store never written started a reaper");
            let clone = store.clone().with_reap_interval(Duration::from_secs(5));
            for store in [&store, &clone, &store] {
                let created = store.create(&SessionId::generate(), &view).await;
                assert_eq!(created.unwrap(), Created::Stored);
                assert_eq!(alive_tasks(), 1, "one reaper per store and its clones");
            }
        });
    }

    #[test]
    fn a_wave_of_expiries_gives_memory_back() {
        let store = MemoryStore::new();
        let capacity = || -> usize {
            let shards = store.inner.shared.shards.iter();
            shards.map(|shard| read(shard).capacity()).sum()
        };
        // Enough sessions per shard for each shard to be worth shrinking.
        let count = store.inner.shared.shards.len() * 512;
        store_expired(&store, count);
        let full = capacity();
        assert!(full >= count);
        assert_eq!(store.remove_expired(), count);
        assert!(capacity() <= full / 8, "{} of {full} kept", capacity());
    }

    fn current_thread_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn a_request_is_served_while_a_reap_is_under_way() {
        let store = MemoryStore::new().with_reap_interval(Duration::from_millis(10));
        let shards = &store.inner.shared.shards;
        let last = shards.len() - 1;
        store_expired(&store, 200_000);
        let live = std::iter::repeat_with(SessionId::generate)
            .find(|id| !std::ptr::eq(store.inner.shared.shard(id.as_str()), &shards[last]))
            .unwrap();
        // The reap cannot finish while the test holds the last shard.
        let held = read(&shards[last]);
        let (served, on_served) = std::sync::mpsc::channel();
        let worker = std::thread::spawn({
            let store = store.clone();
            move || {
                current_thread_runtime().block_on(async {
                    let fresh = record(&[("a", "1")], now_ms(), None);
                    assert_eq!(store.create(&live, &fresh).await.unwrap(), Created::Stored);
                    let shards = &store.inner.shared.shards;
                    // The reap has emptied every other shard: it is at the last one...
                    while shards[..last].iter().map(|s| read(s).len()).sum::<usize>() > 1 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    // ...and a request on the same runtime is served meanwhile.
                    let loaded = store.load(&live).await.unwrap();
                    let _ = served.send(loaded.is_some());
                    wait_for_entries(&store, 1, "the reap did not finish").await;
                });
            }
        });
        let outcome = on_served.recv_timeout(Duration::from_secs(30));
        drop(held);
        assert_eq!(outcome, Ok(true), "a load waited for a reap to finish");
        worker.join().unwrap();
    }

    #[test]
    fn a_save_restarts_a_reaper_whose_runtime_has_gone() {
        let store = MemoryStore::new()
            .with_ttl(Duration::from_millis(50))
            .with_reap_interval(Duration::from_millis(10));
        let (kept, touched) = (SessionId::generate(), SessionId::generate());
        let long = record(&[], now_ms(), Some(600_000));
        // A runtime used once, to fill the store at startup: its reaper ends with it.
        current_thread_runtime().block_on(async {
            for id in [&kept, &touched] {
                assert_eq!(store.create(id, &long).await.unwrap(), Created::Stored);
            }
        });
        // An update in a later runtime starts a reaper there...
        current_thread_runtime().block_on(async {
            let short = record(&[], now_ms(), Some(1));
            assert_eq!(
                store.touch(&touched, &short).await.unwrap(),
                Updated::Stored
            );
            wait_for_entries(&store, 1, "no reaper after an update in a new runtime").await;
        });
        // ...and so does a create in the next one.
        current_thread_runtime().block_on(async {
            let expiring = record(&[], now_ms(), None);
            let created = store.create(&SessionId::generate(), &expiring).await;
            assert_eq!(created.unwrap(), Created::Stored);
            wait_for_entries(&store, 1, "no reaper after a create in a new runtime").await;
            assert!(store.load(&kept).await.unwrap().is_some());
        });
    }

    #[tokio::test]
    async fn the_reaper_removes_expired_sessions_in_the_background() {
        let store = MemoryStore::new()
            .with_ttl(Duration::from_millis(50))
            .with_reap_interval(Duration::from_millis(20));
        for _ in 0..100 {
            let fresh = record(&[("a", "1")], now_ms(), None);
            let created = store.create(&SessionId::generate(), &fresh).await;
            assert_eq!(created.unwrap(), Created::Stored);
        }
        let live = SessionId::generate();
        assert_eq!(
            store
                .create(&live, &record(&[], now_ms(), Some(60_000)))
                .await
                .unwrap(),
            Created::Stored
        );
        assert_eq!(stored_entries(&store), 101);
        wait_for_entries(&store, 1, "reaper did not run").await;
        assert!(store.load(&live).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_reaper_stops_when_the_store_is_dropped() {
        let store = MemoryStore::new().with_reap_interval(Duration::from_millis(5));
        assert_eq!(
            store
                .create(&SessionId::generate(), &record(&[], now_ms(), None))
                .await
                .unwrap(),
            Created::Stored
        );
        let weak = Arc::downgrade(&store.inner.shared);
        drop(store);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            weak.upgrade().is_none(),
            "the reaper must not keep the store alive"
        );
    }

    #[tokio::test]
    async fn saves_merge_only_their_changed_fields() {
        let store = MemoryStore::new();
        let id = SessionId::generate();
        let base = record(&[("a", "0"), ("b", "0")], now_ms(), None);
        assert_eq!(store.create(&id, &base).await.unwrap(), Created::Stored);
        // Two requests loaded `base`; one changed `a`, the other `b`.
        let first = record(&[("a", "1"), ("b", "0")], now_ms(), None);
        let second = record(&[("a", "0"), ("b", "2")], now_ms(), None);
        let updated = store.update(&id, Update::new(&first, &["a"])).await;
        assert_eq!(updated.unwrap(), Updated::Stored);
        let updated = store.update(&id, Update::new(&second, &["b"])).await;
        assert_eq!(updated.unwrap(), Updated::Stored);
        let stored = store.load(&id).await.unwrap().unwrap();
        assert_eq!(stored.fields.get("a").unwrap().get(), "1");
        assert_eq!(stored.fields.get("b").unwrap().get(), "2");
    }

    #[tokio::test]
    async fn touch_refreshes_expiry_but_keeps_fields() {
        let store = MemoryStore::new().with_ttl(Duration::from_secs(60));
        let id = SessionId::generate();
        assert_eq!(
            store
                .create(&id, &record(&[("a", "1")], now_ms() - 50_000, None))
                .await
                .unwrap(),
            Created::Stored
        );
        // A touch carries a stale view of the fields; they must not be written.
        let stale_view = record(&[("a", "0")], now_ms(), None);
        assert_eq!(
            store.touch(&id, &stale_view).await.unwrap(),
            Updated::Stored
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
        let stored = store.load(&id).await.unwrap().unwrap();
        assert_eq!(stored.fields.get("a").unwrap().get(), "1");
        assert!(stored.last_access.unwrap() > now_ms() - 5_000);
        // Touching a missing session does not create it.
        let missing = SessionId::generate();
        let view = record(&[], now_ms(), None);
        assert_eq!(store.touch(&missing, &view).await.unwrap(), Updated::Gone);
        assert!(store.load(&missing).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn destroy_removes_and_tolerates_missing() {
        let store = MemoryStore::new();
        let id = SessionId::generate();
        assert_eq!(
            store
                .create(&id, &record(&[], now_ms(), None))
                .await
                .unwrap(),
            Created::Stored
        );
        store.destroy(&id).await.unwrap();
        store.destroy(&id).await.unwrap();
        assert!(store.load(&id).await.unwrap().is_none());
        assert!(store.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_to_different_sessions() {
        let store = MemoryStore::new();
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..500 {
                        let id = SessionId::parse(&format!("t{t}-{i}")).unwrap();
                        let value = format!("{i}");
                        assert_eq!(
                            store
                                .create(&id, &record(&[("n", &value)], now_ms(), None))
                                .await
                                .unwrap(),
                            Created::Stored
                        );
                        assert!(store.load(&id).await.unwrap().is_some());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(store.len(), 4000);
    }
}
