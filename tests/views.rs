//! Typed views of one session in one request: disjoint views both save, two
//! live views writing the same key are refused (never a silently lost push),
//! and `Option<Session<T>>` is `None` where a request has no session at all.

mod support;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::routing::get;
use session_runtime::{MemoryStore, Session, SessionLayer};
use support::{Client, CountingStore};

#[derive(Session)]
struct Cart {
    items: Vec<String>,
}

#[derive(Session)]
struct Auth {
    user: Option<String>,
}

/// Another schema that also writes `items`.
#[derive(Session)]
struct Wishlist {
    items: Vec<String>,
}

async fn twice(mut first: Session<Cart>, mut second: Session<Cart>) -> &'static str {
    first.items.push("socks".to_owned());
    second.items.push("shoes".to_owned());
    "both pushed"
}

async fn overlapping(mut cart: Session<Cart>, mut wish: Session<Wishlist>) -> &'static str {
    cart.items.push("socks".to_owned());
    wish.items.push("hat".to_owned());
    "both pushed"
}

async fn disjoint(mut cart: Session<Cart>, mut auth: Session<Auth>) -> &'static str {
    cart.items.push("socks".to_owned());
    auth.user = Some("bob".to_owned());
    "both"
}

/// One view dropped before the next is extracted: no conflict, and the
/// second sees the first's change.
async fn one_after_the_other(parts: axum::http::request::Parts) -> String {
    let mut parts = parts;
    let mut first = <Session<Cart> as FromRequestParts<()>>::from_request_parts(&mut parts, &())
        .await
        .unwrap();
    first.items.push("socks".to_owned());
    drop(first);
    let mut second = <Session<Cart> as FromRequestParts<()>>::from_request_parts(&mut parts, &())
        .await
        .unwrap();
    second.items.push("shoes".to_owned());
    second.items.join(",")
}

async fn show(cart: Session<Cart>, auth: Session<Auth>) -> String {
    format!("{:?} {:?}", cart.items, auth.user)
}

async fn maybe(cart: Option<Session<Cart>>) -> String {
    match cart {
        Some(cart) => format!("some {}", cart.items.len()),
        None => "none".to_owned(),
    }
}

fn app(store: &CountingStore) -> Router {
    Router::new()
        .route("/twice", get(twice))
        .route("/overlapping", get(overlapping))
        .route("/disjoint", get(disjoint))
        .route("/sequential", get(one_after_the_other))
        .route("/show", get(show))
        .layer(SessionLayer::new(store.clone(), "views secret"))
}

#[tokio::test]
async fn two_live_views_writing_the_same_key_are_refused_not_lost() {
    for path in ["/twice", "/overlapping"] {
        let store = CountingStore::new();
        let mut client = Client::new(app(&store));
        let reply = client.get(path).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert!(
            reply.body.contains("both write the session key `items`"),
            "{path}: {}",
            reply.body
        );
        assert!(reply.body.contains("views::Cart"), "{}", reply.body);
        assert_eq!(store.calls.saves(), 0, "{path}: nothing half-saved");
    }
}

#[tokio::test]
async fn disjoint_views_both_save() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store));
    assert_eq!(client.get("/disjoint").await.body, "both");
    assert_eq!(client.get("/show").await.body, r#"["socks"] Some("bob")"#);
}

#[tokio::test]
async fn a_view_dropped_before_the_next_is_extracted_is_no_conflict() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store));
    assert_eq!(client.get("/sequential").await.body, "socks,shoes");
    assert_eq!(client.get("/show").await.body, r#"["socks", "shoes"] None"#);
}

#[tokio::test]
async fn an_optional_session_is_none_without_a_layer_or_outside_its_path() {
    // No layer at all.
    let bare = Router::new().route("/maybe", get(maybe));
    assert_eq!(Client::new(bare).get("/maybe").await.body, "none");
    // A layer whose cookie path does not cover the route.
    let scoped = Router::new()
        .route("/maybe", get(maybe))
        .route("/app/maybe", get(maybe))
        .layer(SessionLayer::new(MemoryStore::new(), "views secret").path("/app"));
    let mut client = Client::new(scoped);
    assert_eq!(client.get("/maybe").await.body, "none");
    assert_eq!(client.get("/app/maybe").await.body, "some 0");
}

#[tokio::test]
async fn an_optional_session_whose_store_fails_is_an_error_not_none() {
    let store = CountingStore::new();
    let router = Router::new()
        .route(
            "/",
            get(|mut c: Session<Cart>| async move {
                c.items.push("x".to_owned());
            }),
        )
        .route("/maybe", get(maybe))
        .layer(SessionLayer::new(store.clone(), "views secret"));
    let mut client = Client::new(router);
    client.get("/").await;
    store
        .fail_loads
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let reply = client.get("/maybe").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session store error");
}
