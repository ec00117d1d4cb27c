//! One request's session, shared by the layer and every `Session<T>`
//! extracted during the request.
//!
//! The path of a request: the layer verifies the cookie and puts a
//! [`RequestSession`] in the request's extensions (`layer.rs`); the first
//! `Session<T>` loads it from the store (`load`, [`persist`]); each view
//! commits its changed fields when it drops (`commit`); when the handler has
//! answered, [`respond`] asks [`decide`] what to write and which cookie to
//! send, does the I/O, and only then lets the response head leave.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::value::RawValue;

mod active;
pub(crate) mod decide;
mod persist;
mod respond;

pub(crate) use active::{Active, ViewConflict};

use self::decide::End;
use self::persist::Written;
pub(crate) use self::persist::bounded_call;
use crate::config::{Config, OnStoreError};
use crate::error::{EncodeError, InvalidId, SessionError, StoreError};
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{DynStore, SessionLock};
use crate::time::now_ms;

/// Put in the request extensions by the layer; `Session<T>` finds it there.
#[derive(Clone)]
pub(crate) struct SessionHandle(pub(crate) Arc<RequestSession>);

/// Put in the extensions of a request that a session layer let through
/// without a session, so that `Session<T>` can say why it has none.
#[derive(Clone)]
pub(crate) enum OutOfScope {
    /// The path is outside the cookie's `Path` (the layer's config).
    OutsideCookiePath(Arc<Config>),
    /// The request target is not a path: `OPTIONS *`, or an authority (`CONNECT`).
    NotAPath,
}

pub(crate) struct RequestSession {
    pub(crate) config: Arc<Config>,
    store: Arc<dyn DynStore>,
    /// The id of a validly signed cookie.
    cookie_id: Option<SessionId>,
    /// Whether the request carried a cookie with the session's name, valid or not.
    had_cookie: bool,
    /// Whether the request came over HTTPS (directly, or per a trusted proxy).
    secure_request: bool,
    phase: Mutex<Phase>,
    /// Held while a view loads the session, so that two views loading at
    /// once read the store (and take an exclusive session's lock) once.
    loading: tokio::sync::Mutex<()>,
    /// The exclusive session's lock, from the load until the end-of-request
    /// save (shared with a `save()` in progress).
    hold: Mutex<Option<Arc<SessionLock>>>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "the phase lives in the request's one shared allocation; boxing `Active` would add another"
)]
enum Phase {
    /// No handler has asked for the session: the store has not been read.
    Unloaded,
    Active(Active),
    /// The response has left; later changes cannot be saved.
    Finalized,
}

/// What the session needs from the request: given to `RequestSession::new`.
pub(crate) struct Incoming {
    pub(crate) cookie_id: Option<SessionId>,
    pub(crate) had_cookie: bool,
    pub(crate) secure_request: bool,
}

/// Why a session could not be loaded for a handler.
pub(crate) enum LoadError {
    Store(StoreError),
    InvalidId(InvalidId),
    /// Exclusive sessions: another request held the session for the whole wait.
    Busy,
}

impl RequestSession {
    pub(crate) fn new(config: Arc<Config>, store: Arc<dyn DynStore>, incoming: Incoming) -> Self {
        RequestSession {
            config,
            store,
            cookie_id: incoming.cookie_id,
            had_cookie: incoming.had_cookie,
            secure_request: incoming.secure_request,
            phase: Mutex::new(Phase::Unloaded),
            loading: tokio::sync::Mutex::new(()),
            hold: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // State changes under this lock are single assignments; a panicking
        // handler cannot leave it half-updated.
        crate::sync::lock(&self.phase)
    }

    /// A brand-new session's record, with the layer's cookie settings for this request.
    fn fresh_record(&self) -> Record {
        self.config.new_record(now_ms(), self.secure_request)
    }

    fn new_active(&self) -> Result<Active, InvalidId> {
        let id = match self.config.genid {
            Some(_) => Some(self.config.generate_id()?),
            None => None,
        };
        Ok(Active::new(id, self.fresh_record()))
    }

    /// Reads the session from the store the first time a handler asks for
    /// it, after taking it for this request if sessions are exclusive.
    pub(crate) async fn load(&self) -> Result<(), LoadError> {
        let _loading = self.loading.lock().await;
        if !matches!(*self.lock(), Phase::Unloaded) {
            return Ok(());
        }
        let stored = match &self.cookie_id {
            Some(id) => match self.take_and_fetch(id).await {
                Ok(stored) => stored,
                Err(LoadError::Store(error))
                    if self.config.on_store_error == OnStoreError::ServeWithoutSession =>
                {
                    tracing::error!(%error, "session store failed to load a session; serving the request without it");
                    let mut detached = Active::new(None, self.fresh_record());
                    detached.ended = Some(End::Detached);
                    self.install(detached);
                    return Ok(());
                }
                Err(error) => return Err(error),
            },
            None => None,
        };
        let active = match (stored, &self.cookie_id) {
            (Some((record, stamped)), Some(id)) => {
                let mut active = Active::loaded(id.clone(), record);
                if stamped {
                    active.marks.stamped();
                }
                active
            }
            _ => {
                if self.cookie_id.is_some() {
                    tracing::debug!("session cookie names no stored session; starting a new one");
                }
                self.new_active().map_err(LoadError::InvalidId)?
            }
        };
        self.install(active);
        Ok(())
    }

    /// Takes the session `id` for this request when sessions are exclusive,
    /// then reads it. The hold is kept only if a session was found: a new
    /// session gets a new id that no other request knows yet.
    async fn take_and_fetch(&self, id: &SessionId) -> Result<Option<(Record, bool)>, LoadError> {
        let hold = if self.config.exclusive {
            let wait = self.config.exclusive_wait;
            match self.take_lock(id, wait).await.map_err(LoadError::Store)? {
                Some(hold) => Some(hold),
                None => return Err(LoadError::Busy),
            }
        } else {
            None
        };
        let stored = self.fetch(id).await.map_err(LoadError::Store)?;
        if stored.is_some()
            && let Some(hold) = hold
        {
            *crate::sync::lock(&self.hold) = Some(Arc::new(hold));
        }
        Ok(stored)
    }

    /// The exclusive session's lock, for a write made under it.
    fn held(&self) -> Option<Arc<SessionLock>> {
        crate::sync::lock(&self.hold).clone()
    }

    /// Gives the exclusive session back: the end of the request.
    pub(crate) fn release(&self) -> Option<Arc<SessionLock>> {
        crate::sync::lock(&self.hold).take()
    }

    /// Makes `active` the request's session, unless a concurrent load of
    /// another view got there first.
    fn install(&self, active: Active) {
        let mut phase = self.lock();
        if matches!(*phase, Phase::Unloaded) {
            *phase = Phase::Active(active);
        }
    }

    /// Runs `f` on the loaded session; `None` once the response has left.
    pub(crate) fn with_active<R>(&self, f: impl FnOnce(&mut Active) -> R) -> Option<R> {
        match &mut *self.lock() {
            Phase::Active(active) => Some(f(active)),
            Phase::Unloaded | Phase::Finalized => None,
        }
    }

    fn with_live<R>(
        &self,
        f: impl FnOnce(&mut Active) -> Result<R, SessionError>,
    ) -> Result<R, SessionError> {
        self.with_active(|active| {
            active.ensure_live()?;
            f(active)
        })
        .unwrap_or(Err(SessionError::Ended))
    }

    /// Takes a typed view's changed fields into the record.
    pub(crate) fn commit(&self, changes: Result<Vec<(&'static str, Box<RawValue>)>, EncodeError>) {
        let committed = self.with_active(|active| {
            if active.ended.is_some() {
                return;
            }
            match changes {
                Ok(changes) => active.apply(changes),
                Err(failure) => active.failure = Some(failure),
            }
        });
        if committed.is_none() {
            tracing::warn!(
                "a `Session` was modified after its response was sent (was it moved into a spawned task?); \
                 the change is not saved"
            );
        }
    }

    pub(crate) fn destroy(&self) {
        self.with_active(|active| active.ended = Some(End::Destroyed));
    }

    pub(crate) fn unset(&self) {
        self.with_active(|active| active.ended = Some(End::Unset));
    }

    /// The layer's settings for a new session's cookie, in place of the session's.
    pub(crate) fn reset_cookie(&self) {
        let fresh = self.fresh_record().cookie;
        self.with_active(|active| {
            active.record.cookie = fresh;
            active.cookie_changed();
        });
    }

    pub(crate) fn request_touch(&self) {
        self.with_active(|active| active.marks.touch_requested = true);
    }

    /// A new id for the session: `keep_data` keeps its fields (login), else it
    /// starts over as a new session (express's `regenerate`). The old entry is
    /// removed now, as express does; a stored session keeping its data is
    /// first stored under the new id (see `move_to`).
    pub(crate) async fn renew(&self, keep_data: bool) -> Result<(), SessionError> {
        let (stale, record) =
            self.with_live(|active| Ok((active.stored_ids(), active.record.clone())))?;
        let new_id = self.config.generate_id()?;
        let hold = self.held();
        if keep_data && !stale.is_empty() {
            self.learn_index_keys().await?;
            if self.still_stored(&stale).await? {
                return self.move_to(new_id, &stale, hold.as_deref(), &record).await;
            }
            // Ended by another request (a logout, "log out everywhere")
            // since this one loaded it: its data is not carried to a new
            // id, which would undo that logout. The handler goes on with a
            // new, empty session, as after `regenerate`.
            tracing::debug!(
                "cycle_id: the session was ended by another request; starting a new one"
            );
        }
        self.remove(&stale, hold.as_deref(), &record).await?;
        // Its data starts over unless it is a new session not stored yet.
        let fresh = !keep_data || !stale.is_empty();
        self.with_live(|active| {
            if fresh {
                active.record = self.fresh_record();
                active.changed.clear();
                active.consumed.clear();
            }
            active.id = Some(new_id);
            active.persisted = false;
            active.marks.id_changed();
            Ok(())
        })
    }

    /// Whether the session is still stored under each of `ids`.
    async fn still_stored(&self, ids: &[SessionId]) -> Result<bool, StoreError> {
        for id in ids {
            if self.fetch(id).await?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `cycle_id` of a stored session: the session is stored under `new_id`
    /// at once (with its index entries), then removed from `stale`. Written
    /// now rather than at the end of the request, so that a "log out
    /// everywhere" running meanwhile finds the new id stored and ends it; and
    /// in that order, so that a failure leaves the session where it was.
    async fn move_to(
        &self,
        new_id: SessionId,
        stale: &[SessionId],
        hold: Option<&SessionLock>,
        record: &Record,
    ) -> Result<(), SessionError> {
        self.with_live(|active| {
            active.id = Some(new_id);
            active.persisted = false;
            active.marks.id_changed();
            Ok(())
        })?;
        self.save_now(Vec::new()).await?;
        if let Err(error) = self.remove(stale, hold, record).await {
            // The old id could not be removed (an exclusive session whose
            // lease lapsed while the handler ran, so that another request
            // holds it now): the copy just stored under the new id goes too,
            // and the session ends here, with no cookie for it.
            let copy = self.with_active(|active| {
                active.ended = Some(End::Gone);
                active.id.clone()
            });
            if let Some(Some(copy)) = copy {
                let removal = self.remove(std::slice::from_ref(&copy), None, record).await;
                if let Err(error) = removal {
                    tracing::error!(%error, "cycle_id: could not remove the new id's copy after the old id's removal failed");
                }
            }
            return Err(error.into());
        }
        Ok(())
    }

    /// Gives a session about to be stored under a new id its creation time,
    /// if it has none and the layer has indexed fields: the sessions of a
    /// user are listed with it ([`SessionInfo::created`](crate::SessionInfo)).
    /// Without indexes (and without `absolute_timeout`, which always sets
    /// it), sessions are stored as express-session stores them, without it.
    fn stamp_created(&self, record: &mut Record, now: u64) {
        if record.created.is_none() && self.config.indexed.any() {
            record.created = Some(now);
        }
    }

    /// The layer's store.
    pub(crate) fn store(&self) -> Arc<dyn DynStore> {
        Arc::clone(&self.store)
    }

    /// Whether the layer's store keeps indexes.
    pub(crate) fn store_supports_indexes(&self) -> bool {
        self.store.supports_indexes()
    }

    /// The store's type, for messages.
    pub(crate) fn store_type(&self) -> &'static str {
        self.store.type_name()
    }

    /// The stored record under the current id, replacing the request's copy.
    pub(crate) async fn reload(&self) -> Result<(), SessionError> {
        let id = self.with_live(|active| Ok(active.id.clone()))?;
        let Some(id) = id else {
            return Err(SessionError::NotFound);
        };
        let (record, _) = self.fetch(&id).await?.ok_or(SessionError::NotFound)?;
        self.with_live(|active| {
            active.record = record;
            active.changed.clear();
            active.consumed.clear();
            active.marks.meta_unsaved = false;
            if active.loaded_id.is_none() {
                active.loaded_id = Some(id);
            }
            active.persisted = true;
            Ok(())
        })
    }

    /// Writes the session now, with `changes` from the calling view.
    pub(crate) async fn save_now(
        &self,
        changes: Vec<(&'static str, Box<RawValue>)>,
    ) -> Result<(), SessionError> {
        let (id, persisted, record, changed, taken) = self.with_live(|active| {
            if let Some(failure) = &active.failure {
                // It stays recorded: the end of the request saves nothing either.
                return Err(SessionError::Encode(failure.duplicate()));
            }
            active.apply(changes);
            let now = now_ms();
            active.record.cookie.touch(now);
            active.record.last_access = Some(now);
            if !active.persisted {
                self.stamp_created(&mut active.record, now);
            }
            Ok((
                active.id().clone(),
                active.persisted,
                active.record.clone(),
                active.changed.clone(),
                active.taken(),
            ))
        })?;
        let hold = self.held();
        let written = self
            .write(id, persisted, &record, &changed, &taken, hold.as_deref())
            .await?;
        self.with_live(|active| match written {
            Written::Stored(id) => {
                active.id = Some(id);
                active.persisted = true;
                active.changed.retain(|key| !changed.contains(key));
                active
                    .consumed
                    .retain(|(key, _)| !taken.iter().any(|(done, _)| done == key));
                active.marks.written();
                Ok(())
            }
            Written::Gone => {
                // Destroyed by another request: nothing more is saved or sent.
                active.ended = Some(End::Gone);
                Err(SessionError::Ended)
            }
        })
    }
}
