//! Shared pieces of the benchmark servers in `src/bin/`; the load benchmark
//! itself is `bench/run.sh` (see `bench/README.md`).

pub mod measure;

/// The address to listen on: `HOST` (else 127.0.0.1) and `PORT`, else the
/// first argument, else `default_port`.
///
/// # Panics
/// When the port is not a number.
#[must_use]
pub fn address(default_port: u16) -> String {
    let host = std::env::var("HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = std::env::var("PORT")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| std::env::args().nth(1))
        .map_or(default_port, |p| p.parse().expect("PORT must be a number"));
    format!("{host}:{port}")
}

/// Serves `app` on [`address`], printing `http://ADDR` once listening (the
/// line the runner waits for), until Ctrl-C.
///
/// # Panics
/// When the address cannot be bound.
pub async fn serve(name: &str, app: axum::Router, default_port: u16) {
    let address = address(default_port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {address}: {e}"));
    let local = listener
        .local_addr()
        .expect("a bound socket has an address");
    println!("{name} listening on http://{local}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("server error");
}

/// `{"count": N}` as JSON, as every counter server answers.
pub fn counter_json(count: u64) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!("{{\"count\": {count}}}"),
    )
}

/// The counter contract's routes on a tower-sessions `Session` type: `GET /`
/// increments `count`, `GET /peek` reads it, both under `layer`; `GET /hello`
/// outside it. A macro because the memory and Redis rows use different
/// tower-sessions releases (0.15 and 0.14), whose `Session` types differ.
#[macro_export]
macro_rules! tower_sessions_counter {
    ($session:ty, $layer:expr) => {{
        const COUNT: &str = "count";
        async fn index(session: $session) -> impl ::axum::response::IntoResponse {
            let count: u64 = session.get(COUNT).await.ok().flatten().unwrap_or(0) + 1;
            // A failed insert would only mean the value cannot be serialized;
            // the store's own errors surface when the layer saves (a 500).
            session
                .insert(COUNT, count)
                .await
                .expect("a u64 always serializes");
            $crate::counter_json(count)
        }
        async fn peek(session: $session) -> impl ::axum::response::IntoResponse {
            let count: u64 = session.get(COUNT).await.ok().flatten().unwrap_or(0);
            $crate::counter_json(count)
        }
        async fn hello() -> &'static str {
            "hello"
        }
        ::axum::Router::new()
            .route("/", ::axum::routing::get(index))
            .route("/peek", ::axum::routing::get(peek))
            .layer($layer)
            .route("/hello", ::axum::routing::get(hello))
    }};
}
