//! The counter contract on tower-sessions 0.15 with its `MemoryStore` and
//! signed cookies: the standard axum choice, for comparison.
//!
//! `GET /` increments `count` and answers `{"count": N}`, `GET /peek` reads it
//! without writing, `GET /hello` answers `hello` without a session. Port from
//! `PORT` or the first argument, else 8082.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tower_sessions::cookie::Key;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

const COUNT: &str = "count";

fn counter_json(count: u64) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        format!("{{\"count\": {count}}}"),
    )
}

async fn index(session: Session) -> impl IntoResponse {
    let count: u64 = session.get(COUNT).await.ok().flatten().unwrap_or(0) + 1;
    session
        .insert(COUNT, count)
        .await
        .expect("the memory store does not fail");
    counter_json(count)
}

async fn peek(session: Session) -> impl IntoResponse {
    let count: u64 = session.get(COUNT).await.ok().flatten().unwrap_or(0);
    counter_json(count)
}

async fn hello() -> &'static str {
    "hello"
}

#[tokio::main]
async fn main() {
    // A fixed 64-byte key: the benchmark needs signing cost, not secrecy.
    let key = Key::from(&[7u8; 64]);
    let layer = SessionManagerLayer::new(MemoryStore::default())
        .with_secure(false)
        .with_name("_ts_demo")
        .with_signed(key);
    let app = Router::new()
        .route("/", get(index))
        .route("/peek", get(peek))
        .layer(layer)
        .route("/hello", get(hello));
    session_bench::serve("axum-tower-sessions", app, 8082).await;
}
