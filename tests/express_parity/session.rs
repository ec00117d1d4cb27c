//! `session()`: the cases directly under express-session's outer `describe`.

use crate::harness::express_layer;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use session_runtime::{MemoryStore, Record, Session};

use crate::harness::{
    MINUTE, SECRET, app, assert_rejected_genid, increment, modify_and_echo, seed,
};
use crate::support::wire::{self, serve};
use crate::support::{Client, CountingStore, cookie_pair, expires_attr, get_with_cookie};

#[tokio::test]
async fn do_nothing_if_req_session_exists() {
    // Mounting the layer twice: as in express, the first (outer) one owns the
    // request's session and the inner one passes it through.
    let outer = CountingStore::new();
    let inner = CountingStore::new();
    let router = Router::new()
        .route("/", get(increment))
        .layer(express_layer(inner.clone(), SECRET).save_uninitialized(false))
        .layer(express_layer(outer.clone(), SECRET).save_uninitialized(true));
    let mut client = Client::new(router);
    let first = client.get("/").await;
    assert_eq!(first.body, "1");
    assert_eq!(first.set_cookies().len(), 1, "{:?}", first.set_cookies());
    let second = client.get("/").await;
    assert_eq!(second.body, "2");
    assert_eq!(inner.calls.saves() + outer.calls.saves(), 2);
    assert_eq!(outer.calls.saves(), 2, "the outer layer owns the session");
    assert_eq!(
        inner.calls.writes() + inner.calls.loads(),
        0,
        "the inner layer does nothing"
    );
}

#[tokio::test]
#[should_panic(expected = "a session secret is empty")]
async fn error_without_secret() {
    let _ = express_layer(MemoryStore::new(), "");
}

#[tokio::test]
async fn create_a_new_session() {
    let store = CountingStore::new();
    let router = app(&store, |l| l.save_uninitialized(false).resave(false));
    let reply = Client::new(router).get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "1");
    let sid = reply.sid().expect("Set-Cookie for the new session");
    assert_eq!(store.calls.saves(), 1);
    assert_eq!(
        store
            .record(&sid)
            .await
            .unwrap()
            .fields
            .get("count")
            .unwrap()
            .get(),
        "1"
    );
}

#[tokio::test]
async fn load_session_from_cookie_sid() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false).resave(false)));
    let sid = client.get("/").await.sid().unwrap();
    let loads = store.calls.loads();
    let reply = client.get("/").await;
    assert_eq!(reply.body, "2");
    assert_eq!(store.calls.loads(), loads + 1);
    assert_eq!(client.get("/id").await.body, sid);
}

#[tokio::test]
async fn pass_session_fetch_error() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    client.get("/").await;
    store.fail_loads.store(true, Ordering::SeqCst);
    let reply = client.get("/").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session store error");
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.saves(), 1, "nothing saved after a failed load");
}

#[tokio::test]
async fn create_multiple_sessions() {
    let store = CountingStore::new();
    let router = app(&store, |l| l.save_uninitialized(false));
    let a = Client::new(router.clone()).get("/").await.sid().unwrap();
    let b = Client::new(router).get("/").await.sid().unwrap();
    assert_ne!(a, b);
    assert_eq!(store.inner.len(), 2);
}

#[derive(Session)]
struct Reserved {
    id: Option<String>,
    save: Option<u32>,
    destroy: Option<bool>,
}

#[tokio::test]
async fn handle_reserved_properties_in_storage() {
    // express drops stored keys that collide with its session methods; here
    // the API lives on `Session<T>`, so such keys are ordinary data.
    let store = CountingStore::new();
    let mut record = Record::from_json(
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"id":"stored","save":7,"reload":"x","destroy":true}"#,
    )
    .unwrap();
    record.last_access = None;
    let (sid, cookie) = seed(&store, record, Duration::ZERO).await;
    let router = Router::new()
        .route(
            "/",
            get(|mut s: Session<Reserved>| async move {
                let shown = format!("{:?} {:?} {:?} {}", s.id, s.save, s.destroy, s.id());
                s.save = Some(8);
                shown
            }),
        )
        .layer(express_layer(store.clone(), SECRET));
    let reply = get_with_cookie(&router, "/", &cookie).await;
    assert_eq!(
        reply.body,
        format!("Some(\"stored\") Some(7) Some(true) {sid}")
    );
    let json = store.record(&sid).await.unwrap().to_json();
    assert!(
        json.contains(r#""id":"stored","save":8,"reload":"x","destroy":true"#),
        "{json}"
    );
}

#[tokio::test]
async fn only_have_session_data_enumerable_and_cookie() {
    let store = CountingStore::new();
    let sid = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/")
        .await
        .sid()
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&store.record(&sid).await.unwrap().to_json()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // No id, no methods: the cookie, the app's data, and the file store's access stamp.
    assert_eq!(keys, ["__lastAccess", "cookie", "count"]);
}

#[tokio::test]
async fn update_cookie_expiration_when_slow_write() {
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", axum::routing::post(modify_and_echo))
        .layer(
            express_layer(store.clone(), SECRET)
                .rolling(true)
                .max_age(MINUTE),
        );
    let addr = serve(router).await;
    let chunks = [("hello, ", 0), ("world!", 200)];
    let first = wire::request_chunked(addr, "/", None, &chunks).await;
    assert_eq!(first.body, "hello, world!");
    let first_cookie = first.set_cookie().expect("cookie on the first response");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let second = wire::request_chunked(addr, "/", Some(cookie_pair(&first_cookie)), &chunks).await;
    let second_cookie = second.set_cookie().expect("rolling: cookie again");
    assert_eq!(first.sid(), second.sid());
    assert_ne!(
        expires_attr(&first_cookie),
        expires_attr(&second_cookie),
        "the second response's cookie expires later"
    );
    assert_eq!(store.calls.saves(), 2);
}

#[tokio::test]
async fn not_save_with_bogus_req_session_id() {
    // differs: a bogus id is a 500 with a clear message instead of a silent no-save.
    assert_rejected_genid("").await;
    assert_rejected_genid("a.b").await;
}
