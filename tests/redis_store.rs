//! `RedisStore` on a real `redis-server`: the store test kit on one node
//! (a fresh server per check) and on a three-master cluster, and
//! connect-redis's format checked with `redis-cli`.

mod support;

use std::time::Duration;

use session_runtime::store::redis::RedisStore;
use session_runtime::store::{Created, Update, Updated};
use session_runtime::{Record, SessionId, SessionStore};
use support::redis::{RedisCluster, RedisServer};

fn server() -> RedisServer {
    RedisServer::start().expect("redis-server and redis-cli are installed")
}

async fn store_on(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&server.url()).await.unwrap()
}

// Each check gets its own server, killed when the check ends.
session_runtime::store_kit!(single_node, || async {
    let server = server();
    (store_on(&server).await, server)
});

/// Every check of the kit on a Redis Cluster: the save script touches one
/// key, so it runs wherever the cluster puts that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_kit_passes_on_a_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let urls = cluster.urls();
    session_runtime::testing::run_all(|| {
        let urls = urls.clone();
        async move { RedisStore::builder().connect_cluster(&urls).await.unwrap() }
    })
    .await;
}

async fn create(store: &RedisStore, id: &SessionId, record: &Record) {
    assert_eq!(store.create(id, record).await.unwrap(), Created::Stored);
}

fn record(fields: &[(&str, &str)], max_age: Option<u64>) -> Record {
    let now = support::clock::now_ms();
    let mut record = Record::default();
    for (key, value) in fields {
        record.fields.set(
            key,
            serde_json::value::RawValue::from_string((*value).to_owned()).unwrap(),
        );
    }
    record.last_access = Some(now);
    record.cookie.original_max_age = max_age;
    record.cookie.expires = max_age.map(|ms| now + ms);
    record
}

/// The key is `sess:<id>`, the value express-session's JSON, and the key
/// expires with the cookie (or after the ttl, a day, without a max age).
#[tokio::test]
async fn sessions_are_stored_as_connect_redis_stores_them() {
    let server = server();
    let store = store_on(&server).await;
    let id = SessionId::generate();
    let session = record(&[("count", "3")], Some(60_000));
    assert_eq!(store.create(&id, &session).await.unwrap(), Created::Stored);
    let key = format!("sess:{}", id.as_str());
    let value = server.cli(&["GET", &key]);
    assert!(
        value.starts_with(r#"{"cookie":{"originalMaxAge":60000,"expires":""#)
            && value.contains(r#""httpOnly":true,"path":"/"},"count":3,"__lastAccess":"#),
        "{value}"
    );
    let pttl: u64 = server.cli(&["PTTL", &key]).trim().parse().unwrap();
    assert!((55_000..=60_000).contains(&pttl), "PTTL {pttl}");

    let browser_session = SessionId::generate();
    create(&store, &browser_session, &record(&[("a", "1")], None)).await;
    let ttl: u64 = server
        .cli(&["TTL", &format!("sess:{}", browser_session.as_str())])
        .trim()
        .parse()
        .unwrap();
    assert!((86_390..=86_400).contains(&ttl), "TTL {ttl}");
}

/// A touch extends the key's life with `PEXPIREAT` and leaves the value as
/// it is, byte for byte; the next load reports the touch.
#[tokio::test]
async fn a_touch_only_moves_the_expiry() {
    let server = server();
    let store = store_on(&server).await;
    let id = SessionId::generate();
    let mut session = record(&[("n", "1")], Some(60_000));
    session.last_access = session.last_access.map(|at| at - 30_000);
    session.cookie.expires = session.cookie.expires.map(|at| at - 30_000);
    create(&store, &id, &session).await;
    let key = format!("sess:{}", id.as_str());
    let before = server.cli(&["GET", &key]);
    let touched = record(&[("n", "\"stale\"")], Some(60_000));
    assert_eq!(store.touch(&id, &touched).await.unwrap(), Updated::Stored);
    assert_eq!(
        server.cli(&["GET", &key]),
        before,
        "a touch rewrote the value"
    );
    let pttl: u64 = server.cli(&["PTTL", &key]).trim().parse().unwrap();
    assert!(
        pttl > 55_000,
        "the touch did not extend the key: PTTL {pttl}"
    );
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.last_access, touched.last_access);
    assert_eq!(loaded.cookie.expires, touched.cookie.expires);
}

/// A save whose session lifetime is over deletes the key instead of writing it.
#[tokio::test]
async fn a_save_past_the_sessions_lifetime_deletes_it() {
    let server = server();
    let store = store_on(&server).await;
    let id = SessionId::generate();
    create(&store, &id, &record(&[("n", "1")], Some(60_000))).await;
    let loaded = store.load(&id).await.unwrap().unwrap();
    let mut ended = loaded.clone();
    ended.last_access = Some(1);
    assert_eq!(
        store.update(&id, Update::new(&ended, &[])).await.unwrap(),
        Updated::Stored
    );
    assert_eq!(
        server
            .cli(&["EXISTS", &format!("sess:{}", id.as_str())])
            .trim(),
        "0"
    );
}

/// A save based on a value another request has replaced since merges into
/// the new value instead of overwriting it.
#[tokio::test]
async fn a_save_based_on_a_stale_value_merges() {
    let server = server();
    let store = store_on(&server).await;
    let id = SessionId::generate();
    create(
        &store,
        &id,
        &record(&[("a", "0"), ("b", "0")], Some(60_000)),
    )
    .await;
    let mut first = store.load(&id).await.unwrap().unwrap();
    let mut second = store.load(&id).await.unwrap().unwrap();
    first.fields.set(
        "a",
        serde_json::value::RawValue::from_string("1".into()).unwrap(),
    );
    second.fields.set(
        "b",
        serde_json::value::RawValue::from_string("2".into()).unwrap(),
    );
    for (view, field) in [(&first, "a"), (&second, "b")] {
        let saved = store
            .update(&id, Update::new(view, &[field]))
            .await
            .unwrap();
        assert_eq!(saved, Updated::Stored);
    }
    let stored = store.load(&id).await.unwrap().unwrap();
    assert_eq!(stored.fields.get("a").unwrap().get(), "1");
    assert_eq!(stored.fields.get("b").unwrap().get(), "2");
}

/// The prefix and ttl options, and a `Debug` that leaves out the URL's password.
#[tokio::test]
async fn options_prefix_ttl_and_a_debug_without_the_password() {
    let server = server();
    let url = format!("redis://:secret-password@127.0.0.1:{}", server.port());
    // redis-server without `requirepass` refuses AUTH with a password.
    assert!(RedisStore::connect(&url).await.is_err());
    let store = RedisStore::builder()
        .prefix("app:")
        .ttl(Duration::from_secs(600))
        .connect(&server.url())
        .await
        .unwrap();
    let debug = format!("{store:?}");
    assert!(
        debug.contains("\"app:\"") && !debug.contains("127.0.0.1"),
        "{debug}"
    );
    let id = SessionId::generate();
    create(&store, &id, &record(&[("a", "1")], None)).await;
    let ttl: u64 = server
        .cli(&["TTL", &format!("app:{}", id.as_str())])
        .trim()
        .parse()
        .unwrap();
    assert!((590..=600).contains(&ttl), "TTL {ttl}");
}
