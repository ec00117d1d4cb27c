//! The store test kit: one suite that checks a [`SessionStore`] against the
//! contract written on that trait; and helpers for testing an app that uses
//! the layer (see [Testing an app](#testing-an-app)).
//!
//! Enabled by the `testing` feature, usually as a dev-dependency:
//!
//! ```toml
//! [dev-dependencies]
//! session-runtime = { version = "0.1", features = ["testing"] }
//! ```
//!
//! # Running it
//!
//! In an integration test, [`store_kit!`](crate::store_kit) writes one
//! `#[test]` per check into a module of the name you give, so each failure is
//! reported under its own name and the checks run in parallel. Each test
//! builds its own tokio runtime, so your crate needs no tokio macros:
//!
//! ```
//! use session_runtime::MemoryStore;
//!
//! session_runtime::store_kit!(memory_store, || async { MemoryStore::new() });
//! # fn main() {}
//! ```
//!
//! The factory is a closure returning a future, so a store that needs a
//! running server can connect (or start a container) there. It is called once
//! per check, inside the check's runtime, and may return the store alone or a
//! pair `(store, guard)` whose guard (a temporary directory, a server
//! handle) lives until the check ends; see [`StoreFixture`].
//!
//! Each check is also a plain `async fn` taking a fresh store, and
//! [`run_all`] runs them all in one call, for a test that drives its own
//! runtime or shares one expensive setup:
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! use session_runtime::{MemoryStore, testing};
//!
//! testing::update_after_destroy_does_not_recreate(MemoryStore::new()).await;
//! testing::run_all(|| async { MemoryStore::new() }).await;
//! # }
//! ```
//!
//! # What it checks
//!
//! Every rule of [`SessionStore`]'s contract: the round trip of a record and
//! its cookie settings; [`update`](SessionStore::update) merging only the
//! changed fields, also under concurrent saves of one session; `touch` and
//! `update` never bringing a destroyed or expired session back; `destroy` of a
//! missing session; the one expiry rule ([`expires_at`](crate::store::expires_at))
//! with a max age, without one and with a max age of 0, on every load; raw
//! values kept byte for byte; ids of 128 characters; a 1 MiB record; non-ASCII
//! keys and values; three interleavings of requests, each replayed in a
//! fixed order; and, for a store that implements
//! [`lock`](SessionStore::lock), that a held session cannot be taken twice,
//! is free again once dropped (or when a waiter gives up), and keeps
//! concurrent read-modify-writes of one field from losing any (a store
//! without locks must fail `lock` and say `supports_locking() == false`). Each check's documentation says what it does.
//!
//! # Requirements on the store under test
//!
//! - The store keeps the `last_access` it is given (the layer's clock): the
//!   checks make expired sessions by creating records last accessed in the
//!   past, so that nothing has to sleep. One check waits about three seconds
//!   for a session to expire; no other check sleeps.
//! - Its [`ttl`](SessionStore::ttl) is at least [`MIN_TTL`], so that a session
//!   the kit means to be live stays live while a check runs.
//! - Each check makes its own random ids ([`SessionId::generate`]), so one
//!   store (or one server) may be shared by all checks and other tests.
//! - Checks run inside a tokio runtime; the concurrency check spawns tasks, so
//!   on a multi-threaded runtime (what `store_kit!` builds) they really run
//!   in parallel.
//!
//! A broken rule panics with a message naming the check and the rule, such as
//! ``store kit, check `update_after_destroy_does_not_recreate`: an update after
//! destroy recreated the session``.
//!
//! # Testing an app
//!
//! [`TestClient`] sends requests to a router in process and keeps its cookies
//! like a browser; [`session_id`] reads the id out of a `Set-Cookie`,
//! [`signed_cookie`] and [`cookie_header`] sign an id into a cookie as the
//! layer does, and [`load_view`] loads the typed view of a stored session.
//! Like the checks, they panic on misuse rather than return errors.
//!
//! [`SessionId::generate`]: crate::SessionId::generate

// Test support: a broken contract fails the check with a panic, as assertions do.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::future::Future;
use std::time::Duration;

use crate::store::SessionStore;

mod app;
mod checks;
mod probe;

pub use app::{TestClient, TestResponse, cookie_header, load_view, session_id, signed_cookie};
pub use checks::*;

/// The shortest [`ttl`](SessionStore::ttl) the kit accepts: its live sessions
/// are last accessed up to half a ttl ago and must stay live for seconds.
pub const MIN_TTL: Duration = Duration::from_secs(20);

/// How long one check may take before it fails as hung.
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// What a factory gives each check: a store, and whatever must live as long
/// as it.
///
/// Implemented for every store, and for a pair `(store, guard)`: the guard
/// (a temporary directory, a connection to clean up, a server process) is
/// dropped when the check ends, after the store.
///
/// ```
/// use session_runtime::{FileStore, testing::StoreFixture};
///
/// struct TempDir(std::path::PathBuf);
/// impl Drop for TempDir {
///     fn drop(&mut self) {
///         let _ = std::fs::remove_dir_all(&self.0);
///     }
/// }
///
/// let dir = TempDir(std::env::temp_dir().join("store-kit-doc"));
/// let fixture = (FileStore::new(&dir.0), dir);
/// assert!(fixture.store().path().ends_with("store-kit-doc"));
/// ```
pub trait StoreFixture: Send + Sync + 'static {
    /// The store under test.
    type Store: SessionStore;

    /// The store under test.
    fn store(&self) -> &Self::Store;
}

impl<S: SessionStore> StoreFixture for S {
    type Store = S;

    fn store(&self) -> &S {
        self
    }
}

impl<S: SessionStore, G: Send + Sync + 'static> StoreFixture for (S, G) {
    type Store = S;

    fn store(&self) -> &S {
        &self.0
    }
}

/// Runs every check, one after the other, each on a fresh fixture from
/// `factory`. Panics at the first broken rule, naming the check and the rule.
///
/// Call it inside a multi-threaded tokio runtime, so that the concurrency
/// check runs its saves in parallel. [`store_kit!`](crate::store_kit) is the
/// better choice in a test file: it reports each check on its own.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// session_runtime::testing::run_all(|| async { session_runtime::MemoryStore::new() }).await;
/// # }
/// ```
pub async fn run_all<F, Fut>(mut factory: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output: StoreFixture>,
{
    crate::__store_kit_checks!(run_all factory);
}

/// Runs one check of [`store_kit!`](crate::store_kit) on a fresh runtime.
/// Not public API.
#[doc(hidden)]
pub fn __run(check: &'static str, body: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("store kit: cannot start a tokio runtime");
    runtime.block_on(async {
        if tokio::time::timeout(CHECK_TIMEOUT, body).await.is_err() {
            panic!(
                "store kit, check `{check}`: did not finish within {} s (a lock never released?)",
                CHECK_TIMEOUT.as_secs()
            );
        }
    });
}

/// Writes the store test kit as tests: a module `name` holding one `#[test]`
/// per check of [`session_runtime::testing`](crate::testing), each running
/// on a fresh fixture from `factory`.
///
/// `factory` is a closure returning a future of a store, or of a pair
/// `(store, guard)` ([`StoreFixture`]). It is expanded inside the module, which
/// glob-imports its parent, so it may name what the test file imports.
///
/// ```
/// use std::time::Duration;
/// use session_runtime::MemoryStore;
///
/// session_runtime::store_kit!(memory_store, || async {
///     MemoryStore::new().with_ttl(Duration::from_secs(60))
/// });
/// # fn main() {}
/// ```
///
/// A store that needs a server connects in the factory; each check uses its
/// own ids, so every check may share one server:
///
/// ```
/// # use session_runtime::MemoryStore as RedisStore;
/// # trait Connect { async fn connect(_: &str) -> Result<RedisStore, ()> { Ok(RedisStore::new()) } }
/// # impl Connect for RedisStore {}
/// session_runtime::store_kit!(redis_store, || async {
///     RedisStore::connect("redis://127.0.0.1:6379").await.unwrap()
/// });
/// # fn main() {}
/// ```
///
/// Requires the `testing` feature.
#[macro_export]
macro_rules! store_kit {
    ($name:ident, $factory:expr $(,)?) => {
        $crate::__store_kit_checks!(tests $name, $factory);
    };
}

/// The one list of checks, handed to [`store_kit!`] and [`run_all`]. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_kit_checks {
    ($($how:tt)*) => {
        $crate::__store_kit_each!(
            [$($how)*]
            load_returns_what_was_created,
            update_merges_only_the_changed_fields,
            concurrent_updates_of_different_fields_lose_nothing,
            touch_extends_life_without_writing_fields,
            touch_never_resurrects_a_destroyed_session,
            touch_never_resurrects_an_expired_session,
            update_and_touch_never_create_a_session,
            destroy_of_a_missing_session_is_not_an_error,
            expiry_follows_original_max_age,
            expiry_falls_back_to_ttl_without_max_age,
            expiry_is_checked_on_every_load,
            update_of_an_expired_session_is_gone,
            unknown_keys_are_kept_byte_for_byte,
            ids_at_the_length_limit_are_distinct_and_usable,
            a_one_mebibyte_record_round_trips,
            non_ascii_keys_and_values_round_trip,
            update_after_destroy_does_not_recreate,
            cookie_only_update_keeps_a_field_saved_meanwhile,
            create_on_a_live_id_does_not_merge,
            lock_is_exclusive_until_dropped,
            locked_read_modify_writes_lose_nothing,
            update_removes_a_taken_flash_only_if_unchanged,
            index_keeps_exactly_the_inserted_ids,
            concurrent_index_writes_lose_nothing,
        );
    };
}

/// Expands the list of checks into tests or into calls. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_kit_each {
    ([tests $name:ident, $factory:expr] $($check:ident,)*) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    $crate::testing::__run(::core::stringify!($check), async {
                        let fixture = ($factory)().await;
                        $crate::testing::$check(fixture).await;
                    });
                }
            )*
        }
    };
    ([run_all $factory:ident] $($check:ident,)*) => {
        $( $crate::testing::$check($factory().await).await; )*
    };
}
