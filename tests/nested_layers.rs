//! Nested session layers: another cookie name is another, independent
//! session; the same name keeps express's "the outer layer owns it".

mod support;

use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use session_runtime::{MemoryStore, SessionLayer};
use support::counter::increment;
use support::{Client, CountingStore};
use tower::{Layer, Service};

fn cookie_names(reply: &support::Reply) -> Vec<String> {
    reply
        .set_cookies()
        .iter()
        .map(|c| c.split('=').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_nested_layer_with_its_own_cookie_is_an_independent_session() {
    let site = CountingStore::new();
    let admin = CountingStore::new();
    let admin_routes = Router::new()
        .route("/count", get(increment))
        .layer(SessionLayer::new(admin.clone(), "admin secret").name("admin.sid"));
    let router = Router::new()
        .route("/count", get(increment))
        .nest("/admin", admin_routes)
        .layer(SessionLayer::new(site.clone(), "site secret"));
    let mut browser = Client::new(router);

    let first = browser.get("/count").await;
    assert_eq!(first.body, "1");
    assert_eq!(cookie_names(&first), ["connect.sid"]);

    // The client keeps one cookie; give it both by hand as a browser would.
    let site_cookie = browser.cookie.clone().unwrap();
    let admin_reply = browser.get("/admin/count").await;
    assert_eq!(admin_reply.body, "1", "the admin session starts on its own");
    assert_eq!(
        cookie_names(&admin_reply),
        ["admin.sid"],
        "only its own cookie"
    );
    let admin_cookie = browser.cookie.clone().unwrap();
    browser.cookie = Some(format!("{site_cookie}; {admin_cookie}"));

    assert_eq!(browser.get("/admin/count").await.body, "2");
    assert_eq!(
        browser.get("/count").await.body,
        "2",
        "the site session is untouched"
    );
    assert_eq!(browser.get("/admin/count").await.body, "3");
    assert_eq!(site.calls.saves(), 2);
    assert_eq!(admin.calls.saves(), 3);
}

#[tokio::test]
async fn a_nested_layer_with_the_same_cookie_defers_to_the_outer_one() {
    let outer = CountingStore::new();
    let inner = MemoryStore::new();
    let nested = Router::new()
        .route("/count", get(increment))
        .layer(SessionLayer::new(inner.clone(), "inner secret"));
    let router = Router::new()
        .nest("/inner", nested)
        .layer(SessionLayer::new(outer.clone(), "outer secret"));
    let mut browser = Client::new(router);
    let reply = browser.get("/inner/count").await;
    assert_eq!(reply.body, "1");
    assert_eq!(reply.set_cookies().len(), 1);
    assert_eq!(browser.get("/inner/count").await.body, "2");
    assert_eq!(outer.calls.saves(), 2, "the outer layer owns the session");
    assert!(inner.is_empty());
}

/// A service under the layer that is not ready yet, or whose readiness failed.
#[derive(Clone, Copy)]
struct Readiness(Poll<Result<(), &'static str>>);

impl Service<Request<Body>> for Readiness {
    type Response = Response<Body>;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Response<Body>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        std::future::ready(Ok(Response::new(Body::empty())))
    }
}

/// Backpressure passes through the layer: a server sees that the service
/// below it is busy, or broken, as if the layer were not there.
#[test]
fn the_layer_is_ready_when_the_service_it_wraps_is() {
    let layer = SessionLayer::new(MemoryStore::new(), "readiness secret");
    let mut cx = Context::from_waker(Waker::noop());
    for inner in [
        Poll::Pending,
        Poll::Ready(Err("overloaded")),
        Poll::Ready(Ok(())),
    ] {
        let mut service = layer.layer(Readiness(inner));
        assert_eq!(service.poll_ready(&mut cx), inner);
    }
}
