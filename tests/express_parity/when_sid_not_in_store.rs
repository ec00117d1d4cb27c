//! `when sid not in store`.

use session_runtime::SessionId;
use session_runtime::store::SessionStore;

use crate::harness::app;
use crate::support::{Client, CountingStore};

#[tokio::test]
async fn create_a_new_session() {
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
async fn have_a_new_sid() {
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
