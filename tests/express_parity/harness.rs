//! The app every case runs against, in the place of express-session's test
//! helpers (`createServer`, `createRequestListener`): one schema, one route per
//! session method, and a way to seed the store.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use session_runtime::store::SessionStore;
use session_runtime::{Record, Session, SessionId, SessionLayer};

use crate::support::clock::now_ms;
use crate::support::{CountingStore, Reply, get_with, signed_value};

pub(crate) const SECRET: &str = "keyboard cat";

pub(crate) const MINUTE: Duration = Duration::from_secs(60);

#[derive(Session)]
pub(crate) struct Counter {
    #[session(default = 0)]
    pub(crate) count: u64,
}

pub(crate) async fn increment(mut session: Session<Counter>) -> String {
    session.count += 1;
    session.count.to_string()
}

pub(crate) async fn peek(session: Session<Counter>) -> String {
    session.count.to_string()
}

async fn show_id(session: Session<Counter>) -> String {
    session.id().to_string()
}

async fn destroy(session: Session<Counter>) -> &'static str {
    session.destroy();
    "destroyed"
}

async fn unset(session: Session<Counter>) -> &'static str {
    session.unset();
    "unset"
}

async fn regenerate(mut session: Session<Counter>) -> Result<String, String> {
    session.regenerate().await.map_err(|e| e.to_string())?;
    Ok(session.count.to_string())
}

async fn touch(mut session: Session<Counter>) -> &'static str {
    session.touch();
    "touched"
}

async fn show_cookie(session: Session<Counter>) -> String {
    format!("{:?}", session.cookie().original_max_age)
}

/// `/` modifies the session, `/peek` only reads it, `/id` returns its id,
/// `/cookie` its original max age; the others call the method they are named after.
/// A layer with express-session's defaults, which this suite checks against:
/// as ours but for `SameSite`, which express does not send (ours: `Lax`).
#[track_caller]
pub(crate) fn express_layer<S: SessionStore>(
    store: S,
    secrets: impl Into<session_runtime::Secrets>,
) -> SessionLayer {
    SessionLayer::new(store, secrets).same_site(None)
}

pub(crate) fn app(
    store: &CountingStore,
    configure: impl FnOnce(SessionLayer) -> SessionLayer,
) -> Router {
    Router::new()
        .route("/", get(increment))
        .route("/peek", get(peek))
        .route("/id", get(show_id))
        .route("/destroy", get(destroy))
        .route("/unset", get(unset))
        .route("/regenerate", get(regenerate))
        .route("/touch", get(touch))
        .route("/cookie", get(show_cookie))
        .layer(configure(express_layer(store.clone(), SECRET)))
}

/// Puts `record` in the store under a fresh id, stamped as accessed `age` ago;
/// returns the id and the `Cookie` header a browser would send for it.
pub(crate) async fn seed(
    store: &CountingStore,
    mut record: Record,
    age: Duration,
) -> (String, String) {
    let id = SessionId::generate();
    let at = now_ms() - age.as_millis() as u64;
    record.last_access = Some(at);
    if let Some(max_age) = record.cookie.original_max_age {
        record.cookie.expires = Some(at + max_age);
    }
    let _ = store.inner.create(&id, &record).await.unwrap();
    let cookie = format!(
        "connect.sid={}",
        signed_value(SECRET.as_bytes(), id.as_str())
    );
    (id.to_string(), cookie)
}

pub(crate) fn counter_record(count: u64, max_age: Option<Duration>) -> Record {
    let mut record = Record::default();
    record.cookie.original_max_age = max_age.map(|d| d.as_millis() as u64);
    record.fields.set(
        "count",
        serde_json::value::RawValue::from_string(count.to_string()).unwrap(),
    );
    record
}

/// Modifies the session, then streams the request body back as the response
/// body: a response written in several pieces over time (express's `res.write`).
pub(crate) async fn modify_and_echo(mut session: Session<Counter>, body: Body) -> Response {
    session.count += 1;
    drop(session);
    Response::new(body)
}

pub(crate) async fn secure_reply(
    configure: impl FnOnce(SessionLayer) -> SessionLayer,
    uri: &str,
    xfp: Option<&str>,
) -> (CountingStore, Reply) {
    let store = CountingStore::new();
    let router = app(&store, |l| configure(l.save_uninitialized(false)));
    let headers: Vec<(&str, &str)> = xfp.map(|v| ("x-forwarded-proto", v)).into_iter().collect();
    let reply = get_with(&router, uri, &headers).await;
    (store, reply)
}

/// A generator returning `id`: a 500 that names `genid`, no cookie, no store write.
pub(crate) async fn assert_rejected_genid(id: &'static str) {
    let store = CountingStore::new();
    let router = app(&store, |l| {
        l.save_uninitialized(true).genid(move || id.to_owned())
    });
    let reply = get_with(&router, "/", &[]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{id:?}");
    assert!(reply.body.contains("genid"), "{}", reply.body);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
}
