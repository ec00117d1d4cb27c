//! How the request's session talks to the store: what a load accepts, and
//! which kind of write (create or update) a save is.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::RequestSession;
use serde_json::value::RawValue;

use crate::error::{SessionError, StoreError};
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{
    BoxFuture, Created, IndexEntry, SessionLock, Update, Updated, expires_at, is_live,
};
use crate::time::{duration_ms, now_ms};

/// Where a write left the session.
pub(super) enum Written {
    /// Stored under this id (a new one if the create's first id was taken).
    Stored(SessionId),
    /// The session is no longer stored; nothing was written.
    Gone,
}

/// How many ids a create draws before it gives up (two 192-bit random ids
/// colliding means the store or the generator is broken).
const CREATE_ATTEMPTS: usize = 3;

impl RequestSession {
    /// Runs one store call with the layer's bounds: a store that takes longer
    /// than the store timeout, or panics, fails the call instead of hanging
    /// the request or unwinding through the service.
    async fn bounded<T>(
        &self,
        call: &'static str,
        future: BoxFuture<'_, Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.bounded_by(call, self.config.store_timeout, future)
            .await
    }

    /// [`bounded`](Self::bounded), with `limit` in place of the store timeout.
    async fn bounded_by<T>(
        &self,
        call: &'static str,
        limit: Option<Duration>,
        future: BoxFuture<'_, Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        bounded_call(call, limit, future).await
    }

    /// `hold` if it is the lock on `id`: the lock is the id the cookie named;
    /// under a new id (`cycle_id`, `regenerate`), which no other request
    /// knows, a write is unlocked.
    fn lock_on<'a>(
        &self,
        id: &SessionId,
        hold: Option<&'a SessionLock>,
    ) -> Option<&'a SessionLock> {
        hold.filter(|_| self.cookie_id.as_ref() == Some(id))
    }

    /// Takes the session `id` for this request, waiting at most `wait` for
    /// its holder; `None` if it is still held then. The store may take the
    /// store timeout beyond `wait` to answer.
    pub(super) async fn take_lock(
        &self,
        id: &SessionId,
        wait: Duration,
    ) -> Result<Option<SessionLock>, StoreError> {
        let limit = self
            .config
            .store_timeout
            .map(|timeout| timeout.saturating_add(wait));
        self.bounded_by("lock", limit, self.store.lock(id, wait))
            .await
    }

    /// The stored, live session under `id`, and whether its creation time was
    /// stamped just now (so that it must be written back).
    pub(super) async fn fetch(&self, id: &SessionId) -> Result<Option<(Record, bool)>, StoreError> {
        let Some(mut record) = self.bounded("load", self.store.load(id)).await? else {
            return Ok(None);
        };
        let now = now_ms();
        // Belt and braces: a store that returns an expired record is overruled.
        if let Some(expires_at) = expires_at(&record, self.store.ttl())
            && !is_live(expires_at, now)
        {
            return Ok(None);
        }
        let mut stamped = false;
        if let Some(timeout) = self.config.absolute_timeout {
            match record.created {
                Some(created) if created.saturating_add(duration_ms(timeout)) <= now => {
                    tracing::debug!("session passed its absolute timeout; removing it");
                    if let Err(error) = self.bounded("destroy", self.store.destroy(id)).await {
                        tracing::warn!(%error, "could not remove a session past its absolute timeout");
                    }
                    return Ok(None);
                }
                Some(_) => {}
                // Created before the timeout was configured: its life starts now.
                None => {
                    record.created = Some(now);
                    stamped = true;
                }
            }
        }
        Ok(Some((record, stamped)))
    }

    /// Stores the session: an update if the store holds it under `id`
    /// (`persisted`), else a create. A create that finds its id taken draws a
    /// new one; a custom `genid` that repeats an id is an error instead.
    pub(super) async fn write(
        &self,
        mut id: SessionId,
        persisted: bool,
        record: &Record,
        changed: &[&str],
        taken: &[(&'static str, Box<RawValue>)],
        hold: Option<&SessionLock>,
    ) -> Result<Written, SessionError> {
        let size = record.fields_len();
        if size > self.config.max_record_size {
            return Err(SessionError::RecordTooLarge {
                size,
                limit: self.config.max_record_size,
            });
        }
        let started = tokio::time::Instant::now();
        if persisted {
            self.index_before_write(&id, record, Some(changed)).await?;
            let hold = self.lock_on(&id, hold);
            let taken: Vec<(&str, &RawValue)> =
                taken.iter().map(|(key, raw)| (*key, &**raw)).collect();
            let update = Update::new(record, changed).under(hold).taking(&taken);
            return Ok(
                match self
                    .bounded("update", self.store.update(&id, update))
                    .await?
                {
                    Updated::Stored => {
                        self.index_after_slow_write(started, &id, record, Some(changed))
                            .await?;
                        Written::Stored(id)
                    }
                    Updated::Gone => {
                        tracing::debug!(
                            "the session was destroyed or expired while this request used it; its changes are dropped"
                        );
                        Written::Gone
                    }
                },
            );
        }
        for _ in 0..CREATE_ATTEMPTS {
            self.index_before_write(&id, record, None).await?;
            match self
                .bounded("create", self.store.create(&id, record))
                .await?
            {
                Created::Stored => {
                    self.index_after_slow_write(started, &id, record, None)
                        .await?;
                    return Ok(Written::Stored(id));
                }
                Created::IdTaken if self.config.genid.is_some() => break,
                Created::IdTaken => {
                    tracing::warn!("a freshly drawn session id is already stored; drawing another");
                    id = SessionId::generate();
                }
            }
        }
        Err(SessionError::IdTaken)
    }

    /// Extends the stored session's life.
    pub(super) async fn touch_stored(
        &self,
        id: SessionId,
        record: &Record,
    ) -> Result<Written, SessionError> {
        Ok(
            match self.bounded("touch", self.store.touch(&id, record)).await? {
                Updated::Stored => Written::Stored(id),
                Updated::Gone => Written::Gone,
            },
        )
    }

    /// Removes the stored session under each of `ids`; the one the cookie
    /// named under `hold`, the lock this request holds on it (a holder whose
    /// lease lapsed cannot remove what a later holder saved). Then the index
    /// entries of the values `record` holds, which name sessions now gone.
    pub(super) async fn remove(
        &self,
        ids: &[SessionId],
        hold: Option<&SessionLock>,
        record: &Record,
    ) -> Result<(), StoreError> {
        for id in ids {
            let removal = match self.lock_on(id, hold) {
                Some(lock) => self.store.destroy_under(id, lock),
                None => self.store.destroy(id),
            };
            self.bounded("destroy", removal).await?;
        }
        if ids.is_empty() {
            return Ok(());
        }
        for (key, value) in self.config.indexed.values(record, |_| true) {
            let removal = self.store.index_remove(IndexEntry::new(&key, &value), ids);
            // Best effort: the store's reap removes the entries of sessions
            // that are gone, and readers skip them until then.
            if let Err(error) = self.bounded("index_remove", removal).await {
                tracing::warn!(%error, "could not remove the index entries of a destroyed session");
            }
        }
        Ok(())
    }

    /// Adds the keys the store has index entries for to those the layer
    /// knows: a session keeping its data under a new id (`cycle_id`) is then
    /// indexed under every value it holds, whichever schemas this process
    /// has seen.
    pub(super) async fn learn_index_keys(&self) -> Result<(), StoreError> {
        if !self.store.supports_indexes() {
            return Ok(());
        }
        match self.bounded("index_keys", self.store.index_keys()).await {
            Ok(keys) => {
                self.config.indexed.learn(&keys);
                Ok(())
            }
            // A layer with indexed fields cannot carry a session's entries
            // without knowing them; one without can go on.
            Err(error) if self.config.indexed.any() => Err(error),
            Err(error) => {
                tracing::warn!(%error, "could not read the store's indexed keys; cycle_id goes on");
                Ok(())
            }
        }
    }

    /// Writes the index entries of a write again when the write took half
    /// [`INDEX_GRACE`](crate::store::INDEX_GRACE) or more since they were
    /// first written (a store timeout that long, or none): a reap may have
    /// judged them, session not yet stored, as left over.
    async fn index_after_slow_write(
        &self,
        started: tokio::time::Instant,
        id: &SessionId,
        record: &Record,
        changed: Option<&[&str]>,
    ) -> Result<(), StoreError> {
        if started.elapsed() < crate::store::INDEX_GRACE / 2 {
            return Ok(());
        }
        self.index_before_write(id, record, changed).await
    }

    /// Records the session `id` under the indexed values of `record` that the
    /// write about to happen stores: every one for a session not yet stored
    /// under `id` (`changed` is `None`), else those of the changed fields.
    /// Before the write, so that no stored session is ever missing from the
    /// entries of a value it holds.
    async fn index_before_write(
        &self,
        id: &SessionId,
        record: &Record,
        changed: Option<&[&str]>,
    ) -> Result<(), StoreError> {
        let entries = self.config.indexed.values(record, |key| {
            changed.is_none_or(|changed| changed.contains(&key))
        });
        for (key, value) in entries {
            self.bounded(
                "index_insert",
                self.store.index_insert(IndexEntry::new(&key, &value), id),
            )
            .await?;
        }
        Ok(())
    }
}

/// Runs one store call bounded by `limit`: a store that takes longer, or
/// panics, fails the call instead of hanging its caller or unwinding
/// through it.
pub(crate) async fn bounded_call<T>(
    call: &'static str,
    limit: Option<Duration>,
    future: BoxFuture<'_, Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let guarded = CatchUnwind(future);
    let outcome = match limit {
        Some(limit) => match tokio::time::timeout(limit, guarded).await {
            Ok(outcome) => outcome,
            Err(_) => {
                return Err(StoreError::new(format!(
                    "the session store did not answer `{call}` within {limit:?}"
                )));
            }
        },
        None => guarded.await,
    };
    outcome.unwrap_or_else(|panic| {
        Err(StoreError::new(format!(
            "the session store panicked in `{call}`: {panic}"
        )))
    })
}

/// A boxed future whose panic becomes an error value: the panic's message.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                Poll::Ready(Err(message))
            }
        }
    }
}
