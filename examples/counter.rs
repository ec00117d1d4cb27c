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
use session_runtime::{FileStore, MemoryStore, Secrets, Session, SessionLayer};

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

struct Options {
    port: u16,
    host: String,
    store: String,
    path: String,
    url: String,
    exclusive: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut positional = None;
    let mut store = "memory".to_owned();
    let mut path = "./session-store".to_owned();
    let mut url = "redis://127.0.0.1:6379".to_owned();
    let mut exclusive = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => {
                store = args
                    .next()
                    .ok_or("--store needs a value: memory, file or redis")?;
            }
            "--path" => path = args.next().ok_or("--path needs a directory")?,
            "--url" => url = args.next().ok_or("--url needs a Redis URL")?,
            "--exclusive" => exclusive = true,
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other if positional.is_none() => positional = Some(other.to_owned()),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    let port_text = std::env::var("PORT")
        .ok()
        .filter(|p| !p.is_empty())
        .or(positional)
        .unwrap_or_else(|| "8080".to_owned());
    let port = port_text
        .parse()
        .map_err(|_| format!("invalid port {port_text:?}"))?;
    let host = std::env::var("HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    Ok(Options {
        port,
        host,
        store,
        path,
        url,
        exclusive,
    })
}

fn secrets() -> Result<Secrets, String> {
    match std::env::var("SESSION_SECRET") {
        Ok(list) if !list.is_empty() => {
            Secrets::try_new(list.split(',')).map_err(|e| format!("SESSION_SECRET: {e}"))
        }
        _ => {
            eprintln!(
                "warning: SESSION_SECRET is not set; using a fixed development secret. \
                 Anyone can forge this example's cookies: set SESSION_SECRET in production."
            );
            Ok(Secrets::new("counter example development secret"))
        }
    }
}

/// The Express demo's cookie lifetime: `1000 * 60 * 60 * 24 * 365 * 5` ms.
const FIVE_YEARS: Duration = Duration::from_millis(1000 * 60 * 60 * 24 * 365 * 5);

async fn session_layer(options: &Options, secrets: Secrets) -> Result<SessionLayer, String> {
    match options.store.as_str() {
        "memory" => Ok(SessionLayer::new(MemoryStore::new(), secrets).name("_es_demo")),
        // The seed's file-store demo: session-file-store's format, so this example and
        // the Express demo can share one directory (and one SESSION_SECRET).
        "file" => Ok(SessionLayer::new(FileStore::new(&options.path), secrets)
            .name("_fs_demo")
            .max_age(FIVE_YEARS)),
        // Sessions shared by every server on one Redis, in connect-redis's
        // format: the Express demo with connect-redis can share them.
        #[cfg(feature = "redis")]
        "redis" => {
            let store = session_runtime::RedisStore::connect(&options.url)
                .await
                // The error, not the URL: a URL may hold a password.
                .map_err(|e| format!("cannot use Redis: {e}"))?;
            Ok(SessionLayer::new(store, secrets)
                .name("_rs_demo")
                .max_age(FIVE_YEARS))
        }
        #[cfg(not(feature = "redis"))]
        "redis" => Err(format!(
            "this build has no Redis store (for {}): build with `--features redis`",
            options.url
        )),
        other => Err(format!(
            "unknown store {other:?}: use memory, file or redis"
        )),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let result = async {
        let options = parse_options()?;
        let layer = session_layer(&options, secrets()?)
            .await?
            .exclusive(options.exclusive);
        let app = Router::new()
            .route("/", get(index))
            .route("/peek", get(peek))
            .route("/logout", post(logout))
            .layer(layer)
            .route("/hello", get(hello));
        let address = format!("{}:{}", options.host, options.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("counter example listening on http://{local}");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| format!("server error: {e}"))
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
