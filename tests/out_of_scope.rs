//! Requests a session layer lets through without a session: a path outside
//! the cookie's `Path`, and targets that are not paths (`OPTIONS *`). The
//! handler learns why; a client cannot fill the logs with errors.

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use session_runtime::{MemoryStore, SessionLayer};
use support::LogCapture;
use support::counter::increment;
use support::wire::{request, serve};

/// `OPTIONS *` reaching a fallback that wants the session: a 400, logged at
/// debug level only, with no session cookie.
#[tokio::test(flavor = "current_thread")]
async fn options_asterisk_is_a_bad_request_not_a_logged_error() {
    let logs = LogCapture::install();
    let router = Router::new()
        .route("/", get(increment))
        .fallback(increment)
        .layer(SessionLayer::new(MemoryStore::new(), "out of scope secret"));
    let addr = serve(router).await;
    for _ in 0..3 {
        let reply = request(addr, "OPTIONS", "*", None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        assert_eq!(reply.set_cookies(), Vec::<String>::new());
    }
    let logs = logs.contents();
    assert!(!logs.contains("ERROR"), "a client filled the logs: {logs}");
    assert!(logs.contains("not a path"), "said at debug level: {logs}");
    // The layer still serves ordinary requests.
    let reply = request(addr, "GET", "/", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

/// A route outside the cookie's path: the message names the path and the
/// fix, not the missing layer, and is logged as an error once, not per request.
#[tokio::test(flavor = "current_thread")]
async fn a_route_outside_the_cookie_path_names_the_path_not_the_layer() {
    let logs = LogCapture::install();
    let router = Router::new()
        .route("/app/count", get(increment))
        .route("/public/count", get(increment))
        .layer(SessionLayer::new(MemoryStore::new(), "out of scope secret").path("/app"));
    let addr = serve(router).await;
    let inside = request(addr, "GET", "/app/count", None).await;
    assert_eq!(inside.status, StatusCode::OK, "{inside:?}");
    for _ in 0..3 {
        let outside = request(addr, "GET", "/public/count", None).await;
        assert_eq!(outside.status, StatusCode::INTERNAL_SERVER_ERROR);
        let body = &outside.body;
        assert!(
            body.contains("outside the session cookie's path `/app`"),
            "{body}"
        );
        assert!(
            !body.contains("add `.layer("),
            "not the missing-layer message: {body}"
        );
    }
    let logs = logs.contents();
    assert!(
        logs.matches("ERROR").count() <= 1,
        "logged as an error once at most: {logs}"
    );
}
