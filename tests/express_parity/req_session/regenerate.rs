//! `req.session > .regenerate()`.

use crate::harness::app;
use crate::support::{Client, CountingStore};

#[tokio::test]
async fn destroy_replace_the_previous_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    let old = client.get("/").await.sid().unwrap();
    assert_eq!(client.get("/").await.body, "2");
    let reply = client.get("/regenerate").await;
    assert_eq!(reply.body, "0", "fresh data");
    let new = reply.sid().expect("the new id's cookie");
    assert_ne!(new, old);
    assert!(
        store.record(&old).await.is_none(),
        "the old entry is destroyed"
    );
    assert!(
        store.record(&new).await.is_some(),
        "the new session is saved"
    );
    assert_eq!(client.get("/").await.body, "1");
}
