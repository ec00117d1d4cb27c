//! `key option`.

use crate::harness::app;
use crate::support::{Client, CountingStore};

#[tokio::test]
async fn default_to_connect_sid() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(true)))
        .get("/peek")
        .await;
    assert!(reply.set_cookie().unwrap().starts_with("connect.sid=s%3A"));
}
