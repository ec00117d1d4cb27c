//! `genid option`.

use crate::harness::{app, assert_rejected_genid};
use crate::support::{Client, CountingStore, get_with};

#[tokio::test]
async fn provide_default_generator() {
    let store = CountingStore::new();
    let sid = Client::new(app(&store, |l| l.save_uninitialized(true)))
        .get("/peek")
        .await
        .sid()
        .unwrap();
    assert_eq!(sid.len(), 32, "uid-safe(24): 32 characters");
    assert!(
        sid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{sid}"
    );
}

#[tokio::test]
async fn allow_custom_function() {
    let store = CountingStore::new();
    let router = app(&store, |l| {
        l.save_uninitialized(true).genid(|| "apple".to_owned())
    });
    let reply = get_with(&router, "/peek", &[]).await;
    assert_eq!(
        reply.set_cookie().as_deref(),
        Some(
            "connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU; Path=/; HttpOnly"
        )
    );
    assert!(store.record("apple").await.is_some());
}

#[tokio::test]
async fn encode_unsafe_chars() {
    // differs: ids are limited to [A-Za-z0-9_-], so `%` is refused rather than encoded.
    assert_rejected_genid("%").await;
}

#[tokio::test]
async fn provide_req_argument() {
    // differs: the generator takes no request; express's vector `/foo` is refused.
    assert_rejected_genid("/foo").await;
}
