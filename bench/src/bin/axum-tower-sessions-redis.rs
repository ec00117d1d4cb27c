//! The counter contract on tower-sessions with tower-sessions-redis-store (on
//! fred), the standard axum choice for Redis, for comparison with
//! `examples/counter.rs --store redis`.
//!
//! tower-sessions-redis-store 0.16.0, its current release, implements
//! tower-sessions-core 0.14, so this server uses tower-sessions 0.14 (the
//! memory-store server uses 0.15, which only moved to rand 0.9 and fixed a
//! memory ordering). One fred `Client`: one multiplexed, pipelined
//! connection, as `RedisStore::connect` uses one redis-rs connection manager.
//! Cookies are signed and live five years, as in the counter example's file and
//! Redis demos.
//!
//! `GET /` increments `count` and answers `{"count": N}`, `GET /peek` reads it
//! without writing, `GET /hello` answers `hello` without a session. Redis from
//! `REDIS_URL` (else `redis://127.0.0.1:6379`); port from `PORT` or the first
//! argument, else 8084.

use tower_sessions_014::cookie::Key;
use tower_sessions_014::cookie::time::Duration;
use tower_sessions_014::{Expiry, Session, SessionManagerLayer};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{Client, ClientLike, Config};

#[tokio::main]
async fn main() {
    let url = std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let config = Config::from_url(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let client = Client::new(config, None, None, None);
    client
        .init()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));

    // A fixed 64-byte key: the benchmark needs signing cost, not secrecy.
    let key = Key::from(&[7u8; 64]);
    let layer = SessionManagerLayer::new(RedisStore::new(client))
        .with_secure(false)
        .with_name("_ts_demo")
        .with_expiry(Expiry::OnInactivity(Duration::days(5 * 365)))
        .with_signed(key);
    let app = session_bench::tower_sessions_counter!(Session, layer);
    session_bench::serve("axum-tower-sessions-redis", app, 8084).await;
}
