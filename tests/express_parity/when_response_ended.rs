//! `when response ended`: the session is saved by the time the response has
//! been read, over real sockets.

use crate::harness::express_layer;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use session_runtime::Session;

use crate::harness::{Counter, MINUTE, SECRET, app, modify_and_echo};
use crate::support::clock::http_date_secs;
use crate::support::wire::{self, serve};
use crate::support::{CountingStore, cookie_pair, expires_attr};

async fn assert_saved_after_response(router: Router, store: &CountingStore, path: &str) {
    let addr = serve(router).await;
    let reply = wire::request(addr, "GET", path, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let record = store.record(&reply.sid().expect("Set-Cookie")).await;
    assert!(record.is_some(), "saved by the time the response was read");
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn have_saved_session() {
    let store = CountingStore::new();
    let router = app(&store, |l| l.save_uninitialized(false));
    assert_saved_after_response(router, &store, "/").await;
}

#[tokio::test]
async fn have_saved_session_even_with_empty_response() {
    let store = CountingStore::new();
    let router = Router::new()
        .route(
            "/",
            get(|mut s: Session<Counter>| async move {
                s.count = 1;
                (StatusCode::OK, [(header::CONTENT_LENGTH, "0")], "")
            }),
        )
        .layer(express_layer(store.clone(), SECRET));
    assert_saved_after_response(router, &store, "/").await;
}

#[tokio::test]
async fn have_saved_session_even_with_multi_write() {
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", axum::routing::post(modify_and_echo))
        .layer(express_layer(store.clone(), SECRET).save_uninitialized(false));
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
async fn have_saved_session_even_with_non_chunked_response() {
    let store = CountingStore::new();
    let router = Router::new()
        .route(
            "/",
            get(|mut s: Session<Counter>| async move {
                s.count = 1;
                "hello, world!"
            }),
        )
        .layer(express_layer(store.clone(), SECRET).save_uninitialized(false));
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
async fn have_saved_session_with_updated_cookie_expiration() {
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
