//! `CountingStore`: a `MemoryStore` that counts what it is asked to do, and
//! can be told to fail or to be slow.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_runtime::store::{Created, SessionStore, Update, Updated};
use session_runtime::{MemoryStore, Record, SessionId, StoreError};

/// What a store was asked to do.
#[derive(Default, Debug)]
pub struct Calls {
    pub loads: AtomicUsize,
    /// Creates and updates.
    pub saves: AtomicUsize,
    pub creates: AtomicUsize,
    pub updates: AtomicUsize,
    pub touches: AtomicUsize,
    pub destroys: AtomicUsize,
    /// The fields each save wrote: every field of a create, the `changed`
    /// fields of an update.
    pub changed: Mutex<Vec<Vec<String>>>,
    /// The flash fields each update removes (`Update::taken`).
    pub taken: Mutex<Vec<Vec<String>>>,
}

impl Calls {
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
    pub fn saves(&self) -> usize {
        self.saves.load(Ordering::SeqCst)
    }
    pub fn creates(&self) -> usize {
        self.creates.load(Ordering::SeqCst)
    }
    pub fn updates(&self) -> usize {
        self.updates.load(Ordering::SeqCst)
    }
    pub fn touches(&self) -> usize {
        self.touches.load(Ordering::SeqCst)
    }
    pub fn destroys(&self) -> usize {
        self.destroys.load(Ordering::SeqCst)
    }
    /// Store writes of any kind.
    pub fn writes(&self) -> usize {
        self.saves() + self.touches() + self.destroys()
    }
}

/// A memory store that counts calls and can be told to fail or to be slow.
#[derive(Clone, Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    pub calls: Arc<Calls>,
    pub fail_loads: Arc<AtomicBool>,
    pub fail_saves: Arc<AtomicBool>,
    pub fail_touches: Arc<AtomicBool>,
    pub fail_destroys: Arc<AtomicBool>,
    /// Delay before each save completes.
    pub save_delay: Option<Duration>,
    /// Set when the last save has completed.
    pub saved: Arc<AtomicBool>,
}

impl CountingStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a create or update writing `fields`, then waits and fails as told.
    async fn before_save(&self, fields: Vec<String>) -> Result<(), StoreError> {
        self.calls.saves.fetch_add(1, Ordering::SeqCst);
        self.calls.changed.lock().unwrap().push(fields);
        if let Some(delay) = self.save_delay {
            tokio::time::sleep(delay).await;
        }
        if self.fail_saves.load(Ordering::SeqCst) {
            return Err(StoreError::new("injected save failure"));
        }
        Ok(())
    }

    /// The stored record under `id`, read directly.
    pub async fn record(&self, id: &str) -> Option<Record> {
        self.inner
            .load(&SessionId::parse(id).unwrap())
            .await
            .unwrap()
    }
}

impl SessionStore for CountingStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.calls.loads.fetch_add(1, Ordering::SeqCst);
        if self.fail_loads.load(Ordering::SeqCst) {
            return Err(StoreError::new("injected load failure"));
        }
        self.inner.load(id).await
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        self.calls.creates.fetch_add(1, Ordering::SeqCst);
        let fields = record
            .fields
            .iter()
            .map(|(key, _)| key.to_owned())
            .collect();
        self.before_save(fields).await?;
        let result = self.inner.create(id, record).await;
        self.saved.store(true, Ordering::SeqCst);
        result
    }

    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        self.calls.updates.fetch_add(1, Ordering::SeqCst);
        let taken = update
            .taken
            .iter()
            .map(|(key, _)| (*key).to_owned())
            .collect();
        self.calls.taken.lock().unwrap().push(taken);
        let fields = update.changed.iter().map(|s| (*s).to_owned()).collect();
        self.before_save(fields).await?;
        let result = self.inner.update(id, update).await;
        self.saved.store(true, Ordering::SeqCst);
        result
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<Updated, StoreError> {
        self.calls.touches.fetch_add(1, Ordering::SeqCst);
        if self.fail_touches.load(Ordering::SeqCst) {
            return Err(StoreError::new("injected touch failure"));
        }
        self.inner.touch(id, record).await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.calls.destroys.fetch_add(1, Ordering::SeqCst);
        if self.fail_destroys.load(Ordering::SeqCst) {
            return Err(StoreError::new("injected destroy failure"));
        }
        self.inner.destroy(id).await
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl()
    }
}
