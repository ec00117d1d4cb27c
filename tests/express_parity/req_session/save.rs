//! `req.session > .save()`.

use crate::harness::express_layer;
use axum::Router;
use axum::routing::get;
use session_runtime::{Session, SessionLayer};

use crate::harness::{Counter, SECRET, increment};
use crate::support::{Client, CountingStore};

fn save_app(store: &CountingStore, configure: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    let seen = store.clone();
    Router::new()
        .route("/", get(increment))
        .route(
            "/save",
            get(move |mut s: Session<Counter>| {
                let seen = seen.clone();
                async move {
                    s.count += 1;
                    s.save().await.map_err(|e| e.to_string())?;
                    // Written before the handler returns.
                    let stored = seen.record(s.id().as_ref()).await.unwrap();
                    Ok::<_, String>(stored.fields.get("count").unwrap().get().to_owned())
                }
            }),
        )
        .route(
            "/reload-save",
            get(|mut s: Session<Counter>| async move {
                s.reload().await.map_err(|e| e.to_string())?;
                s.count += 10;
                s.save().await.map_err(|e| e.to_string())?;
                Ok::<_, String>(s.count.to_string())
            }),
        )
        .layer(configure(express_layer(store.clone(), SECRET)))
}

#[tokio::test]
async fn save_session_to_store() {
    let store = CountingStore::new();
    let mut client = Client::new(save_app(&store, |l| l.save_uninitialized(false)));
    client.get("/").await;
    assert_eq!(client.get("/save").await.body, "2");
}

#[tokio::test]
async fn prevent_end_of_request_save() {
    let store = CountingStore::new();
    let mut client = Client::new(save_app(&store, |l| {
        l.save_uninitialized(false).resave(false)
    }));
    client.get("/").await;
    let saves = store.calls.saves();
    client.get("/save").await;
    assert_eq!(store.calls.saves(), saves + 1);
    assert_eq!(store.calls.touches(), 0);
}

#[tokio::test]
async fn prevent_end_of_request_save_on_reloaded_session() {
    let store = CountingStore::new();
    let mut client = Client::new(save_app(&store, |l| {
        l.save_uninitialized(false).resave(false)
    }));
    client.get("/").await;
    let saves = store.calls.saves();
    assert_eq!(client.get("/reload-save").await.body, "11");
    assert_eq!(store.calls.saves(), saves + 1);
}

mod when_save_uninitialized_false {
    use super::*;

    #[tokio::test]
    async fn prevent_end_of_request_save() {
        let store = CountingStore::new();
        let mut client = Client::new(save_app(&store, |l| {
            l.save_uninitialized(false).resave(false)
        }));
        let reply = client.get("/save").await;
        assert_eq!(reply.body, "1");
        assert!(reply.sid().is_some(), "the cookie is still sent");
        assert_eq!(store.calls.saves(), 1);
    }
}
