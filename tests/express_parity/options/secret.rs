//! `secret option`.

use crate::harness::express_layer;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use session_runtime::Secrets;

use crate::harness::{counter_record, increment, peek, seed};
use crate::support::{Client, CountingStore, get_with_cookie, signed_value};

#[test]
fn reject_empty_arrays() {
    assert_eq!(
        Secrets::try_new(Vec::<String>::new()).err(),
        Some(session_runtime::SecretError::Empty)
    );
}

async fn round_trip(secrets: Secrets, signer: &[u8]) {
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", get(increment))
        .layer(express_layer(store.clone(), secrets).save_uninitialized(false));
    let mut client = Client::new(router);
    let reply = client.get("/").await;
    let sid = reply.sid().unwrap();
    assert_eq!(
        client.cookie.as_deref(),
        Some(format!("connect.sid={}", signed_value(signer, &sid)).as_str()),
        "signed with {:?}",
        String::from_utf8_lossy(signer)
    );
    assert_eq!(client.get("/").await.body, "2", "and verified");
}

#[tokio::test]
async fn sign_and_unsign_with_a_string() {
    round_trip(Secrets::new("keyboard cat"), b"keyboard cat").await;
}

#[tokio::test]
async fn sign_and_unsign_with_a_buffer() {
    let key: &[u8] = &[0x00, 0xff, 0x10, 0x80, b'k', b'e', b'y'];
    round_trip(Secrets::new(key), key).await;
}

mod when_an_array {
    use super::*;

    #[tokio::test]
    async fn sign_cookies() {
        round_trip(
            Secrets::try_new(["keyboard cat", "nyan cat"]).unwrap(),
            b"keyboard cat",
        )
        .await;
    }

    #[tokio::test]
    async fn sign_cookies_with_first_element() {
        round_trip(
            Secrets::try_new(["nyan cat", "keyboard cat"]).unwrap(),
            b"nyan cat",
        )
        .await;
    }

    #[tokio::test]
    async fn read_cookies_using_all_elements() {
        let store = CountingStore::new();
        let (_sid, cookie) = seed(&store, counter_record(5, None), Duration::ZERO).await;
        // `seed` signs with "keyboard cat": the second secret here.
        let router = Router::new().route("/", get(peek)).layer(express_layer(
            store.clone(),
            Secrets::try_new(["nyan cat", "keyboard cat"]).unwrap(),
        ));
        assert_eq!(get_with_cookie(&router, "/", &cookie).await.body, "5");
    }
}
