//! Thin wrappers over the crate-private per-request pieces, for the
//! micro-benchmarks of the `session-bench` crate (`bench/` in the repository),
//! compiled only with the `bench-hooks` feature, which that crate enables.
//!
//! **Not public API.** Hidden from the docs, outside semver: anything here may
//! change or disappear in any release. Applications use [`SessionLayer`](crate::SessionLayer).

use http::HeaderMap;
use serde_json::value::RawValue;

use crate::record::CookieMeta;
use crate::schema::SessionSchema;
use crate::signing::Secrets;

/// The raw value of the first cookie called `name` in `headers`, as the layer finds it.
#[must_use]
pub fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    crate::cookie::find(headers, name)
}

/// What the layer does with a request's cookie: find it, percent-decode it on
/// the stack, verify its signature. The length of the verified id, if any.
#[must_use]
pub fn verify_cookie(secrets: &Secrets, headers: &HeaderMap, name: &str) -> Option<usize> {
    let raw = crate::cookie::find(headers, name)?;
    let mut buffer: crate::cookie::DecodeBuffer = [0; 192];
    let value = crate::cookie::decode(raw, &mut buffer);
    secrets.unsign(&value).map(str::len)
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
