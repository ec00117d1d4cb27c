//! The seed's Express file-store demo (express 4, express-session 1.19,
//! session-file-store 1.5, from tests/interop/, installed by `npm ci`) and the
//! counter example with `--store file` share one session directory and one
//! secret; a client alternates between them and the count rises by one per
//! request on both. Then the counter example restarts and the count goes on.
//!
//! This test needs `node`, `tests/interop/node_modules` (`npm ci`) and the
//! built example; a plain `cargo test` skips it with a message when they are
//! missing, and `scripts/test.sh`, which prepares them, fails instead.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use support::prerequisites::{example_binary, express_fixture};
use support::{ChildGuard, Reply, TempDir, cookie_pair, free_port, wire};

const COOKIE: &str = "_fs_demo";

fn start_express(fixture: &Path, dir: &Path, secret: &str) -> (ChildGuard, u16) {
    let port = free_port();
    let mut command = Command::new("node");
    command
        .arg(fixture.join("app.js"))
        .current_dir(fixture)
        .env("PORT", port.to_string())
        .env("SESSION_PATH", dir)
        .env("SESSION_SECRET", secret);
    let mut child = ChildGuard::spawn("express", command);
    child.wait_for_port(port);
    (child, port)
}

fn start_counter(binary: &Path, dir: &Path, secret: &str, port: u16) -> ChildGuard {
    let mut command = Command::new(binary);
    command
        .args(["--store", "file", "--path"])
        .arg(dir)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("SESSION_SECRET", secret);
    let mut child = ChildGuard::spawn("counter", command);
    child.wait_for_port(port);
    child
}

/// The `count` in a response body: ours is `{"count": N}`, Express's is the
/// whole `req.session`.
fn count_of(server: &str, reply: &Reply) -> u64 {
    assert_eq!(reply.status, StatusCode::OK, "{server}: {}", reply.body);
    reply.json()["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("{server} answered without a count: {}", reply.body))
}

/// A browser visiting both servers, with the count it saw last.
struct Browser {
    name: &'static str,
    cookie: Option<String>,
    count: u64,
}

impl Browser {
    /// One `GET /` on `port`; the count must be one more than the last one.
    async fn visit(&mut self, server: &str, port: u16) {
        let addr = ([127, 0, 0, 1], port).into();
        let reply = wire::request(addr, "GET", "/", self.cookie.as_deref()).await;
        let count = count_of(server, &reply);
        println!("client {}: {server:>7} answered count {count}", self.name);
        assert_eq!(
            count,
            self.count + 1,
            "{server} did not continue the shared session: {}",
            reply.body
        );
        self.count = count;
        if let Some(set_cookie) = reply.set_cookie() {
            let pair = cookie_pair(&set_cookie).to_owned();
            assert!(pair.starts_with(&format!("{COOKIE}=")), "{set_cookie}");
            if let Some(old) = &self.cookie {
                assert_eq!(&pair, old, "{server} changed the session id");
            }
            self.cookie = Some(pair);
        }
        assert!(self.cookie.is_some(), "{server} sent no session cookie");
    }
}

#[tokio::test]
async fn express_and_axum_share_one_session_directory() {
    let (Some(fixture), Some(counter_binary)) = (express_fixture(), example_binary("counter"))
    else {
        return;
    };
    let temp = TempDir::new("interop");
    let dir = temp.path().join("session-store");
    // No comma: the counter example reads SESSION_SECRET as a comma-separated list.
    let secret = "interop test secret shared by both servers";

    let (express, express_port) = start_express(&fixture, &dir, secret);
    let counter_port = free_port();
    let mut counter = start_counter(&counter_binary, &dir, secret, counter_port);

    // A client that starts on Express, and one that starts on axum.
    let mut from_express = Browser {
        name: "A",
        cookie: None,
        count: 0,
    };
    let mut from_axum = Browser {
        name: "B",
        cookie: None,
        count: 0,
    };
    for round in 0..6 {
        from_express.visit("express", express_port).await;
        from_axum.visit("axum", counter_port).await;
        from_express.visit("axum", counter_port).await;
        from_axum.visit("express", express_port).await;
        if round == 2 {
            // Restart the axum server: the sessions live in the files.
            counter.kill();
            counter = start_counter(&counter_binary, &dir, secret, counter_port);
            println!("(axum server restarted)");
        }
    }
    assert_eq!(from_express.count, 12);
    assert_eq!(from_axum.count, 12);
    assert_ne!(from_express.cookie, from_axum.cookie);

    // Both sessions are on disk, in session-file-store's shape, with the last count.
    // Express answers before its store write lands (express-session #360), so
    // give its last write a moment before asserting (session-file-store
    // writes in place, so a loaded machine can show a half-written file).
    let deadline = Instant::now() + Duration::from_secs(10);
    let files = loop {
        let files = session_files(&dir);
        let settled = files.len() == 2
            && files.iter().all(|(_, text)| {
                serde_json::from_str::<serde_json::Value>(text)
                    .is_ok_and(|json| json["count"] == 12)
            });
        if settled || Instant::now() > deadline {
            break files;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(files.len(), 2, "{files:?}");
    for (_, text) in files {
        assert!(
            text.starts_with("{\"cookie\":{\"originalMaxAge\":"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Five years; express's Cookie can record a millisecond less under
        // load (its originalMaxAge is `expires - Date.now()` read just after
        // `expires` was set).
        let max_age = json["cookie"]["originalMaxAge"].as_u64().unwrap();
        assert!(
            (157_679_999_000..=157_680_000_000).contains(&max_age),
            "{text}"
        );
        assert_eq!(json["count"], 12, "{text}");
        assert!(json["__lastAccess"].is_u64(), "{text}");
    }
    let express_log = express.output();
    assert!(
        !express_log.contains("will retry") && !express_log.contains("Error"),
        "express logged errors:\n{express_log}"
    );
    drop(counter);
}

/// The session files in `dir` (`*.json`) and their contents, sorted by name.
fn session_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter_map(|p| Some((p.clone(), std::fs::read_to_string(&p).ok()?)))
        .collect();
    files.sort();
    files
}
