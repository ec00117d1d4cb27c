//! The seed's Express file-store demo (express 4, express-session 1.19,
//! session-file-store 1.5, from tests/interop/, installed by `npm ci`) and the
//! counter example with `--store file` share one session directory and one
//! secret; a client alternates between them and the count rises by one per
//! request on both. Then the counter example restarts and the count goes on.
//!
//! This test needs `node` and `tests/interop/node_modules` (scripts/test.sh
//! runs `npm ci`); it fails, rather than skips, when they are missing.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{ChildGuard, TempDir, example_binary, free_port, get};

const COOKIE: &str = "_fs_demo";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn start_express(dir: &Path, secret: &str, logs: &Path) -> (ChildGuard, u16) {
    let fixture = fixture_dir();
    for package in ["express", "express-session", "session-file-store"] {
        assert!(
            fixture.join("node_modules").join(package).is_dir(),
            "tests/interop/node_modules/{package} is missing: run `npm ci` in tests/interop \
             (scripts/test.sh does it before cargo test)"
        );
    }
    let version = Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!("node is required by the interop test and could not be run: {e}")
        });
    assert!(version.status.success(), "`node --version` failed");
    let port = free_port();
    let mut command = Command::new("node");
    command
        .arg(fixture.join("app.js"))
        .current_dir(&fixture)
        .env("PORT", port.to_string())
        .env("SESSION_PATH", dir)
        .env("SESSION_SECRET", secret);
    let mut child = ChildGuard::spawn("express", command, logs);
    child.wait_for_port(port);
    (child, port)
}

fn start_counter(dir: &Path, secret: &str, logs: &Path, port: u16) -> ChildGuard {
    let mut command = Command::new(example_binary("counter"));
    command
        .args(["--store", "file", "--path"])
        .arg(dir)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("SESSION_SECRET", secret);
    let mut child = ChildGuard::spawn("counter", command, logs);
    child.wait_for_port(port);
    child
}

/// The `count` in a response body: ours is `{"count": N}`, Express's is the
/// whole `req.session`.
fn count_of(server: &str, response: &support::Response) -> u64 {
    assert_eq!(response.status, 200, "{server}: {}", response.body);
    let json: serde_json::Value = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("{server} answered non-JSON {:?}: {e}", response.body));
    json["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("{server} answered without a count: {}", response.body))
}

struct Client {
    name: &'static str,
    cookie: Option<String>,
    count: u64,
}

impl Client {
    /// One `GET /` on `port`; the count must be one more than the last one.
    fn visit(&mut self, server: &str, port: u16) {
        let response = get(port, "/", self.cookie.as_deref());
        let count = count_of(server, &response);
        println!("client {}: {server:>7} answered count {count}", self.name);
        assert_eq!(
            count,
            self.count + 1,
            "{server} did not continue the shared session: {}",
            response.body
        );
        self.count = count;
        if let Some(pair) = response.set_cookie(COOKIE) {
            if let Some(old) = &self.cookie {
                assert_eq!(&pair, old, "{server} changed the session id");
            }
            self.cookie = Some(pair);
        }
        assert!(self.cookie.is_some(), "{server} sent no session cookie");
    }
}

#[test]
fn express_and_axum_share_one_session_directory() {
    let temp = TempDir::new("interop");
    let dir = temp.path().join("session-store");
    let logs = temp.path();
    // No comma: the counter example reads SESSION_SECRET as a comma-separated list.
    let secret = "interop test secret shared by both servers";

    let (express, express_port) = start_express(&dir, secret, logs);
    let counter_port = free_port();
    let mut counter = start_counter(&dir, secret, logs, counter_port);

    // A client that starts on Express, and one that starts on axum.
    let mut from_express = Client {
        name: "A",
        cookie: None,
        count: 0,
    };
    let mut from_axum = Client {
        name: "B",
        cookie: None,
        count: 0,
    };
    for round in 0..6 {
        from_express.visit("express", express_port);
        from_axum.visit("axum", counter_port);
        from_express.visit("axum", counter_port);
        from_axum.visit("express", express_port);
        if round == 2 {
            // Restart the axum server: the sessions live in the files.
            counter.kill();
            counter = start_counter(&dir, secret, logs, counter_port);
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
            text.starts_with("{\"cookie\":{\"originalMaxAge\":157680000000,"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
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
