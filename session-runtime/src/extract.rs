//! The `Session<T>` extractor.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::id::SessionId;
use crate::schema::{SessionSchema, Snapshot};
use crate::state::{RequestSession, STORE_ERROR_BODY, SessionHandle};

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
        if self.consumed {
            return;
        }
        let Some(snapshot) = self.snapshot.take() else {
            return;
        };
        let changes = snapshot.diff(&self.value).map_err(|failure| {
            format!(
                "field stored as `{}` of `{}` cannot be encoded as JSON: {}",
                failure.key,
                std::any::type_name::<T>(),
                failure.error
            )
        });
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
            return Err(SessionRejection::MissingLayer);
        };
        if let Err(error) = handle.load().await {
            tracing::error!(%error, "session store failed to load a session");
            return Err(SessionRejection::Store);
        }
        let value = handle
            .with_active(|active| T::decode_session(&active.record.fields))
            .ok_or(SessionRejection::Store)?;
        Ok(Session {
            value,
            snapshot: None,
            handle,
            consumed: false,
        })
    }
}

/// Why a handler could not get its [`Session`]. Both answer `500` with a plain message.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// The router has no [`SessionLayer`](crate::SessionLayer) above this handler.
    MissingLayer,
    /// The store failed to load the session (the error is logged with `tracing`).
    Store,
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionRejection::MissingLayer => f.write_str(
                "`Session<T>` needs the session layer: add `.layer(SessionLayer::new(store, secret))` \
                 to the router, below the routes that use it",
            ),
            SessionRejection::Store => f.write_str(STORE_ERROR_BODY),
        }
    }
}

impl std::error::Error for SessionRejection {}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        if matches!(self, SessionRejection::MissingLayer) {
            tracing::error!("{self}");
        }
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}
