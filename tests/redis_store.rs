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
    let pttl = server.int(&["PTTL", &key]);
    assert!((55_000..=60_000).contains(&pttl), "PTTL {pttl}");

    let browser_session = SessionId::generate();
    create(&store, &browser_session, &record(&[("a", "1")], None)).await;
    let ttl = server.int(&["TTL", &format!("sess:{}", browser_session.as_str())]);
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
    let pttl = server.int(&["PTTL", &key]);
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
    assert_eq!(server.int(&["EXISTS", &format!("sess:{}", id.as_str())]), 0);
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
    let ttl = server.int(&["TTL", &format!("app:{}", id.as_str())]);
    assert!((590..=600).contains(&ttl), "TTL {ttl}");
}

/// A save over a value that is not a session is dropped with a warning that
/// names the session by its id's first characters only (an id is a bearer
/// credential) and never quotes the value.
#[tokio::test]
async fn a_save_over_a_corrupt_value_warns_without_the_id_or_the_value() {
    let server = server();
    let store = store_on(&server).await;
    let id = SessionId::generate();
    create(&store, &id, &record(&[("n", "1")], Some(60_000))).await;
    let mut loaded = store.load(&id).await.unwrap().unwrap();
    let key = format!("sess:{}", id.as_str());
    server.cli(&["SET", &key, "not json: private", "PX", "60000"]);
    loaded.fields.set(
        "n",
        serde_json::value::RawValue::from_string("2".into()).unwrap(),
    );
    let logs = support::LogCapture::install();
    let saved = store
        .update(&id, Update::new(&loaded, &["n"]))
        .await
        .unwrap();
    assert_eq!(saved, Updated::Gone);
    assert!(store.load(&id).await.unwrap().is_none());
    let text = logs.contents();
    assert!(text.contains("not a session"), "{text}");
    assert!(
        !text.contains(id.as_str()) && !text.contains("private"),
        "{text}"
    );
    assert_eq!(server.cli(&["GET", &key]).trim(), "not json: private");
}

/// A touch by a request that loaded the session before another request
/// saved it (here: shortened its max age to a minute) leaves the expiry that
/// save set: the key never outlives the max age stored in its value.
#[tokio::test]
async fn a_stale_touch_does_not_override_a_later_saves_expiry() {
    let server = server();
    let store = store_on(&server).await;
    let id = SessionId::generate();
    let hour = 3_600_000;
    create(&store, &id, &record(&[("n", "1")], Some(hour))).await;
    let mut stale = store.load(&id).await.unwrap().unwrap();
    let mut shortened = store.load(&id).await.unwrap().unwrap();
    let now = support::clock::now_ms();
    shortened.cookie.original_max_age = Some(60_000);
    shortened.cookie.expires = Some(now + 60_000);
    shortened.last_access = Some(now);
    let saved = store
        .update(&id, Update::new(&shortened, &[]))
        .await
        .unwrap();
    assert_eq!(saved, Updated::Stored);
    let now = support::clock::now_ms();
    stale.last_access = Some(now);
    stale.cookie.expires = Some(now + hour);
    assert_eq!(store.touch(&id, &stale).await.unwrap(), Updated::Stored);

    let pttl = server.int(&["PTTL", &format!("sess:{}", id.as_str())]);
    // `PTTL` is -2 for a missing key: the session must still be there.
    assert!(
        (0..=60_000).contains(&pttl),
        "the key lives {pttl} ms past a one-minute max age"
    );
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.cookie.original_max_age, Some(60_000));
    assert!(loaded.last_access.unwrap() <= support::clock::now_ms());
}

/// A key without expiry (connect-redis's `disableTTL`, a `PERSIST`) expires
/// by this store's rule: one whose `__lastAccess` is past its lifetime is no
/// session and is deleted, one still live gets the expiry it lacked.
#[tokio::test]
async fn a_key_without_expiry_gets_one_and_an_expired_one_is_deleted() {
    let server = server();
    let store = store_on(&server).await;
    let day = 86_400_000;
    let value = |last_access: u64| {
        format!(
            r#"{{"cookie":{{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}},"n":1,"__lastAccess":{last_access}}}"#
        )
    };
    let (expired, live) = (SessionId::generate(), SessionId::generate());
    let key = |id: &SessionId| format!("sess:{}", id.as_str());
    let now = support::clock::now_ms();
    server.cli(&["SET", &key(&expired), &value(now - 2 * day)]);
    server.cli(&["SET", &key(&live), &value(now - day / 2)]);

    assert!(store.load(&expired).await.unwrap().is_none());
    assert_eq!(server.int(&["EXISTS", &key(&expired)]), 0);
    let late = record(&[("n", "2")], None);
    let updated = store
        .update(&expired, Update::new(&late, &["n"]))
        .await
        .unwrap();
    assert_eq!(updated, Updated::Gone, "an expired session came back");

    let loaded = store.load(&live).await.unwrap().expect("a live session");
    assert_eq!(loaded.last_access, Some(now - day / 2));
    let pttl = server.int(&["PTTL", &key(&live)]);
    let half_day = i64::try_from(day / 2).unwrap();
    assert!(
        (half_day - 60_000..=half_day).contains(&pttl),
        "PTTL {pttl}"
    );
}

/// Two hundred requests of one process, each changing its own field of one
/// session from the view they all loaded, all save, and every change stays:
/// saves of one session take turns in the process, so they never run out
/// of compare-and-set tries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_savers_in_one_process_all_succeed() {
    let server = server();
    let store = std::sync::Arc::new(store_on(&server).await);
    let id = SessionId::generate();
    create(&store, &id, &record(&[("n", "0")], Some(60_000))).await;
    let loaded = store.load(&id).await.unwrap().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (store, id, mut view) = (store.clone(), id.clone(), loaded.clone());
        tasks.spawn(async move {
            let field = format!("f{i}");
            view.fields.set(
                &field,
                serde_json::value::RawValue::from_string(i.to_string()).unwrap(),
            );
            store.update(&id, Update::new(&view, &[&field])).await
        });
    }
    while let Some(saved) = tasks.join_next().await {
        assert_eq!(saved.unwrap().unwrap(), Updated::Stored);
    }
    let stored = store.load(&id).await.unwrap().unwrap();
    for i in 0..200 {
        let field = format!("f{i}");
        assert_eq!(stored.fields.get(&field).unwrap().get(), i.to_string());
    }
}
