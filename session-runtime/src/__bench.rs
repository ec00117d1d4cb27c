//! Thin wrappers over the crate-private per-request pieces, for the
//! micro-benchmarks of the `session-bench` crate (`bench/` in the repository),
//! compiled only with the `bench-hooks` feature, which that crate enables.
//!
//! **Not public API.** Hidden from the docs, outside semver: anything here may
//! change or disappear in any release. Applications use [`SessionLayer`](crate::SessionLayer).

#![allow(
    clippy::panic,
    reason = "benchmark hooks: a field that cannot be encoded is a broken benchmark"
)]

use http::HeaderMap;
use serde_json::value::RawValue;

use crate::id::SessionId;
use crate::record::CookieMeta;
use crate::schema::SessionSchema;
use crate::signing::Secrets;

/// The layer's step from a request's headers to its session id (find the
/// cookie, percent-decode it, verify it with every secret, parse the id):
/// the same function `SessionLayer` calls.
#[must_use]
pub fn verify_cookie(secrets: &Secrets, headers: &HeaderMap, name: &str) -> Option<SessionId> {
    match crate::cookie::read_session_cookie(
        headers,
        name,
        secrets,
        crate::config::DEFAULT_MAX_COOKIE_LENGTH,
    ) {
        crate::cookie::SessionCookie::Verified(id) => Some(id),
        crate::cookie::SessionCookie::Absent | crate::cookie::SessionCookie::Rejected => None,
    }
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
            Err(failure) => panic!("{failure}"),
        }
    }
}
