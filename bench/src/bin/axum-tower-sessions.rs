//! The counter contract on tower-sessions 0.15 with its `MemoryStore` and
//! signed cookies: the standard axum choice, for comparison.
//!
//! `GET /` increments `count` and answers `{"count": N}`, `GET /peek` reads it
//! without writing, `GET /hello` answers `hello` without a session. Port from
//! `PORT` or the first argument, else 8082.

use tower_sessions::cookie::Key;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

#[tokio::main]
async fn main() {
    // A fixed 64-byte key: the benchmark needs signing cost, not secrecy.
    let key = Key::from(&[7u8; 64]);
    let layer = SessionManagerLayer::new(MemoryStore::default())
        .with_secure(false)
        .with_name("_ts_demo")
        .with_signed(key);
    let app = session_bench::tower_sessions_counter!(Session, layer);
    session_bench::serve("axum-tower-sessions", app, 8082).await;
}
