//! The ceiling: axum with no session layer.
//!
//! `GET /json` answers `{"count": 1}` as JSON (the counter's response shape),
//! `GET /hello` answers `hello`. Port from `PORT` or the first argument, else 8081.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

async fn json() -> impl IntoResponse {
    // The same response the counter example builds, without the session.
    let count: u64 = 1;
    (
        [(CONTENT_TYPE, "application/json")],
        format!("{{\"count\": {count}}}"),
    )
}

async fn hello() -> &'static str {
    "hello"
}

#[tokio::main]
async fn main() {
    let app = Router::new()
        .route("/json", get(json))
        .route("/hello", get(hello));
    session_bench::serve("axum-bare", app, 8081).await;
}
