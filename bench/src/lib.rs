//! Shared pieces of the benchmark servers in `src/bin/`; the load benchmark
//! itself is `bench/run.sh` (see `bench/README.md`).

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
