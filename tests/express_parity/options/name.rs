//! `name option`.

use crate::harness::app;
use crate::support::{Client, CountingStore, get_with_cookie};

#[tokio::test]
async fn default_to_connect_sid() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/")
        .await;
    assert!(reply.set_cookie().unwrap().starts_with("connect.sid=s%3A"));
}

#[tokio::test]
async fn set_the_cookie_name() {
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
