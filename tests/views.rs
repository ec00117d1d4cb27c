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

/// A view extracted by hand, as a middleware or a second extraction does.
async fn view<T>(parts: &mut axum::http::request::Parts) -> Session<T>
where
    T: session_runtime::SessionSchema,
    Session<T>: FromRequestParts<()>,
    <Session<T> as FromRequestParts<()>>::Rejection: std::fmt::Debug,
{
    Session::<T>::from_request_parts(parts, &()).await.unwrap()
}

/// One view dropped before the next is extracted: no conflict, and the
/// second sees the first's change.
async fn one_after_the_other(parts: axum::http::request::Parts) -> String {
    let mut parts = parts;
    let mut first = view::<Cart>(&mut parts).await;
    first.items.push("socks".to_owned());
    drop(first);
    let mut second = view::<Cart>(&mut parts).await;
    second.items.push("shoes".to_owned());
    second.items.join(",")
}

/// A new session: the cart's view adds an item and is dropped, then the
/// auth view gives the session a new id (`cycle` or `regenerate`) and logs in.
async fn cart_then_new_id(
    axum::extract::Path(how): axum::extract::Path<String>,
    parts: axum::http::request::Parts,
) -> Result<&'static str, String> {
    let mut parts = parts;
    let mut cart = view::<Cart>(&mut parts).await;
    cart.items.push("socks".to_owned());
    drop(cart);
    let mut auth = view::<Auth>(&mut parts).await;
    match how.as_str() {
        "cycle" => auth.cycle_id().await,
        _ => auth.regenerate().await,
    }
    .map_err(|e| e.to_string())?;
    auth.user = Some("bob".to_owned());
    Ok("logged in")
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

/// Two live views, one dropped, then a third that writes what the one
/// still alive writes: refused, as long as that one lives.
async fn drop_one_of_two(parts: axum::http::request::Parts) -> String {
    let mut parts = parts;
    let cart = view::<Cart>(&mut parts).await;
    let auth = view::<Auth>(&mut parts).await;
    drop(auth);
    let wish =
        <Session<Wishlist> as FromRequestParts<()>>::from_request_parts(&mut parts, &()).await;
    let answer = match wish {
        Ok(_) => "the wishlist was let in".to_owned(),
        Err(rejection) => rejection.to_string(),
    };
    drop(cart);
    answer
}

/// A view used after another view of the same request destroyed the session.
async fn after_destroy(cart: Session<Cart>, mut auth: Session<Auth>) -> String {
    cart.destroy();
    auth.user = Some("mallory".to_owned());
    let saved = auth.save().await.map_err(|e| e.to_string());
    let cycled = auth.cycle_id().await.map_err(|e| e.to_string());
    let reloaded = auth.reload().await.map_err(|e| e.to_string());
    format!("{saved:?}\n{cycled:?}\n{reloaded:?}")
}

fn app(store: &CountingStore) -> Router {
    Router::new()
        .route("/twice", get(twice))
        .route("/overlapping", get(overlapping))
        .route("/disjoint", get(disjoint))
        .route("/sequential", get(one_after_the_other))
        .route("/show", get(show))
        .route("/drop-one-of-two", get(drop_one_of_two))
        .route("/after-destroy", get(after_destroy))
        .route("/cart-then/{how}", get(cart_then_new_id))
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

/// What another view put in a session that is new in this request stays
/// through `cycle_id` and goes with `regenerate`, as in a stored session.
#[tokio::test]
async fn a_new_id_for_a_new_session_keeps_or_drops_what_every_view_put_in_it() {
    let store = CountingStore::new();
    let mut cycled = Client::new(app(&store));
    assert_eq!(cycled.get("/cart-then/cycle").await.body, "logged in");
    assert_eq!(cycled.get("/show").await.body, r#"["socks"] Some("bob")"#);
    let mut regenerated = Client::new(app(&store));
    assert_eq!(
        regenerated.get("/cart-then/regenerate").await.body,
        "logged in"
    );
    assert_eq!(regenerated.get("/show").await.body, r#"[] Some("bob")"#);
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

#[tokio::test]
async fn dropping_one_view_ends_only_that_view() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store)).get("/drop-one-of-two").await;
    assert!(
        reply.body.contains("both write the session key `items`"),
        "the live cart still guards `items`: {}",
        reply.body
    );
}

/// Once one view destroyed the session, another view of the same request
/// can neither save it back, nor give it a new id, nor reload it.
#[tokio::test]
async fn a_view_cannot_use_a_session_another_view_destroyed() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store));
    client.get("/disjoint").await;
    let saves = store.calls.saves();
    let reply = client.get("/after-destroy").await;
    let ended = r#"Err("the session was destroyed or unset, or its response has been sent")"#;
    assert_eq!(reply.body, [ended; 3].join("\n"));
    assert_eq!(store.calls.saves(), saves, "nothing was written");
    assert!(store.inner.is_empty(), "the session stays destroyed");
    assert_eq!(client.get("/show").await.body, "[] None");
}
