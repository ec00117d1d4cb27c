//! `req.session > .destroy()`.

use axum::http::StatusCode;

use crate::harness::app;
use crate::support::{Client, CountingStore};

#[tokio::test]
async fn destroy_the_previous_session() {
    // differs: the browser cookie is cleared too (express #241).
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    let sid = client.get("/").await.sid().unwrap();
    let reply = client.get("/destroy").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(store.calls.destroys(), 1);
    assert!(store.record(&sid).await.is_none());
    assert_eq!(
        reply.set_cookie().as_deref(),
        Some("connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly")
    );
    assert_eq!(client.get("/peek").await.body, "0");
}
