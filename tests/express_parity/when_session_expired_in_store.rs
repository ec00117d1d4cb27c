//! `when session expired in store`.

use std::time::Duration;

use axum::http::StatusCode;

use crate::harness::app;
use crate::support::{Client, CountingStore, Reply};

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
async fn create_a_new_session() {
    let (_store, _old, reply) = expired_session().await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "1");
    assert!(reply.sid().is_some());
}

#[tokio::test]
async fn have_a_new_sid() {
    let (_store, old, reply) = expired_session().await;
    assert_ne!(reply.sid().unwrap(), old);
}

#[tokio::test]
async fn not_exist_in_store() {
    let (store, old, reply) = expired_session().await;
    assert!(store.record(&old).await.is_none());
    assert!(store.record(&reply.sid().unwrap()).await.is_some());
    assert_eq!(store.inner.len(), 1);
}
