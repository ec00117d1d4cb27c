//! The test helpers for app authors (`session_runtime::testing`, feature
//! `testing`) against a real app: a signed id reads back, the client's jar
//! keeps and clears cookies, `load_view` sees what a handler stored, and a
//! forged cookie is accepted only when signed with the layer's secret.

mod support;

use axum::Router;
use axum::body::Body;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::{get, post};
use session_runtime::testing::{self, TestClient};
use session_runtime::{MemoryStore, Secrets, Session, SessionId, SessionLayer};

const SECRET: &str = "a long random secret";

#[derive(Session)]
struct Auth {
    user: Option<String>,
}

async fn login(mut auth: Session<Auth>) -> &'static str {
    auth.cycle_id().await.unwrap();
    auth.user = Some("ada".to_owned());
    "welcome"
}

async fn me(auth: Session<Auth>) -> String {
    auth.user.clone().unwrap_or_else(|| "anonymous".to_owned())
}

async fn logout(auth: Session<Auth>) -> &'static str {
    auth.destroy();
    "bye"
}

/// Sets a cookie of the app's own, next to the session's.
async fn theme() -> ([(&'static str, &'static str); 1], &'static str) {
    ([("set-cookie", "theme=dark; Path=/")], "dark")
}

/// Forgets the app's own cookie, as `res.clearCookie` would with `maxAge`.
async fn forget_theme() -> ([(&'static str, &'static str); 1], &'static str) {
    ([("set-cookie", "theme=; Path=/; Max-Age=0")], "light")
}

/// The `Cookie` header the client sent.
async fn echo_cookies(headers: HeaderMap) -> String {
    headers
        .get(COOKIE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn app(store: MemoryStore) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/theme", get(theme))
        .route("/theme/forget", get(forget_theme))
        .route("/cookies", get(echo_cookies))
        .layer(SessionLayer::new(store, SECRET))
}

/// Logs in through a fresh client; returns it and the session id.
async fn logged_in(store: &MemoryStore) -> (TestClient, SessionId) {
    let mut client = TestClient::new(app(store.clone()));
    let response = client.post("/login").await;
    assert_eq!(response.status, StatusCode::OK);
    let set_cookie = response
        .set_cookie("connect.sid")
        .expect("a session cookie");
    let id = testing::session_id(set_cookie, &Secrets::new(SECRET)).expect("a signed id");
    (client, id)
}

#[test]
fn a_signed_id_is_the_bytes_express_sends_and_reads_back() {
    let secrets = Secrets::new(SECRET);
    let id = SessionId::generate();
    // Computed with hmac/sha2/base64 directly, not through the runtime.
    let independent = support::signed_value(SECRET.as_bytes(), id.as_str());
    assert_eq!(testing::signed_cookie(&secrets, &id), independent);
    let header = testing::cookie_header("connect.sid", &secrets, &id);
    assert_eq!(header, format!("connect.sid={independent}"));
    assert_eq!(testing::session_id(&header, &secrets), Some(id));
}

#[test]
fn a_cookie_signed_with_another_secret_has_no_id() {
    let id = SessionId::generate();
    let forged = testing::cookie_header("connect.sid", &Secrets::new("not the secret"), &id);
    assert_eq!(testing::session_id(&forged, &Secrets::new(SECRET)), None);
    // Any of several secrets verifies, as in the layer.
    let rotated = Secrets::try_new([SECRET, "not the secret"]).unwrap();
    assert_eq!(testing::session_id(&forged, &rotated), Some(id));
}

#[tokio::test]
async fn the_id_in_the_login_cookie_is_the_stored_session() {
    let store = MemoryStore::new();
    let (_, id) = logged_in(&store).await;
    let auth: Auth = testing::load_view(&store, &id)
        .await
        .expect("a stored session");
    assert_eq!(auth.user.as_deref(), Some("ada"));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let mut client = TestClient::new(app(MemoryStore::new()));
    let response = client.post("/login").await;
    let set_cookie = response.set_cookie("connect.sid").unwrap();
    assert!(
        set_cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
        "{set_cookie}"
    );
    // The header, not only the line, reads back.
    let header = response.headers.get(SET_COOKIE).unwrap();
    assert!(testing::session_id(header, &Secrets::new(SECRET)).is_some());
}

#[tokio::test]
async fn the_jar_sends_the_session_back_and_drops_it_at_logout() {
    let store = MemoryStore::new();
    let (mut client, id) = logged_in(&store).await;
    assert_eq!(client.get("/me").await.body, "ada");
    assert_eq!(
        client.cookie("connect.sid"),
        Some(testing::signed_cookie(&Secrets::new(SECRET), &id).as_str())
    );

    let response = client.post("/logout").await;
    assert!(
        response.set_cookie("connect.sid").is_some(),
        "a clearing cookie"
    );
    assert_eq!(client.cookie("connect.sid"), None);
    assert_eq!(client.get("/me").await.body, "anonymous");
    assert!(testing::load_view::<Auth, _>(&store, &id).await.is_none());
}

#[tokio::test]
async fn the_jar_keeps_every_cookie_by_name() {
    let (mut client, _) = logged_in(&MemoryStore::new()).await;
    client.get("/theme").await;
    let sent = client.get("/cookies").await.body;
    assert!(sent.starts_with("connect.sid=s%3A"), "{sent}");
    assert!(sent.ends_with("; theme=dark"), "{sent}");

    client.get("/theme/forget").await;
    assert_eq!(client.cookie("theme"), None);
    assert!(client.cookie("connect.sid").is_some());
}

#[tokio::test]
async fn a_request_with_its_own_cookie_header_is_sent_as_it_is() {
    let (mut client, _) = logged_in(&MemoryStore::new()).await;
    let request = Request::get("/cookies")
        .header(COOKIE, "mine=1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(client.request(request).await.body, "mine=1");
    assert!(client.cookie("connect.sid").is_some(), "the jar is kept");
}

#[tokio::test]
async fn a_forged_cookie_for_a_stored_id_logs_in() {
    let store = MemoryStore::new();
    let (_, id) = logged_in(&store).await;

    let mut other = TestClient::new(app(store.clone()));
    other.insert_cookie(
        "connect.sid",
        testing::signed_cookie(&Secrets::new(SECRET), &id),
    );
    assert_eq!(other.get("/me").await.body, "ada");
}

#[tokio::test]
async fn a_cookie_forged_with_a_wrong_secret_is_not_accepted() {
    let store = MemoryStore::new();
    let (_, id) = logged_in(&store).await;

    let mut other = TestClient::new(app(store.clone()));
    let wrong = Secrets::new("not the secret");
    other.insert_cookie("connect.sid", testing::signed_cookie(&wrong, &id));
    assert_eq!(other.get("/me").await.body, "anonymous");
    // The session itself is untouched.
    let auth: Auth = testing::load_view(&store, &id).await.unwrap();
    assert_eq!(auth.user.as_deref(), Some("ada"));
}
