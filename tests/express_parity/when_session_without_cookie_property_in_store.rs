//! `when session without cookie property in store`.

use std::time::Duration;

use axum::http::StatusCode;
use session_runtime::Record;

use crate::harness::{app, seed};
use crate::support::{CountingStore, get_with_cookie};

#[tokio::test]
async fn pass_error_from_inflate() {
    // differs: a stored session without `cookie` gets express's default cookie
    // settings (what `new Cookie(undefined)` would give) instead of a 500.
    let store = CountingStore::new();
    let record = Record::from_json(r#"{"count":41}"#).unwrap();
    let (_sid, cookie) = seed(&store, record, Duration::ZERO).await;
    let router = app(&store, |l| l.save_uninitialized(false));
    let reply = get_with_cookie(&router, "/", &cookie).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "42");
}
