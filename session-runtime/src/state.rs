//! One request's view of its session, shared by the layer and every `Session<T>`
//! extracted during the request.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderValue, Response, StatusCode};
use serde_json::value::RawValue;

use crate::config::{Config, InvalidId, Unset};
use crate::cookie;
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{
    Created, DynStore, StoreError, Update, Updated, expires_at, is_live, lifetime_ms,
};
use crate::time::{duration_ms, now_ms};

/// The plain body of a `500` caused by the session store.
pub(crate) const STORE_ERROR_BODY: &str = "session store error";

/// Put in the request extensions by the layer; `Session<T>` finds it there.
#[derive(Clone)]
pub(crate) struct SessionHandle(pub(crate) Arc<RequestSession>);

/// Why a session operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed; the error says how.
    Store(StoreError),
    /// [`reload`](crate::Session::reload) found no stored session (never saved, expired or destroyed).
    NotFound,
    /// The layer's `genid` function returned an id that is not 1 to 128 characters of `[A-Za-z0-9_-]`.
    InvalidId(String),
    /// The layer's `genid` function returned the id of a session that is
    /// already stored; the new session was not saved under it.
    IdTaken,
    /// The session was destroyed or unset earlier in this request, or its response has left.
    Ended,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Store(error) => write!(f, "session store error: {error}"),
            SessionError::NotFound => f.write_str("failed to load session: it is not in the store"),
            SessionError::InvalidId(message) => f.write_str(message),
            SessionError::IdTaken => f.write_str(
                "session id generator (`genid`) returned the id of a stored session; ids must be unique",
            ),
            SessionError::Ended => {
                f.write_str("the session was destroyed or unset, or its response has been sent")
            }
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::Store(error) => Some(error),
            _ => None,
        }
    }
}

impl From<StoreError> for SessionError {
    fn from(error: StoreError) -> Self {
        SessionError::Store(error)
    }
}

impl From<InvalidId> for SessionError {
    fn from(error: InvalidId) -> Self {
        SessionError::InvalidId(error.to_string())
    }
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
}

enum Phase {
    /// No handler has asked for the session: the store has not been read.
    Unloaded,
    Active(Box<Active>),
    /// The response has left; later changes cannot be saved.
    Finalized,
}

/// How the session ended before the end of the request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Destroyed,
    Unset,
    /// Another request destroyed it (or it expired) while this one used it.
    Gone,
}

/// Where a write left the session.
enum Written {
    /// Stored under this id (a new one if the create's first id was taken).
    Stored(SessionId),
    /// The session is no longer stored; nothing was written.
    Gone,
}

/// How many ids a create draws before it gives up (a collision of two
/// 192-bit random ids means the store or the generator is broken).
const CREATE_ATTEMPTS: usize = 3;

pub(crate) struct Active {
    /// `None` for a new session until something needs its id (a save, a cookie,
    /// `id()`); always set with a custom `genid`, so that its errors surface early.
    id: Option<SessionId>,
    /// The id the session was loaded under; `None` for a new session.
    loaded_id: Option<SessionId>,
    pub(crate) record: Record,
    /// Fields changed since the session was loaded or last saved.
    changed: Vec<&'static str>,
    /// Whether the id or the cookie settings changed since the last save.
    meta_changed: bool,
    /// Whether anything changed during this request (express's `isModified`).
    modified: bool,
    /// Whether the cookie settings changed during this request.
    cookie_changed: bool,
    /// Whether `save()` wrote the session during this request.
    saved: bool,
    /// Whether the store holds the session under `id`: loaded under it, or
    /// created under it during this request. Decides create or update.
    persisted: bool,
    touch_requested: bool,
    ended: Option<End>,
    failure: Option<String>,
}

impl Active {
    fn new(id: Option<SessionId>, loaded_id: Option<SessionId>, record: Record) -> Self {
        let persisted = loaded_id.is_some();
        Active {
            id,
            loaded_id,
            record,
            changed: Vec::new(),
            meta_changed: false,
            modified: false,
            cookie_changed: false,
            saved: false,
            persisted,
            touch_requested: false,
            ended: None,
            failure: None,
        }
    }

    pub(crate) fn id(&mut self) -> &SessionId {
        self.id.get_or_insert_with(SessionId::generate)
    }

    /// express's `cookieId != req.sessionID`: a new session, or one given a new id.
    fn is_new(&self) -> bool {
        self.loaded_id.is_none() || self.loaded_id != self.id
    }

    fn apply(&mut self, changes: Vec<(&'static str, Box<RawValue>)>) {
        for (key, value) in changes {
            self.record.fields.set(key, value);
            if !self.changed.contains(&key) {
                self.changed.push(key);
            }
            self.modified = true;
        }
    }

    /// Whether the store lacks something this request changed.
    fn unsaved(&self) -> bool {
        !self.changed.is_empty() || self.meta_changed
    }

    /// A cookie-settings change: saved and re-sent at the end of the request.
    pub(crate) fn cookie_changed(&mut self) {
        self.cookie_changed = true;
        self.meta_changed = true;
        self.modified = true;
    }

    fn ensure_live(&self) -> Result<(), SessionError> {
        match self.ended {
            Some(_) => Err(SessionError::Ended),
            None => Ok(()),
        }
    }
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
        }
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // State changes under this lock are single assignments; a panicking
        // handler cannot leave it half-updated.
        self.phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stored, unexpired session under `id`, and whether its creation time
    /// was assigned just now (so that it must be stored).
    async fn fetch(&self, id: &SessionId) -> Result<Option<(Record, bool)>, StoreError> {
        let Some(mut record) = self.store.load(id).await? else {
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
                    if let Err(error) = self.store.destroy(id).await {
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

    fn new_active(&self) -> Result<Active, InvalidId> {
        let id = match self.config.genid {
            Some(_) => Some(self.config.generate_id()?),
            None => None,
        };
        Ok(Active::new(
            id,
            None,
            self.config.new_record(now_ms(), self.secure_request),
        ))
    }

    /// Reads the session from the store the first time a handler asks for it.
    pub(crate) async fn load(&self) -> Result<(), LoadError> {
        if !matches!(*self.lock(), Phase::Unloaded) {
            return Ok(());
        }
        let stored = match &self.cookie_id {
            Some(id) => self.fetch(id).await.map_err(LoadError::Store)?,
            None => None,
        };
        let active = match stored {
            Some((record, stamped)) => {
                let mut active =
                    Active::new(self.cookie_id.clone(), self.cookie_id.clone(), record);
                active.meta_changed = stamped;
                active
            }
            None => {
                if self.cookie_id.is_some() {
                    tracing::debug!("session cookie names no stored session; starting a new one");
                }
                self.new_active().map_err(LoadError::InvalidId)?
            }
        };
        let mut phase = self.lock();
        if matches!(*phase, Phase::Unloaded) {
            *phase = Phase::Active(Box::new(active));
        }
        Ok(())
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
    pub(crate) fn commit(&self, changes: Result<Vec<(&'static str, Box<RawValue>)>, String>) {
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

    pub(crate) fn request_touch(&self) {
        self.with_active(|active| active.touch_requested = true);
    }

    /// A new id for the session: `keep_data` keeps its fields (login), else it
    /// starts over as a new session (express's `regenerate`). The old entry is
    /// removed now, as express does.
    pub(crate) async fn renew(&self, keep_data: bool) -> Result<(), SessionError> {
        let stale = self.with_live(|active| Ok(stored_ids(active)))?;
        let new_id = self.config.generate_id()?;
        for id in &stale {
            self.store.destroy(id).await?;
        }
        self.with_live(|active| {
            if !keep_data {
                active.record = self.config.new_record(now_ms(), self.secure_request);
                active.changed.clear();
            }
            active.id = Some(new_id);
            active.persisted = false;
            active.meta_changed = true;
            active.modified = true;
            active.saved = false;
            Ok(())
        })
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
            active.meta_changed = false;
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
        let (id, persisted, record, changed) = self.with_live(|active| {
            if let Some(failure) = &active.failure {
                return Err(SessionError::Store(StoreError::new(failure.clone())));
            }
            active.apply(changes);
            let now = now_ms();
            active.record.cookie.touch(now);
            active.record.last_access = Some(now);
            Ok((
                active.id().clone(),
                active.persisted,
                active.record.clone(),
                active.changed.clone(),
            ))
        })?;
        let written = self.write(id, persisted, &record, &changed).await?;
        self.with_live(|active| match written {
            Written::Stored(id) => {
                active.id = Some(id);
                active.persisted = true;
                active.changed.retain(|key| !changed.contains(key));
                active.meta_changed = false;
                active.saved = true;
                Ok(())
            }
            Written::Gone => {
                // Destroyed by another request: nothing more is saved or sent.
                active.ended = Some(End::Gone);
                Err(SessionError::NotFound)
            }
        })
    }

    /// Stores the session: an update if the store holds it under `id`, else a
    /// create. A create that finds its id taken draws a new one (a custom
    /// `genid` that repeats ids is an error instead).
    async fn write(
        &self,
        mut id: SessionId,
        persisted: bool,
        record: &Record,
        changed: &[&str],
    ) -> Result<Written, SessionError> {
        if persisted {
            return Ok(
                match self.store.update(&id, Update::new(record, changed)).await? {
                    Updated::Stored => Written::Stored(id),
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
            match self.store.create(&id, record).await? {
                Created::Stored => return Ok(Written::Stored(id)),
                Created::IdTaken if self.config.genid.is_some() => break,
                Created::IdTaken => {
                    tracing::warn!("a freshly drawn session id is already stored; drawing another");
                    id = SessionId::generate();
                }
            }
        }
        Err(SessionError::IdTaken)
    }

    /// Decides, writes the store and sets the cookie: all before the response
    /// head leaves, so a client that follows a redirect sees the saved session.
    pub(crate) async fn finalize<B: From<&'static str>>(
        &self,
        mut response: Response<B>,
    ) -> Response<B> {
        let mut active = match std::mem::replace(&mut *self.lock(), Phase::Finalized) {
            Phase::Active(active) => active,
            // No handler asked for the session: nothing was read, nothing changes.
            Phase::Unloaded | Phase::Finalized => return response,
        };
        if let Some(failure) = &active.failure {
            tracing::error!(error = %failure, "could not encode the session; it was not saved");
            return error_response(STORE_ERROR_BODY);
        }
        let config = &self.config;
        match active.ended {
            Some(End::Destroyed) => {
                if let Err(error) = self.remove(&active).await {
                    tracing::error!(%error, "session store failed to destroy a session");
                    return error_response(STORE_ERROR_BODY);
                }
                if self.had_cookie || active.loaded_id.is_some() {
                    append_cookie(
                        &mut response,
                        &cookie::clear_cookie(&config.name, &active.record.cookie),
                    );
                }
                return response;
            }
            Some(End::Unset) => {
                if config.unset == Unset::Destroy
                    && let Err(error) = self.remove(&active).await
                {
                    tracing::error!(%error, "session store failed to destroy a session");
                    return error_response(STORE_ERROR_BODY);
                }
                return response;
            }
            Some(End::Gone) => return response,
            None => {}
        }

        let now = now_ms();
        let is_new = active.is_new();
        // express's shouldSave: a new session only once modified (unless
        // saveUninitialized); otherwise whatever the store lacks, or always with resave.
        let save = if is_new && !config.save_uninitialized && !active.saved {
            active.modified
        } else if active.saved || !config.resave {
            active.unsaved() || (is_new && !active.saved)
        } else {
            true
        };
        // express's shouldSetCookie, plus: a cookie-settings change is always re-sent (express #452).
        let mut set_cookie = if is_new {
            config.save_uninitialized || active.modified
        } else {
            config.rolling
                || active.cookie_changed
                || (active.record.cookie.has_expiry() && active.modified)
        };
        if set_cookie && active.record.cookie.secure == Some(true) && !self.secure_request {
            // express: a Secure cookie is not sent over plain HTTP, but the session is still saved.
            tracing::debug!("not sending the Secure session cookie over an insecure request");
            set_cookie = false;
        }
        // A loaded session that is not saved is touched when a new cookie goes out
        // (so the store outlives the browser's cookie), when the handler asked, or
        // when half its lifetime has passed: read-heavy traffic then costs almost
        // no store writes.
        let touch = !is_new
            && !save
            && (set_cookie || active.touch_requested || {
                let lifetime = lifetime_ms(&active.record, self.store.ttl());
                let last = active.record.last_access.unwrap_or(0);
                now.saturating_sub(last) >= lifetime / 2
            });
        if save || touch || set_cookie {
            active.record.cookie.touch(now);
        }
        if save || touch {
            active.record.last_access = Some(now);
            let id = active.id().clone();
            let result = if save {
                self.write(id, active.persisted, &active.record, &active.changed)
                    .await
            } else {
                match self.store.touch(&id, &active.record).await {
                    Ok(Updated::Stored) => Ok(Written::Stored(id)),
                    Ok(Updated::Gone) => Ok(Written::Gone),
                    Err(error) => Err(SessionError::Store(error)),
                }
            };
            match result {
                Ok(Written::Stored(id)) => active.id = Some(id),
                // Ended by another request meanwhile: no cookie brings it back.
                Ok(Written::Gone) => return response,
                Err(SessionError::IdTaken) => {
                    tracing::error!("{}", SessionError::IdTaken);
                    return error_response(STORE_ERROR_BODY);
                }
                Err(error) => {
                    tracing::error!(%error, "session store failed to save a session");
                    return error_response(STORE_ERROR_BODY);
                }
            }
        }
        if set_cookie {
            let signed = config.secrets.sign(active.id().as_str());
            append_cookie(
                &mut response,
                &cookie::set_cookie(&config.name, &signed, &active.record.cookie),
            );
        }
        response
    }

    /// Removes the stored session, under its loaded id and any id it was saved under since.
    async fn remove(&self, active: &Active) -> Result<(), StoreError> {
        for id in stored_ids(active) {
            self.store.destroy(&id).await?;
        }
        Ok(())
    }
}

/// The ids the session is stored under: the one it was loaded with, and the
/// current one if `save()` wrote it under a new id during this request.
fn stored_ids(active: &Active) -> Vec<SessionId> {
    let mut ids: Vec<SessionId> = active.loaded_id.iter().cloned().collect();
    if let Some(id) = &active.id
        && active.persisted
        && !ids.contains(id)
    {
        ids.push(id.clone());
    }
    ids
}

fn append_cookie<B>(response: &mut Response<B>, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            response.headers_mut().append(SET_COOKIE, value);
        }
        // Names, domains and paths are validated when the layer is built, and the
        // signed value is percent-encoded, so this cannot happen; say so if it does.
        Err(error) => tracing::error!(%error, "session cookie is not a valid header value"),
    }
}

pub(crate) fn error_response<B: From<&'static str>>(body: &'static str) -> Response<B> {
    let mut response = Response::new(B::from(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
