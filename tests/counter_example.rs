//! The counter example as a user runs it: a real process on a real port.
//!
//! A plain `cargo test` builds the example; `cargo test --test counter_example`
//! alone does not, and then these tests are skipped with a message
//! (a failure under `scripts/test.sh`). Cargo cannot build it from here: the
//! running `cargo test` holds the build directory's lock.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use support::prerequisites::example_binary;
use support::{ChildGuard, cookie_pair, free_port, wire};

/// The counter example started by `configure` on `port`, once it listens there.
fn start(binary: &Path, port: u16, configure: impl FnOnce(&mut Command)) -> ChildGuard {
    let mut command = Command::new(binary);
    command
        .env_remove("PORT")
        .env_remove("HOST")
        .env_remove("SESSION_SECRET");
    configure(&mut command);
    let mut server = ChildGuard::spawn("counter", command);
    server.wait_for_port(port);
    let announced = format!("listening on http://127.0.0.1:{port}\n");
    assert!(server.stdout().contains(&announced), "{}", server.output());
    server
}

fn at(port: u16) -> std::net::SocketAddr {
    ([127, 0, 0, 1], port).into()
}

#[tokio::test]
async fn counter_contract_over_the_port_from_env() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    let port = free_port();
    let _server = start(&binary, port, |c| {
        c.env("PORT", port.to_string()).arg("1"); // PORT wins over the positional argument
    });

    let reply = wire::request(at(port), "GET", "/", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.body.contains("\"count\": 1"), "{}", reply.body);
    let cookie = reply.set_cookie().expect("the first visit sets the cookie");
    assert!(cookie.starts_with("_es_demo=s%3A"), "{cookie}");
    assert!(
        cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
        "browser-session cookie: {cookie}"
    );
}

#[tokio::test]
async fn counter_contract_with_cookie_peek_and_logout() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    let port = free_port();
    // The port from the first positional argument.
    let _server = start(&binary, port, |c| {
        c.arg(port.to_string());
    });
    let first = wire::request(at(port), "GET", "/", None).await;
    let set_cookie = first.set_cookie().unwrap();
    let cookie = Some(cookie_pair(&set_cookie));

    let reply = wire::request(at(port), "GET", "/", cookie).await;
    assert!(reply.body.contains("\"count\": 2"), "{}", reply.body);
    assert_eq!(reply.set_cookie(), None);

    let reply = wire::request(at(port), "GET", "/peek", cookie).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("\"count\": 2"), "{}", reply.body);
    assert_eq!(reply.set_cookie(), None, "peek never sets a cookie");

    let reply = wire::request(at(port), "GET", "/peek", None).await;
    assert!(reply.body.contains("\"count\": 0"), "{}", reply.body);
    assert_eq!(reply.set_cookie(), None, "peek never creates a session");

    let reply = wire::request(at(port), "POST", "/logout", cookie).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cleared = reply.set_cookie().expect("logout clears the cookie");
    assert!(
        cleared.starts_with("_es_demo=;")
            && cleared.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        "{cleared}"
    );
    let reply = wire::request(at(port), "GET", "/peek", cookie).await;
    assert!(
        reply.body.contains("\"count\": 0"),
        "the session is gone from the store: {}",
        reply.body
    );
}

#[tokio::test]
async fn host_env_and_secret_list() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    let port = free_port();
    let _server = start(&binary, port, |c| {
        c.env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("SESSION_SECRET", "new,old");
    });
    let reply = wire::request(at(port), "GET", "/", None).await;
    assert!(reply.set_cookie().is_some());
}

#[test]
fn unset_secret_warns_on_stderr() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    let port = free_port();
    let server = start(&binary, port, |c| {
        c.arg(port.to_string());
    });
    let stderr = server.stderr();
    assert!(stderr.contains("SESSION_SECRET"), "{stderr}");
}

#[test]
fn bad_options_exit_non_zero_with_a_message() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    for args in [
        &["--store", "redis"][..],
        &["--bogus"][..],
        &["not-a-port"][..],
    ] {
        let started = Instant::now();
        let output = Command::new(&binary)
            .args(args)
            .env_remove("PORT")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

/// `count` in the counter's JSON answer.
fn count_in(body: &str) -> u64 {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON: {body:?}: {e}"));
    value["count"].as_u64().unwrap()
}

/// `--exclusive`, checked as a user would: 32 concurrent `GET /` of one
/// cookie, spread over `ports` (one counter process each), end at a count
/// of exactly 32 more.
async fn thirty_two_concurrent_visits(ports: &[u16]) {
    let first = wire::request(at(ports[0]), "GET", "/", None).await;
    assert_eq!(count_in(&first.body), 1);
    let set_cookie = first.set_cookie().unwrap();
    let cookie = cookie_pair(&set_cookie).to_owned();
    let mut visits = tokio::task::JoinSet::new();
    for n in 0..32 {
        let (port, cookie) = (ports[n % ports.len()], cookie.clone());
        visits.spawn(async move { wire::request(at(port), "GET", "/", Some(&cookie)).await });
    }
    while let Some(reply) = visits.join_next().await {
        assert_eq!(reply.unwrap().status, StatusCode::OK);
    }
    for port in ports {
        let peek = wire::request(at(*port), "GET", "/peek", Some(&cookie)).await;
        assert_eq!(
            count_in(&peek.body),
            33,
            "1 + 32 concurrent visits, none lost (read on port {port})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_counter_loses_no_concurrent_visit_in_memory() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    let port = free_port();
    let _server = start(&binary, port, |c| {
        c.arg(port.to_string()).arg("--exclusive");
    });
    thirty_two_concurrent_visits(&[port]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_counters_on_one_directory_lose_no_concurrent_visit() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    let dir = support::TempDir::new("exclusive-counters");
    let ports = [free_port(), free_port()];
    let _servers = ports.map(|port| {
        start(&binary, port, |c| {
            c.arg(port.to_string())
                .args(["--store", "file", "--path"])
                .arg(dir.path())
                .arg("--exclusive");
        })
    });
    thirty_two_concurrent_visits(&ports).await;
}
