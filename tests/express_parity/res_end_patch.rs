//! `res.end patch`: other middleware wrapping the response, outside or
//! inside the layer.

use crate::harness::express_layer;
use axum::Router;
use axum::http::header;
use axum::response::Response;
use axum::routing::get;

use crate::harness::{SECRET, app, increment};
use crate::support::{Client, CountingStore};

async fn tag_response(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("x-patched", header::HeaderValue::from_static("yes"));
    response
}

#[tokio::test]
async fn handle_res_end_res_write_patched_prior() {
    // A middleware outside the session layer sees the response after the save.
    let store = CountingStore::new();
    let router = app(&store, |l| l.save_uninitialized(false))
        .layer(axum::middleware::map_response(tag_response));
    let reply = Client::new(router).get("/").await;
    assert_eq!(reply.headers["x-patched"], "yes");
    assert!(reply.sid().is_some());
    assert_eq!(store.calls.saves(), 1);
}

#[tokio::test]
async fn handle_res_end_res_write_patched_after() {
    // A middleware between the layer and the handler.
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", get(increment))
        .layer(axum::middleware::map_response(tag_response))
        .layer(express_layer(store.clone(), SECRET).save_uninitialized(false));
    let reply = Client::new(router).get("/").await;
    assert_eq!(reply.headers["x-patched"], "yes");
    assert!(reply.sid().is_some());
    assert_eq!(store.calls.saves(), 1);
}
