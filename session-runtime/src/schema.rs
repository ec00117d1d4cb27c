//! The trait `#[derive(Session)]` implements, and the per-field machinery behind dirty tracking.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::EncodeError;
use crate::record::Fields;

/// A session schema: a struct whose named fields are the session's stored keys.
///
/// Implemented by `#[derive(Session)]`; writing it by hand is possible but not
/// needed. The runtime decodes the struct from the stored record when a handler
/// extracts [`Session<T>`](struct@crate::Session), and at the end of the request diffs
/// each field against its state at the first mutable access, so that only
/// changed fields are written back.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a session schema",
    label = "`{Self}` does not derive `Session`",
    note = "add `#[derive(Session)]` to `{Self}` (from `session_runtime::Session`)"
)]
pub trait SessionSchema: Sized + Send + 'static {
    /// Stored key of each stored field, in the order [`visit_fields`](Self::visit_fields) visits them.
    const KEYS: &'static [&'static str];

    /// Stored keys of the indexed fields (`#[session(index)]`): the store
    /// keeps, for each of their values, the sessions that hold it
    /// ([`Sessions`](crate::Sessions)). None by default.
    const INDEXED: &'static [&'static str] = &[];

    /// Stored keys of the flash fields (`#[session(flash)]`, of type
    /// [`Flash<T>`](crate::Flash)): removed from the session when a request
    /// extracts the schema, so that each value is seen by one request. None
    /// by default.
    const FLASH: &'static [&'static str] = &[];

    /// The value of a brand-new session: every field at its `default`.
    fn default_session() -> Self;

    /// Decodes the struct from a stored record. Absent keys and values that no
    /// longer decode into their field's type take the field's default (the
    /// latter with a `tracing` warning); unknown keys are ignored here and kept
    /// in the record.
    fn decode_session(fields: &Fields) -> Self;

    /// Calls `visitor.field` once per stored field, in [`KEYS`](Self::KEYS) order.
    fn visit_fields<V: FieldVisitor>(&self, visitor: &mut V);
}

/// Receives each stored field of a schema in turn. Used for snapshots and diffs.
pub trait FieldVisitor {
    /// Visits the next field.
    fn field<F: Serialize + ?Sized>(&mut self, value: &F);
}

/// Decodes one field for the derive: the first of `keys` (stored key, then
/// aliases) that is present and decodes wins; otherwise the default.
#[doc(hidden)]
pub fn decode_field<F: DeserializeOwned>(
    fields: &Fields,
    schema: &'static str,
    field: &'static str,
    keys: &[&'static str],
    default: impl FnOnce() -> F,
) -> F {
    for key in keys {
        if let Some(raw) = fields.get(key) {
            match serde_json::from_str::<F>(raw.get()) {
                Ok(value) => return value,
                Err(error) => {
                    // Where and what kind, not serde's message: it quotes the stored
                    // value (`invalid type: string "…"`), which may be a secret.
                    tracing::warn!(
                        schema,
                        field,
                        key,
                        category = ?error.classify(),
                        line = error.line(),
                        column = error.column(),
                        "stored session value does not decode into the field's type; using the field's default"
                    );
                    return default();
                }
            }
        }
    }
    default()
}

/// Each stored field's JSON encoding, in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Snapshot {
    /// Encodes every stored field of `value`.
    pub(crate) fn take<T: SessionSchema>(value: &T) -> Self {
        struct Take<'a>(&'a mut Snapshot);
        impl FieldVisitor for Take<'_> {
            fn field<F: Serialize + ?Sized>(&mut self, value: &F) {
                // An unencodable field leaves an empty slice, which never equals valid
                // JSON, so the diff reports it and surfaces the error.
                if serde_json::to_writer(&mut self.0.buf, value).is_err() {
                    let start = self.0.ends.last().copied().unwrap_or(0);
                    self.0.buf.truncate(start);
                }
                self.0.ends.push(self.0.buf.len());
            }
        }
        let mut snapshot = Snapshot {
            buf: Vec::with_capacity(16 * T::KEYS.len()),
            ends: Vec::with_capacity(T::KEYS.len()),
        };
        value.visit_fields(&mut Take(&mut snapshot));
        snapshot
    }

    /// Field `index`'s encoding; empty (never valid JSON, so it differs from
    /// any field's) if there is no such field.
    fn get(&self, index: usize) -> &[u8] {
        let start = match index.checked_sub(1) {
            Some(previous) => self.ends.get(previous).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(index).copied().unwrap_or(start);
        self.buf.get(start..end).unwrap_or_default()
    }

    /// The fields of `value` whose encoding differs from this snapshot, with
    /// their new encodings. A field that cannot be encoded fails the whole
    /// diff: the request then saves nothing rather than part of its changes.
    pub(crate) fn diff<T: SessionSchema>(
        &self,
        value: &T,
    ) -> Result<Vec<(&'static str, Box<serde_json::value::RawValue>)>, EncodeError> {
        struct Diff<'a> {
            snapshot: &'a Snapshot,
            schema: &'static str,
            keys: &'static [&'static str],
            index: usize,
            scratch: Vec<u8>,
            changed: Vec<(&'static str, Box<serde_json::value::RawValue>)>,
            failure: Option<EncodeError>,
        }
        impl FieldVisitor for Diff<'_> {
            fn field<F: Serialize + ?Sized>(&mut self, value: &F) {
                let index = self.index;
                self.index += 1;
                if self.failure.is_some() {
                    return;
                }
                self.scratch.clear();
                // `visit_fields` visits exactly `KEYS.len()` fields (the derive writes both).
                let Some(&key) = self.keys.get(index) else {
                    return;
                };
                if let Err(error) = serde_json::to_writer(&mut self.scratch, value) {
                    self.failure = Some(EncodeError::new(self.schema, key, error));
                    return;
                }
                if self.scratch != self.snapshot.get(index) {
                    // serde_json writes UTF-8 JSON; the checks cannot fail, and
                    // if they did the field is reported rather than lost.
                    let raw = String::from_utf8(self.scratch.clone())
                        .map_err(serde::ser::Error::custom)
                        .and_then(serde_json::value::RawValue::from_string);
                    match raw {
                        Ok(raw) => self.changed.push((key, raw)),
                        Err(error) => {
                            self.failure = Some(EncodeError::new(self.schema, key, error))
                        }
                    }
                }
            }
        }
        let mut diff = Diff {
            snapshot: self,
            schema: std::any::type_name::<T>(),
            keys: T::KEYS,
            index: 0,
            scratch: Vec::with_capacity(64),
            changed: Vec::new(),
            failure: None,
        };
        value.visit_fields(&mut diff);
        match diff.failure {
            Some(failure) => Err(failure),
            None => Ok(diff.changed),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::value::RawValue;

    use super::*;

    /// Log lines written while `f` runs on this thread.
    fn logs(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
                buffer.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buffer.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn fields(key: &str, json: &str) -> Fields {
        let mut fields = Fields::default();
        fields.set(key, RawValue::from_string(json.to_owned()).unwrap());
        fields
    }

    #[test]
    fn a_value_that_does_not_decode_is_logged_without_the_value() {
        for json in [
            r#""secret-token""#,
            r#"{"secret-token":1}"#,
            r#"["secret-token"]"#,
            "-424242",
            "4.24242",
        ] {
            let stored = fields("token", json);
            let log = logs(|| {
                let value: u64 = decode_field(&stored, "Auth", "token", &["token"], || 7);
                assert_eq!(value, 7);
            });
            assert!(log.contains("WARN"), "{log}");
            assert!(log.contains("Auth") && log.contains("token"), "{log}");
            assert!(log.contains("Data"), "{log}");
            assert!(!log.contains("secret-token"), "{log}");
            assert!(!log.contains("4242"), "{log}");
        }
    }

    #[test]
    fn the_first_key_present_decides() {
        let stored = fields("old", "5");
        let value: u64 = decode_field(&stored, "Auth", "count", &["count", "old"], || 7);
        assert_eq!(value, 5);
        let value: u64 = decode_field(&stored, "Auth", "count", &["count"], || 7);
        assert_eq!(value, 7);
    }
}
