//! Where sessions live between requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::id::SessionId;
use crate::record::Record;

pub use crate::error::StoreError;

pub mod file;
mod handle;
mod hash;
pub(crate) mod keyed;
mod local_index;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

/// What [`SessionStore::create`] did.
#[must_use = "a create that found the id taken wrote nothing"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The session was stored under the id.
    Stored,
    /// A live session is already stored under the id; nothing was written.
    IdTaken,
}

/// What [`SessionStore::update`] or [`SessionStore::touch`] did.
#[must_use = "an update of a session that is gone wrote nothing"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Updated {
    /// The stored session was updated.
    Stored,
    /// No live session is stored under the id (it was destroyed, or it
    /// expired, since the request loaded it); nothing was written.
    Gone,
}

/// One request's changes to a stored session, given to [`SessionStore::update`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Update<'a> {
    /// The request's view of the session. Only the fields named in
    /// [`changed`](Self::changed) are to be written from it; its
    /// [`cookie`](Record::cookie), [`last_access`](Record::last_access) and
    /// [`created`](Record::created) replace the stored ones.
    pub record: &'a Record,
    /// The fields this request changed, each at most once. Empty for an
    /// update of the cookie settings or the access time alone.
    pub changed: &'a [&'a str],
    /// The lock the request holds on the session, when the layer runs
    /// [exclusive sessions](crate::SessionLayer::exclusive).
    ///
    /// A store whose locks can lapse while their holder still runs (a lease
    /// that expires) must refuse, with an error, an update whose
    /// [`fence`](SessionLock::fence) no longer holds the session, so that a
    /// holder that stalled past its lease cannot overwrite what a later holder
    /// saved. A store whose locks are held until dropped ignores it.
    pub lock: Option<&'a SessionLock>,
    /// Flash fields this request read (`#[session(flash)]`), each with the
    /// value it saw: each is removed, unless the stored value is no longer
    /// that one (another request left a newer message meanwhile, which the
    /// next request must see). Empty for most updates.
    pub taken: &'a [(&'a str, &'a serde_json::value::RawValue)],
}

impl<'a> Update<'a> {
    /// An update writing the fields `changed` of `record`, and its cookie
    /// settings, access time and creation time.
    #[must_use]
    pub fn new(record: &'a Record, changed: &'a [&'a str]) -> Self {
        Update {
            record,
            changed,
            lock: None,
            taken: &[],
        }
    }

    /// This update, also removing the flash values `taken` (see
    /// [`taken`](Self::taken)).
    #[must_use]
    pub fn taking(self, taken: &'a [(&'a str, &'a serde_json::value::RawValue)]) -> Self {
        Update { taken, ..self }
    }

    /// This update, made under `lock` (see [`lock`](Self::lock)).
    #[must_use]
    pub fn under(self, lock: Option<&'a SessionLock>) -> Self {
        Update { lock, ..self }
    }

    /// Applies this update to `current`, what the store holds: the changed
    /// fields and the metadata are taken from the request, every other field
    /// stays as stored. A changed field that the request's record no longer
    /// holds is removed, and a [taken](Self::taken) flash value that is still
    /// the one stored.
    pub fn apply_to(&self, current: &mut Record) {
        for (key, seen) in self.taken {
            if current
                .fields
                .get(key)
                .is_some_and(|stored| stored.get() == seen.get())
            {
                current.fields.remove(key);
            }
        }
        for key in self.changed {
            match self.record.fields.get(key) {
                Some(value) => current.fields.set(key, value.to_owned()),
                None => {
                    current.fields.remove(key);
                }
            }
        }
        current.cookie.clone_from(&self.record.cookie);
        current.last_access = self.record.last_access;
        if self.record.created.is_some() {
            current.created = self.record.created;
        }
    }
}

/// A session held for one request's exclusive use, from
/// [`SessionStore::lock`]: other requests of the session wait until it is
/// dropped.
///
/// A store makes one from whatever keeps its lock held (a mutex guard, a
/// locked file, a lease's renewal task), which is dropped with it, and for a
/// lock that can lapse, the fencing token its updates check.
///
/// ```
/// use session_runtime::store::SessionLock;
///
/// let mutex = std::sync::Arc::new(tokio::sync::Mutex::new(()));
/// let lock = SessionLock::new(mutex.clone().try_lock_owned().unwrap());
/// assert!(mutex.try_lock().is_err(), "held while the lock lives");
/// drop(lock);
/// assert!(mutex.try_lock().is_ok(), "released when it drops");
/// ```
#[must_use = "the session is released as soon as its lock is dropped"]
pub struct SessionLock {
    fence: Option<Box<str>>,
    _held: Box<dyn Send + Sync>,
}

impl SessionLock {
    /// A lock kept held by `held`, released when `held` is dropped.
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        SessionLock {
            fence: None,
            _held: Box::new(held),
        }
    }

    /// This lock with the fencing token `token`: what an update made under
    /// it shows the store, which refuses the update once the token no
    /// longer holds the session (see [`Update::lock`]).
    pub fn with_fence(self, token: impl Into<Box<str>>) -> Self {
        SessionLock {
            fence: Some(token.into()),
            ..self
        }
    }

    /// The fencing token, if the lock has one.
    #[must_use]
    pub fn fence(&self) -> Option<&str> {
        self.fence.as_deref()
    }
}

impl std::fmt::Debug for SessionLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret of the holder: whoever has it can save over the holder.
        f.debug_struct("SessionLock")
            .field("fence", &self.fence.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// One value of an indexed field (`#[session(index)]`): the field's stored
/// key and the JSON its value is stored as (`42`, `"alice"`), as the store
/// indexes sessions under it.
///
/// ```
/// use session_runtime::store::IndexEntry;
///
/// let entry = IndexEntry::new("user", r#""alice""#);
/// assert_eq!((entry.key, entry.value), ("user", "\"alice\""));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct IndexEntry<'a> {
    /// The indexed field's stored key.
    pub key: &'a str,
    /// The field's value, as the JSON text it is stored as; never `null`.
    pub value: &'a str,
}

impl<'a> IndexEntry<'a> {
    /// The entry for the value stored as `value` (JSON) under `key`.
    #[must_use]
    pub fn new(key: &'a str, value: &'a str) -> Self {
        IndexEntry { key, value }
    }
}

/// A session store: where sessions live between requests.
///
/// # The contract
///
/// The layer tells the store what each write is, so that no interleaving of
/// requests can undo another's work:
///
/// - [`create`](Self::create) stores a **new** session, only if no live
///   session is stored under its id. It never merges into an existing one: a
///   repeated id (a custom `genid` that restarts its counter, say) must not
///   hand one user another's data.
/// - [`update`](Self::update) merges a **loaded** session's changes into what
///   is stored *now*: the fields the request changed, and the cookie settings,
///   access time and creation time. Fields other requests saved meanwhile
///   stay. If the session is gone (destroyed by a logout, or expired) nothing
///   is written: a late save never brings a session back.
/// - [`touch`](Self::touch) extends a live session's life, never recreates it.
/// - [`destroy`](Self::destroy) removes it; a missing session is not an error.
///
/// Each of these is atomic with respect to the others on the same id (a lock,
/// a transaction or a compare-and-set), including across processes when the
/// store is shared between them.
///
/// # Expiry
///
/// A session expires by one rule, [`expires_at`]: `original_max_age` after its
/// `last_access`, or [`ttl`](Self::ttl) after it when the cookie has no max age
/// (or a max age of 0), as session-file-store computes it. [`load`](Self::load)
/// never returns an expired session, whether or not it has been removed yet,
/// and `update` and `touch` treat an expired session as gone.
///
/// # Indexes
///
/// A store that [supports indexes](Self::supports_indexes) keeps, for each
/// value of an indexed field (`#[session(index)]`), the ids of the sessions
/// stored with it, so that the sessions of one user are found without
/// scanning the store ([`Sessions`](crate::Sessions)). The layer writes an
/// entry ([`index_insert`](Self::index_insert)) *before* the write that stores
/// the value, so that no stored session is ever missing from its value's
/// entries; entries are a superset of the truth, which readers check against
/// the sessions themselves. The layer removes a destroyed session's entries;
/// the store's reap removes those of sessions that are gone otherwise
/// (expired, or destroyed by a process that died before it could) and those
/// of live sessions that no longer hold the entry's value, once they are
/// [`INDEX_GRACE`] old (an entry is written before its session, so a younger
/// one may belong to a write under way). No entry outlives its session, or
/// its session's holding the value, by more than a reap interval and that
/// grace.
///
/// # Checking a store
///
/// The store test kit (`session_runtime::testing`, feature `testing`) runs
/// every rule above against a store in one call.
pub trait SessionStore: Send + Sync + 'static {
    /// The live session stored under `id`, or `None` when there is none or it has expired.
    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Stores the new session `record` under `id` if no live session is
    /// stored there; otherwise writes nothing and returns [`Created::IdTaken`].
    /// An expired session under `id` may be replaced.
    fn create(
        &self,
        id: &SessionId,
        record: &Record,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send;

    /// Merges `update` into the live session stored under `id` (see
    /// [`Update::apply_to`]); when there is none, writes nothing and returns
    /// [`Updated::Gone`].
    fn update(
        &self,
        id: &SessionId,
        update: Update<'_>,
    ) -> impl Future<Output = Result<Updated, StoreError>> + Send;

    /// Extends the life of a live, unmodified session: `record.last_access`
    /// and `record.cookie` are new, its fields are not and must not be
    /// written. Returns [`Updated::Gone`] without writing when the session is
    /// not live. The default is an [`update`](Self::update) with no changed fields.
    fn touch(
        &self,
        id: &SessionId,
        record: &Record,
    ) -> impl Future<Output = Result<Updated, StoreError>> + Send {
        self.update(id, Update::new(record, &[]))
    }

    /// Removes the session stored under `id`; removing a missing session is not an error.
    fn destroy(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`destroy`](Self::destroy), by a request that holds `lock` on the
    /// session ([exclusive sessions](crate::SessionLayer::exclusive): a
    /// logout, or the old id of `cycle_id`/`regenerate`). As with
    /// [`Update::lock`], a store whose locks can lapse removes nothing and
    /// returns an error when the lock's [`fence`](SessionLock::fence) no longer
    /// holds the session, so that a holder that stalled past its lease cannot
    /// remove what a later holder saved. The default ignores the lock, which
    /// is right for a store whose locks are held until dropped.
    fn destroy_under(
        &self,
        id: &SessionId,
        lock: &SessionLock,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = lock;
        self.destroy(id)
    }

    /// How long a session whose cookie has no max age lives after its last access.
    fn ttl(&self) -> Duration;

    /// Whether this store implements [`lock`](Self::lock). The default is
    /// `false`, and [`SessionLayer::exclusive`](crate::SessionLayer::exclusive)
    /// refuses such a store when the layer is built, so that a store without
    /// locks fails at start-up rather than serving requests unlocked.
    fn supports_locking(&self) -> bool {
        false
    }

    /// Takes the session `id` for one request's exclusive use, waiting while
    /// another request holds it: in this process and, for a store shared by
    /// several processes or servers, in all of them. `Ok(Some(lock))` once
    /// held, until the lock is dropped; `Ok(None)` if another holder still has
    /// it after `wait`. Whether a session is stored under `id` does not matter.
    ///
    /// Dropping the future before it completes must leave the lock free (the
    /// layer gives up on a store that takes longer than `wait` plus its
    /// [store timeout](crate::SessionLayer::store_timeout)). A lock that can
    /// lapse while its holder runs (a lease) carries a
    /// [fence](SessionLock::with_fence) its store's updates check.
    ///
    /// The default fails, saying the store cannot; a store that implements
    /// it also returns `true` from [`supports_locking`](Self::supports_locking).
    fn lock(
        &self,
        id: &SessionId,
        wait: Duration,
    ) -> impl Future<Output = Result<Option<SessionLock>, StoreError>> + Send {
        let _ = (id, wait);
        async {
            Err(StoreError::new(
                "this session store does not support exclusive sessions (`SessionStore::lock`)",
            ))
        }
    }

    /// Whether this store implements the index methods below. The default is
    /// `false`; the layer then refuses, with an error, a request whose schema
    /// has an indexed field, rather than storing sessions it cannot list.
    fn supports_indexes(&self) -> bool {
        false
    }

    /// Records that the session `id` is stored with `entry` (its value of an
    /// indexed field). Called before the write that stores the value; adding
    /// an entry that exists is not an error. The default fails, saying the
    /// store cannot.
    fn index_insert(
        &self,
        entry: IndexEntry<'_>,
        id: &SessionId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (entry, id);
        async { Err(no_indexes()) }
    }

    /// Forgets that the sessions `ids` are stored with `entry`: called once
    /// they are destroyed, or found no longer to hold the value. Removing a
    /// missing entry is not an error.
    fn index_remove(
        &self,
        entry: IndexEntry<'_>,
        ids: &[SessionId],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (entry, ids);
        async { Err(no_indexes()) }
    }

    /// The ids recorded under `entry`: every live session stored with the
    /// value, and possibly ids of sessions that are gone or changed their
    /// value since (the caller checks each).
    fn index_members(
        &self,
        entry: IndexEntry<'_>,
    ) -> impl Future<Output = Result<Vec<SessionId>, StoreError>> + Send {
        let _ = entry;
        async { Err(no_indexes()) }
    }

    /// The stored keys that have entries in this store: what a process that
    /// has not yet seen every schema needs to carry a session's entries over
    /// to its new id (`cycle_id`).
    fn index_keys(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        async { Err(no_indexes()) }
    }
}

/// The error of the index methods of a store that has none.
fn no_indexes() -> StoreError {
    StoreError::new(
        "this session store does not support indexed fields (`#[session(index)]`, `SessionStore::index_insert`)",
    )
}

/// How long a store's reap leaves the index entry of a session that is not
/// stored: the layer writes an entry just before the session's write, so a
/// younger entry may belong to a write under way. One minute: far longer
/// than the layer's default store timeout (5 s), which bounds that write.
pub const INDEX_GRACE: Duration = Duration::from_secs(60);

/// How long a session whose cookie has no max age lives after its last
/// access, in every store of this crate unless configured otherwise: one day
/// (connect-redis's default; session-file-store's is one hour, express's
/// `MemoryStore` has none). A store's `with_ttl` overrides it.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Milliseconds a record lives after its last access in a store with `ttl`:
/// its cookie's `original_max_age`, or `ttl` when that is absent or 0
/// (session-file-store's `originalMaxAge || ttl`).
#[must_use]
pub fn lifetime_ms(record: &Record, ttl: Duration) -> u64 {
    match record.cookie.original_max_age {
        Some(ms) if ms > 0 => ms,
        _ => crate::time::duration_ms(ttl),
    }
}

/// When `record` expires in a store with `ttl`, in milliseconds since the
/// epoch: [`lifetime_ms`] after its last access. `None` for a record with no
/// last access, which no stored session lacks.
#[must_use]
pub fn expires_at(record: &Record, ttl: Duration) -> Option<u64> {
    record
        .last_access
        .map(|last| last.saturating_add(lifetime_ms(record, ttl)))
}

/// Whether a session expiring at `expires_at` is still live at `now`: it
/// expires when `now` passes `expires_at`, as in session-file-store.
#[must_use]
pub fn is_live(expires_at: u64, now: u64) -> bool {
    now <= expires_at
}

/// Keeps a store's background reap going: starts, only inside a tokio
/// runtime and unless one already runs, the task that calls `reap` on the
/// store's `state` every `interval`.
///
/// `running(state)` says whether that task is alive. The task clears it when
/// it ends, however it ends: when the store is dropped (the task holds the
/// state weakly), and when its runtime is dropped and takes the task with it
/// (a `#[tokio::test]`, or a runtime used once at startup to fill the store),
/// so that the next write in a live runtime starts a new one.
pub(crate) fn spawn_reaper<T, F, Fut>(
    running: fn(&T) -> &AtomicBool,
    state: &Arc<T>,
    interval: Duration,
    reap: F,
) where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let flag = running(state);
    if flag.load(Ordering::Acquire) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if flag.swap(true, Ordering::AcqRel) {
        return;
    }
    let alive = ReaperAlive {
        state: Arc::downgrade(state),
        running,
    };
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(state) = alive.state.upgrade() else {
                break;
            };
            reap(state).await;
        }
    });
}

/// Owned by a reaper task: clears the store's `running` flag when the task is
/// dropped, whether it finished or its runtime shut down.
struct ReaperAlive<T> {
    state: Weak<T>,
    running: fn(&T) -> &AtomicBool,
}

impl<T> Drop for ReaperAlive<T> {
    fn drop(&mut self) {
        if let Some(state) = self.state.upgrade() {
            (self.running)(&state).store(false, Ordering::Release);
        }
    }
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe form of [`SessionStore`] the layer holds.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;
    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<Created, StoreError>>;
    fn update<'a>(
        &'a self,
        id: &'a SessionId,
        update: Update<'a>,
    ) -> BoxFuture<'a, Result<Updated, StoreError>>;
    fn touch<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<Updated, StoreError>>;
    fn destroy<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>>;
    fn destroy_under<'a>(
        &'a self,
        id: &'a SessionId,
        lock: &'a SessionLock,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn ttl(&self) -> Duration;
    fn supports_locking(&self) -> bool;
    fn lock<'a>(
        &'a self,
        id: &'a SessionId,
        wait: Duration,
    ) -> BoxFuture<'a, Result<Option<SessionLock>, StoreError>>;
    fn supports_indexes(&self) -> bool;
    fn index_insert<'a>(
        &'a self,
        entry: IndexEntry<'a>,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn index_remove<'a>(
        &'a self,
        entry: IndexEntry<'a>,
        ids: &'a [SessionId],
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn index_members<'a>(
        &'a self,
        entry: IndexEntry<'a>,
    ) -> BoxFuture<'a, Result<Vec<SessionId>, StoreError>>;
    fn index_keys(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
    /// The store's Rust type, for messages.
    fn type_name(&self) -> &'static str;
}

impl<S: SessionStore> DynStore for S {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(SessionStore::load(self, id))
    }
    fn create<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<Created, StoreError>> {
        Box::pin(SessionStore::create(self, id, record))
    }
    fn update<'a>(
        &'a self,
        id: &'a SessionId,
        update: Update<'a>,
    ) -> BoxFuture<'a, Result<Updated, StoreError>> {
        Box::pin(SessionStore::update(self, id, update))
    }
    fn touch<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<Updated, StoreError>> {
        Box::pin(SessionStore::touch(self, id, record))
    }
    fn destroy<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SessionStore::destroy(self, id))
    }
    fn destroy_under<'a>(
        &'a self,
        id: &'a SessionId,
        lock: &'a SessionLock,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SessionStore::destroy_under(self, id, lock))
    }
    fn ttl(&self) -> Duration {
        SessionStore::ttl(self)
    }
    fn supports_locking(&self) -> bool {
        SessionStore::supports_locking(self)
    }
    fn lock<'a>(
        &'a self,
        id: &'a SessionId,
        wait: Duration,
    ) -> BoxFuture<'a, Result<Option<SessionLock>, StoreError>> {
        Box::pin(SessionStore::lock(self, id, wait))
    }
    fn supports_indexes(&self) -> bool {
        SessionStore::supports_indexes(self)
    }
    fn index_insert<'a>(
        &'a self,
        entry: IndexEntry<'a>,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SessionStore::index_insert(self, entry, id))
    }
    fn index_remove<'a>(
        &'a self,
        entry: IndexEntry<'a>,
        ids: &'a [SessionId],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SessionStore::index_remove(self, entry, ids))
    }
    fn index_members<'a>(
        &'a self,
        entry: IndexEntry<'a>,
    ) -> BoxFuture<'a, Result<Vec<SessionId>, StoreError>> {
        Box::pin(SessionStore::index_members(self, entry))
    }
    fn index_keys(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(SessionStore::index_keys(self))
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<S>()
    }
}
