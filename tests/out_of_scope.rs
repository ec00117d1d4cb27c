//! Requests a session layer lets through without a session: a path outside
//! the cookie's `Path`, and targets that are not paths (`OPTIONS *`). The
//! handler learns why; a client cannot fill the logs with errors.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use common::{serve, tcp_request};
use session_runtime::{MemoryStore, Session, SessionLayer};

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

async fn increment(mut session: Session<Counter>) -> String {
    session.count += 1;
    session.count.to_string()
}

/// Log lines written while a test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

/// `OPTIONS *` reaching a fallback that wants the session: a 400, logged at
/// debug level only, with no session cookie.
#[tokio::test(flavor = "current_thread")]
async fn options_asterisk_is_a_bad_request_not_a_logged_error() {
    let (logs, _guard) = capture();
    let router = Router::new()
        .route("/", get(increment))
        .fallback(increment)
        .layer(SessionLayer::new(MemoryStore::new(), "out of scope secret"));
    let addr = serve(router).await;
    for _ in 0..3 {
        let response = tcp_request(addr, "OPTIONS", "*", None).await;
        assert_eq!(
            status_line(&response),
            "HTTP/1.1 400 Bad Request",
            "{response}"
        );
        assert!(
            !response.to_ascii_lowercase().contains("set-cookie"),
            "{response}"
        );
    }
    let logs = logs.text();
    assert!(!logs.contains("ERROR"), "a client filled the logs: {logs}");
    assert!(logs.contains("not a path"), "said at debug level: {logs}");
    // The layer still serves ordinary requests.
    let response = tcp_request(addr, "GET", "/", None).await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK", "{response}");
}

/// A route outside the cookie's path: the message names the path and the
/// fix, not the missing layer, and is logged as an error once, not per request.
#[tokio::test(flavor = "current_thread")]
async fn a_route_outside_the_cookie_path_names_the_path_not_the_layer() {
    let (logs, _guard) = capture();
    let router = Router::new()
        .route("/app/count", get(increment))
        .route("/public/count", get(increment))
        .layer(SessionLayer::new(MemoryStore::new(), "out of scope secret").path("/app"));
    let addr = serve(router).await;
    let inside = tcp_request(addr, "GET", "/app/count", None).await;
    assert_eq!(status_line(&inside), "HTTP/1.1 200 OK", "{inside}");
    for _ in 0..3 {
        let outside = tcp_request(addr, "GET", "/public/count", None).await;
        assert_eq!(status_line(&outside), "HTTP/1.1 500 Internal Server Error");
        assert!(
            outside.contains("outside the session cookie's path `/app`"),
            "{outside}"
        );
        assert!(
            !outside.contains("add `.layer("),
            "not the missing-layer message: {outside}"
        );
    }
    let logs = logs.text();
    assert!(
        logs.matches("ERROR").count() <= 1,
        "logged as an error once at most: {logs}"
    );
}
