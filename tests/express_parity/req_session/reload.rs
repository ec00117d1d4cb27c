//! `req.session > .reload()`.

use crate::harness::express_layer;
use axum::Router;
use axum::http::header;
use axum::routing::get;
use session_runtime::Session;
use session_runtime::store::SessionStore;

use crate::harness::{Counter, SECRET, increment};
use crate::support::{Client, CountingStore, get_with_cookie};

#[derive(Session)]
struct Visit {
    url: Option<String>,
}

#[tokio::test]
async fn reload_session_from_store() {
    let store = CountingStore::new();
    let me: std::sync::Arc<std::sync::OnceLock<Router>> = Default::default();
    let router = {
        let me = me.clone();
        Router::new()
            .route(
                "/",
                get(|mut s: Session<Visit>| async move {
                    s.url = Some("/".to_owned());
                    "session created"
                }),
            )
            .route(
                "/bar",
                get(|mut s: Session<Visit>| async move {
                    s.url = Some("/bar".to_owned());
                    format!("saw {}", s.url.as_deref().unwrap())
                }),
            )
            .route(
                "/foo",
                get(
                    move |mut s: Session<Visit>, headers: axum::http::HeaderMap| {
                        let me = me.clone();
                        async move {
                            s.url = Some("/foo".to_owned());
                            // A second request of the same browser changes the stored session meanwhile.
                            let cookie = headers[header::COOKIE].to_str().unwrap();
                            let other = get_with_cookie(me.get().unwrap(), "/bar", cookie).await;
                            assert_eq!(other.body, "saw /bar");
                            s.reload().await.map_err(|e| e.to_string())?;
                            Ok::<_, String>(format!("saw {}", s.url.as_deref().unwrap()))
                        }
                    },
                ),
            )
            .layer(express_layer(store.clone(), SECRET).save_uninitialized(false))
    };
    me.set(router.clone()).unwrap();
    let mut client = Client::new(router);
    assert_eq!(client.get("/").await.body, "session created");
    assert_eq!(client.get("/foo").await.body, "saw /bar");
}

#[tokio::test]
async fn error_if_session_missing() {
    let store = CountingStore::new();
    let router = {
        let shared = store.clone();
        Router::new()
            .route("/", get(increment))
            .route(
                "/reload",
                get(move |mut s: Session<Counter>| {
                    let store = shared.clone();
                    async move {
                        store.inner.destroy(&s.id()).await.unwrap();
                        match s.reload().await {
                            Ok(()) => "reloaded".to_owned(),
                            Err(error) => error.to_string(),
                        }
                    }
                }),
            )
            .layer(express_layer(store.clone(), SECRET).save_uninitialized(false))
    };
    let mut client = Client::new(router);
    client.get("/").await;
    let reply = client.get("/reload").await;
    assert!(
        reply.body.contains("failed to load session"),
        "{}",
        reply.body
    );
}
