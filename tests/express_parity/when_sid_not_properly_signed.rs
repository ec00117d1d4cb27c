//! `when sid not properly signed`.

use crate::harness::app;
use crate::support::{Client, CountingStore, get_with_cookie, signed_value};

#[tokio::test]
async fn generate_new_session() {
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
async fn not_attempt_fetch_from_store() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    let sid = client.get("/").await.sid().unwrap();
    let loads = store.calls.loads();
    let router = app(&store, |l| l.save_uninitialized(false));
    let forged = format!("connect.sid={}", signed_value(b"other secret", &sid));
    get_with_cookie(&router, "/", &forged).await;
    assert_eq!(store.calls.loads(), loads);
}
