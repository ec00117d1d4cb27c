//! What the examples share: their command line, their secrets, their store,
//! and serving. Not an example itself (a folder without `main.rs`).

use std::process::ExitCode;

use axum::Router;
use session_runtime::{FileStore, MemoryStore, Secrets, SessionLayer};

/// The options every example takes: `[PORT] [--store memory|file|redis]
/// [--path DIR] [--url URL]`, `PORT` and `HOST` from the environment.
pub(crate) struct Options {
    pub(crate) port: u16,
    pub(crate) host: String,
    pub(crate) store: String,
    pub(crate) path: String,
    pub(crate) url: String,
}

/// Reads the command line; `extra` is offered each option the examples do
/// not share, with the arguments after it, and says whether it took it.
pub(crate) fn parse_options(
    mut extra: impl FnMut(&str, &mut dyn Iterator<Item = String>) -> Result<bool, String>,
) -> Result<Options, String> {
    let mut positional = None;
    let mut store = "memory".to_owned();
    let mut path = "./session-store".to_owned();
    let mut url = "redis://127.0.0.1:6379".to_owned();
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
            other if extra(other, &mut args)? => {}
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
    })
}

/// `SESSION_SECRET`'s comma-separated secrets (the first signs, all
/// verify), or `fallback` with a warning.
pub(crate) fn secrets(fallback: &str) -> Result<Secrets, String> {
    match std::env::var("SESSION_SECRET") {
        Ok(list) if !list.is_empty() => {
            Secrets::try_new(list.split(',')).map_err(|e| format!("SESSION_SECRET: {e}"))
        }
        _ => {
            eprintln!(
                "warning: SESSION_SECRET is not set; using a fixed development secret. \
                 Anyone can forge this example's cookies: set SESSION_SECRET in production."
            );
            Ok(Secrets::new(fallback))
        }
    }
}

/// Which store `--store` named.
pub(crate) enum Kind {
    Memory,
    File,
    #[cfg_attr(
        not(feature = "redis"),
        expect(
            dead_code,
            reason = "only a build with the `redis` feature has the Redis store"
        )
    )]
    Redis,
}

/// A layer on the store `--store` names, and which it is.
pub(crate) async fn session_layer(
    options: &Options,
    secrets: Secrets,
) -> Result<(SessionLayer, Kind), String> {
    match options.store.as_str() {
        "memory" => Ok((SessionLayer::new(MemoryStore::new(), secrets), Kind::Memory)),
        "file" => Ok((
            SessionLayer::new(FileStore::new(&options.path), secrets),
            Kind::File,
        )),
        #[cfg(feature = "redis")]
        "redis" => {
            let store = session_runtime::RedisStore::connect(&options.url)
                .await
                // The error, not the URL: a URL may hold a password.
                .map_err(|e| format!("cannot use Redis: {e}"))?;
            Ok((SessionLayer::new(store, secrets), Kind::Redis))
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

/// Serves `app` on the options' address until Ctrl-C, once it listens
/// printing `<name> listening on http://HOST:PORT`.
pub(crate) async fn serve(name: &str, options: &Options, app: Router) -> Result<(), String> {
    let address = format!("{}:{}", options.host, options.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("{name} listening on http://{local}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// Logs to stderr, runs `example`, and turns its error into `error: ...`
/// and a non-zero exit.
pub(crate) async fn main(example: impl Future<Output = Result<(), String>>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    match example.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
