//! The layer's limits: what a client or a handler can make the server read
//! and store.

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use session_runtime::{Session, SessionError, SessionLayer};
use support::{Client, CountingStore, get_with_cookie, signed_value};

#[derive(Session)]
struct Notes {
    text: String,
}

/// What the last `save` said.
type Said = Arc<Mutex<String>>;

/// Appends `n` KiB of text, then saves explicitly, noting what `save` said.
async fn append(
    State(said): State<Said>,
    Path(kib): Path<usize>,
    mut notes: Session<Notes>,
) -> &'static str {
    notes.text.push_str(&"x".repeat(kib * 1024));
    *said.lock().unwrap() = match notes.save().await {
        Ok(()) => "saved".to_owned(),
        Err(error @ SessionError::RecordTooLarge { .. }) => error.to_string(),
        Err(other) => format!("unexpected: {other}"),
    };
    "saved"
}

async fn show(notes: Session<Notes>) -> String {
    notes.text.len().to_string()
}

fn app(store: &CountingStore, configure: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    app_noting(store, &Said::default(), configure)
}

fn app_noting(
    store: &CountingStore,
    said: &Said,
    configure: impl FnOnce(SessionLayer) -> SessionLayer,
) -> Router {
    Router::new()
        .route("/append/{kib}", get(append))
        .route("/show", get(show))
        .with_state(Arc::clone(said))
        .layer(configure(SessionLayer::new(store.clone(), "limits secret")))
}

#[tokio::test]
async fn a_session_over_the_record_limit_is_refused_whole() {
    let store = CountingStore::new();
    let said = Said::default();
    let mut client = Client::new(app_noting(&store, &said, |l| l.max_record_size(64 * 1024)));
    let reply = client.get("/append/32").await;
    assert_eq!(*said.lock().unwrap(), "saved");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(client.get("/show").await.body, (32 * 1024).to_string());

    // 32 KiB more is over 64 KiB with the JSON around it: refused, not truncated,
    // and the end of the request does not save it either.
    let saves = store.calls.saves();
    let reply = client.get("/append/32").await;
    let message = said.lock().unwrap().clone();
    assert!(
        message.contains("over the layer's `max_record_size` of 65536"),
        "{message}"
    );
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session could not be saved");
    assert_eq!(store.calls.saves(), saves, "nothing written");
    assert_eq!(client.get("/show").await.body, (32 * 1024).to_string());
}

#[tokio::test]
async fn the_default_record_limit_is_256_kib() {
    let store = CountingStore::new();
    let said = Said::default();
    let mut client = Client::new(app_noting(&store, &said, |l| l));
    client.get("/append/200").await;
    assert_eq!(*said.lock().unwrap(), "saved");
    client.get("/append/100").await;
    let message = said.lock().unwrap().clone();
    assert!(message.contains("of 262144"), "{message}");
    // Raised, the same session saves.
    let mut raised = Client::new(app_noting(&store, &said, |l| l.max_record_size(1 << 20)));
    raised.cookie = client.cookie.clone();
    raised.get("/append/100").await;
    assert_eq!(*said.lock().unwrap(), "saved");
    assert_eq!(raised.get("/show").await.body, (300 * 1024).to_string());
}

/// The longest id (128 characters): the one every session of
/// [`longest_id_app`] gets.
fn longest_id() -> String {
    "a".repeat(128)
}

/// The test app, its sessions all under [`longest_id`], reading cookie
/// values of up to `max` bytes.
fn longest_id_app(store: &CountingStore, max: usize) -> Router {
    app(store, move |l| l.genid(longest_id).max_cookie_length(max))
}

/// A `Cookie` header with the session cookie of [`longest_id`]: its signed
/// value `s:<id>.<mac>` as plain bytes (174 of them), the first `encoded` of
/// them percent-encoded (174 + 2 × `encoded` bytes as sent).
fn longest_cookie(encoded: usize) -> String {
    let signed = signed_value(b"limits secret", &longest_id())
        .replace("%3A", ":")
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=");
    assert_eq!(signed.len(), 174);
    let value: String = signed
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            if i < encoded {
                format!("%{b:02X}")
            } else {
                char::from(b).to_string()
            }
        })
        .collect();
    format!("connect.sid={value}")
}

/// A valid cookie whose value is longer than the limit (every byte
/// percent-encoded) is treated as no cookie, and the store is not read.
#[tokio::test]
async fn a_cookie_over_the_length_limit_is_not_read() {
    let store = CountingStore::new();
    let mut client = Client::new(longest_id_app(&store, 1024));
    assert_eq!(client.get("/append/1").await.status, StatusCode::OK);
    let cookie = longest_cookie(174);
    assert_eq!(cookie.len() - "connect.sid=".len(), 522);

    let loads = store.calls.loads();
    let read = get_with_cookie(&longest_id_app(&store, 1024), "/show", &cookie).await;
    assert_eq!(read.body, "1024", "within the limit the cookie is read");
    assert_eq!(store.calls.loads(), loads + 1);

    let ignored = get_with_cookie(&longest_id_app(&store, 300), "/show", &cookie).await;
    assert_eq!(ignored.status, StatusCode::OK);
    assert_eq!(ignored.body, "0", "over the limit: a fresh session");
    assert_eq!(store.calls.loads(), loads + 1, "the store was not read");
}

/// A length limit below the longest cookie the layer signs (262 bytes: a
/// 128-character id, its signature, every byte percent-encoded that express
/// would encode) is raised to it: such a cookie is still read, one two bytes
/// longer is not.
#[tokio::test]
async fn a_length_limit_below_the_longest_signed_cookie_is_raised_to_it() {
    let store = CountingStore::new();
    let mut client = Client::new(longest_id_app(&store, 1024));
    assert_eq!(client.get("/append/1").await.status, StatusCode::OK);
    let (longest, over) = (longest_cookie(44), longest_cookie(45));
    assert_eq!(longest.len() - "connect.sid=".len(), 262);

    let loads = store.calls.loads();
    let read = get_with_cookie(&longest_id_app(&store, 0), "/show", &longest).await;
    assert_eq!(
        read.body, "1024",
        "a 262-byte cookie is read whatever the limit"
    );
    assert_eq!(store.calls.loads(), loads + 1);
    let ignored = get_with_cookie(&longest_id_app(&store, 0), "/show", &over).await;
    assert_eq!(
        ignored.body, "0",
        "a 264-byte cookie is over a limit of 0, raised to 262"
    );
    assert_eq!(store.calls.loads(), loads + 1, "the store was not read");
}
