//! The `Session<T>` extractor.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use std::time::{Duration, SystemTime};

use crate::config::OnStoreError;
use crate::error::{SessionError, SessionRejection};
use crate::id::SessionId;
use crate::record::{CookieMeta, SameSite};
use crate::request::{Active, LoadError, OutOfScope, RequestSession, SessionHandle, ViewConflict};
use crate::schema::{SessionSchema, Snapshot};
use crate::time::{duration_ms, now_ms, to_ms};

/// A typed view of the request's session: plain field access to `T`.
///
/// Reading fields goes through `Deref` and costs nothing at the end of the
/// request. The first mutable access takes a snapshot of the stored fields'
/// encodings; when the `Session` is dropped (at the end of the handler), each
/// field is compared with its snapshot and only the fields that differ are
/// written back, nested changes included (`session.cart.push(item)`).
///
/// Several schemas can view one session: `Session<Cart>` and `Session<Auth>`
/// read and write their own keys of the same stored record, and keys that no
/// schema in this program knows are kept.
///
/// ```
/// use axum::Json;
/// use session_runtime::Session;
///
/// #[derive(Session)]
/// struct Counter {
///     #[session(default = 0)]
///     count: u64,
/// }
///
/// async fn index(mut session: Session<Counter>) -> Json<u64> {
///     session.count += 1;
///     Json(session.count)
/// }
/// ```
pub struct Session<T: SessionSchema> {
    value: T,
    snapshot: Option<Snapshot>,
    handle: Arc<RequestSession>,
    /// This view's serial number among the request's live views.
    view: u64,
    consumed: bool,
}

impl<T: SessionSchema> Session<T> {
    /// The session's id, once it has one: a new session gets its id here or when it is first saved.
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # #[derive(Session)] struct Auth { user: Option<String> }
    /// async fn whoami(session: Session<Auth>) -> String {
    ///     format!("session {}", session.id())
    /// }
    /// ```
    #[must_use]
    pub fn id(&self) -> SessionId {
        self.handle
            .with_active(|active| active.id().clone())
            // Only after the response has left, where a fresh id names nothing.
            .unwrap_or_else(SessionId::generate)
    }

    /// Ends the session: its store entry is removed and the browser is told to
    /// drop the cookie (`Expires` in the past), both before the response leaves.
    /// Changes made through any view of the session in this request are discarded.
    /// (express's `destroy()` leaves the cookie behind: its issue #241.)
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # #[derive(Session)] struct Auth { user: Option<String> }
    /// async fn logout(session: Session<Auth>) -> &'static str {
    ///     session.destroy();
    ///     "bye"
    /// }
    /// ```
    pub fn destroy(mut self) {
        self.consumed = true;
        self.handle.destroy();
    }

    /// express's `req.session = null`: nothing is saved and no cookie is sent;
    /// the stored session is kept or removed as the layer's
    /// [`unset`](crate::SessionLayer::unset) option says.
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # #[derive(Session)] struct Auth { user: Option<String> }
    /// async fn forget(session: Session<Auth>) {
    ///     session.unset();
    /// }
    /// ```
    pub fn unset(mut self) {
        self.consumed = true;
        self.handle.unset();
    }

    /// express's `regenerate()`: a new id and fresh data (every field back to its
    /// default). The old stored entry is removed now; the new session is saved
    /// and its cookie sent at the end of the request.
    ///
    /// # Errors
    /// When the store fails to remove the old entry, when `genid` returns an
    /// invalid id, or when the session has already ended.
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # #[derive(Session)] struct Auth { user: Option<String> }
    /// async fn reset(mut session: Session<Auth>) -> Result<(), String> {
    ///     session.regenerate().await.map_err(|e| e.to_string())
    /// }
    /// ```
    #[must_use = "the session keeps its id and its data until this is awaited: `session.regenerate().await`"]
    pub async fn regenerate(&mut self) -> Result<(), SessionError> {
        self.handle.renew(false).await?;
        self.value = T::default_session();
        self.snapshot = None;
        Ok(())
    }

    /// A new id for the same data: the defence against session fixation to call
    /// at login (express users ask for it in #425 and #1036; tower-sessions names
    /// it `cycle_id`). The old stored entry is removed now; the data is saved
    /// under the new id and the new cookie sent at the end of the request.
    ///
    /// It keeps everything but the id: every field, and the cookie settings,
    /// including a max age an earlier "remember me" set. To give the new login
    /// the layer's settings again, call
    /// [`cookie_mut().reset()`](CookieMut::reset) too.
    ///
    /// # Errors
    /// As [`regenerate`](Self::regenerate).
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # #[derive(Session)] struct Auth { user: Option<String> }
    /// async fn login(mut session: Session<Auth>) -> Result<(), String> {
    ///     session.cycle_id().await.map_err(|e| e.to_string())?;
    ///     session.user = Some("bob".into());
    ///     Ok(())
    /// }
    /// ```
    #[must_use = "the session id does not rotate until this is awaited (`session.cycle_id().await`): \
                  a login without it is open to session fixation"]
    pub async fn cycle_id(&mut self) -> Result<(), SessionError> {
        // This view's pending changes stay pending: they are diffed at drop as usual.
        self.handle.renew(true).await
    }

    /// express's `reload()`: reads the session from the store again, dropping
    /// this view's unsaved changes.
    ///
    /// # Errors
    /// [`SessionError::NotFound`] when the store has no such session (it was
    /// never saved, has expired or was destroyed), or a store error.
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # #[derive(Session)] struct Cart { items: Vec<String> }
    /// async fn fresh(mut cart: Session<Cart>) -> String {
    ///     match cart.reload().await {
    ///         Ok(()) => format!("{} items", cart.items.len()),
    ///         Err(error) => error.to_string(),
    ///     }
    /// }
    /// ```
    #[must_use = "nothing is read until this is awaited: `session.reload().await`"]
    pub async fn reload(&mut self) -> Result<(), SessionError> {
        self.handle.reload().await?;
        let value = self
            .handle
            .with_active(Active::open::<T>)
            .ok_or(SessionError::Ended)?;
        self.value = value;
        self.snapshot = None;
        Ok(())
    }

    /// express's `save()`: writes the session to the store now, for example before
    /// a long-running response. The end of the request then writes only what
    /// changed after this call. (Saving before a redirect is not needed here:
    /// the layer always saves before the response head leaves.)
    ///
    /// # Errors
    /// A store error, an invalid `genid` id, or a field that cannot be encoded.
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # #[derive(Session)] struct Cart { items: Vec<String> }
    /// async fn add(mut cart: Session<Cart>) -> Result<(), String> {
    ///     cart.items.push("apple".into());
    ///     cart.save().await.map_err(|e| e.to_string())
    /// }
    /// ```
    #[must_use = "nothing is written until this is awaited: `session.save().await`"]
    pub async fn save(&mut self) -> Result<(), SessionError> {
        let changes = match self
            .snapshot
            .take()
            .map(|snapshot| snapshot.diff(&self.value))
        {
            Some(Ok(changes)) => changes,
            // Recorded for the end of the request too: it saves nothing either.
            Some(Err(failure)) => {
                self.handle.commit(Err(failure.duplicate()));
                return Err(SessionError::Encode(failure));
            }
            None => Vec::new(),
        };
        self.handle.save_now(changes).await
    }

    /// express's `touch()`: restarts the session's lifetime at the end of this
    /// request (the store's expiry, and the cookie's `Expires` when the cookie is
    /// sent), even when nothing changed.
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # #[derive(Session)] struct Auth { user: Option<String> }
    /// async fn keepalive(mut session: Session<Auth>) {
    ///     session.touch();
    /// }
    /// ```
    pub fn touch(&mut self) {
        self.handle.request_touch();
    }

    /// express's alias of [`touch`](Self::touch).
    pub fn reset_max_age(&mut self) {
        self.touch();
    }

    /// The session's cookie settings, as created (a loaded session keeps the
    /// settings it was created with, as in express, even if the layer's options
    /// changed since).
    #[must_use]
    pub fn cookie(&self) -> CookieMeta {
        self.handle
            .with_active(|active| active.record.cookie.clone())
            .unwrap_or_default()
    }

    /// Changes this session's cookie, for example a "remember me" max age. A
    /// cookie-only change is saved and the cookie re-sent (express ignores it: #452).
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # use std::time::Duration;
    /// # #[derive(Session)] struct Auth { user: Option<String> }
    /// async fn remember_me(mut session: Session<Auth>) {
    ///     session.cookie_mut().set_max_age(Some(Duration::from_secs(30 * 24 * 3600)));
    /// }
    /// ```
    pub fn cookie_mut(&mut self) -> CookieMut<'_> {
        CookieMut {
            handle: &self.handle,
        }
    }
}

/// Changes one session's cookie settings; from [`Session::cookie_mut`].
pub struct CookieMut<'a> {
    handle: &'a RequestSession,
}

impl fmt::Debug for CookieMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieMut").finish_non_exhaustive()
    }
}

impl CookieMut<'_> {
    fn change(&self, f: impl FnOnce(&mut CookieMeta)) -> &Self {
        self.handle.with_active(|active| {
            f(&mut active.record.cookie);
            active.cookie_changed();
        });
        self
    }

    /// The layer's cookie settings for a new session, in place of this
    /// session's: a max age a "remember me" set at an earlier login, say.
    /// Saved and re-sent like any cookie change. Call it with
    /// [`Session::cycle_id`] at a login that did not ask to be remembered.
    ///
    /// ```
    /// # use session_runtime::Session;
    /// # #[derive(Session)] struct Auth { user: Option<String> }
    /// async fn login(mut session: Session<Auth>) -> Result<(), String> {
    ///     session.cycle_id().await.map_err(|e| e.to_string())?;
    ///     session.cookie_mut().reset();
    ///     session.user = Some("bob".into());
    ///     Ok(())
    /// }
    /// ```
    pub fn reset(&self) -> &Self {
        self.handle.reset_cookie();
        self
    }

    /// A lifetime from now (`Some`), or a browser-session cookie (`None`).
    pub fn set_max_age(&self, max_age: Option<Duration>) -> &Self {
        self.change(|cookie| {
            cookie.original_max_age = max_age.map(duration_ms);
            cookie.expires = None;
            cookie.touch(now_ms());
        })
    }

    /// An absolute expiry, recorded as the time left (as express does).
    pub fn set_expires(&self, at: SystemTime) -> &Self {
        self.change(|cookie| {
            let at = to_ms(at);
            cookie.expires = Some(at);
            cookie.original_max_age = Some(at.saturating_sub(now_ms()));
        })
    }

    /// The `SameSite` attribute (`None` sends none).
    pub fn set_same_site(&self, same_site: Option<SameSite>) -> &Self {
        self.change(|cookie| cookie.same_site = same_site)
    }

    /// The `Secure` flag.
    pub fn set_secure(&self, secure: bool) -> &Self {
        self.change(|cookie| cookie.secure = Some(secure))
    }

    /// The `HttpOnly` flag.
    pub fn set_http_only(&self, http_only: bool) -> &Self {
        self.change(|cookie| cookie.http_only = http_only)
    }
}

impl<T: SessionSchema> Deref for Session<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: SessionSchema> DerefMut for Session<T> {
    fn deref_mut(&mut self) -> &mut T {
        if self.snapshot.is_none() {
            self.snapshot = Some(Snapshot::take(&self.value));
        }
        &mut self.value
    }
}

impl<T: SessionSchema> Drop for Session<T> {
    fn drop(&mut self) {
        let view = self.view;
        self.handle.with_active(|active| active.close_view(view));
        if self.consumed {
            return;
        }
        let Some(snapshot) = self.snapshot.take() else {
            return;
        };
        let changes = snapshot.diff(&self.value);
        if matches!(&changes, Ok(changes) if changes.is_empty()) {
            return;
        }
        self.handle.commit(changes);
    }
}

impl<T: SessionSchema + fmt::Debug> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Session").field(&self.value).finish()
    }
}

impl<T: SessionSchema, S: Send + Sync> FromRequestParts<S> for Session<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(SessionHandle(handle)) = parts.extensions.get::<SessionHandle>().cloned() else {
            return Err(match parts.extensions.get::<OutOfScope>() {
                None => SessionRejection::MissingLayer,
                Some(OutOfScope::NotAPath) => SessionRejection::NotAPath,
                Some(OutOfScope::OutsideCookiePath(config)) => {
                    SessionRejection::OutsideCookiePath {
                        cookie_path: config.cookie.path.clone(),
                    }
                }
            });
        };
        match handle.load().await {
            Ok(()) => {}
            Err(LoadError::Store(error)) => {
                tracing::error!(%error, "session store failed to load a session");
                return Err(match handle.config.on_store_error {
                    OnStoreError::ServiceUnavailable { retry_after } => {
                        SessionRejection::StoreUnavailable { retry_after }
                    }
                    _ => SessionRejection::Store,
                });
            }
            Err(LoadError::Busy) => {
                let rejection = SessionRejection::Busy {
                    retry_after: crate::config::BUSY_RETRY_AFTER,
                };
                tracing::warn!(wait = ?handle.config.exclusive_wait, "{rejection}");
                return Err(rejection);
            }
            Err(LoadError::InvalidId(error)) => {
                tracing::error!(%error, "cannot start a session");
                return Err(SessionRejection::InvalidId);
            }
        }
        if !T::INDEXED.is_empty() {
            if !handle.store_supports_indexes() {
                let rejection = SessionRejection::IndexUnsupported {
                    schema: std::any::type_name::<T>(),
                    store: handle.store_type(),
                };
                tracing::error!("{rejection}");
                return Err(rejection);
            }
            handle.config.indexed.learn(T::INDEXED);
        }
        let opened = handle
            .with_active(|active| {
                let view = active.open_view(std::any::type_name::<T>(), T::KEYS)?;
                Ok((view, active.open::<T>()))
            })
            .ok_or(SessionRejection::Store)?;
        let (view, value) = opened.map_err(|conflict: ViewConflict| {
            let rejection = SessionRejection::ViewConflict {
                schema: conflict.schema,
                other: conflict.other,
                key: conflict.key,
            };
            tracing::error!("{rejection}");
            rejection
        })?;
        Ok(Session {
            value,
            snapshot: None,
            handle,
            view,
            consumed: false,
        })
    }
}

/// `Option<Session<T>>`: `None` where the request has no session at all (no
/// session layer above the handler, a path outside the cookie's `Path`, a
/// target that is not a path), the session otherwise. Store failures are
/// still rejections: a session that exists but cannot be read is not "none".
///
/// ```
/// use session_runtime::Session;
///
/// #[derive(Session)]
/// struct Auth {
///     user: Option<String>,
/// }
///
/// async fn greet(session: Option<Session<Auth>>) -> String {
///     match session.as_ref().and_then(|s| s.user.as_deref()) {
///         Some(user) => format!("hello {user}"),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// ```
impl<T: SessionSchema, S: Send + Sync> OptionalFromRequestParts<S> for Session<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if parts.extensions.get::<SessionHandle>().is_none() {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}
