//! express-session's own test list (`test/session.js`, `test/cookie.js`; see
//! the reference's section 2), ported to a real axum app. Each test is named
//! `<describe block>__<case>`; `tests/PARITY.md` maps every express case to a
//! test here, or says why it does not apply or how we deliberately differ.
//!
//! express's harness defaults to `cookie: {maxAge: 60000}` with `resave` and
//! `saveUninitialized` true; ours default to no max age and false/false, so
//! every test sets the options it depends on explicitly.

#![allow(non_snake_case)]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use session_runtime::store::SessionStore;
use session_runtime::{
    CookieMeta, MemoryStore, Priority, Record, Secrets, Session, SessionId, SessionLayer,
    SessionRejection,
};
use support::clock::{expires_in_secs, http_date_secs, now_ms};
use support::wire::{self, serve};
use support::{
    Client, CountingStore, Reply, cookie_pair, expires_attr, get_with, get_with_cookie,
    signed_value,
};

const SECRET: &str = "keyboard cat";
const MINUTE: Duration = Duration::from_secs(60);

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

async fn increment(mut session: Session<Counter>) -> String {
    session.count += 1;
    session.count.to_string()
}

async fn peek(session: Session<Counter>) -> String {
    session.count.to_string()
}

async fn show_id(session: Session<Counter>) -> String {
    session.id().to_string()
}

async fn destroy(session: Session<Counter>) -> &'static str {
    session.destroy();
    "destroyed"
}

async fn unset(session: Session<Counter>) -> &'static str {
    session.unset();
    "unset"
}

async fn regenerate(mut session: Session<Counter>) -> Result<String, String> {
    session.regenerate().await.map_err(|e| e.to_string())?;
    Ok(session.count.to_string())
}

async fn touch(mut session: Session<Counter>) -> &'static str {
    session.touch();
    "touched"
}

async fn show_cookie(session: Session<Counter>) -> String {
    format!("{:?}", session.cookie().original_max_age)
}

/// `/` modifies the session, `/peek` only reads it, `/id` returns its id,
/// `/cookie` its original max age; the others call the method they are named after.
fn app(store: &CountingStore, configure: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    Router::new()
        .route("/", get(increment))
        .route("/peek", get(peek))
        .route("/id", get(show_id))
        .route("/destroy", get(destroy))
        .route("/unset", get(unset))
        .route("/regenerate", get(regenerate))
        .route("/touch", get(touch))
        .route("/cookie", get(show_cookie))
        .layer(configure(SessionLayer::new(store.clone(), SECRET)))
}

/// Puts `record` in the store under a fresh id, stamped as accessed `age` ago;
/// returns the id and the `Cookie` header a browser would send for it.
async fn seed(store: &CountingStore, mut record: Record, age: Duration) -> (String, String) {
    let id = SessionId::generate();
    let at = now_ms() - age.as_millis() as u64;
    record.last_access = Some(at);
    if let Some(max_age) = record.cookie.original_max_age {
        record.cookie.expires = Some(at + max_age);
    }
    let _ = store.inner.create(&id, &record).await.unwrap();
    let cookie = format!(
        "connect.sid={}",
        signed_value(SECRET.as_bytes(), id.as_str())
    );
    (id.to_string(), cookie)
}

fn counter_record(count: u64, max_age: Option<Duration>) -> Record {
    let mut record = Record::default();
    record.cookie.original_max_age = max_age.map(|d| d.as_millis() as u64);
    record.fields.set(
        "count",
        serde_json::value::RawValue::from_string(count.to_string()).unwrap(),
    );
    record
}

/// Modifies the session, then streams the request body back as the response
/// body: a response written in several pieces over time (express's `res.write`).
async fn modify_and_echo(mut session: Session<Counter>, body: Body) -> Response {
    session.count += 1;
    drop(session);
    Response::new(body)
}

// ===========================================================================
// session()

#[tokio::test]
async fn session__do_nothing_if_req_session_exists() {
    // Mounting the layer twice: as in express, the first (outer) one owns the
    // request's session and the inner one passes it through.
    let outer = CountingStore::new();
    let inner = CountingStore::new();
    let router = Router::new()
        .route("/", get(increment))
        .layer(SessionLayer::new(inner.clone(), SECRET).save_uninitialized(false))
        .layer(SessionLayer::new(outer.clone(), SECRET).save_uninitialized(true));
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
#[should_panic(expected = "invalid session secret")]
async fn session__error_without_secret() {
    let _ = SessionLayer::new(MemoryStore::new(), "");
}

#[tokio::test]
async fn session__create_a_new_session() {
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
async fn session__load_session_from_cookie_sid() {
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
async fn session__pass_session_fetch_error() {
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
async fn session__create_multiple_sessions() {
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
async fn session__handle_reserved_properties_in_storage() {
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
        .layer(SessionLayer::new(store.clone(), SECRET));
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
async fn session__only_have_session_data_enumerable_and_cookie() {
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
async fn session__update_cookie_expiration_when_slow_write() {
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", axum::routing::post(modify_and_echo))
        .layer(
            SessionLayer::new(store.clone(), SECRET)
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

// ===========================================================================
// when response ended (over real sockets)

async fn assert_saved_after_response(router: Router, store: &CountingStore, path: &str) {
    let addr = serve(router).await;
    let reply = wire::request(addr, "GET", path, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let record = store.record(&reply.sid().expect("Set-Cookie")).await;
    assert!(record.is_some(), "saved by the time the response was read");
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn when_response_ended__have_saved_session() {
    let store = CountingStore::new();
    let router = app(&store, |l| l.save_uninitialized(false));
    assert_saved_after_response(router, &store, "/").await;
}

#[tokio::test]
async fn when_response_ended__have_saved_session_even_with_empty_response() {
    let store = CountingStore::new();
    let router = Router::new()
        .route(
            "/",
            get(|mut s: Session<Counter>| async move {
                s.count = 1;
                (StatusCode::OK, [(header::CONTENT_LENGTH, "0")], "")
            }),
        )
        .layer(SessionLayer::new(store.clone(), SECRET));
    assert_saved_after_response(router, &store, "/").await;
}

#[tokio::test]
async fn when_response_ended__have_saved_session_even_with_multi_write() {
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", axum::routing::post(modify_and_echo))
        .layer(SessionLayer::new(store.clone(), SECRET).save_uninitialized(false));
    let addr = serve(router).await;
    let reply =
        wire::request_chunked(addr, "/", None, &[("hello, ", 0), ("world", 50), ("!", 50)]).await;
    assert_eq!(
        reply.header("transfer-encoding"),
        Some("chunked"),
        "{reply:?}"
    );
    assert_eq!(reply.body, "hello, world!");
    let sid = reply.sid().expect("Set-Cookie");
    assert!(store.record(&sid).await.is_some());
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn when_response_ended__have_saved_session_even_with_non_chunked_response() {
    let store = CountingStore::new();
    let router = Router::new()
        .route(
            "/",
            get(|mut s: Session<Counter>| async move {
                s.count = 1;
                "hello, world!"
            }),
        )
        .layer(SessionLayer::new(store.clone(), SECRET).save_uninitialized(false));
    let addr = serve(router).await;
    let reply = wire::request(addr, "GET", "/", None).await;
    assert_eq!(reply.header("content-length"), Some("13"), "{reply:?}");
    assert_eq!(reply.header("transfer-encoding"), None, "{reply:?}");
    assert_eq!(reply.body, "hello, world!");
    let sid = reply.sid().expect("Set-Cookie");
    assert!(store.record(&sid).await.is_some());
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn when_response_ended__have_saved_session_with_updated_cookie_expiration() {
    let store = CountingStore::new();
    let router = app(&store, |l| l.save_uninitialized(false).max_age(MINUTE));
    let addr = serve(router).await;
    let first = wire::request(addr, "GET", "/", None).await;
    let first_cookie = first.set_cookie().unwrap();
    let sid = first.sid().unwrap();
    let stored = store.record(&sid).await.unwrap().cookie.expires.unwrap();
    assert_eq!(
        http_date_secs(expires_attr(&first_cookie).unwrap()),
        (stored / 1000) as i64,
        "the stored expiry is the cookie's"
    );
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let second = wire::request(addr, "GET", "/", Some(cookie_pair(&first_cookie))).await;
    assert_eq!(second.body, "2");
    let second_cookie = second.set_cookie().unwrap();
    let restored = store.record(&sid).await.unwrap().cookie.expires.unwrap();
    assert!(restored > stored, "the stored expiry moved forward");
    assert_eq!(
        http_date_secs(expires_attr(&second_cookie).unwrap()),
        (restored / 1000) as i64
    );
    assert_ne!(expires_attr(&first_cookie), expires_attr(&second_cookie));
}

// ===========================================================================
// when sid not in store / not properly signed / expired / without cookie property

#[tokio::test]
async fn when_sid_not_in_store__create_a_new_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    let old = client.get("/").await.sid().unwrap();
    assert_eq!(client.get("/").await.body, "2");
    store
        .inner
        .destroy(&SessionId::parse(&old).unwrap())
        .await
        .unwrap();
    let reply = client.get("/").await;
    assert_eq!(reply.body, "1", "a fresh session");
    assert!(reply.sid().is_some());
}

#[tokio::test]
async fn when_sid_not_in_store__have_a_new_sid() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    let old = client.get("/").await.sid().unwrap();
    store
        .inner
        .destroy(&SessionId::parse(&old).unwrap())
        .await
        .unwrap();
    let new = client.get("/").await.sid().unwrap();
    assert_ne!(old, new);
}

#[tokio::test]
async fn when_sid_not_properly_signed__generate_new_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    let sid = client.get("/").await.sid().unwrap();
    let router = app(&store, |l| l.save_uninitialized(false));
    let forged = format!("connect.sid={}", signed_value(b"other secret", &sid));
    let reply = get_with_cookie(&router, "/", &forged).await;
    assert_eq!(reply.body, "1");
    let new = reply.sid().unwrap();
    assert_ne!(new, sid);
}

#[tokio::test]
async fn when_sid_not_properly_signed__not_attempt_fetch_from_store() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    let sid = client.get("/").await.sid().unwrap();
    let loads = store.calls.loads();
    let router = app(&store, |l| l.save_uninitialized(false));
    let forged = format!("connect.sid={}", signed_value(b"other secret", &sid));
    get_with_cookie(&router, "/", &forged).await;
    assert_eq!(store.calls.loads(), loads);
}

/// A session whose max age has passed: (store, old sid, reply to the next request).
async fn expired_session() -> (CountingStore, String, Reply) {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.save_uninitialized(false)
            .max_age(Duration::from_millis(200))
    }));
    let old = client.get("/").await.sid().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = client.get("/").await;
    (store, old, reply)
}

#[tokio::test]
async fn when_session_expired_in_store__create_a_new_session() {
    let (_store, _old, reply) = expired_session().await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "1");
    assert!(reply.sid().is_some());
}

#[tokio::test]
async fn when_session_expired_in_store__have_a_new_sid() {
    let (_store, old, reply) = expired_session().await;
    assert_ne!(reply.sid().unwrap(), old);
}

#[tokio::test]
async fn when_session_expired_in_store__not_exist_in_store() {
    let (store, old, reply) = expired_session().await;
    assert!(store.record(&old).await.is_none());
    assert!(store.record(&reply.sid().unwrap()).await.is_some());
    assert_eq!(store.inner.len(), 1);
}

#[tokio::test]
async fn when_session_without_cookie_property_in_store__pass_error_from_inflate() {
    // differs: a stored session without `cookie` gets express's default cookie
    // settings (what `new Cookie(undefined)` would give) instead of a 500.
    let store = CountingStore::new();
    let record = Record::from_json(r#"{"count":41}"#).unwrap();
    let (_sid, cookie) = seed(&store, record, Duration::ZERO).await;
    let router = app(&store, |l| l.save_uninitialized(false));
    let reply = get_with_cookie(&router, "/", &cookie).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "42");
}

// ===========================================================================
// cookie option > path

async fn maybe_session(session: Result<Session<Counter>, SessionRejection>) -> String {
    match session {
        Ok(mut session) => {
            session.count += 1;
            "session".to_owned()
        }
        Err(_) => "no session".to_owned(),
    }
}

fn path_app(store: &CountingStore) -> Router {
    Router::new()
        .route("/", get(maybe_session))
        .route("/bar", get(maybe_session))
        .route("/foo/bar", get(maybe_session))
        .route("/foo/bar/baz", get(maybe_session))
        .layer(SessionLayer::new(store.clone(), SECRET).path("/foo/bar"))
}

#[tokio::test]
async fn cookie_option_path__not_set_cookie_for_root() {
    let store = CountingStore::new();
    let reply = get_with(&path_app(&store), "/", &[]).await;
    assert_eq!(reply.body, "no session");
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
}

#[tokio::test]
async fn cookie_option_path__not_set_cookie_for_http_foo_bar() {
    // An absolute-form request target: the path is `/bar`, the host `foo`.
    let store = CountingStore::new();
    let reply = get_with(&path_app(&store), "http://foo/bar", &[]).await;
    assert_eq!(reply.body, "no session");
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn cookie_option_path__set_cookie_for_foo_bar() {
    let store = CountingStore::new();
    let reply = get_with(&path_app(&store), "/foo/bar", &[]).await;
    assert_eq!(reply.body, "session");
    let set = reply.set_cookie().expect("Set-Cookie");
    assert!(set.contains("; Path=/foo/bar;"), "{set}");
}

#[tokio::test]
async fn cookie_option_path__set_cookie_for_foo_bar_baz() {
    let store = CountingStore::new();
    let reply = get_with(&path_app(&store), "/foo/bar/baz", &[]).await;
    assert_eq!(reply.body, "session");
    assert!(reply.set_cookie().is_some());
}

fn mounted_app(store: &CountingStore) -> Router {
    let inner = Router::new()
        .route("/bar", get(maybe_session))
        .route("/foo/bar", get(maybe_session))
        .layer(SessionLayer::new(store.clone(), SECRET).path("/foo/bar"));
    Router::new().nest("/foo", inner)
}

#[tokio::test]
async fn cookie_option_path_when_mounted_at_foo__set_cookie_for_foo_bar() {
    let store = CountingStore::new();
    let reply = get_with(&mounted_app(&store), "/foo/bar", &[]).await;
    assert_eq!(reply.body, "session");
    assert!(reply.set_cookie().is_some());
}

#[tokio::test]
async fn cookie_option_path_when_mounted_at_foo__not_set_cookie_for_foo_foo_bar() {
    let store = CountingStore::new();
    let reply = get_with(&mounted_app(&store), "/foo/foo/bar", &[]).await;
    assert_eq!(reply.body, "no session");
    assert_eq!(reply.set_cookie(), None);
}

// ===========================================================================
// genid / key / name

#[tokio::test]
async fn genid_option__provide_default_generator() {
    let store = CountingStore::new();
    let sid = Client::new(app(&store, |l| l.save_uninitialized(true)))
        .get("/peek")
        .await
        .sid()
        .unwrap();
    assert_eq!(sid.len(), 32, "uid-safe(24): 32 characters");
    assert!(
        sid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{sid}"
    );
}

#[tokio::test]
async fn key_option__default_to_connect_sid() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(true)))
        .get("/peek")
        .await;
    assert!(reply.set_cookie().unwrap().starts_with("connect.sid=s%3A"));
}

#[tokio::test]
async fn name_option__default_to_connect_sid() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/")
        .await;
    assert!(reply.set_cookie().unwrap().starts_with("connect.sid=s%3A"));
}

#[tokio::test]
async fn name_option__set_the_cookie_name() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.save_uninitialized(false).name("session_id")
    }));
    let reply = client.get("/").await;
    assert!(reply.set_cookie().unwrap().starts_with("session_id=s%3A"));
    assert_eq!(client.get("/").await.body, "2", "read back under that name");
    let router = app(&store, |l| l.name("session_id"));
    let cookie = client
        .cookie
        .clone()
        .unwrap()
        .replace("session_id=", "connect.sid=");
    assert_eq!(get_with_cookie(&router, "/peek", &cookie).await.body, "0");
}

// ===========================================================================
// rolling option

#[tokio::test]
async fn rolling_option__default_to_false() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false).max_age(MINUTE)));
    assert!(client.get("/").await.set_cookie().is_some());
    assert_eq!(client.get("/peek").await.set_cookie(), None);
}

#[tokio::test]
async fn rolling_option__force_cookie_on_unmodified_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.rolling(true)
            .save_uninitialized(true)
            .resave(false)
            .max_age(MINUTE)
    }));
    let sid = client.get("/peek").await.sid().unwrap();
    let reply = client.get("/peek").await;
    assert_eq!(reply.sid(), Some(sid));
}

#[tokio::test]
async fn rolling_option__not_force_cookie_on_uninitialized_session_if_save_uninitialized_false() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.rolling(true).save_uninitialized(false).max_age(MINUTE)
    }));
    let reply = client.get("/peek").await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
}

#[tokio::test]
async fn rolling_option__force_cookie_and_save_uninitialized_session_if_save_uninitialized_true() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.rolling(true).save_uninitialized(true).max_age(MINUTE)
    }));
    let sid = client.get("/peek").await.sid().expect("Set-Cookie");
    assert_eq!(store.calls.saves(), 1);
    assert!(store.record(&sid).await.is_some());
}

#[tokio::test]
async fn rolling_option__force_cookie_and_save_modified_session_even_if_save_uninitialized_false() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.rolling(true).save_uninitialized(false).max_age(MINUTE)
    }));
    let sid = client.get("/").await.sid().expect("Set-Cookie");
    assert_eq!(store.calls.saves(), 1);
    assert!(store.record(&sid).await.is_some());
}

// ===========================================================================
// resave option

#[tokio::test]
async fn resave_option__default_to_true() {
    // differs: our default is false (express's README recommendation).
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    client.get("/").await;
    client.get("/peek").await;
    assert_eq!(
        store.calls.saves(),
        1,
        "an unmodified session is not re-saved"
    );
}

#[tokio::test]
async fn resave_option_when_true__force_save_on_unmodified_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.resave(true).save_uninitialized(false)));
    client.get("/").await;
    client.get("/peek").await;
    assert_eq!(store.calls.saves(), 2);
    assert_eq!(store.calls.touches(), 0);
}

#[tokio::test]
async fn resave_option_when_false__prevent_save_on_unmodified_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.resave(false).save_uninitialized(false)));
    client.get("/").await;
    client.get("/peek").await;
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn resave_option_when_false__still_save_modified_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.resave(false).save_uninitialized(false)));
    client.get("/").await;
    client.get("/").await;
    assert_eq!(store.calls.saves(), 2);
}

#[derive(Session)]
struct Profile {
    user: BTreeMap<String, String>,
}

#[tokio::test]
async fn resave_option_when_false__detect_a_cookie_property_as_modified() {
    let store = CountingStore::new();
    let router = Router::new()
        .route(
            "/",
            get(|mut s: Session<Profile>| async move {
                s.user.insert("cookie".to_owned(), "yum".to_owned());
            }),
        )
        .route(
            "/eat",
            get(|mut s: Session<Profile>| async move {
                s.user.insert("cookie".to_owned(), "eaten".to_owned());
            }),
        )
        .layer(
            SessionLayer::new(store.clone(), SECRET)
                .resave(false)
                .save_uninitialized(false),
        );
    let mut client = Client::new(router);
    let sid = client.get("/").await.sid().unwrap();
    client.get("/eat").await;
    assert_eq!(store.calls.saves(), 2, "a nested `cookie` key is data");
    let json = store.record(&sid).await.unwrap().to_json();
    assert!(json.contains(r#""user":{"cookie":"eaten"}"#), "{json}");
}

#[tokio::test]
async fn resave_option_when_false__pass_session_touch_error() {
    // differs: a store error is a 500 before the response, not an error after it.
    let store = CountingStore::new();
    store.fail_touches.store(true, Ordering::SeqCst);
    // Past half its lifetime, so this unmodified request touches it.
    let (_sid, cookie) = seed(
        &store,
        counter_record(3, Some(MINUTE)),
        Duration::from_secs(40),
    )
    .await;
    let router = app(&store, |l| l.resave(false).max_age(MINUTE));
    let reply = get_with_cookie(&router, "/peek", &cookie).await;
    assert_eq!(store.calls.touches(), 1);
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session store error");
}

// ===========================================================================
// saveUninitialized option

#[tokio::test]
async fn save_uninitialized_option__default_to_true() {
    // differs: our default is false (express's README recommendation).
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l)).get("/peek").await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
}

#[tokio::test]
async fn save_uninitialized_option__force_save_of_uninitialized_session() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(true)))
        .get("/peek")
        .await;
    let sid = reply.sid().expect("Set-Cookie");
    assert_eq!(store.calls.saves(), 1);
    assert!(store.record(&sid).await.is_some());
}

#[tokio::test]
async fn save_uninitialized_option__prevent_save_of_uninitialized_session() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/peek")
        .await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.saves(), 0);
    assert!(store.inner.is_empty());
}

#[tokio::test]
async fn save_uninitialized_option__still_save_modified_session() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/")
        .await;
    assert!(reply.sid().is_some());
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn save_uninitialized_option__pass_session_save_error() {
    let store = CountingStore::new();
    store.fail_saves.store(true, Ordering::SeqCst);
    let reply = Client::new(app(&store, |l| l.save_uninitialized(true)))
        .get("/peek")
        .await;
    assert_eq!(store.calls.saves(), 1);
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session store error");
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn save_uninitialized_option__prevent_uninitialized_session_from_being_touched() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.save_uninitialized(false).resave(false).max_age(MINUTE)
    }));
    for _ in 0..3 {
        assert_eq!(client.get("/peek").await.set_cookie(), None);
    }
    assert_eq!(store.calls.writes(), 0);
}

// ===========================================================================
// secret option

#[test]
fn secret_option__reject_empty_arrays() {
    assert_eq!(
        Secrets::try_new(Vec::<String>::new()).err(),
        Some(session_runtime::SecretError::Empty)
    );
}

async fn round_trip(secrets: Secrets, signer: &[u8]) {
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", get(increment))
        .layer(SessionLayer::new(store.clone(), secrets).save_uninitialized(false));
    let mut client = Client::new(router);
    let reply = client.get("/").await;
    let sid = reply.sid().unwrap();
    assert_eq!(
        client.cookie.as_deref(),
        Some(format!("connect.sid={}", signed_value(signer, &sid)).as_str()),
        "signed with {:?}",
        String::from_utf8_lossy(signer)
    );
    assert_eq!(client.get("/").await.body, "2", "and verified");
}

#[tokio::test]
async fn secret_option__sign_and_unsign_with_a_string() {
    round_trip(Secrets::new("keyboard cat"), b"keyboard cat").await;
}

#[tokio::test]
async fn secret_option__sign_and_unsign_with_a_buffer() {
    let key: &[u8] = &[0x00, 0xff, 0x10, 0x80, b'k', b'e', b'y'];
    round_trip(Secrets::new(key), key).await;
}

#[tokio::test]
async fn secret_option_when_an_array__sign_cookies() {
    round_trip(
        Secrets::try_new(["keyboard cat", "nyan cat"]).unwrap(),
        b"keyboard cat",
    )
    .await;
}

#[tokio::test]
async fn secret_option_when_an_array__sign_cookies_with_first_element() {
    round_trip(
        Secrets::try_new(["nyan cat", "keyboard cat"]).unwrap(),
        b"nyan cat",
    )
    .await;
}

#[tokio::test]
async fn secret_option_when_an_array__read_cookies_using_all_elements() {
    let store = CountingStore::new();
    let (_sid, cookie) = seed(&store, counter_record(5, None), Duration::ZERO).await;
    // `seed` signs with "keyboard cat": the second secret here.
    let router = Router::new().route("/", get(peek)).layer(SessionLayer::new(
        store.clone(),
        Secrets::try_new(["nyan cat", "keyboard cat"]).unwrap(),
    ));
    assert_eq!(get_with_cookie(&router, "/", &cookie).await.body, "5");
}

// ===========================================================================
// res.end patch: other middleware wrapping the response, outside or inside the layer

async fn tag_response(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("x-patched", header::HeaderValue::from_static("yes"));
    response
}

#[tokio::test]
async fn res_end_patch__handle_res_end_res_write_patched_prior() {
    // A middleware outside the session layer sees the response after the save.
    let store = CountingStore::new();
    let router = app(&store, |l| l.save_uninitialized(false))
        .layer(axum::middleware::map_response(tag_response));
    let reply = Client::new(router).get("/").await;
    assert_eq!(reply.headers["x-patched"], "yes");
    assert!(reply.sid().is_some());
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn res_end_patch__handle_res_end_res_write_patched_after() {
    // A middleware between the layer and the handler.
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", get(increment))
        .layer(axum::middleware::map_response(tag_response))
        .layer(SessionLayer::new(store.clone(), SECRET).save_uninitialized(false));
    let reply = Client::new(router).get("/").await;
    assert_eq!(reply.headers["x-patched"], "yes");
    assert!(reply.sid().is_some());
    assert_eq!(store.calls.saves(), 1);
}

// ===========================================================================
// req.session

#[tokio::test]
async fn req_session__persist() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false).resave(false)));
    assert_eq!(client.get("/").await.body, "1");
    assert_eq!(client.get("/").await.body, "2");
    assert_eq!(client.get("/peek").await.body, "2");
}

#[tokio::test]
async fn req_session__only_set_cookie_when_modified() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.save_uninitialized(false).resave(false).max_age(MINUTE)
    }));
    assert!(client.get("/").await.set_cookie().is_some());
    let second = client.get("/").await;
    assert_eq!(second.body, "2");
    assert!(second.set_cookie().is_some());
    let third = client.get("/peek").await;
    assert_eq!(third.body, "2");
    assert_eq!(third.set_cookie(), None);
}

#[tokio::test]
async fn req_session__be_set_when_store_reconnects() {
    // differs: there is no disconnect event; each store call fails or succeeds
    // on its own, so sessions come back as soon as the store answers again.
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    client.get("/").await;
    store.fail_loads.store(true, Ordering::SeqCst);
    assert_eq!(
        client.get("/").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    store.fail_loads.store(false, Ordering::SeqCst);
    assert_eq!(client.get("/").await.body, "2");
}

// ===========================================================================
// .destroy()

#[tokio::test]
async fn destroy__destroy_the_previous_session() {
    // differs: the browser cookie is cleared too (express #241).
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    let sid = client.get("/").await.sid().unwrap();
    let reply = client.get("/destroy").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(store.calls.destroys(), 1);
    assert!(store.record(&sid).await.is_none());
    assert_eq!(
        reply.set_cookie().as_deref(),
        Some("connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly")
    );
    assert_eq!(client.get("/peek").await.body, "0");
}

// ===========================================================================
// .cookie .*

#[tokio::test]
async fn cookie__serialize_as_parameters() {
    let store = CountingStore::new();
    let router = app(&store, |l| {
        l.save_uninitialized(false).http_only(false).secure(true)
    });
    let reply = get_with(&router, "https://example.com/", &[]).await;
    let set = reply.set_cookie().expect("Set-Cookie over https");
    assert!(set.ends_with("; Path=/; Secure"), "{set}");
    assert!(!set.contains("HttpOnly"), "{set}");
}

#[tokio::test]
async fn cookie__default_to_a_browser_session_length_cookie() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/")
        .await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; Path=/; HttpOnly"), "{set}");
    assert_eq!(expires_attr(&set), None);
}

#[tokio::test]
async fn cookie__set_cookie_only_once_for_browser_session_cookies() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false).resave(false)));
    assert!(client.get("/").await.set_cookie().is_some());
    let second = client.get("/").await;
    assert_eq!(second.body, "2");
    assert_eq!(second.set_cookie(), None);
}

#[tokio::test]
async fn cookie__override_defaults() {
    let store = CountingStore::new();
    let router = Router::new().route("/admin", get(increment)).layer(
        SessionLayer::new(store.clone(), SECRET)
            .save_uninitialized(false)
            .path("/admin")
            .http_only(false)
            .secure(false)
            .priority(Priority::High),
    );
    let reply = get_with(&router, "/admin", &[]).await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; Path=/admin; Priority=High"), "{set}");
    assert!(
        !set.contains("HttpOnly") && !set.contains("Secure"),
        "{set}"
    );
}

#[tokio::test]
#[should_panic(expected = "invalid session cookie domain")]
async fn cookie__forward_errors_setting_cookie() {
    // differs: invalid attributes are refused when the layer is built, not per response.
    let _ = SessionLayer::new(MemoryStore::new(), SECRET).domain("example.com; Secure");
}

#[tokio::test]
async fn cookie__preserve_cookies_set_before_write_head_is_called() {
    let store = CountingStore::new();
    let router = Router::new()
        .route(
            "/",
            get(|mut s: Session<Counter>| async move {
                s.count += 1;
                ([(header::SET_COOKIE, "previous=cookieval")], "ok").into_response()
            }),
        )
        .layer(SessionLayer::new(store.clone(), SECRET).save_uninitialized(false));
    let reply = get_with(&router, "/", &[]).await;
    let cookies = reply.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert_eq!(cookies[0], "previous=cookieval");
    assert!(cookies[1].starts_with("connect.sid=s%3A"), "{cookies:?}");
}

#[tokio::test]
async fn cookie__preserve_cookies_set_in_write_head() {
    // writeHead's analogue: a middleware below the layer adds a cookie to the head.
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", get(increment))
        .layer(axum::middleware::map_response(
            |mut r: Response| async move {
                r.headers_mut().append(
                    header::SET_COOKIE,
                    header::HeaderValue::from_static("previous=cookieval"),
                );
                r
            },
        ))
        .layer(SessionLayer::new(store.clone(), SECRET).save_uninitialized(false));
    let cookies = get_with(&router, "/", &[]).await.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert_eq!(cookies[0], "previous=cookieval");
    assert!(cookies[1].starts_with("connect.sid=s%3A"), "{cookies:?}");
}

// ===========================================================================
// .cookie .originalMaxAge

#[tokio::test]
async fn cookie_original_max_age__equal_original_max_age() {
    let store = CountingStore::new();
    let sid = Client::new(app(&store, |l| {
        l.save_uninitialized(false).max_age(Duration::from_secs(2))
    }))
    .get("/")
    .await
    .sid()
    .unwrap();
    let cookie = store.record(&sid).await.unwrap().cookie;
    assert_eq!(cookie.original_max_age, Some(2000));
}

#[tokio::test]
async fn cookie_original_max_age__equal_original_max_age_for_all_requests() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.save_uninitialized(false).max_age(Duration::from_secs(2))
    }));
    let sid = client.get("/").await.sid().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.get("/").await;
    client.get("/peek").await;
    let cookie = store.record(&sid).await.unwrap().cookie;
    assert_eq!(cookie.original_max_age, Some(2000));
}

// ===========================================================================
// .cookie .secure

#[tokio::test]
async fn cookie_secure__set_cookie_when_secure() {
    let store = CountingStore::new();
    let router = app(&store, |l| l.save_uninitialized(false).secure(true));
    let reply = get_with(&router, "https://example.com/", &[]).await;
    let set = reply.set_cookie().expect("Set-Cookie over https");
    assert!(set.ends_with("; Path=/; HttpOnly; Secure"), "{set}");
}

// ===========================================================================
// .cookie .maxAge

#[tokio::test]
async fn cookie_max_age__set_cookie_expires_relative_to_max_age() {
    // express compares Expires with the Date header; over a real socket here.
    let store = CountingStore::new();
    let router = app(&store, |l| {
        l.save_uninitialized(false).max_age(Duration::from_secs(2))
    });
    let addr = serve(router).await;
    let reply = wire::request(addr, "GET", "/", None).await;
    let set = reply.set_cookie().unwrap();
    let date = http_date_secs(reply.header("date").expect("Date header"));
    let delta = http_date_secs(expires_attr(&set).unwrap()) - date;
    assert!(
        (1..=3).contains(&delta),
        "Expires - Date = {delta} s: {set}"
    );
}

// ===========================================================================
// .cookie .expires

#[tokio::test]
async fn cookie_expires_when_null__be_a_browser_session_cookie() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/")
        .await;
    assert_eq!(expires_attr(&reply.set_cookie().unwrap()), None);
    let record = store.record(&reply.sid().unwrap()).await.unwrap();
    assert_eq!(record.cookie.expires, None);
    assert_eq!(record.cookie.original_max_age, None);
}

#[tokio::test]
async fn cookie_expires_when_null__not_reset_cookie() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(true).resave(true)));
    assert!(client.get("/peek").await.set_cookie().is_some());
    assert_eq!(client.get("/peek").await.set_cookie(), None);
}

#[tokio::test]
async fn cookie_expires_when_null__not_reset_cookie_when_modified() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(true).resave(true)));
    assert!(client.get("/peek").await.set_cookie().is_some());
    let modified = client.get("/").await;
    assert_eq!(modified.body, "1");
    assert_eq!(modified.set_cookie(), None);
}

// ===========================================================================
// .cookie .partitioned

#[tokio::test]
async fn cookie_partitioned__by_default_not_set() {
    let store = CountingStore::new();
    let set = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/")
        .await
        .set_cookie()
        .unwrap();
    assert!(!set.contains("Partitioned"), "{set}");
}

#[tokio::test]
async fn cookie_partitioned__when_false_not_set() {
    let store = CountingStore::new();
    let set = Client::new(app(&store, |l| {
        l.save_uninitialized(false).partitioned(false)
    }))
    .get("/")
    .await
    .set_cookie()
    .unwrap();
    assert!(!set.contains("Partitioned"), "{set}");
}

#[tokio::test]
async fn cookie_partitioned__when_true_set() {
    let store = CountingStore::new();
    let set = Client::new(app(&store, |l| {
        l.save_uninitialized(false).partitioned(true)
    }))
    .get("/")
    .await
    .set_cookie()
    .unwrap();
    assert!(set.ends_with("; Path=/; HttpOnly; Partitioned"), "{set}");
}

// ===========================================================================
// test/cookie.js `new Cookie()`: the cookie settings a new session gets

/// The stored cookie settings of a new session created under `configure`.
async fn new_cookie(configure: impl FnOnce(SessionLayer) -> SessionLayer) -> CookieMeta {
    let store = CountingStore::new();
    let router = app(&store, |l| configure(l.save_uninitialized(true)));
    let sid = Client::new(router).get("/peek").await.sid().unwrap();
    store.record(&sid).await.unwrap().cookie
}

#[tokio::test]
async fn new_cookie__create_a_new_cookie_object() {
    assert_eq!(new_cookie(|l| l).await, CookieMeta::default());
}

#[tokio::test]
async fn new_cookie__default_expires_to_null() {
    assert_eq!(new_cookie(|l| l).await.expires, None);
}

#[tokio::test]
async fn new_cookie__default_http_only_to_true() {
    assert!(new_cookie(|l| l).await.http_only);
}

#[tokio::test]
async fn new_cookie__default_path_to_root() {
    assert_eq!(new_cookie(|l| l).await.path, "/");
}

#[tokio::test]
async fn new_cookie__default_max_age_to_null() {
    assert_eq!(new_cookie(|l| l).await.original_max_age, None);
}

#[tokio::test]
async fn new_cookie_with_options__create_a_new_cookie_object() {
    let cookie = new_cookie(|l| {
        l.path("/")
            .domain("example.com")
            .http_only(false)
            .max_age(MINUTE)
    })
    .await;
    assert_eq!(cookie.domain.as_deref(), Some("example.com"));
    assert!(!cookie.http_only);
    assert_eq!(cookie.original_max_age, Some(60_000));
}

#[tokio::test]
async fn new_cookie_with_options_http_only__set_http_only() {
    assert!(!new_cookie(|l| l.http_only(false)).await.http_only);
}

#[tokio::test]
async fn new_cookie_with_options_max_age__set_expires() {
    let before = now_ms();
    let expires = new_cookie(|l| l.max_age(Duration::from_secs(1)))
        .await
        .expires
        .unwrap();
    assert!(
        (before + 1000..=now_ms() + 1000).contains(&expires),
        "{expires} is not now + 1 s"
    );
}

#[tokio::test]
async fn new_cookie_with_options_max_age__set_max_age() {
    let cookie = new_cookie(|l| l.max_age(Duration::from_secs(1))).await;
    assert_eq!(cookie.original_max_age, Some(1000));
}

#[tokio::test]
async fn new_cookie_with_options_partitioned__set_partitioned() {
    assert_eq!(
        new_cookie(|l| l.partitioned(true)).await.partitioned,
        Some(true)
    );
}

#[tokio::test]
async fn new_cookie_with_options_path__set_path() {
    let store = CountingStore::new();
    let router = Router::new().route("/foo/bar", get(peek)).layer(
        SessionLayer::new(store.clone(), SECRET)
            .save_uninitialized(true)
            .path("/foo/bar"),
    );
    let sid = get_with(&router, "/foo/bar", &[]).await.sid().unwrap();
    assert_eq!(store.record(&sid).await.unwrap().cookie.path, "/foo/bar");
}

#[tokio::test]
async fn new_cookie_with_options_priority__set_priority() {
    assert_eq!(
        new_cookie(|l| l.priority(Priority::High)).await.priority,
        Some(Priority::High)
    );
}

#[tokio::test]
async fn new_cookie_with_options_expires__set_expires() {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100-01-01
    assert_eq!(
        new_cookie(|l| l.expires(at)).await.expires,
        Some(4_102_444_800_000)
    );
}

#[tokio::test]
async fn new_cookie_with_options_expires__set_max_age() {
    // express: setting `expires` records the time left as `originalMaxAge`.
    let at = std::time::SystemTime::now() + Duration::from_secs(3600);
    let before = now_ms();
    let max_age = new_cookie(|l| l.expires(at))
        .await
        .original_max_age
        .unwrap();
    assert!(
        (3_590_000..=3_600_000).contains(&max_age),
        "{max_age} ms left, {} ms after start",
        now_ms() - before
    );
}

// ===========================================================================
// proxy option

async fn secure_reply(
    configure: impl FnOnce(SessionLayer) -> SessionLayer,
    uri: &str,
    xfp: Option<&str>,
) -> (CountingStore, Reply) {
    let store = CountingStore::new();
    let router = app(&store, |l| configure(l.save_uninitialized(false)));
    let headers: Vec<(&str, &str)> = xfp.map(|v| ("x-forwarded-proto", v)).into_iter().collect();
    let reply = get_with(&router, uri, &headers).await;
    (store, reply)
}

#[tokio::test]
async fn proxy_option_when_enabled__trust_x_forwarded_proto_when_string() {
    let (_, reply) = secure_reply(|l| l.proxy(true).secure(true), "/", Some("https")).await;
    let set = reply.set_cookie().expect("secure per the trusted proxy");
    assert!(set.ends_with("; Secure"), "{set}");
}

#[tokio::test]
async fn proxy_option_when_enabled__trust_x_forwarded_proto_when_comma_separated_list() {
    let (_, reply) = secure_reply(|l| l.proxy(true).secure(true), "/", Some("https,http")).await;
    assert!(reply.set_cookie().is_some());
    let (_, reply) = secure_reply(|l| l.proxy(true).secure(true), "/", Some(" HTTPS , http")).await;
    assert!(reply.set_cookie().is_some(), "trimmed and case-insensitive");
    let (_, reply) = secure_reply(|l| l.proxy(true).secure(true), "/", Some("http,https")).await;
    assert_eq!(reply.set_cookie(), None, "only the first value counts");
}

#[tokio::test]
async fn proxy_option_when_enabled__work_when_no_header() {
    let (store, reply) = secure_reply(|l| l.proxy(true).secure(true), "/", None).await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.saves(), 1, "still saved");
}

#[tokio::test]
async fn proxy_option_when_disabled__not_trust_x_forwarded_proto() {
    let (store, reply) = secure_reply(|l| l.proxy(false).secure(true), "/", Some("https")).await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn proxy_option_when_unspecified__not_trust_x_forwarded_proto() {
    let (_, reply) = secure_reply(|l| l.secure(true), "/", Some("https")).await;
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn proxy_option_when_unspecified__use_req_secure() {
    // differs: there is no `req.secure`; an `https` request URI is what counts.
    let (_, reply) = secure_reply(|l| l.secure(true), "https://example.com/", None).await;
    assert!(reply.set_cookie().unwrap().ends_with("; Secure"));
}

// ===========================================================================
// cookie option > secure "auto"

#[tokio::test]
async fn cookie_option_secure_auto__set_secure_when_x_forwarded_proto_is_https_and_proxy_true() {
    let (_, reply) = secure_reply(|l| l.proxy(true).secure_auto(), "/", Some("https")).await;
    assert!(reply.set_cookie().unwrap().ends_with("; HttpOnly; Secure"));
}

#[tokio::test]
async fn cookie_option_secure_auto__not_set_secure_when_x_forwarded_proto_is_https_and_proxy_false()
{
    let (_, reply) = secure_reply(|l| l.proxy(false).secure_auto(), "/", Some("https")).await;
    let set = reply
        .set_cookie()
        .expect("an insecure session's cookie is sent");
    assert!(!set.contains("Secure"), "{set}");
}

#[tokio::test]
async fn cookie_option_secure_auto__set_secure_if_req_secure_true_when_proxy_unspecified() {
    let (_, reply) = secure_reply(|l| l.secure_auto(), "https://example.com/", None).await;
    assert!(reply.set_cookie().unwrap().ends_with("; HttpOnly; Secure"));
}

#[tokio::test]
async fn cookie_option_secure_auto__not_set_secure_if_req_secure_false_when_proxy_unspecified() {
    let (_, reply) = secure_reply(|l| l.secure_auto(), "/", None).await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; Path=/; HttpOnly"), "{set}");
}

// ===========================================================================
// cookie option > sameSite "auto"

#[tokio::test]
async fn cookie_option_same_site_auto__set_same_site_none_for_secure_connections() {
    let (_, reply) = secure_reply(|l| l.same_site_auto(), "https://example.com/", None).await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; HttpOnly; SameSite=None"), "{set}");
}

#[tokio::test]
async fn cookie_option_same_site_auto__set_same_site_lax_for_insecure_connections() {
    let (_, reply) = secure_reply(|l| l.same_site_auto(), "/", None).await;
    assert!(
        reply
            .set_cookie()
            .unwrap()
            .ends_with("; HttpOnly; SameSite=Lax")
    );
}

#[tokio::test]
async fn cookie_option_same_site_auto_proxy_true__set_none_when_x_forwarded_proto_is_https() {
    let (_, reply) = secure_reply(|l| l.proxy(true).same_site_auto(), "/", Some("https")).await;
    assert!(reply.set_cookie().unwrap().ends_with("; SameSite=None"));
}

#[tokio::test]
async fn cookie_option_same_site_auto_proxy_true__set_lax_when_x_forwarded_proto_is_http() {
    let (_, reply) = secure_reply(|l| l.proxy(true).same_site_auto(), "/", Some("http")).await;
    assert!(reply.set_cookie().unwrap().ends_with("; SameSite=Lax"));
}

#[tokio::test]
async fn cookie_option_same_site_auto_proxy_false__set_lax_when_x_forwarded_proto_is_https() {
    let (_, reply) = secure_reply(|l| l.proxy(false).same_site_auto(), "/", Some("https")).await;
    assert!(reply.set_cookie().unwrap().ends_with("; SameSite=Lax"));
}

#[tokio::test]
async fn cookie_option_same_site_auto_with_secure_auto__set_secure_and_none_when_secure() {
    let (_, reply) = secure_reply(
        |l| l.secure_auto().same_site_auto(),
        "https://example.com/",
        None,
    )
    .await;
    assert!(
        reply
            .set_cookie()
            .unwrap()
            .ends_with("; HttpOnly; Secure; SameSite=None")
    );
}

#[tokio::test]
async fn cookie_option_same_site_auto_with_secure_auto__set_neither_secure_nor_none_when_insecure()
{
    let (_, reply) = secure_reply(|l| l.secure_auto().same_site_auto(), "/", None).await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; HttpOnly; SameSite=Lax"), "{set}");
}

#[tokio::test]
async fn cookie_option_same_site_auto_with_secure_false__set_none_without_secure_when_secure() {
    let (_, reply) = secure_reply(
        |l| l.secure(false).same_site_auto(),
        "https://example.com/",
        None,
    )
    .await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; HttpOnly; SameSite=None"), "{set}");
}

#[tokio::test]
async fn cookie_option_same_site_auto_with_secure_false__set_lax_without_secure_when_insecure() {
    let (_, reply) = secure_reply(|l| l.secure(false).same_site_auto(), "/", None).await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; HttpOnly; SameSite=Lax"), "{set}");
}

#[tokio::test]
async fn cookie_option_same_site_auto_with_secure_true__set_secure_and_none_when_secure() {
    let (_, reply) = secure_reply(
        |l| l.secure(true).same_site_auto(),
        "https://example.com/",
        None,
    )
    .await;
    assert!(
        reply
            .set_cookie()
            .unwrap()
            .ends_with("; HttpOnly; Secure; SameSite=None")
    );
}

#[tokio::test]
async fn cookie_option_same_site_auto_with_secure_true__not_set_cookie_when_insecure() {
    let (store, reply) = secure_reply(|l| l.secure(true).same_site_auto(), "/", None).await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.saves(), 1);
}

// ===========================================================================
// genid option

#[tokio::test]
async fn genid_option__allow_custom_function() {
    let store = CountingStore::new();
    let router = app(&store, |l| {
        l.save_uninitialized(true).genid(|| "apple".to_owned())
    });
    let reply = get_with(&router, "/peek", &[]).await;
    assert_eq!(
        reply.set_cookie().as_deref(),
        Some(
            "connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU; Path=/; HttpOnly"
        )
    );
    assert!(store.record("apple").await.is_some());
}

/// A generator returning `id`: a 500 that names `genid`, no cookie, no store write.
async fn assert_rejected_genid(id: &'static str) {
    let store = CountingStore::new();
    let router = app(&store, |l| {
        l.save_uninitialized(true).genid(move || id.to_owned())
    });
    let reply = get_with(&router, "/", &[]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{id:?}");
    assert!(reply.body.contains("genid"), "{}", reply.body);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
}

#[tokio::test]
async fn genid_option__encode_unsafe_chars() {
    // differs: ids are limited to [A-Za-z0-9_-], so `%` is refused rather than encoded.
    assert_rejected_genid("%").await;
}

#[tokio::test]
async fn genid_option__provide_req_argument() {
    // differs: the generator takes no request; express's vector `/foo` is refused.
    assert_rejected_genid("/foo").await;
}

#[tokio::test]
async fn session__not_save_with_bogus_req_session_id() {
    // differs: a bogus id is a 500 with a clear message instead of a silent no-save.
    assert_rejected_genid("").await;
    assert_rejected_genid("a.b").await;
}

// ===========================================================================
// unset option

#[tokio::test]
async fn unset_option__default_to_keep() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false).max_age(MINUTE)));
    let sid = client.get("/").await.sid().unwrap();
    let reply = client.get("/unset").await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(
        (
            store.calls.saves(),
            store.calls.touches(),
            store.calls.destroys()
        ),
        (1, 0, 0)
    );
    assert!(store.record(&sid).await.is_some(), "kept");

    // A new session set to null is neither saved nor sent, even with saveUninitialized.
    let store = CountingStore::new();
    let router = app(&store, |l| l.save_uninitialized(true));
    assert_eq!(get_with(&router, "/unset", &[]).await.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
}

#[tokio::test]
async fn unset_option__allow_destroy_on_req_session_null() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.save_uninitialized(false)
            .unset(session_runtime::Unset::Destroy)
    }));
    let sid = client.get("/").await.sid().unwrap();
    let reply = client.get("/unset").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(store.calls.destroys(), 1);
    assert!(store.record(&sid).await.is_none());
}

#[tokio::test]
async fn unset_option__not_set_cookie_if_initial_session_destroyed() {
    let store = CountingStore::new();
    let router = app(&store, |l| {
        l.save_uninitialized(true)
            .unset(session_runtime::Unset::Destroy)
    });
    let reply = get_with(&router, "/unset", &[]).await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.saves(), 0);
    assert!(store.inner.is_empty());
}

#[tokio::test]
async fn unset_option__pass_session_destroy_error() {
    // differs: a 500 before the response, not an error after it.
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.save_uninitialized(false)
            .unset(session_runtime::Unset::Destroy)
    }));
    client.get("/").await;
    store.fail_destroys.store(true, Ordering::SeqCst);
    let reply = client.get("/unset").await;
    assert_eq!(store.calls.destroys(), 1);
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session store error");
}

// ===========================================================================
// .regenerate()

#[tokio::test]
async fn regenerate__destroy_replace_the_previous_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    let old = client.get("/").await.sid().unwrap();
    assert_eq!(client.get("/").await.body, "2");
    let reply = client.get("/regenerate").await;
    assert_eq!(reply.body, "0", "fresh data");
    let new = reply.sid().expect("the new id's cookie");
    assert_ne!(new, old);
    assert!(
        store.record(&old).await.is_none(),
        "the old entry is destroyed"
    );
    assert!(
        store.record(&new).await.is_some(),
        "the new session is saved"
    );
    assert_eq!(client.get("/").await.body, "1");
}

// ===========================================================================
// .reload()

#[derive(Session)]
struct Visit {
    url: Option<String>,
}

#[tokio::test]
async fn reload__reload_session_from_store() {
    let store = CountingStore::new();
    let me: std::sync::Arc<std::sync::OnceLock<Router>> = Default::default();
    let router = {
        let me = me.clone();
        Router::new()
            .route(
                "/",
                get(|mut s: Session<Visit>| async move {
                    s.url = Some("/".to_owned());
                    "session created"
                }),
            )
            .route(
                "/bar",
                get(|mut s: Session<Visit>| async move {
                    s.url = Some("/bar".to_owned());
                    format!("saw {}", s.url.as_deref().unwrap())
                }),
            )
            .route(
                "/foo",
                get(
                    move |mut s: Session<Visit>, headers: axum::http::HeaderMap| {
                        let me = me.clone();
                        async move {
                            s.url = Some("/foo".to_owned());
                            // A second request of the same browser changes the stored session meanwhile.
                            let cookie = headers[header::COOKIE].to_str().unwrap();
                            let other = get_with_cookie(me.get().unwrap(), "/bar", cookie).await;
                            assert_eq!(other.body, "saw /bar");
                            s.reload().await.map_err(|e| e.to_string())?;
                            Ok::<_, String>(format!("saw {}", s.url.as_deref().unwrap()))
                        }
                    },
                ),
            )
            .layer(SessionLayer::new(store.clone(), SECRET).save_uninitialized(false))
    };
    me.set(router.clone()).unwrap();
    let mut client = Client::new(router);
    assert_eq!(client.get("/").await.body, "session created");
    assert_eq!(client.get("/foo").await.body, "saw /bar");
}

#[tokio::test]
async fn reload__error_if_session_missing() {
    let store = CountingStore::new();
    let router = {
        let shared = store.clone();
        Router::new()
            .route("/", get(increment))
            .route(
                "/reload",
                get(move |mut s: Session<Counter>| {
                    let store = shared.clone();
                    async move {
                        store.inner.destroy(&s.id()).await.unwrap();
                        match s.reload().await {
                            Ok(()) => "reloaded".to_owned(),
                            Err(error) => error.to_string(),
                        }
                    }
                }),
            )
            .layer(SessionLayer::new(store.clone(), SECRET).save_uninitialized(false))
    };
    let mut client = Client::new(router);
    client.get("/").await;
    let reply = client.get("/reload").await;
    assert!(
        reply.body.contains("failed to load session"),
        "{}",
        reply.body
    );
}

// ===========================================================================
// .save()

fn save_app(store: &CountingStore, configure: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    let seen = store.clone();
    Router::new()
        .route("/", get(increment))
        .route(
            "/save",
            get(move |mut s: Session<Counter>| {
                let seen = seen.clone();
                async move {
                    s.count += 1;
                    s.save().await.map_err(|e| e.to_string())?;
                    // Written before the handler returns.
                    let stored = seen.record(s.id().as_ref()).await.unwrap();
                    Ok::<_, String>(stored.fields.get("count").unwrap().get().to_owned())
                }
            }),
        )
        .route(
            "/reload-save",
            get(|mut s: Session<Counter>| async move {
                s.reload().await.map_err(|e| e.to_string())?;
                s.count += 10;
                s.save().await.map_err(|e| e.to_string())?;
                Ok::<_, String>(s.count.to_string())
            }),
        )
        .layer(configure(SessionLayer::new(store.clone(), SECRET)))
}

#[tokio::test]
async fn save__save_session_to_store() {
    let store = CountingStore::new();
    let mut client = Client::new(save_app(&store, |l| l.save_uninitialized(false)));
    client.get("/").await;
    assert_eq!(client.get("/save").await.body, "2");
}

#[tokio::test]
async fn save__prevent_end_of_request_save() {
    let store = CountingStore::new();
    let mut client = Client::new(save_app(&store, |l| {
        l.save_uninitialized(false).resave(false)
    }));
    client.get("/").await;
    let saves = store.calls.saves();
    client.get("/save").await;
    assert_eq!(store.calls.saves(), saves + 1);
    assert_eq!(store.calls.touches(), 0);
}

#[tokio::test]
async fn save__prevent_end_of_request_save_on_reloaded_session() {
    let store = CountingStore::new();
    let mut client = Client::new(save_app(&store, |l| {
        l.save_uninitialized(false).resave(false)
    }));
    client.get("/").await;
    let saves = store.calls.saves();
    assert_eq!(client.get("/reload-save").await.body, "11");
    assert_eq!(store.calls.saves(), saves + 1);
}

#[tokio::test]
async fn save_when_save_uninitialized_false__prevent_end_of_request_save() {
    let store = CountingStore::new();
    let mut client = Client::new(save_app(&store, |l| {
        l.save_uninitialized(false).resave(false)
    }));
    let reply = client.get("/save").await;
    assert_eq!(reply.body, "1");
    assert!(reply.sid().is_some(), "the cookie is still sent");
    assert_eq!(store.calls.saves(), 1);
}

// ===========================================================================
// .touch()

#[tokio::test]
async fn touch__reset_session_expiration() {
    let store = CountingStore::new();
    // Young enough that an unmodified request alone would not touch it.
    let (sid, cookie) = seed(
        &store,
        counter_record(1, Some(MINUTE)),
        Duration::from_secs(5),
    )
    .await;
    let before = store.record(&sid).await.unwrap().cookie.expires.unwrap();
    let router = app(&store, |l| l.resave(false).max_age(MINUTE));
    get_with_cookie(&router, "/peek", &cookie).await;
    assert_eq!(store.calls.touches(), 0);
    let reply = get_with_cookie(&router, "/touch", &cookie).await;
    assert_eq!(reply.body, "touched");
    assert_eq!(store.calls.touches(), 1);
    let after = store.record(&sid).await.unwrap().cookie.expires.unwrap();
    assert!(
        after >= before + 4_000,
        "expiry moved from {before} to {after}"
    );
}

// ===========================================================================
// .cookie: secure, maxAge, expires, originalMaxAge through the session

#[tokio::test]
async fn cookie_secure__not_set_cookie_when_insecure() {
    let (store, reply) = secure_reply(|l| l.secure(true), "/", None).await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.saves(), 1, "the session is still saved");
}

fn max_age_app(store: &CountingStore, max_age: Duration) -> Router {
    Router::new()
        .route(
            "/",
            get(move |mut s: Session<Counter>| async move {
                s.cookie_mut().set_max_age(Some(max_age));
                "ok"
            }),
        )
        .layer(
            SessionLayer::new(store.clone(), SECRET)
                .save_uninitialized(false)
                .max_age(MINUTE),
        )
}

#[tokio::test]
async fn cookie_max_age__modify_cookie_expires_when_changed() {
    let store = CountingStore::new();
    let set = Client::new(max_age_app(&store, Duration::from_secs(5)))
        .get("/")
        .await
        .set_cookie()
        .unwrap();
    let delta = expires_in_secs(&set);
    assert!((4..=6).contains(&delta), "{delta} s: {set}");
}

#[tokio::test]
async fn cookie_max_age__modify_cookie_expires_when_changed_to_large_value() {
    let store = CountingStore::new();
    let set = Client::new(max_age_app(&store, Duration::from_millis(3_000_000_000)))
        .get("/")
        .await
        .set_cookie()
        .unwrap();
    let delta = expires_in_secs(&set);
    assert!((2_999_998..=3_000_001).contains(&delta), "{delta} s: {set}");
}

#[tokio::test]
async fn cookie_expires_when_given_a_date__set_absolute() {
    // express uses the epoch; a session expiring before it starts would not be
    // stored, so a fixed future date stands in for it.
    let store = CountingStore::new();
    let at = std::time::UNIX_EPOCH + Duration::from_secs(4_102_444_800);
    let router = app(&store, |l| l.save_uninitialized(false).expires(at));
    let set = get_with(&router, "/", &[]).await.set_cookie().unwrap();
    assert_eq!(
        expires_attr(&set),
        Some("Fri, 01 Jan 2100 00:00:00 GMT"),
        "{set}"
    );
}

#[tokio::test]
async fn cookie_original_max_age__equal_original_max_age_as_the_handler_sees_it() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.save_uninitialized(false).max_age(Duration::from_secs(2))
    }));
    client.get("/").await;
    assert_eq!(client.get("/cookie").await.body, "Some(2000)");
}

// ===========================================================================
// The decision table of reference section 1.4, every combination.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Origin {
    /// No cookie: a new session.
    NoCookie,
    /// A validly signed cookie naming nothing in the store: a new session with a new id.
    UnknownSid,
    /// A stored session, just saved.
    LoadedFresh,
    /// A stored session last written more than half its lifetime ago.
    LoadedOld,
}

#[derive(Debug, PartialEq)]
struct Outcome {
    save: bool,
    touch: bool,
    set_cookie: bool,
}

/// express-session's shouldSave / shouldTouch / shouldSetCookie (reference 1.4),
/// with a store that has `touch`.
fn express_decision(
    origin: Origin,
    modified: bool,
    resave: bool,
    save_uninit: bool,
    rolling: bool,
    max_age: bool,
) -> Outcome {
    match origin {
        Origin::NoCookie | Origin::UnknownSid => {
            let keep = save_uninit || modified;
            Outcome {
                save: keep,
                touch: false,
                set_cookie: keep,
            }
        }
        Origin::LoadedFresh | Origin::LoadedOld => {
            let save = resave || modified;
            Outcome {
                save,
                touch: !save,
                set_cookie: rolling || (max_age && modified),
            }
        }
    }
}

/// Ours: express's, except that a loaded, unmodified session with resave=false
/// is touched only when its cookie is re-sent or half its lifetime has passed.
fn our_decision(
    origin: Origin,
    modified: bool,
    resave: bool,
    save_uninit: bool,
    rolling: bool,
    max_age: bool,
) -> Outcome {
    let mut outcome = express_decision(origin, modified, resave, save_uninit, rolling, max_age);
    if outcome.touch {
        outcome.touch = outcome.set_cookie || origin == Origin::LoadedOld;
    }
    outcome
}

#[tokio::test]
async fn decision_table__all_combinations() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for origin in [
        Origin::NoCookie,
        Origin::UnknownSid,
        Origin::LoadedFresh,
        Origin::LoadedOld,
    ] {
        for bits in 0..32u8 {
            let [modified, resave, save_uninit, rolling, max_age] =
                [0, 1, 2, 3, 4].map(|i| bits & (1 << i) != 0);
            let expected = our_decision(origin, modified, resave, save_uninit, rolling, max_age);
            let case = format!(
                "{origin:?} modified={modified} resave={resave} saveUninitialized={save_uninit} rolling={rolling} maxAge={max_age}"
            );
            cases += 1;

            let store = CountingStore::new();
            let lifetime = if max_age { MINUTE } else { store.ttl() };
            let (loaded_sid, cookie) = match origin {
                Origin::NoCookie => (None, None),
                Origin::UnknownSid => {
                    let id = SessionId::generate().to_string();
                    let cookie = format!("connect.sid={}", signed_value(SECRET.as_bytes(), &id));
                    (Some(id), Some(cookie))
                }
                Origin::LoadedFresh | Origin::LoadedOld => {
                    let age = if origin == Origin::LoadedOld {
                        lifetime * 6 / 10
                    } else {
                        Duration::ZERO
                    };
                    let (id, cookie) =
                        seed(&store, counter_record(5, max_age.then_some(MINUTE)), age).await;
                    (Some(id), Some(cookie))
                }
            };
            let router = app(&store, |l| {
                let l = l
                    .resave(resave)
                    .save_uninitialized(save_uninit)
                    .rolling(rolling);
                if max_age { l.max_age(MINUTE) } else { l }
            });
            let start = now_ms();
            let path = if modified { "/" } else { "/peek" };
            let reply = match &cookie {
                Some(cookie) => get_with_cookie(&router, path, cookie).await,
                None => get_with(&router, path, &[]).await,
            };
            let loaded = matches!(origin, Origin::LoadedFresh | Origin::LoadedOld);
            let expected_body = match (loaded, modified) {
                (true, true) => "6",
                (true, false) => "5",
                (false, true) => "1",
                (false, false) => "0",
            };
            if reply.body != expected_body {
                failures.push(format!(
                    "{case}: body {:?}, expected {expected_body}",
                    reply.body
                ));
                continue;
            }
            let actual = Outcome {
                save: store.calls.saves() == 1,
                touch: store.calls.touches() == 1,
                set_cookie: reply.set_cookie().is_some(),
            };
            if store.calls.saves() > 1 || store.calls.touches() > 1 || store.calls.destroys() > 0 {
                failures.push(format!("{case}: {:?}", store.calls));
            }
            if actual != expected {
                failures.push(format!("{case}: got {actual:?}, expected {expected:?}"));
                continue;
            }
            // The details behind the three booleans.
            if let Some(set) = reply.set_cookie() {
                let sid = reply.sid().unwrap();
                if loaded != (loaded_sid.as_deref() == Some(sid.as_str())) {
                    failures.push(format!("{case}: cookie for {sid}, loaded {loaded_sid:?}"));
                }
                let in_secs = expires_attr(&set).map(|_| expires_in_secs(&set));
                if max_age != matches!(in_secs, Some(58..=61)) {
                    failures.push(format!("{case}: Expires in {in_secs:?} s: {set}"));
                }
            }
            if actual.save || actual.touch {
                let sid = reply.sid().or(loaded_sid.filter(|_| loaded)).unwrap();
                let stamp = store.record(&sid).await.and_then(|r| r.last_access);
                if stamp.is_none_or(|at| at < start) {
                    failures.push(format!(
                        "{case}: stored access time {stamp:?} is older than the request"
                    ));
                }
            }
        }
    }
    assert_eq!(cases, 128);
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// express touches every loaded, unmodified session on every request (resave=false);
/// ours at most once per half lifetime, but always when the cookie is re-sent.
#[tokio::test]
async fn decision_table__loaded_unmodified_touch_at_most_once_per_half_lifetime() {
    let store = CountingStore::new();
    let (_sid, cookie) = seed(
        &store,
        counter_record(1, Some(MINUTE)),
        Duration::from_secs(31),
    )
    .await;
    let router = app(&store, |l| l.resave(false).max_age(MINUTE));
    for _ in 0..3 {
        get_with_cookie(&router, "/peek", &cookie).await;
    }
    assert_eq!(store.calls.touches(), 1, "touched once, then young again");
    let rolling = app(&store, |l| l.resave(false).rolling(true).max_age(MINUTE));
    for _ in 0..3 {
        assert!(
            get_with_cookie(&rolling, "/peek", &cookie)
                .await
                .set_cookie()
                .is_some()
        );
    }
    assert_eq!(
        store.calls.touches(),
        4,
        "every re-sent cookie is matched by a touch"
    );
    assert_eq!(store.calls.saves(), 0);
}

// ===========================================================================
// tests/PARITY.md stays complete and truthful.

#[test]
fn parity_md__maps_every_express_case() {
    let parity = include_str!("PARITY.md");
    let source = include_str!("express_parity.rs");
    let mut counts = BTreeMap::<&str, usize>::new();
    let mut numbers = Vec::new();
    for line in parity.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | # | block | case | status | ours |
        let Some(number) = cells.get(1).and_then(|c| c.parse::<usize>().ok()) else {
            continue;
        };
        numbers.push(number);
        let status = cells[4];
        *counts.entry(status).or_default() += 1;
        let ours = cells[5];
        assert!(!ours.is_empty(), "row {number} says nothing");
        let named: Vec<&str> = ours
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|name| {
                name.contains("__")
                    && !name.starts_with('_')
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect();
        if status == "test" {
            assert!(
                !named.is_empty(),
                "row {number} is `test` but names no test"
            );
        }
        for name in named {
            assert!(
                source.contains(&format!("fn {name}(")),
                "row {number} names `{name}`, which is not a test here"
            );
        }
        if ours.contains("[ignored: bug]") {
            let name = ours.split('`').nth(1).unwrap();
            let at = source.find(&format!("fn {name}(")).unwrap();
            assert!(
                source[..at]
                    .rsplit("#[tokio::test]")
                    .next()
                    .unwrap()
                    .contains("#[ignore = \"bug:"),
                "row {number}: `{name}` is listed as an ignored bug but is not ignored"
            );
        }
    }
    assert_eq!(
        numbers,
        (1..=160).collect::<Vec<_>>(),
        "rows 1 to 160, in order"
    );
    let expected = BTreeMap::from([("differs", 19), ("n/a", 23), ("test", 118)]);
    assert_eq!(
        counts, expected,
        "update the totals at the top of PARITY.md too"
    );
    assert!(parity.contains("**118 test**, **19 differs**, **23 n/a**"));
}
