//! What a hostile or merely odd value does end to end: a lifetime past what
//! any date can say, a store file whose cookie settings would inject
//! attributes into `Set-Cookie`. Unit and property tests cover each parser;
//! these check the layer around them.
//!
//! Self-contained (one request helper below) while `tests/common` and
//! `tests/support` are being merged.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::routing::get;
use session_runtime::{FileStore, Session, SessionLayer};
use tower::ServiceExt as _;

#[derive(Session)]
struct Counter {
    count: u64,
}

async fn increment(mut counter: Session<Counter>) -> String {
    counter.count += 1;
    counter.count.to_string()
}

/// A fresh directory under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "hostile-input-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        TempDir(std::env::temp_dir().join(unique))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One GET: the body and every `Set-Cookie`.
async fn get_page(router: &Router, cookie: Option<&str>) -> (String, Vec<String>) {
    let mut request = Request::builder().uri("/");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let set_cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (String::from_utf8(body.to_vec()).unwrap(), set_cookies)
}

/// The `name=value` pair of a `Set-Cookie`, and the id inside it.
fn pair_and_id(set_cookie: &str) -> (String, String) {
    let pair = set_cookie.split(';').next().unwrap().to_owned();
    let value = pair.split_once('=').unwrap().1;
    let id = value
        .strip_prefix("s%3A")
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    (pair.clone(), id.to_owned())
}

fn app(dir: &TempDir, layer: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    let store = FileStore::new(&dir.0);
    Router::new()
        .route("/", get(increment))
        .layer(layer(SessionLayer::new(store, "keyboard cat")))
}

#[tokio::test]
async fn the_longest_max_age_is_saved_and_read_back() {
    // Expires used to be written with a five-digit year that no reader
    // accepted: the second request found "not a session" and started over.
    let dir = TempDir::new("max-age");
    let router = app(&dir, |layer| layer.max_age(Duration::MAX));
    let (body, set_cookies) = get_page(&router, None).await;
    assert_eq!(body, "1");
    let [set_cookie] = &set_cookies[..] else {
        panic!("one Set-Cookie: {set_cookies:?}");
    };
    assert!(
        set_cookie.contains("; Expires=Fri, 31 Dec 9999 23:59:59 GMT;"),
        "{set_cookie}"
    );
    let (pair, id) = pair_and_id(set_cookie);
    for expected in ["2", "3"] {
        let (body, _) = get_page(&router, Some(&pair)).await;
        assert_eq!(body, expected);
    }
    // Stored as JavaScript would: its latest Date, and toISOString's form of it.
    let stored = std::fs::read_to_string(dir.0.join(format!("{id}.json"))).unwrap();
    assert!(
        stored.contains(
            r#""originalMaxAge":8640000000000000,"expires":"+275760-09-13T00:00:00.000Z""#
        ),
        "{stored}"
    );
}

#[tokio::test]
async fn a_stored_path_or_domain_that_would_inject_attributes_is_not_a_session() {
    let dir = TempDir::new("inject");
    let router = app(&dir, |layer| layer.max_age(Duration::from_secs(60)));
    for (key, value) in [
        ("path", "/; Domain=evil.example"),
        ("domain", "example.com; SameSite=None"),
        ("path", "/\u{7f}"),
        ("domain", "caf\u{e9}.example"),
    ] {
        let (_, set_cookies) = get_page(&router, None).await;
        let (pair, id) = pair_and_id(&set_cookies[0]);
        let file = dir.0.join(format!("{id}.json"));
        let stored = std::fs::read_to_string(&file).unwrap();
        let mut record: serde_json::Value = serde_json::from_str(&stored).unwrap();
        record["cookie"][key] = value.into();
        record["count"] = 41.into();
        std::fs::write(&file, record.to_string()).unwrap();

        let (body, set_cookies) = get_page(&router, Some(&pair)).await;
        // Not the stored session (its count was 41): a new one, with its own cookie.
        assert_eq!(body, "1", "{key}: {value:?}");
        let [set_cookie] = &set_cookies[..] else {
            panic!("one Set-Cookie: {set_cookies:?}");
        };
        assert_ne!(pair_and_id(set_cookie).1, id);
        assert!(!set_cookie.contains("evil"), "{set_cookie}");
        assert!(!set_cookie.contains("SameSite=None"), "{set_cookie}");
    }
}
