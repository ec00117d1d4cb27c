#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod cookie;
mod extract;
mod id;
mod layer;
mod record;
mod schema;
mod signing;
mod state;
mod time;

pub mod store;

#[doc(hidden)]
pub mod __private;

pub use extract::{Session, SessionRejection};
pub use id::SessionId;
pub use layer::{SessionLayer, SessionService};
pub use record::{CookieMeta, DecodeError, Fields, Priority, Record, SameSite};
pub use schema::{FieldVisitor, SessionSchema};
pub use signing::{SecretError, Secrets};
pub use store::file::FileStore;
pub use store::memory::MemoryStore;
pub use store::{SessionStore, StoreError};

/// Derives [`SessionSchema`], making a struct usable as [`Session<T>`](struct@Session).
///
/// Each named field is one stored key. Field attributes:
///
/// | attribute | effect |
/// |---|---|
/// | `#[session(default = expr)]` | value of a new session, and of a stored value that is missing or no longer decodes (else `Default::default()`) |
/// | `#[session(rename = "key")]` | store the field under `key` instead of its name |
/// | `#[session(alias = "old")]` | also read the field from `old` (repeatable); writes go to the stored key |
/// | `#[session(skip)]` | never stored; always `Default::default()` when the session is loaded |
///
/// On the struct, `#[session(crate = path)]` names this crate for code that
/// re-exports it. Field types need serde's `Serialize` and `Deserialize`; the
/// struct itself needs no `Default`, and the user's crate needs no serde.
/// `cookie` and `__lastAccess` are reserved keys.
///
/// ```
/// use session_runtime::Session;
///
/// #[derive(Session)]
/// struct Shop {
///     #[session(default = vec!["welcome".to_owned()])]
///     cart: Vec<String>,
///     #[session(rename = "uid", alias = "user_id")]
///     user: Option<u64>,
///     #[session(skip)]
///     scratch: String,
/// }
/// ```
pub use session_macros::Session;
