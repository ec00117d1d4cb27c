//! `req.session > .touch()`.

use std::time::Duration;

use crate::harness::{MINUTE, app, counter_record, seed};
use crate::support::{CountingStore, get_with_cookie};

#[tokio::test]
async fn reset_session_expiration() {
    let store = CountingStore::new();
    // Young enough that an unmodified request alone would not touch it.
    let (sid, cookie) = seed(
        &store,
        counter_record(1, Some(MINUTE)),
        Duration::from_secs(5),
    )
    .await;
    let before = store.record(&sid).await.unwrap().cookie.expires.unwrap();
    let router = app(&store, |l| l.resave(false).max_age(MINUTE));
    get_with_cookie(&router, "/peek", &cookie).await;
    assert_eq!(store.calls.touches(), 0);
    let reply = get_with_cookie(&router, "/touch", &cookie).await;
    assert_eq!(reply.body, "touched");
    assert_eq!(store.calls.touches(), 1);
    let after = store.record(&sid).await.unwrap().cookie.expires.unwrap();
    assert!(
        after >= before + 4_000,
        "expiry moved from {before} to {after}"
    );
}
