//! Every public error type: what can go wrong, and what each one says.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;

/// The plain body of a `500` caused by the session store.
pub(crate) const STORE_ERROR_BODY: &str = "session store error";

/// The plain body of a `500` for a session that could not be saved for
/// another reason than the store (a field that cannot be encoded, say).
pub(crate) const NOT_SAVED_BODY: &str = "session could not be saved";

/// The plain body of a `503` caused by the session store.
pub(crate) const STORE_UNAVAILABLE_BODY: &str = "session store unavailable";

/// A store failure. The layer answers the request with a plain `500` and logs
/// the error with `tracing`; it never drops a write silently.
#[derive(Debug)]
pub struct StoreError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A failure described by `message`.
    ///
    /// ```
    /// let error = session_runtime::StoreError::new("redis: connection refused");
    /// assert_eq!(error.to_string(), "redis: connection refused");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
            source: None,
        }
    }

    /// A failure caused by `source`, described by `message`.
    ///
    /// ```
    /// use std::io;
    /// let cause = io::Error::new(io::ErrorKind::PermissionDenied, "denied");
    /// let error = session_runtime::StoreError::with_source("cannot write", cause);
    /// assert_eq!(error.to_string(), "cannot write: denied");
    /// ```
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

/// A field of a session schema that serde cannot encode as JSON (a map with
/// non-string keys, a `Serialize` impl that fails, a float that is NaN...).
#[derive(Debug)]
pub struct EncodeError {
    schema: &'static str,
    key: &'static str,
    source: serde_json::Error,
}

impl EncodeError {
    pub(crate) fn new(schema: &'static str, key: &'static str, source: serde_json::Error) -> Self {
        EncodeError {
            schema,
            key,
            source,
        }
    }

    /// The same error again (serde's error is not `Clone`): its message is kept.
    pub(crate) fn duplicate(&self) -> Self {
        EncodeError {
            schema: self.schema,
            key: self.key,
            source: serde::ser::Error::custom(&self.source),
        }
    }

    /// The Rust type of the schema, as `std::any::type_name` gives it.
    #[must_use]
    pub fn schema(&self) -> &'static str {
        self.schema
    }

    /// The stored key of the field.
    #[must_use]
    pub fn key(&self) -> &'static str {
        self.key
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "field `{}` of session schema `{}` cannot be encoded as JSON: {}",
            self.key, self.schema, self.source
        )
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Why a session operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed; the error says how.
    Store(StoreError),
    /// A field of the session could not be encoded, so nothing was saved.
    Encode(EncodeError),
    /// [`reload`](crate::Session::reload) found no stored session (never
    /// saved, expired or destroyed).
    NotFound,
    /// The layer's `genid` function returned an id that is not 1 to 128 characters of `[A-Za-z0-9_-]`.
    InvalidId(InvalidId),
    /// The layer's `genid` function returned the id of a session that is
    /// already stored; the new session was not saved under it.
    IdTaken,
    /// The session is larger than the layer's
    /// [`max_record_size`](crate::SessionLayer::max_record_size); nothing was saved.
    RecordTooLarge {
        /// The size of the session's fields, in bytes of JSON.
        size: usize,
        /// The layer's limit.
        limit: usize,
    },
    /// The session was destroyed or unset earlier in this request, another
    /// request destroyed it while this one used it (a `save` found it gone),
    /// or its response has left.
    Ended,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Store(error) => write!(f, "session store error: {error}"),
            SessionError::Encode(error) => error.fmt(f),
            SessionError::NotFound => f.write_str("failed to load session: it is not in the store"),
            SessionError::InvalidId(error) => error.fmt(f),
            SessionError::IdTaken => f.write_str(
                "session id generator (`genid`) returned the id of a stored session; ids must be unique",
            ),
            SessionError::RecordTooLarge { size, limit } => write!(
                f,
                "the session's fields take {size} bytes, over the layer's `max_record_size` of {limit}; nothing was saved"
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
            // Transparent: the Display is the inner error's, so its source is too.
            SessionError::Encode(error) => std::error::Error::source(error),
            SessionError::InvalidId(error) => Some(error),
            _ => None,
        }
    }
}

impl From<StoreError> for SessionError {
    fn from(error: StoreError) -> Self {
        SessionError::Store(error)
    }
}

impl From<EncodeError> for SessionError {
    fn from(error: EncodeError) -> Self {
        SessionError::Encode(error)
    }
}

impl From<InvalidId> for SessionError {
    fn from(error: InvalidId) -> Self {
        SessionError::InvalidId(error)
    }
}

/// The layer's `genid` function returned an id that cannot be used: ids must
/// be 1 to 128 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId(pub(crate) String);

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(40).collect();
        write!(
            f,
            "the `genid` function returned {shown:?} ({} characters); session ids must be 1 to {} characters of [A-Za-z0-9_-]",
            self.0.chars().count(),
            crate::id::MAX_ID_LEN
        )
    }
}

impl std::error::Error for InvalidId {}

/// Why a handler could not get its [`Session`](struct@crate::Session). Each answers `500` with a plain message.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// The router has no [`SessionLayer`](crate::SessionLayer) above this handler.
    MissingLayer,
    /// The layer is there, but the request's path is outside the session
    /// cookie's [`path`](crate::SessionLayer::path), so it has no session (as
    /// in express). Answers `500`: the route is misplaced.
    OutsideCookiePath {
        /// The layer's cookie path.
        cookie_path: String,
    },
    /// The request target is not a path (`OPTIONS *`, or an authority for
    /// `CONNECT`), so no session applies. Answers `400`, logged only at debug
    /// level: any client can send one.
    NotAPath,
    /// The store failed to load the session (the error is logged with `tracing`).
    Store,
    /// The store failed to load the session and the layer answers `503` with
    /// `Retry-After` ([`OnStoreError::ServiceUnavailable`](crate::OnStoreError)).
    StoreUnavailable {
        /// How long clients should wait before retrying.
        retry_after: std::time::Duration,
    },
    /// The layer's `genid` returned an invalid id for a new session (logged with `tracing`).
    InvalidId,
    /// [Exclusive sessions](crate::SessionLayer::exclusive): other requests of
    /// the session held it for the whole
    /// [wait](crate::SessionLayer::exclusive_wait). Answers `503` with
    /// `Retry-After`; logged as a warning (a handler holds its session too
    /// long, or one client sends too many requests at once).
    Busy {
        /// How long clients should wait before retrying.
        retry_after: std::time::Duration,
    },
    /// A second view of the session was extracted while a first one that
    /// writes some of the same keys is still alive (two `Session<Cart>` in
    /// one handler, say): whichever dropped last would overwrite the other's
    /// change, so the second is refused. Answers `500`.
    ViewConflict {
        /// The schema of the refused view.
        schema: &'static str,
        /// The schema of the live view.
        other: &'static str,
        /// A key both write.
        key: &'static str,
    },
    /// The schema has an indexed field (`#[session(index)]`) and the layer's
    /// store keeps no indexes ([`SessionStore::supports_indexes`](crate::SessionStore::supports_indexes)):
    /// its sessions could not be listed or ended by that field, so none is
    /// stored. Answers `500`.
    IndexUnsupported {
        /// The schema with the indexed field.
        schema: &'static str,
        /// The store's type.
        store: &'static str,
    },
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionRejection::MissingLayer => f.write_str(
                "`Session<T>` needs the session layer: add `.layer(SessionLayer::new(store, secret))` \
                 to the router, below the routes that use it",
            ),
            SessionRejection::OutsideCookiePath { cookie_path } => write!(
                f,
                "`Session<T>` is used on a route outside the session cookie's path `{cookie_path}`, \
                 where requests have no session: move the route under that path, or change \
                 `SessionLayer::path`"
            ),
            SessionRejection::NotAPath => {
                f.write_str("this request target is not a path, so it has no session")
            }
            SessionRejection::Store => f.write_str(STORE_ERROR_BODY),
            SessionRejection::StoreUnavailable { .. } => f.write_str(STORE_UNAVAILABLE_BODY),
            SessionRejection::ViewConflict { schema, other, key } => write!(
                f,
                "`Session<{schema}>` was extracted while a `Session<{other}>` of the same request is \
                 alive, and both write the session key `{key}`: one's change would overwrite the \
                 other's; extract the session once and pass it on by `&mut`, or drop the first view \
                 before extracting the second"
            ),
            SessionRejection::Busy { .. } => f.write_str(
                "the session is in use by other requests (exclusive sessions), which did not release \
                 it within the layer's `exclusive_wait`",
            ),
            SessionRejection::InvalidId => f.write_str(
                "session id generator (`genid`) returned an invalid id: ids must be 1 to 128 characters of [A-Za-z0-9_-]",
            ),
            SessionRejection::IndexUnsupported { schema, store } => write!(
                f,
                "`{schema}` has an indexed field (`#[session(index)]`), and the session store \
                 `{store}` keeps no indexes (`SessionStore::supports_indexes`): use a store that \
                 does (MemoryStore, FileStore, RedisStore), or remove `index`"
            ),
        }
    }
}

impl std::error::Error for SessionRejection {}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            // A mistake in the app: said loudly. Store and genid failures were
            // logged with their cause where they happened.
            SessionRejection::MissingLayer => tracing::error!("{self}"),
            SessionRejection::OutsideCookiePath { .. } => {
                // Every request to the misplaced route would say it again.
                static SAID: AtomicBool = AtomicBool::new(false);
                if SAID.swap(true, Ordering::Relaxed) {
                    tracing::debug!("{self}");
                } else {
                    tracing::error!("{self}");
                }
            }
            SessionRejection::NotAPath => {
                tracing::debug!("{self}");
                return (StatusCode::BAD_REQUEST, self.to_string()).into_response();
            }
            SessionRejection::StoreUnavailable { retry_after } => return unavailable(retry_after),
            // Logged where it happened; a busy session is not a store failure.
            SessionRejection::Busy { retry_after } => {
                let mut response =
                    (StatusCode::SERVICE_UNAVAILABLE, self.to_string()).into_response();
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, retry_after_value(retry_after));
                return response;
            }
            // Logged where they happened, with their cause.
            SessionRejection::Store
            | SessionRejection::InvalidId
            | SessionRejection::ViewConflict { .. }
            | SessionRejection::IndexUnsupported { .. } => {}
        }
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

/// A response of `status` with the plain-text `body`: what the layer answers
/// in place of the handler's response when the session fails.
pub(crate) fn plain_response<B: From<&'static str>>(
    status: StatusCode,
    body: &'static str,
) -> http::Response<B> {
    let mut response = http::Response::new(B::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `503 Service Unavailable` with `Retry-After` in whole seconds (at least 1).
pub(crate) fn unavailable<B: From<&'static str>>(
    retry_after: std::time::Duration,
) -> http::Response<B> {
    let mut response = plain_response(StatusCode::SERVICE_UNAVAILABLE, STORE_UNAVAILABLE_BODY);
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, retry_after_value(retry_after));
    response
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn retry_after_value(retry_after: std::time::Duration) -> http::HeaderValue {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    http::HeaderValue::from(seconds.max(1))
}

/// A secret list that cannot sign anything.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// The list had no secret.
    Empty,
    /// A secret was the empty string.
    EmptySecret,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::Empty => f.write_str("the secret list is empty: give at least one secret"),
            SecretError::EmptySecret => {
                f.write_str("a session secret is empty: use a long random string")
            }
        }
    }
}

impl std::error::Error for SecretError {}

/// Why a stored record could not be read as a session.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text is not a JSON object.
    Json(serde_json::Error),
    /// `cookie` is not express-session's cookie object.
    Cookie,
    /// A time the runtime keeps beside the fields (`__lastAccess`,
    /// `__created`) is not a number of milliseconds.
    Timestamp(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Json(error) => write!(f, "not a JSON object: {error}"),
            DecodeError::Cookie => f.write_str("`cookie` has the wrong shape"),
            DecodeError::Timestamp(key) => write!(f, "`{key}` is not a time in milliseconds"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Json(error) => Some(error),
            DecodeError::Cookie | DecodeError::Timestamp(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::io;
    use std::time::Duration;

    use axum_core::response::IntoResponse;

    use super::*;
    use crate::Record;

    /// An app that walks the error chain (`anyhow`, `tracing`'s error
    /// fields, a `while let Some(e) = e.source()` loop) reaches the cause a
    /// store gave.
    #[test]
    fn a_store_errors_cause_is_on_the_error_chain() {
        let cause = io::Error::new(io::ErrorKind::PermissionDenied, "denied");
        let error = SessionError::from(StoreError::with_source("cannot write", cause));
        let store = error
            .source()
            .expect("SessionError::Store has the store error as its source");
        assert_eq!(store.to_string(), "cannot write: denied");
        let cause = store
            .source()
            .expect("the store error has its cause as its source");
        assert_eq!(
            cause.downcast_ref::<io::Error>().map(io::Error::kind),
            Some(io::ErrorKind::PermissionDenied)
        );
        assert!(StoreError::new("no cause").source().is_none());
    }

    #[test]
    fn an_invalid_id_is_the_source_of_its_session_error() {
        let error = SessionError::from(InvalidId("not an id!".to_owned()));
        assert_eq!(
            error.source().and_then(|e| e.downcast_ref::<InvalidId>()),
            Some(&InvalidId("not an id!".to_owned()))
        );
        assert!(SessionError::NotFound.source().is_none());
    }

    /// A store that is unavailable, or a session held by other requests:
    /// `Retry-After` is the wait in whole seconds, rounded up, at least 1.
    #[test]
    fn retry_after_is_the_wait_in_whole_seconds_rounded_up() {
        for (wait, seconds) in [
            (Duration::from_secs(5), "5"),
            (Duration::from_millis(4_001), "5"),
            (Duration::from_millis(2_500), "3"),
            (Duration::from_millis(1), "1"),
            (Duration::ZERO, "1"),
        ] {
            for rejection in [
                SessionRejection::StoreUnavailable { retry_after: wait },
                SessionRejection::Busy { retry_after: wait },
            ] {
                let case = format!("{rejection:?}");
                let response = rejection.into_response();
                assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{case}");
                assert_eq!(
                    response.headers().get(http::header::RETRY_AFTER),
                    Some(&http::HeaderValue::from_static(seconds)),
                    "{case}"
                );
            }
        }
    }

    /// What a store author or a log reader sees for a record that is not a
    /// session: what is wrong, with serde's error as the source when there is one.
    #[test]
    fn a_decode_error_says_what_is_wrong_and_keeps_serdes_error() {
        let error = Record::from_json("{\"views\":").unwrap_err();
        let cause = error
            .source()
            .and_then(|e| e.downcast_ref::<serde_json::Error>())
            .expect("serde's error is the source");
        assert_eq!(error.to_string(), format!("not a JSON object: {cause}"));
        assert!(cause.is_eof(), "{cause}");

        let error = Record::from_json(r#"{"cookie":7}"#).unwrap_err();
        assert_eq!(error.to_string(), "`cookie` has the wrong shape");
        assert!(error.source().is_none());

        let error = Record::from_json(r#"{"__lastAccess":"yesterday"}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`__lastAccess` is not a time in milliseconds"
        );
        assert!(error.source().is_none());
    }
}
