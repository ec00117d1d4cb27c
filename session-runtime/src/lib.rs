#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Library code never panics on input: every exception below carries its reason.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod config;
mod cookie;
mod error;
mod extract;
mod flash;
mod id;
mod index;
mod layer;
mod record;
mod request;
mod schema;
mod signing;
mod sync;
mod time;

#[cfg(test)]
mod proptests;

pub mod store;

#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
pub mod __private;

/// Wrappers for the `session-bench` micro-benchmarks; not public API (the
/// `bench-hooks` feature, which only the `session-bench` crate enables).
#[cfg(feature = "bench-hooks")]
#[doc(hidden)]
pub mod __bench;

pub use config::{OnStoreError, Unset};
pub use error::{
    DecodeError, EncodeError, InvalidId, SecretError, SessionError, SessionRejection, StoreError,
};
pub use extract::{CookieMut, Session};
pub use flash::Flash;
pub use id::SessionId;
pub use index::{Index, IndexKey, SessionInfo, Sessions};
pub use layer::{SessionLayer, SessionService};
pub use record::{CookieMeta, Fields, Priority, Record, SameSite};
pub use schema::{FieldVisitor, SessionSchema};
pub use signing::{RECOMMENDED_SECRET_LEN, Secrets};
pub use store::SessionStore;
pub use store::file::FileStore;
pub use store::memory::MemoryStore;
#[cfg(feature = "redis")]
pub use store::redis::RedisStore;

/// Derives [`SessionSchema`], making a struct usable as [`Session<T>`](struct@Session).
///
/// Each named field is one stored key, under the field's name (`r#type` is
/// stored as `type`). A field's type needs serde's `Serialize` and
/// `Deserialize` and must be `Send + 'static`; the struct itself needs no
/// `Default`, and the crate that derives needs no dependency on serde.
/// Generic structs and lifetimes are rejected: a session is decoded from the
/// store into owned, concrete types. `cookie`, `__lastAccess` and `__created`
/// are reserved keys (express-session, the file store and `absolute_timeout`
/// use them), and no two fields may
/// map to the same stored key, counting `rename` and `alias`.
///
/// Mistakes are compile errors, one per mistake, on the token you wrote.
///
/// # `#[session(default = expr)]`
///
/// The field's value in a new session, and when its stored value is missing
/// or no longer decodes into the field's type. Without it the field starts at
/// `Default::default()`, so its type must implement `Default`.
///
/// ```
/// use session_runtime::{Session, SessionSchema};
///
/// #[derive(Session)]
/// struct Prefs {
///     #[session(default = "en".to_owned())]
///     lang: String,
///     #[session(default = vec![10, 25, 50])]
///     page_sizes: Vec<u32>,
///     dark_mode: bool, // `Default::default()`: false
/// }
///
/// let prefs = Prefs::default_session();
/// assert_eq!((prefs.lang.as_str(), prefs.page_sizes.len(), prefs.dark_mode), ("en", 3, false));
/// ```
///
/// # `#[session(rename = "key")]`
///
/// Stores the field under `key` instead of its name, for example to share a
/// session with an Express app that uses camelCase keys.
///
/// ```
/// use session_runtime::{Session, SessionSchema};
///
/// #[derive(Session)]
/// struct Auth {
///     #[session(rename = "userId")]
///     user_id: Option<u64>,
/// }
///
/// assert_eq!(Auth::KEYS, ["userId"]);
/// ```
///
/// # `#[session(alias = "old")]`
///
/// Also reads the field from `old` when its own key is absent; writes always
/// go to the field's own key. Repeatable. Use it to rename a stored key
/// without logging everyone out.
///
/// ```
/// use session_runtime::{Session, SessionSchema};
///
/// #[derive(Session)]
/// struct Auth {
///     #[session(rename = "uid", alias = "user_id", alias = "userId")]
///     user: Option<u64>,
/// }
///
/// assert_eq!(Auth::KEYS, ["uid"]); // aliases are read, never written
/// ```
///
/// # `#[session(skip)]`
///
/// Never stored nor read: the field is `Default::default()` whenever the
/// session is loaded. Its type needs `Default` and `Send`, not serde;
/// it cannot be combined with `default`, `rename` or `alias`.
///
/// ```
/// use session_runtime::{Session, SessionSchema};
///
/// #[derive(Session)]
/// struct Page {
///     visits: u32,
///     #[session(skip)]
///     scratch: std::collections::HashMap<String, String>,
/// }
///
/// assert_eq!(Page::KEYS, ["visits"]);
/// ```
///
/// # `#[session(crate = path)]`, on the struct
///
/// Names this crate for code that re-exports it, when `session_runtime` is not
/// a dependency of the crate that derives. The re-export must include the
/// hidden `__private` module, which a glob re-export does.
///
/// ```
/// mod web {
///     pub use session_runtime::*; // brings the derive, the traits and `__private`
/// }
///
/// #[derive(web::Session)]
/// #[session(crate = web)]
/// struct Counter {
///     #[session(default = 0)]
///     count: u64,
/// }
///
/// use web::SessionSchema;
/// assert_eq!(Counter::default_session().count, 0);
/// ```
///
/// # The full picture
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
///
/// async fn add(mut shop: Session<Shop>) {
///     shop.cart.push("socks".to_owned()); // only `cart` is written back
/// }
/// ```
///
/// A field type that cannot be stored is reported once, on that type:
///
/// ```compile_fail
/// use session_runtime::Session;
///
/// struct Cart; // no serde derives
///
/// #[derive(Session)]
/// struct Shop {
///     #[session(default = Cart)]
///     cart: Cart, // error: `Cart` cannot be stored in a session
/// }
/// ```
pub use session_macros::Session;
