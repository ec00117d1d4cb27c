//! `unset option`.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;

use crate::harness::{MINUTE, app};
use crate::support::{Client, CountingStore, get_with};

#[tokio::test]
async fn default_to_keep() {
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
async fn allow_destroy_on_req_session_null() {
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
async fn not_set_cookie_if_initial_session_destroyed() {
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
async fn pass_session_destroy_error() {
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
