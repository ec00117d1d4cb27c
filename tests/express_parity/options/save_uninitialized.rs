//! `saveUninitialized option`.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;

use crate::harness::{MINUTE, app};
use crate::support::{Client, CountingStore};

#[tokio::test]
async fn default_to_true() {
    // differs: our default is false (express's README recommendation).
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l)).get("/peek").await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
}

#[tokio::test]
async fn force_save_of_uninitialized_session() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(true)))
        .get("/peek")
        .await;
    let sid = reply.sid().expect("Set-Cookie");
    assert_eq!(store.calls.saves(), 1);
    assert!(store.record(&sid).await.is_some());
}

#[tokio::test]
async fn prevent_save_of_uninitialized_session() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/peek")
        .await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.saves(), 0);
    assert!(store.inner.is_empty());
}

#[tokio::test]
async fn still_save_modified_session() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/")
        .await;
    assert!(reply.sid().is_some());
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn pass_session_save_error() {
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
async fn prevent_uninitialized_session_from_being_touched() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.save_uninitialized(false).resave(false).max_age(MINUTE)
    }));
    for _ in 0..3 {
        assert_eq!(client.get("/peek").await.set_cookie(), None);
    }
    assert_eq!(store.calls.writes(), 0);
}
