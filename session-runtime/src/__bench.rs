//! Thin wrappers over the crate-private per-request pieces, for the
//! micro-benchmarks of the `session-bench` crate (`bench/` in the repository).
//!
//! **Not public API.** Hidden from the docs, outside semver: anything here may
//! change or disappear in any release. Applications use [`SessionLayer`](crate::SessionLayer).

use std::borrow::Cow;

use http::HeaderMap;
use serde_json::value::RawValue;

use crate::record::CookieMeta;
use crate::schema::SessionSchema;
use crate::signing::Secrets;

/// The value of the first cookie called `name` in `headers`, as the layer reads it.
#[must_use]
pub fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    crate::cookie::find(headers, name)
}

/// The `Set-Cookie` value the layer sends for a signed cookie value.
#[must_use]
pub fn set_cookie(name: &str, signed_value: &str, meta: &CookieMeta) -> String {
    crate::cookie::set_cookie(name, signed_value, meta)
}

/// The unencoded signed cookie value for `id`: `s:<id>.<signature>`.
#[must_use]
pub fn sign(secrets: &Secrets, id: &str) -> String {
    secrets.sign(id)
}

/// The id in a signed cookie value, if one of `secrets` signed it.
#[must_use]
pub fn unsign<'a>(secrets: &Secrets, value: &'a str) -> Option<&'a str> {
    secrets.unsign(value)
}

/// The snapshot of a session's fields taken at its first mutable access.
#[derive(Debug)]
pub struct Snapshot(crate::schema::Snapshot);

impl Snapshot {
    /// Encodes every stored field of `value`.
    #[must_use]
    pub fn take<T: SessionSchema>(value: &T) -> Self {
        Snapshot(crate::schema::Snapshot::take(value))
    }

    /// The fields of `value` whose encoding differs from this snapshot.
    ///
    /// # Panics
    /// When a field of `value` cannot be encoded as JSON.
    #[must_use]
    pub fn diff<T: SessionSchema>(&self, value: &T) -> Vec<(&'static str, Box<RawValue>)> {
        match self.0.diff(value) {
            Ok(changed) => changed,
            Err(failure) => panic!("field {} does not encode: {}", failure.key, failure.error),
        }
    }
}
