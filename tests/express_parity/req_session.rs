//! `req.session`: the cases directly under it; its method blocks
//! (`.destroy()`, `.save()`, `.cookie`, …) are the modules below.

mod cookie;
mod destroy;
mod regenerate;
mod reload;
mod save;
mod touch;

use std::sync::atomic::Ordering;

use axum::http::StatusCode;

use crate::harness::{MINUTE, app};
use crate::support::{Client, CountingStore};

#[tokio::test]
async fn persist() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false).resave(false)));
    assert_eq!(client.get("/").await.body, "1");
    assert_eq!(client.get("/").await.body, "2");
    assert_eq!(client.get("/peek").await.body, "2");
}

#[tokio::test]
async fn only_set_cookie_when_modified() {
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
async fn be_set_when_store_reconnects() {
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
