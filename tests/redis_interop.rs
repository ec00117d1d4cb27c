//! Real Express with connect-redis (express 4, express-session 1.19,
//! connect-redis 9 and its `redis` 5 client, from tests/interop/, installed by
//! `npm ci`: `app_redis.js`) and the counter example with `--store redis`
//! share one `redis-server`, one secret and one cookie (`_rs_demo`):
//!
//! - the count carries over both ways, from whichever side a client starts on;
//! - what Express stores and our schema does not know (a nested object, an
//!   unknown key) survives our saves byte for byte, and Express reads it back;
//! - a logout on either side ends the session on the other;
//! - both write the key to expire with the cookie: connect-redis's TTL and ours agree.
//!
//! Each check reads Redis itself with `redis-cli`, so a different prefix,
//! value format or expiry fails it even where the two servers could agree
//! with each other. It needs `node`, `tests/interop/node_modules` (`npm ci`),
//! `redis-server` and the example built with `--features redis`; a plain
//! `cargo test` skips it with a message when one is missing, and
//! `scripts/test.sh`, which prepares them, fails instead.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use axum::http::StatusCode;
use serde_json::value::RawValue;
use support::prerequisites::{example_binary, express_redis_fixture};
use support::redis::RedisServer;
use support::{ChildGuard, Reply, clock, cookie_pair, free_port, wire};

const COOKIE: &str = "_rs_demo";

/// No comma: the counter example reads SESSION_SECRET as a comma-separated list.
const SECRET: &str = "redis interop test secret shared by both servers";

/// The cookie's max age on both sides: five years, in seconds.
const FIVE_YEARS_SECS: u64 = 60 * 60 * 24 * 365 * 5;

/// What `GET /extra` on Express stores besides the count, as JavaScript's
/// `JSON.stringify` writes it (`1e+21`, `5e-7`, keys in insertion order, the
/// escapes): any re-encoding changes these bytes. The test first checks that
/// this is what Express wrote to Redis.
const PROFILE: &str = r#"{"name":"ada","tags":["x",{"y":1.5,"big":1e+21,"tiny":5e-7,"sum":0.30000000000000004}],"zeta":null,"alpha":{"empty":{},"list":[],"yes":true,"no":false}}"#;
const LEGACY: &str = r#""kept as written: café ☃ \"quoted\" back\\slash\ttab </script> \u0001""#;

/// One Redis, the Express app and the counter example on it.
struct Servers {
    redis: RedisServer,
    express: ChildGuard,
    _counter: ChildGuard,
    express_port: u16,
    axum_port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Side {
    Express,
    Axum,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Express => Side::Axum,
            Side::Axum => Side::Express,
        }
    }
}

impl Servers {
    /// Everything running, or `None` when a prerequisite is missing (the test is skipped).
    fn start() -> Option<Self> {
        let fixture = express_redis_fixture()?;
        let counter = example_binary("counter")?;
        let redis = RedisServer::start()?;
        let (express, express_port) = start_express(&fixture, &redis.url());
        let axum_port = free_port();
        let mut command = Command::new(counter);
        command
            .args(["--store", "redis", "--url", &redis.url()])
            .env("PORT", axum_port.to_string())
            .env("HOST", "127.0.0.1")
            .env("SESSION_SECRET", SECRET);
        let mut counter = ChildGuard::spawn("counter", command);
        counter.wait_for_port(axum_port);
        Some(Servers {
            redis,
            express,
            _counter: counter,
            express_port,
            axum_port,
        })
    }

    fn port(&self, side: Side) -> u16 {
        match side {
            Side::Express => self.express_port,
            Side::Axum => self.axum_port,
        }
    }

    /// The stored value of session `sid`, exactly as Redis holds it.
    fn raw(&self, sid: &str) -> String {
        let out = self.redis.cli(&["GET", &key(sid)]);
        // redis-cli (not on a terminal) prints the bytes and a newline.
        out.strip_suffix('\n').unwrap_or(&out).to_owned()
    }

    /// An integer answer of `redis-cli COMMAND sess:<sid>`.
    fn int(&self, command: &str, sid: &str) -> i64 {
        self.redis.int(&[command, &key(sid)])
    }

    /// Fails with Express's output if it logged an error (a store error,
    /// a value it could not parse).
    fn assert_express_quiet(&self) {
        let log = self.express.output();
        assert!(!log.contains("rror"), "express logged errors:\n{log}");
    }
}

fn start_express(fixture: &Path, url: &str) -> (ChildGuard, u16) {
    let port = free_port();
    let mut command = Command::new("node");
    command
        .arg(fixture.join("app_redis.js"))
        .current_dir(fixture)
        .env("PORT", port.to_string())
        .env("REDIS_URL", url)
        .env("SESSION_SECRET", SECRET);
    let mut child = ChildGuard::spawn("express", command);
    child.wait_for_port(port);
    (child, port)
}

/// connect-redis's key of session `sid`: its default prefix and the id.
fn key(sid: &str) -> String {
    format!("sess:{sid}")
}

/// A browser visiting both servers.
struct Browser {
    name: &'static str,
    /// `name=value` of the session cookie.
    cookie: Option<String>,
    /// The session id in it.
    sid: Option<String>,
    /// The `Set-Cookie` of the last response that sent one.
    set_cookie: Option<String>,
}

impl Browser {
    fn new(name: &'static str) -> Self {
        Browser {
            name,
            cookie: None,
            sid: None,
            set_cookie: None,
        }
    }

    fn sid(&self) -> &str {
        self.sid.as_deref().expect("a session cookie")
    }

    /// `method path` on `side`, keeping the cookie it sets; 200 expected.
    async fn send(&mut self, servers: &Servers, side: Side, method: &str, path: &str) -> Reply {
        let addr = ([127, 0, 0, 1], servers.port(side)).into();
        let reply = wire::request(addr, method, path, self.cookie.as_deref()).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{side:?} {method} {path}: {}",
            reply.body
        );
        if let Some(set_cookie) = reply.set_cookie() {
            let pair = cookie_pair(&set_cookie);
            if set_cookie.contains("Expires=Thu, 01 Jan 1970") {
                // A logout's removal: the browser forgets the cookie.
                assert_eq!(pair, format!("{COOKIE}="), "{set_cookie}");
                self.cookie = None;
                self.sid = None;
            } else {
                assert!(pair.starts_with(&format!("{COOKIE}=s%3A")), "{set_cookie}");
                self.cookie = Some(pair.to_owned());
                self.sid = Some(reply.sid().expect("a signed session id"));
                self.set_cookie = Some(set_cookie);
            }
        }
        reply
    }

    /// `GET path` on `side`; returns the `count` it answers.
    async fn count(&mut self, servers: &Servers, side: Side, path: &str) -> u64 {
        let reply = self.send(servers, side, "GET", path).await;
        let count = reply.json()["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("{side:?} answered without a count: {}", reply.body));
        println!(
            "client {}: {side:?} {path} answered count {count}",
            self.name
        );
        count
    }
}

/// The top-level members of a stored session, each as the exact JSON text
/// stored, in stored order.
fn members(raw: &str) -> Vec<(String, String)> {
    let parsed: HashMap<String, Box<RawValue>> = serde_json::from_str(raw)
        .unwrap_or_else(|e| panic!("the stored value is not a JSON object ({e}): {raw}"));
    let mut members: Vec<(String, String)> = parsed
        .into_iter()
        .map(|(k, v)| (k, v.get().to_owned()))
        .collect();
    // Stored order: where each `"key":value` is in the text.
    members.sort_by_key(|(k, v)| raw.find(&format!("\"{k}\":{v}")).unwrap());
    members
}

/// The exact stored text of top-level member `name`.
fn member(raw: &str, name: &str) -> String {
    members(raw)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name:?} in {raw}"))
        .1
}

fn names(raw: &str) -> Vec<String> {
    members(raw).into_iter().map(|(k, _)| k).collect()
}

/// A client starting on `first` alternates with the other side: the count
/// rises by one per request, and the session id never changes.
async fn alternate(servers: &Servers, browser: &mut Browser, first: Side) {
    let second = first.other();
    let mut sid = None;
    for n in 1..=8_u64 {
        let side = if n % 2 == 1 { first } else { second };
        assert_eq!(
            browser.count(servers, side, "/").await,
            n,
            "{side:?} did not continue the session the other side wrote"
        );
        let current = browser.sid().to_owned();
        assert_eq!(
            sid.get_or_insert_with(|| current.clone()),
            &current,
            "{side:?} changed the session id"
        );
        // Where connect-redis keeps it, with the count both read.
        let raw = servers.raw(&current);
        assert_eq!(member(&raw, "count"), n.to_string(), "{raw}");
        // Both sides agree on /peek too, without changing it.
        for peek_side in [Side::Express, Side::Axum] {
            assert_eq!(browser.count(servers, peek_side, "/peek").await, n);
        }
    }
}

#[tokio::test]
async fn the_count_carries_over_between_express_and_axum_both_ways() {
    let Some(servers) = Servers::start() else {
        return;
    };
    let mut from_express = Browser::new("A");
    let mut from_axum = Browser::new("B");
    alternate(&servers, &mut from_express, Side::Express).await;
    alternate(&servers, &mut from_axum, Side::Axum).await;
    assert_ne!(from_express.sid, from_axum.sid);
    // Two sessions, under connect-redis's keys, and nothing else.
    let mut keys: Vec<String> = servers
        .redis
        .cli(&["KEYS", "*"])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    let mut expected = vec![key(from_express.sid()), key(from_axum.sid())];
    expected.sort();
    assert_eq!(keys, expected);
    servers.assert_express_quiet();
}

#[tokio::test]
async fn what_express_stores_beyond_our_schema_survives_our_saves_byte_for_byte() {
    let Some(servers) = Servers::start() else {
        return;
    };
    let mut browser = Browser::new("C");
    assert_eq!(browser.count(&servers, Side::Express, "/extra").await, 1);
    let sid = browser.sid().to_owned();
    let written = servers.raw(&sid);
    // What Express wrote: its cookie object, then the fields in assignment order.
    assert_eq!(names(&written), ["cookie", "count", "profile", "legacy"]);
    let profile = member(&written, "profile");
    let legacy = member(&written, "legacy");
    assert_eq!(profile, PROFILE, "JSON.stringify wrote {written}");
    assert_eq!(legacy, LEGACY, "JSON.stringify wrote {written}");
    let echoed = browser.send(&servers, Side::Express, "GET", "/echo").await;

    // Our save of the count keeps them, byte for byte, where they were.
    assert_eq!(browser.count(&servers, Side::Axum, "/").await, 2);
    let ours = servers.raw(&sid);
    assert_ne!(ours, written, "our save did not reach Redis");
    assert_eq!(member(&ours, "count"), "2", "{ours}");
    assert_eq!(
        names(&ours),
        ["cookie", "count", "profile", "legacy", "__lastAccess"]
    );
    assert!(
        ours.contains(&format!(r#","profile":{profile},"legacy":{legacy},"#)),
        "Express wrote\n{written}\nand our save left\n{ours}"
    );

    // Express reads them back as it wrote them, and goes on counting.
    let echoed_again = browser.send(&servers, Side::Express, "GET", "/echo").await;
    assert_eq!(echoed_again.json()["count"], 2);
    for field in ["profile", "legacy"] {
        assert_eq!(echoed_again.json()[field], echoed.json()[field], "{field}");
    }
    assert_eq!(browser.count(&servers, Side::Express, "/").await, 3);
    assert_eq!(browser.count(&servers, Side::Axum, "/").await, 4);
    let last = servers.raw(&sid);
    assert_eq!(member(&last, "count"), "4", "{last}");
    assert_eq!(member(&last, "profile"), PROFILE);
    assert_eq!(member(&last, "legacy"), LEGACY);
    servers.assert_express_quiet();
}

/// A client with a session both sides saved logs out on `logout_on`; the
/// key is gone, and the other side, sent the old cookie, starts afresh.
async fn logout_ends_it_for_the_other_side(servers: &Servers, name: &'static str, logout_on: Side) {
    let other = logout_on.other();
    let mut browser = Browser::new(name);
    assert_eq!(browser.count(servers, other, "/").await, 1);
    assert_eq!(browser.count(servers, logout_on, "/").await, 2);
    let sid = browser.sid().to_owned();
    let old_cookie = browser.cookie.clone();
    assert_eq!(servers.int("EXISTS", &sid), 1);

    let reply = browser.send(servers, logout_on, "POST", "/logout").await;
    assert_eq!(reply.json()["count"], 0);
    assert_eq!(
        servers.int("EXISTS", &sid),
        0,
        "{logout_on:?}'s logout left the key"
    );

    // The other side, shown the old cookie (another tab's, say), has no
    // session for it.
    browser.cookie = old_cookie;
    assert_eq!(browser.count(servers, other, "/peek").await, 0);
    assert_eq!(
        browser.count(servers, other, "/").await,
        1,
        "{other:?} still had the session {logout_on:?} ended"
    );
    assert_ne!(browser.sid(), sid, "{other:?} revived the ended session id");
    assert_eq!(servers.int("EXISTS", &sid), 0);
    assert_eq!(servers.int("EXISTS", browser.sid()), 1);
}

#[tokio::test]
async fn a_logout_on_either_side_ends_the_session_on_the_other() {
    let Some(servers) = Servers::start() else {
        return;
    };
    logout_ends_it_for_the_other_side(&servers, "D", Side::Axum).await;
    logout_ends_it_for_the_other_side(&servers, "E", Side::Express).await;
    servers.assert_express_quiet();
}

/// After a write by `side`, the key lives as long as the cookie: five years
/// from now, and to the second when the `Set-Cookie` says it expires.
async fn assert_expiry_after_write(servers: &Servers, browser: &mut Browser, side: Side, n: u64) {
    browser.set_cookie = None;
    assert_eq!(browser.count(servers, side, "/").await, n);
    let sid = browser.sid().to_owned();
    let ttl = servers.int("TTL", &sid);
    let five_years = i64::try_from(FIVE_YEARS_SECS).unwrap();
    assert!(
        (five_years - 5..=five_years).contains(&ttl),
        "after {side:?}'s write the key's TTL is {ttl} s, the cookie's max age {five_years} s"
    );
    let set_cookie = browser
        .set_cookie
        .clone()
        .unwrap_or_else(|| panic!("{side:?} sent no Set-Cookie for a changed session"));
    let cookie_expires = clock::http_date_secs(support::expires_attr(&set_cookie).unwrap());
    let key_expires = servers.int("EXPIRETIME", &sid);
    assert!(
        (key_expires - cookie_expires).abs() <= 1,
        "after {side:?}'s write the key expires at {key_expires}, the cookie at {cookie_expires}: {set_cookie}"
    );
    // The stored cookie says the same (connect-redis rounds its TTL up to
    // whole seconds), with the five-year max age.
    let key_expires_ms = servers.int("PEXPIRETIME", &sid);
    let raw = servers.raw(&sid);
    let stored: serde_json::Value = serde_json::from_str(&member(&raw, "cookie")).unwrap();
    let stored_expires_ms = iso8601_ms(stored["expires"].as_str().expect("an expires"));
    assert!(
        (0..1000).contains(&(key_expires_ms - stored_expires_ms)),
        "after {side:?}'s write the key expires at {key_expires_ms} ms, the stored cookie at {stored_expires_ms}: {raw}"
    );
    let max_age = stored["originalMaxAge"].as_i64().unwrap();
    assert!((max_age - five_years * 1000).abs() <= 1000, "{raw}");
}

/// Milliseconds since the epoch of a JavaScript `Date#toISOString`
/// (`2031-11-28T13:04:39.593Z`).
fn iso8601_ms(text: &str) -> i64 {
    let (date, time) = text.strip_suffix('Z').unwrap().split_once('T').unwrap();
    let ymd: Vec<&str> = date.split('-').collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][ymd[1].parse::<usize>().unwrap() - 1];
    let (hms, ms) = time.split_once('.').unwrap();
    let http_date = format!("Xxx, {} {month} {} {hms} GMT", ymd[2], ymd[0]);
    clock::http_date_secs(&http_date) * 1000 + ms.parse::<i64>().unwrap()
}

#[tokio::test]
async fn our_key_expiry_agrees_with_connect_redis() {
    let Some(servers) = Servers::start() else {
        return;
    };
    let mut browser = Browser::new("F");
    assert_expiry_after_write(&servers, &mut browser, Side::Axum, 1).await;
    assert_expiry_after_write(&servers, &mut browser, Side::Express, 2).await;
    assert_expiry_after_write(&servers, &mut browser, Side::Axum, 3).await;
    let mut other = Browser::new("G");
    assert_expiry_after_write(&servers, &mut other, Side::Express, 1).await;
    assert_expiry_after_write(&servers, &mut other, Side::Axum, 2).await;
    servers.assert_express_quiet();
}
