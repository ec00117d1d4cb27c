//! The express-session article's counter demo, typed.
//!
//! ```text
//! cargo run --release --example counter [PORT] [--store memory|file] [--path DIR] [--exclusive]
//! cargo run --release --features redis --example counter -- --store redis [--url redis://HOST:PORT] [--exclusive]
//! ```
//!
//! `--exclusive` turns on exclusive sessions: concurrent requests of one
//! session run one at a time (across processes for the file store, across
//! servers for Redis), so concurrent `GET /` of one cookie lose no count.
//!
//! `GET /` counts visits in the session, `GET /peek` shows the count without
//! touching the session, `POST /logout` ends it, and `GET /hello` answers
//! `hello` without a session (the benchmarks' baseline route). The port comes from `PORT`,
//! else the first positional argument, else 8080; the host from `HOST`, else
//! 127.0.0.1. `SESSION_SECRET` holds the signing secrets, comma-separated
//! (the first signs, all verify).

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::Kind;
use session_runtime::Session;

mod common;

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

/// The session's data as JSON, as the Express demo's `res.json(req.session)`.
fn counter_json(count: u64) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        format!("{{\"count\": {count}}}"),
    )
}

async fn index(mut session: Session<Counter>) -> impl IntoResponse {
    session.count += 1;
    counter_json(session.count)
}

async fn peek(session: Session<Counter>) -> impl IntoResponse {
    counter_json(session.count)
}

async fn hello() -> &'static str {
    "hello"
}

async fn logout(session: Session<Counter>) -> impl IntoResponse {
    session.destroy();
    counter_json(0)
}

/// The Express demo's cookie lifetime: `1000 * 60 * 60 * 24 * 365 * 5` ms.
const FIVE_YEARS: Duration = Duration::from_millis(1000 * 60 * 60 * 24 * 365 * 5);

async fn counter() -> Result<(), String> {
    let mut exclusive = false;
    let options = common::parse_options(|option, _| {
        Ok(option == "--exclusive" && {
            exclusive = true;
            true
        })
    })?;
    let secrets = common::secrets("counter example development secret")?;
    let layer = match common::session_layer(&options, secrets).await? {
        (layer, Kind::Memory) => layer.name("_es_demo"),
        // The seed's file-store demo: session-file-store's format, so this example and
        // the Express demo can share one directory (and one SESSION_SECRET).
        (layer, Kind::File) => layer.name("_fs_demo").max_age(FIVE_YEARS),
        // Sessions shared by every server on one Redis, in connect-redis's
        // format: the Express demo with connect-redis can share them.
        (layer, Kind::Redis) => layer.name("_rs_demo").max_age(FIVE_YEARS),
    };
    let app = Router::new()
        .route("/", get(index))
        .route("/peek", get(peek))
        .route("/logout", post(logout))
        .layer(layer.exclusive(exclusive))
        .route("/hello", get(hello));
    common::serve("counter example", &options, app).await
}

#[tokio::main]
async fn main() -> ExitCode {
    common::main(counter()).await
}
