//! One request's view of its session, shared by the layer and every `Session<T>`
//! extracted during the request.

use std::sync::{Arc, Mutex, MutexGuard};

use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderValue, Response, StatusCode};
use serde_json::value::RawValue;

use crate::config::Config;
use crate::cookie;
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{DynStore, StoreError, expires_at, lifetime_ms};
use crate::time::now_ms;

/// The plain body of a `500` caused by the session store.
pub(crate) const STORE_ERROR_BODY: &str = "session store error";

/// Put in the request extensions by the layer; `Session<T>` finds it there.
#[derive(Clone)]
pub(crate) struct SessionHandle(pub(crate) Arc<RequestSession>);

pub(crate) struct RequestSession {
    config: Arc<Config>,
    store: Arc<dyn DynStore>,
    /// The id of a validly signed cookie.
    cookie_id: Option<SessionId>,
    /// Whether the request carried a cookie with the session's name, valid or not.
    had_cookie: bool,
    phase: Mutex<Phase>,
}

enum Phase {
    /// No handler has asked for the session: the store has not been read.
    Unloaded,
    Active(Active),
    /// The response has left; later changes cannot be saved.
    Finalized,
}

pub(crate) struct Active {
    /// `None` for a new session until something needs its id (a save, a cookie, `id()`).
    id: Option<SessionId>,
    is_new: bool,
    pub(crate) record: Record,
    changed: Vec<&'static str>,
    destroyed: bool,
    failure: Option<String>,
}

impl Active {
    pub(crate) fn id(&mut self) -> &SessionId {
        self.id.get_or_insert_with(SessionId::generate)
    }
}

/// What the session needs from the request: given to `RequestSession::new`.
pub(crate) struct Incoming {
    pub(crate) cookie_id: Option<SessionId>,
    pub(crate) had_cookie: bool,
}

impl RequestSession {
    pub(crate) fn new(config: Arc<Config>, store: Arc<dyn DynStore>, incoming: Incoming) -> Self {
        RequestSession {
            config,
            store,
            cookie_id: incoming.cookie_id,
            had_cookie: incoming.had_cookie,
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

    /// Reads the session from the store the first time a handler asks for it.
    pub(crate) async fn load(&self) -> Result<(), StoreError> {
        if !matches!(*self.lock(), Phase::Unloaded) {
            return Ok(());
        }
        let stored = match &self.cookie_id {
            Some(id) => {
                let record = self.store.load(id).await?;
                let ttl = self.store.ttl();
                // Belt and braces: a store that returns an expired record is overruled.
                record.filter(|r| r.last_access.is_none() || expires_at(r, ttl) > now_ms())
            }
            None => None,
        };
        let active = match stored {
            Some(record) => Active {
                id: self.cookie_id.clone(),
                is_new: false,
                record,
                changed: Vec::new(),
                destroyed: false,
                failure: None,
            },
            None => {
                if self.cookie_id.is_some() {
                    tracing::debug!("session cookie names no stored session; starting a new one");
                }
                Active {
                    id: None,
                    is_new: true,
                    record: self.config.new_record(now_ms()),
                    changed: Vec::new(),
                    destroyed: false,
                    failure: None,
                }
            }
        };
        let mut phase = self.lock();
        if matches!(*phase, Phase::Unloaded) {
            *phase = Phase::Active(active);
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

    /// Takes a typed view's changed fields into the record.
    pub(crate) fn commit(&self, changes: Result<Vec<(&'static str, Box<RawValue>)>, String>) {
        let committed = self.with_active(|active| {
            if active.destroyed {
                return;
            }
            match changes {
                Ok(changes) => {
                    for (key, value) in changes {
                        active.record.fields.set(key, value);
                        if !active.changed.contains(&key) {
                            active.changed.push(key);
                        }
                    }
                }
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
        self.with_active(|active| active.destroyed = true);
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
        if active.destroyed {
            if let (false, Some(id)) = (active.is_new, &active.id)
                && let Err(error) = self.store.destroy(id).await
            {
                tracing::error!(%error, "session store failed to destroy a session");
                return error_response(STORE_ERROR_BODY);
            }
            if self.had_cookie || !active.is_new {
                append_cookie(
                    &mut response,
                    &cookie::clear_cookie(&config.name, &active.record.cookie),
                );
            }
            return response;
        }

        let modified = !active.changed.is_empty();
        let now = now_ms();
        let (save, set_cookie) = if active.is_new {
            let keep = config.save_uninitialized || modified;
            (keep, keep)
        } else {
            (
                config.resave || modified,
                config.rolling || (active.record.cookie.expires.is_some() && modified),
            )
        };
        // A loaded session that is not saved is touched when a new cookie goes out
        // (so the store outlives the browser's cookie) or when half its lifetime has
        // passed: read-heavy traffic then costs almost no store writes.
        let touch = !active.is_new
            && !save
            && (set_cookie || {
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
                self.store.save(&id, &active.record, &active.changed).await
            } else {
                self.store.touch(&id, &active.record).await
            };
            if let Err(error) = result {
                tracing::error!(%error, "session store failed to save a session");
                return error_response(STORE_ERROR_BODY);
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
