//! `rolling option`.

use crate::harness::{MINUTE, app};
use crate::support::{Client, CountingStore};

#[tokio::test]
async fn default_to_false() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false).max_age(MINUTE)));
    assert!(client.get("/").await.set_cookie().is_some());
    assert_eq!(client.get("/peek").await.set_cookie(), None);
}

#[tokio::test]
async fn force_cookie_on_unmodified_session() {
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
async fn not_force_cookie_on_uninitialized_session_if_save_uninitialized_false() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.rolling(true).save_uninitialized(false).max_age(MINUTE)
    }));
    let reply = client.get("/peek").await;
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
}

#[tokio::test]
async fn force_cookie_and_save_uninitialized_session_if_save_uninitialized_true() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.rolling(true).save_uninitialized(true).max_age(MINUTE)
    }));
    let sid = client.get("/peek").await.sid().expect("Set-Cookie");
    assert_eq!(store.calls.saves(), 1);
    assert!(store.record(&sid).await.is_some());
}

#[tokio::test]
async fn force_cookie_and_save_modified_session_even_if_save_uninitialized_false() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.rolling(true).save_uninitialized(false).max_age(MINUTE)
    }));
    let sid = client.get("/").await.sid().expect("Set-Cookie");
    assert_eq!(store.calls.saves(), 1);
    assert!(store.record(&sid).await.is_some());
}
