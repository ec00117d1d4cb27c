//! Where sessions live between requests.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::id::SessionId;
use crate::record::Record;

pub mod file;
pub mod memory;

/// A store failure. The layer answers the request with a plain `500` and logs
/// the error with `tracing`; it never drops a write silently.
#[derive(Debug)]
pub struct StoreError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            source: None,
        }
    }

    /// A failure caused by `source`, described by `message`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A session store.
///
/// A session expires `original_max_age` (from its cookie settings) after its
/// `last_access`, or [`ttl`](SessionStore::ttl) after it when the cookie is a
/// browser-session cookie. A store must never return an expired session from
/// [`load`](SessionStore::load), whether or not it has removed it yet.
pub trait SessionStore: Send + Sync + 'static {
    /// The session stored under `id`, or `None` when there is none or it has expired.
    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Stores `record` under `id`. `changed` names the fields the request
    /// modified: a store may merge just those into what it holds, so that
    /// concurrent requests changing different fields keep each other's writes.
    /// It is empty for a session saved without changes (`resave`, new sessions).
    fn save(
        &self,
        id: &SessionId,
        record: &Record,
        changed: &[&str],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Extends the life of an unmodified session: `record.last_access` and
    /// `record.cookie` are new, its fields are not. The default saves it whole.
    fn touch(
        &self,
        id: &SessionId,
        record: &Record,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.save(id, record, &[])
    }

    /// Removes the session stored under `id`; removing a missing session is not an error.
    fn destroy(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How long a session whose cookie has no max age lives after its last access.
    fn ttl(&self) -> Duration;
}

/// Milliseconds a record lives after its last access in a store with `ttl`.
pub(crate) fn lifetime_ms(record: &Record, ttl: Duration) -> u64 {
    record
        .cookie
        .original_max_age
        .unwrap_or_else(|| crate::time::duration_ms(ttl))
}

/// When `record` expires in a store with `ttl`, in milliseconds since the epoch.
#[must_use]
pub fn expires_at(record: &Record, ttl: Duration) -> u64 {
    record
        .last_access
        .unwrap_or(0)
        .saturating_add(lifetime_ms(record, ttl))
}

/// Starts, once and only inside a tokio runtime, the task that calls `reap` on
/// a store's state every `interval`. The task holds the state weakly, so it
/// ends when the store is dropped.
pub(crate) fn spawn_reaper<T, F, Fut>(
    started: &AtomicBool,
    state: &Arc<T>,
    interval: Duration,
    reap: F,
) where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    if started.load(Ordering::Relaxed) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if started.swap(true, Ordering::AcqRel) {
        return;
    }
    let weak = Arc::downgrade(state);
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(state) = weak.upgrade() else { break };
            reap(state).await;
        }
    });
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe form of [`SessionStore`] the layer holds.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
        changed: &'a [&'a str],
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn touch<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn destroy<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>>;
    fn ttl(&self) -> Duration;
}

impl<S: SessionStore> DynStore for S {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(SessionStore::load(self, id))
    }
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
        changed: &'a [&'a str],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SessionStore::save(self, id, record, changed))
    }
    fn touch<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SessionStore::touch(self, id, record))
    }
    fn destroy<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SessionStore::destroy(self, id))
    }
    fn ttl(&self) -> Duration {
        SessionStore::ttl(self)
    }
}
