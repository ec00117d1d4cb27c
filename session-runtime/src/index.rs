//! Indexed fields: the sessions of one user, listed and ended without a
//! scan of the store.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum_core::extract::FromRequestParts;
use http::request::Parts;
use serde::Serialize;

use crate::config::DEFAULT_STORE_TIMEOUT;
use crate::error::{SessionRejection, StoreError};
use crate::id::SessionId;
use crate::record::Record;
use crate::request::SessionHandle;
use crate::request::bounded_call;
use crate::schema::SessionSchema;
use crate::store::{BoxFuture, DynStore, IndexEntry, SessionStore, expires_at, is_live};
use crate::sync::{read, write};
use crate::time::now_ms;

/// A type whose values can key an index (`#[session(index)]`): each value
/// has one JSON text, so that equal values are stored alike.
///
/// Implemented for strings, integers, `bool`, `char`, and `Option` of any of
/// them (`None` is not indexed). A newtype (`struct UserId(u64)`) can
/// implement it when its `Serialize` writes the inner value the same way
/// every time; floats, sequences and maps do not qualify.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use session_runtime::{IndexKey, Session};
///
/// #[derive(Clone, Serialize, Deserialize)]
/// struct UserId(u64);
/// impl IndexKey for UserId {}
///
/// #[derive(Session)]
/// struct Auth {
///     #[session(index)]
///     user: Option<UserId>,
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot key a session index",
    label = "`#[session(index)]` on a field of type `{Self}`",
    note = "index a field whose type is a string, an integer, `bool`, `char`, or an `Option` of one (`Option<String>`, `Option<u64>`); \
            for a newtype whose JSON is always the same for equal values, implement `session_runtime::IndexKey` for it"
)]
pub trait IndexKey: Serialize {}

macro_rules! index_keys {
    ($($ty:ty),*) => { $(impl IndexKey for $ty {})* };
}
// Not `u128`/`i128`: JSON readers that parse numbers as doubles (the
// index's value comparison among them) cannot tell large ones apart.
index_keys!(
    String,
    Box<str>,
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    isize
);
impl<T: IndexKey> IndexKey for Option<T> {}

/// An indexed field of the schema `T`, whose type is `V`: made by the
/// function `#[derive(Session)]` writes for it, `T::<field>_index()`.
///
/// ```
/// use session_runtime::{Index, Session};
///
/// #[derive(Session)]
/// struct Auth {
///     #[session(index)]
///     user: Option<String>,
/// }
///
/// let index: Index<Auth, Option<String>> = Auth::user_index();
/// assert_eq!(index.key(), "user");
/// ```
pub struct Index<T, V> {
    key: &'static str,
    schema: PhantomData<fn() -> (T, V)>,
}

impl<T, V> Index<T, V> {
    #[doc(hidden)]
    #[must_use]
    pub const fn __new(key: &'static str) -> Self {
        Index {
            key,
            schema: PhantomData,
        }
    }

    /// The field's stored key.
    #[must_use]
    pub fn key(&self) -> &'static str {
        self.key
    }
}

impl<T, V> Clone for Index<T, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, V> Copy for Index<T, V> {}

impl<T, V> fmt::Debug for Index<T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("schema", &std::any::type_name::<T>())
            .field("key", &self.key)
            .finish()
    }
}

/// One stored session found through an index.
#[derive(Debug)]
#[non_exhaustive]
pub struct SessionInfo<T> {
    /// Its id (shown redacted by `Debug`).
    pub id: SessionId,
    /// When it was first stored: recorded for every session of a layer that
    /// knows an indexed field (and under an absolute timeout); `None` for a
    /// session stored before. `cycle_id` keeps it.
    pub created: Option<SystemTime>,
    /// When a request last saved or touched it. A request that changes
    /// nothing writes it only once half the session's lifetime has passed,
    /// so it can lag the last request by up to half a lifetime.
    pub last_access: Option<SystemTime>,
    /// When it expires unless used again.
    pub expires: Option<SystemTime>,
    /// Its fields, through the schema.
    pub data: T,
}

/// The sessions of a store, by the values of their indexed fields: "your
/// devices", "log out everywhere", "log out my other sessions".
///
/// Every store call is bounded by the layer's `store_timeout` (a stuck or
/// panicking store is an error, never a hang or a panic), and ending
/// sessions goes on past a failure, then reports it.
///
/// Usable in a handler (it is an extractor, for the layer's store) and
/// outside requests (from [`SessionLayer::sessions`](crate::SessionLayer::sessions)
/// or [`Sessions::new`], for an admin route or a background job). Each call
/// costs the store work in proportion to the sessions of the value asked
/// for, not to the store's size.
///
/// ```
/// use axum::response::Redirect;
/// use session_runtime::{Session, Sessions};
///
/// #[derive(Session)]
/// struct Auth {
///     #[session(index)]
///     user: Option<String>,
/// }
///
/// async fn logout_everywhere(session: Session<Auth>, sessions: Sessions) -> Redirect {
///     if let Err(error) = sessions.destroy_all(Auth::user_index(), &session.user).await {
///         tracing::error!(%error, "could not end the user's sessions");
///     }
///     session.destroy();
///     Redirect::to("/")
/// }
/// ```
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn DynStore>,
    /// Bound on each store call, as the layer's `store_timeout`.
    timeout: Option<Duration>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("store", &self.store.type_name())
            .finish()
    }
}

impl Sessions {
    /// The sessions of `store`. Each store call is bounded as the layer
    /// bounds it by default (5 seconds; [`with_timeout`](Self::with_timeout)).
    pub fn new(store: impl SessionStore) -> Self {
        Self::shared(Arc::new(store), Some(DEFAULT_STORE_TIMEOUT))
    }

    pub(crate) fn shared(store: Arc<dyn DynStore>, timeout: Option<Duration>) -> Self {
        Sessions { store, timeout }
    }

    /// The longest one store call may take before it counts as a store
    /// error (`None`: as long as the store takes). A store that panics is an
    /// error too, never a panic out of these methods.
    #[must_use]
    pub fn with_timeout(self, timeout: Option<Duration>) -> Self {
        Sessions { timeout, ..self }
    }

    async fn call<T>(
        &self,
        call: &'static str,
        future: BoxFuture<'_, Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        bounded_call(call, self.timeout, future).await
    }

    /// The live sessions whose field `index` holds `value`, oldest first by
    /// creation (then by last access). Empty when `value` encodes as `null`
    /// (`None`).
    ///
    /// # Errors
    /// A store error, or a store that keeps no indexes.
    pub async fn list<T: SessionSchema, V: IndexKey>(
        &self,
        index: Index<T, V>,
        value: &V,
    ) -> Result<Vec<SessionInfo<T>>, StoreError> {
        let mut found: Vec<SessionInfo<T>> = self
            .holding(index.key, value)
            .await?
            .into_iter()
            .map(|(id, record)| self.info(id, &record))
            .collect();
        found.sort_by_key(|info| (info.created, info.last_access));
        Ok(found)
    }

    /// Ends every live session whose field `index` holds `value` (the current
    /// request's too: end that one with [`Session::destroy`](crate::Session::destroy)
    /// as well, so that its cookie is cleared); returns how many it ended.
    ///
    /// A request of one of them that is still running saves nothing after
    /// this: a save never brings back a destroyed session.
    ///
    /// # Errors
    /// A store error; the sessions ended before it stay ended.
    pub async fn destroy_all<T, V: IndexKey>(
        &self,
        index: Index<T, V>,
        value: &V,
    ) -> Result<usize, StoreError> {
        self.destroy_matching(index.key, value, None).await
    }

    /// [`destroy_all`](Self::destroy_all) but the session `keep` ("log out my
    /// other sessions": `keep` is the current session's
    /// [`id`](crate::Session::id)).
    ///
    /// # Errors
    /// As [`destroy_all`](Self::destroy_all).
    pub async fn destroy_all_except<T, V: IndexKey>(
        &self,
        index: Index<T, V>,
        value: &V,
        keep: &SessionId,
    ) -> Result<usize, StoreError> {
        self.destroy_matching(index.key, value, Some(keep)).await
    }

    async fn destroy_matching<V: IndexKey>(
        &self,
        key: &'static str,
        value: &V,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        let Some(json) = index_value(value)? else {
            return Ok(0);
        };
        let mut ended = Vec::new();
        let mut failed_ids: Vec<SessionId> = Vec::new();
        let mut failed: Option<StoreError> = None;
        // A second pass finds a session given a new id (`cycle_id`) while the
        // first one ran: it is stored under the new id before its old one is
        // removed, so one of the two passes sees it.
        for _ in 0..2 {
            let found: Vec<SessionId> = self
                .holding_json(key, &json)
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| Some(id) != keep && !ended.contains(id) && !failed_ids.contains(id))
                .collect();
            if found.is_empty() {
                break;
            }
            // Every session is tried, whatever fails on the way.
            for id in found {
                match self.call("destroy", self.store.destroy(&id)).await {
                    Ok(()) => ended.push(id),
                    Err(error) => {
                        failed_ids.push(id);
                        failed.get_or_insert(error);
                    }
                }
            }
        }
        if !ended.is_empty()
            && let Err(error) = self
                .call(
                    "index_remove",
                    self.store.index_remove(IndexEntry::new(key, &json), &ended),
                )
                .await
        {
            // The store's reap removes them: their sessions are gone.
            tracing::warn!(%error, "could not remove the index entries of ended sessions");
        }
        match failed {
            None => Ok(ended.len()),
            Some(first) => Err(StoreError::with_source(
                format!(
                    "{} session(s) could not be ended ({} were)",
                    failed_ids.len(),
                    ended.len()
                ),
                first,
            )),
        }
    }

    /// The live sessions stored with `value` under `key`, with their records.
    async fn holding<V: IndexKey>(
        &self,
        key: &'static str,
        value: &V,
    ) -> Result<Vec<(SessionId, Record)>, StoreError> {
        match index_value(value)? {
            Some(json) => self.holding_json(key, &json).await,
            None => Ok(Vec::new()),
        }
    }

    /// The ids recorded under the entry, each checked against its session:
    /// kept if it is live and still holds the value. Entries are not removed
    /// here, even for sessions that are gone: one may have been written just
    /// before its session (see [`INDEX_GRACE`](crate::store::INDEX_GRACE));
    /// the store's reap removes them.
    async fn holding_json(
        &self,
        key: &'static str,
        json: &str,
    ) -> Result<Vec<(SessionId, Record)>, StoreError> {
        let ids = self
            .call(
                "index_members",
                self.store.index_members(IndexEntry::new(key, json)),
            )
            .await?;
        let now = now_ms();
        let ttl = self.store.ttl();
        let mut live = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(record) = self.call("load", self.store.load(&id)).await?
                && expires_at(&record, ttl).is_none_or(|expires| is_live(expires, now))
                && record
                    .fields
                    .get(key)
                    .is_some_and(|stored| same_json(stored.get(), json))
            {
                live.push((id, record));
            }
        }
        Ok(live)
    }

    fn info<T: SessionSchema>(&self, id: SessionId, record: &Record) -> SessionInfo<T> {
        let time = |ms: u64| SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms));
        SessionInfo {
            id,
            created: record.created.and_then(time),
            last_access: record.last_access.and_then(time),
            expires: expires_at(record, self.store.ttl()).and_then(time),
            data: T::decode_session(&record.fields),
        }
    }
}

/// The JSON text `value` is stored as; `None` for `null`, which is not indexed.
pub(crate) fn index_value<V: Serialize + ?Sized>(value: &V) -> Result<Option<String>, StoreError> {
    let json = serde_json::to_string(value).map_err(|error| {
        StoreError::new(format!("an index value could not be encoded: {error}"))
    })?;
    Ok((json != "null").then_some(json))
}

/// Whether two JSON texts are the same value: byte-equal, as this crate
/// writes them, or equal once parsed (a value another program stored, with
/// other spacing or escapes).
pub(crate) fn same_json(stored: &str, json: &str) -> bool {
    stored == json
        || serde_json::from_str::<serde_json::Value>(stored)
            .ok()
            .zip(serde_json::from_str::<serde_json::Value>(json).ok())
            .is_some_and(|(a, b)| a == b)
}

/// The stored keys of the indexed fields this layer knows of: those of every
/// schema its requests have extracted, and those the store has entries for
/// (read at `cycle_id`, where a session's values move to a new id whatever
/// schema the request extracted).
#[derive(Default)]
pub(crate) struct IndexedKeys(RwLock<Vec<Box<str>>>);

impl IndexedKeys {
    pub(crate) fn learn(&self, keys: &[impl AsRef<str>]) {
        let known = |list: &[Box<str>], key: &str| list.iter().any(|k| &**k == key);
        {
            let list = read(&self.0);
            if keys.iter().all(|key| known(&list, key.as_ref())) {
                return;
            }
        }
        let mut list = write(&self.0);
        for key in keys {
            if !known(&list, key.as_ref()) {
                list.push(key.as_ref().into());
            }
        }
    }

    /// Whether the layer knows of any indexed field.
    pub(crate) fn any(&self) -> bool {
        !read(&self.0).is_empty()
    }

    /// The indexed values `record` holds, as (key, JSON) pairs, for the keys
    /// `wanted` picks; `null`s are not indexed.
    pub(crate) fn values(
        &self,
        record: &Record,
        wanted: impl Fn(&str) -> bool,
    ) -> Vec<(Box<str>, String)> {
        read(&self.0)
            .iter()
            .filter(|key| wanted(key))
            .filter_map(|key| {
                let value = record.fields.get(key)?.get();
                (value != "null").then(|| (key.clone(), value.to_owned()))
            })
            .collect()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Sessions {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<SessionHandle>() {
            Some(SessionHandle(handle)) => Ok(Sessions::shared(
                handle.store(),
                handle.config.store_timeout,
            )),
            None => Err(SessionRejection::MissingLayer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_not_indexed_and_values_encode_as_stored() {
        assert_eq!(index_value(&None::<String>).unwrap(), None);
        assert_eq!(
            index_value(&Some("al\"ice".to_owned())).unwrap().as_deref(),
            Some(r#""al\"ice""#)
        );
        assert_eq!(index_value(&42u64).unwrap().as_deref(), Some("42"));
    }

    #[test]
    fn json_texts_compare_as_values() {
        assert!(same_json(r#""alice""#, r#""alice""#));
        assert!(same_json(r#""\u0061lice""#, r#""alice""#));
        assert!(same_json("42", " 42 "));
        assert!(!same_json(r#""alice""#, r#""bob""#));
        assert!(!same_json("42", r#""42""#));
        assert!(!same_json("{", ""));
    }
}
