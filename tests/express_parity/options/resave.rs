//! `resave option`.

use crate::harness::express_layer;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use session_runtime::Session;

use crate::harness::{MINUTE, SECRET, app, counter_record, seed};
use crate::support::{Client, CountingStore, get_with_cookie};

#[tokio::test]
async fn default_to_true() {
    // differs: our default is false (express's README recommendation).
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false)));
    client.get("/").await;
    client.get("/peek").await;
    assert_eq!(
        store.calls.saves(),
        1,
        "an unmodified session is not re-saved"
    );
}

mod when_true {
    use super::*;

    #[tokio::test]
    async fn force_save_on_unmodified_session() {
        let store = CountingStore::new();
        let mut client = Client::new(app(&store, |l| l.resave(true).save_uninitialized(false)));
        client.get("/").await;
        client.get("/peek").await;
        assert_eq!(store.calls.saves(), 2);
        assert_eq!(store.calls.touches(), 0);
    }
}

mod when_false {
    use super::*;

    #[tokio::test]
    async fn prevent_save_on_unmodified_session() {
        let store = CountingStore::new();
        let mut client = Client::new(app(&store, |l| l.resave(false).save_uninitialized(false)));
        client.get("/").await;
        client.get("/peek").await;
        assert_eq!(store.calls.saves(), 1);
    }

    #[tokio::test]
    async fn still_save_modified_session() {
        let store = CountingStore::new();
        let mut client = Client::new(app(&store, |l| l.resave(false).save_uninitialized(false)));
        client.get("/").await;
        client.get("/").await;
        assert_eq!(store.calls.saves(), 2);
    }

    #[derive(Session)]
    struct Profile {
        user: BTreeMap<String, String>,
    }

    #[tokio::test]
    async fn detect_a_cookie_property_as_modified() {
        let store = CountingStore::new();
        let router = Router::new()
            .route(
                "/",
                get(|mut s: Session<Profile>| async move {
                    s.user.insert("cookie".to_owned(), "yum".to_owned());
                }),
            )
            .route(
                "/eat",
                get(|mut s: Session<Profile>| async move {
                    s.user.insert("cookie".to_owned(), "eaten".to_owned());
                }),
            )
            .layer(
                express_layer(store.clone(), SECRET)
                    .resave(false)
                    .save_uninitialized(false),
            );
        let mut client = Client::new(router);
        let sid = client.get("/").await.sid().unwrap();
        client.get("/eat").await;
        assert_eq!(store.calls.saves(), 2, "a nested `cookie` key is data");
        let json = store.record(&sid).await.unwrap().to_json();
        assert!(json.contains(r#""user":{"cookie":"eaten"}"#), "{json}");
    }

    #[tokio::test]
    async fn pass_session_touch_error() {
        // differs: a store error is a 500 before the response, not an error after it.
        let store = CountingStore::new();
        store.fail_touches.store(true, Ordering::SeqCst);
        // Past half its lifetime, so this unmodified request touches it.
        let (_sid, cookie) = seed(
            &store,
            counter_record(3, Some(MINUTE)),
            Duration::from_secs(40),
        )
        .await;
        let router = app(&store, |l| l.resave(false).max_age(MINUTE));
        let reply = get_with_cookie(&router, "/peek", &cookie).await;
        assert_eq!(store.calls.touches(), 1);
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(reply.body, "session store error");
    }
}
