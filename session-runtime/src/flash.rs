//! Flash fields: a value set in one request and seen by the next.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A flash message: set in one request, readable in the next request that
/// extracts the schema, then gone, whether that request read it or not.
///
/// A field of this type is marked `#[session(flash)]`. The value a request
/// [`set`](Self::set)s is saved with the request (before its response head
/// leaves, so it survives a redirect); the next request that extracts the
/// schema reads it with [`get`](Self::get), and the layer removes it with that
/// request's save. Setting costs the save it is part of; reading costs one
/// save, which the removal needs.
///
/// A wrapper rather than an attribute on a plain `Option<T>`: the message a
/// request received and the one it leaves for the next are two values. On a
/// plain field, setting the same message again ("saved" after "saved") would
/// look unchanged and be lost, and a handler that only reads it could not be
/// told from one that means to keep it.
///
/// ```
/// use axum::response::Redirect;
/// use session_runtime::{Flash, Session};
///
/// #[derive(Session)]
/// struct Notices {
///     #[session(flash)]
///     notice: Flash<String>,
/// }
///
/// async fn save(mut session: Session<Notices>) -> Redirect {
///     session.notice.set("saved".to_owned());
///     Redirect::to("/")
/// }
///
/// async fn show(session: Session<Notices>) -> String {
///     // Shown once: the next request finds nothing.
///     session.notice.get().cloned().unwrap_or_default()
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Flash<T> {
    /// What the previous request left.
    received: Option<T>,
    /// What this request leaves for the next.
    pending: Option<T>,
}

impl<T> Default for Flash<T> {
    fn default() -> Self {
        Flash {
            received: None,
            pending: None,
        }
    }
}

impl<T> Flash<T> {
    /// The value an earlier request set, if there is one: this request is
    /// the one that sees it.
    #[must_use]
    pub fn get(&self) -> Option<&T> {
        self.received.as_ref()
    }

    /// Leaves `value` for the next request of the session (replacing what
    /// this request set before, if anything).
    pub fn set(&mut self, value: T) {
        self.pending = Some(value);
    }

    /// What this request has set for the next one.
    #[must_use]
    pub fn pending(&self) -> Option<&T> {
        self.pending.as_ref()
    }

    /// Takes back what this request set: the next request gets nothing.
    pub fn clear(&mut self) -> Option<T> {
        self.pending.take()
    }
}

impl<T: fmt::Debug> fmt::Debug for Flash<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flash")
            .field("received", &self.received)
            .field("pending", &self.pending)
            .finish()
    }
}

/// Stored as the value this request leaves (`null` when none); read as the
/// value the previous request left. Serde is how the derive stores every
/// field; a `Flash` is only ever a `#[session(flash)]` field.
impl<T: Serialize> Serialize for Flash<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.pending.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Flash<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Flash {
            received: Option::deserialize(deserializer)?,
            pending: None,
        })
    }
}

/// The type of a `#[session(flash)]` field: [`Flash<T>`] alone.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[session(flash)]` needs a field of type `Flash<T>`, not `{Self}`",
    label = "not a `Flash<T>`",
    note = "write the field as `Flash<T>` (`session_runtime::Flash`), or remove `flash`"
)]
pub trait FlashField {}

impl<T> FlashField for Flash<T> {}

/// Checks, for the derive, that a `#[session(flash)]` field is a [`Flash<T>`].
#[doc(hidden)]
pub fn flash_field<F: FlashField>() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_reads_what_was_left_and_stores_what_it_leaves() {
        let mut flash: Flash<String> = serde_json::from_str(r#""hello""#).unwrap();
        assert_eq!(flash.get().map(String::as_str), Some("hello"));
        assert_eq!(serde_json::to_string(&flash).unwrap(), "null");
        flash.set("again".to_owned());
        assert_eq!(flash.get().map(String::as_str), Some("hello"));
        assert_eq!(flash.pending().map(String::as_str), Some("again"));
        assert_eq!(serde_json::to_string(&flash).unwrap(), r#""again""#);
        assert_eq!(flash.clear().as_deref(), Some("again"));
        assert_eq!(flash.pending(), None);
        let empty: Flash<String> = serde_json::from_str("null").unwrap();
        assert_eq!(empty, Flash::default());
        assert_eq!(
            format!("{empty:?}"),
            "Flash { received: None, pending: None }"
        );
    }
}
