//! A field that serde cannot encode: the error names the schema, the stored
//! key and serde's message, is not called a store error, and nothing is saved.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use session_runtime::{Session, SessionError, SessionLayer};
use support::{Client, CountingStore};

#[derive(Session)]
struct Odd {
    #[session(default = 0)]
    visits: u64,
    /// JSON object keys must be strings: a `Vec<u8>` key cannot be encoded.
    #[session(rename = "byKey")]
    by_key: HashMap<Vec<u8>, u8>,
}

/// What the handler's `save()` returned, as text.
type Seen = Arc<Mutex<String>>;

async fn save_now(State(seen): State<Seen>, mut odd: Session<Odd>) -> &'static str {
    odd.visits += 1;
    odd.by_key.insert(vec![1, 2], 3);
    *seen.lock().unwrap() = match odd.save().await {
        Ok(()) => "saved".to_owned(),
        Err(SessionError::Encode(failure)) => {
            let (key, schema) = (failure.key(), failure.schema());
            let error = SessionError::Encode(failure);
            let source = std::error::Error::source(&error).map(ToString::to_string);
            format!("{error} | key() {key:?} | schema() {schema:?} | source: {source:?}")
        }
        Err(other) => format!("unexpected: {other:?}"),
    };
    "the handler carried on"
}

async fn at_the_end(mut odd: Session<Odd>) -> &'static str {
    odd.visits += 1;
    odd.by_key.insert(vec![1], 1);
    "handled"
}

fn app(store: &CountingStore, seen: &Seen) -> Router {
    Router::new()
        .route("/save", get(save_now))
        .route("/end", get(at_the_end))
        .with_state(Arc::clone(seen))
        .layer(SessionLayer::new(store.clone(), "encode errors secret"))
}

#[tokio::test]
async fn save_reports_the_schema_the_key_and_serdes_message() {
    let store = CountingStore::new();
    let seen = Seen::default();
    let mut client = Client::new(app(&store, &seen));
    let reply = client.get("/save").await;
    let body = &*seen.lock().unwrap();
    assert!(body.contains("`byKey`"), "names the stored key: {body}");
    assert!(
        body.contains("encode_errors::Odd"),
        "names the schema: {body}"
    );
    assert!(
        body.contains("key must be a string"),
        "serde's message: {body}"
    );
    assert!(
        body.contains("source: Some(\"key must be a string"),
        "serde's error is the source: {body}"
    );
    assert!(body.contains("| key() \"byKey\" |"), "{body}");
    assert!(
        body.contains("encode_errors::Odd\" | source"),
        "schema() is the schema's type: {body}"
    );
    assert!(!body.contains("store"), "not called a store error: {body}");
    // The end of the request saves nothing either, not even the encodable
    // field, and says so rather than answer as if the session were saved.
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session could not be saved");
    assert_eq!(store.calls.saves(), 0);
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn a_field_that_cannot_be_encoded_fails_the_request_and_saves_nothing() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, &Seen::default()));
    let reply = client.get("/end").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session could not be saved");
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.saves(), 0, "no partial save");
}
