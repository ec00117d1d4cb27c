//! `RedisStore` with real `redis-server` processes: several app instances
//! (in-process servers on real sockets, or counter example processes) on one
//! Redis, and Redis going away and coming back while the apps run.
//!
//! Interleavings are deterministic: a handler that has loaded the session
//! waits on a gate the test opens. Time appears only as generous upper
//! bounds ("no hang") and as deadlines for polling a recovery.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use session_runtime::store::redis::RedisStore;
use session_runtime::{OnStoreError, Session, SessionLayer};
use support::prerequisites::example_binary;
use support::redis::RedisServer;
use support::{ChildGuard, Gate, Reply, cookie_pair, free_port, wire};

/// What every instance signs with: instances share cookies as they share Redis.
const SECRET: &str = "redis servers secret";

/// The longest a request may take while Redis is down or dies under it. The
/// store fails within about its connect timeout (1 s); a hang would show as
/// the layer's 5 s store timeout or the client's 10 s one.
const NO_HANG: Duration = Duration::from_secs(3);

/// How long the apps may take to use a restarted Redis again.
const RECOVERY: Duration = Duration::from_secs(10);

#[derive(Session)]
struct Pair {
    #[session(default = 0)]
    a: u64,
    #[session(default = 0)]
    b: u64,
}

async fn inc_a(mut pair: Session<Pair>) -> String {
    pair.a += 1;
    pair.a.to_string()
}

async fn inc_b(mut pair: Session<Pair>) -> String {
    pair.b += 1;
    pair.b.to_string()
}

async fn slow_inc_a(State(gate): State<Arc<Gate>>, mut pair: Session<Pair>) -> String {
    pair.a += 1;
    gate.hold().await;
    pair.a.to_string()
}

async fn slow_inc_b(State(gate): State<Arc<Gate>>, mut pair: Session<Pair>) -> String {
    pair.b += 1;
    gate.hold().await;
    pair.b.to_string()
}

async fn show(pair: Session<Pair>) -> String {
    format!("{} {}", pair.a, pair.b)
}

async fn logout(pair: Session<Pair>) -> &'static str {
    pair.destroy();
    "bye"
}

async fn hello() -> &'static str {
    "hello"
}

/// One app server: its own `RedisStore` (its own connection), its own gate.
struct Instance {
    addr: SocketAddr,
    gate: Arc<Gate>,
}

impl Instance {
    /// Serves the test app on a real socket. With a max age, every response
    /// of a modified session carries its cookie, so a missing one means the
    /// layer withheld it.
    async fn start(redis: &RedisServer, configure: fn(SessionLayer) -> SessionLayer) -> Self {
        let store = RedisStore::connect(&redis.url()).await.unwrap();
        let gate = Arc::new(Gate::default());
        let layer = SessionLayer::new(store, SECRET).max_age(Duration::from_secs(3600));
        let router = Router::new()
            .route("/a", get(inc_a))
            .route("/b", get(inc_b))
            .route("/slow-a", get(slow_inc_a))
            .route("/slow-b", get(slow_inc_b))
            .route("/show", get(show))
            .route("/logout", post(logout))
            // Under the layer too: a route that never asks for the session
            // never calls the store.
            .route("/hello", get(hello))
            .with_state(Arc::clone(&gate))
            .layer(configure(layer));
        Instance {
            addr: wire::serve(router).await,
            gate,
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        wire::request(self.addr, "GET", path, cookie).await
    }

    /// `GET path` with its duration, which must stay under [`NO_HANG`].
    async fn get_bounded(&self, path: &str, cookie: Option<&str>) -> Reply {
        let started = Instant::now();
        let reply = self.get(path, cookie).await;
        let took = started.elapsed();
        assert!(
            took < NO_HANG,
            "GET {path} took {took:?} (over {NO_HANG:?}): {reply:?}"
        );
        reply
    }

    /// Sends `GET path` (a slow route) and returns once its handler has
    /// loaded the session and waits on the gate; the task ends with its reply.
    async fn hold(&self, path: &'static str, cookie: &str) -> tokio::task::JoinHandle<Reply> {
        let (addr, cookie) = (self.addr, cookie.to_owned());
        let held =
            tokio::spawn(async move { wire::request(addr, "GET", path, Some(&cookie)).await });
        tokio::time::timeout(Duration::from_secs(10), self.gate.entered.notified())
            .await
            .unwrap_or_else(|_| panic!("the handler of {path} did not load the session"));
        held
    }

    /// Opens the gate and waits for the held request's reply, within [`NO_HANG`].
    async fn release(&self, held: tokio::task::JoinHandle<Reply>) -> Reply {
        self.gate.release.notify_one();
        tokio::time::timeout(NO_HANG, held)
            .await
            .unwrap_or_else(|_| panic!("the released request did not answer within {NO_HANG:?}"))
            .unwrap()
    }

    /// Polls `GET path` until it answers 200 (Redis is back), within [`RECOVERY`].
    async fn wait_until_ok(&self, path: &str, cookie: Option<&str>) -> Reply {
        let deadline = Instant::now() + RECOVERY;
        loop {
            let reply = self.get_bounded(path, cookie).await;
            if reply.status == StatusCode::OK {
                return reply;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} still fails {RECOVERY:?} after Redis came back: {reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `name=value` of a reply's session cookie.
fn cookie_of(reply: &Reply) -> String {
    let set = reply
        .set_cookie()
        .unwrap_or_else(|| panic!("no session cookie: {reply:?}"));
    cookie_pair(&set).to_owned()
}

/// Whether session `sid`'s key is in Redis, by `redis-cli EXISTS`.
fn exists(redis: &RedisServer, sid: &str) -> bool {
    redis.int(&["EXISTS", &format!("sess:{sid}")]) == 1
}

fn assert_store_error(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{what}: {reply:?}"
    );
    assert_eq!(reply.body, "session store error", "{what}");
    assert_eq!(
        reply.set_cookies(),
        Vec::<String>::new(),
        "{what}: a cookie for a session that was not saved"
    );
}

fn assert_unavailable(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {reply:?}"
    );
    assert_eq!(reply.header("retry-after"), Some("7"), "{what}");
    assert_eq!(
        reply.set_cookies(),
        Vec::<String>::new(),
        "{what}: a cookie for a session that was not saved"
    );
}

fn unavailable_policy(layer: SessionLayer) -> SessionLayer {
    layer.on_store_error(OnStoreError::ServiceUnavailable {
        retry_after: Duration::from_secs(7),
    })
}

/// The counter example with `--store redis` on `port`, once it listens.
fn start_counter(binary: &Path, port: u16, redis: &RedisServer) -> ChildGuard {
    start_counter_with(binary, port, redis, &[])
}

/// [`start_counter`] with more arguments.
fn start_counter_with(binary: &Path, port: u16, redis: &RedisServer, args: &[&str]) -> ChildGuard {
    let mut command = Command::new(binary);
    command
        .env_remove("HOST")
        .env("PORT", port.to_string())
        .env("SESSION_SECRET", SECRET)
        .args(["--store", "redis", "--url", &redis.url()])
        .args(args);
    let mut counter = ChildGuard::spawn(&format!("counter:{port}"), command);
    counter.wait_for_port(port);
    counter
}

fn at(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

fn assert_alive_without_panic(counter: &mut ChildGuard) {
    assert!(
        counter.child.try_wait().unwrap().is_none(),
        "the counter process exited:\n{}",
        counter.output()
    );
    assert!(
        !counter.stderr().contains("panicked"),
        "the counter process panicked:\n{}",
        counter.output()
    );
}

/// Two counter processes on one Redis and one secret are one app: a client
/// alternating between them counts up by one on every request.
#[tokio::test]
async fn two_counter_processes_on_one_redis_count_as_one_app() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let ports = [free_port(), free_port()];
    let mut counters = ports.map(|port| start_counter(&binary, port, &redis));

    let mut cookie: Option<String> = None;
    let mut sid = None;
    for n in 1..=10_u64 {
        let port = ports[(n % 2) as usize];
        let reply = wire::request(at(port), "GET", "/", cookie.as_deref()).await;
        assert_eq!(reply.status, StatusCode::OK, "request {n}: {reply:?}");
        assert_eq!(
            reply.body,
            format!("{{\"count\": {n}}}"),
            "request {n}, to the instance on port {port}"
        );
        if let Some(set) = reply.set_cookie() {
            cookie = Some(cookie_pair(&set).to_owned());
            sid = sid.or(reply.sid());
        }
    }
    let sid = sid.expect("the first response set the cookie");
    let stored = redis.cli(&["GET", &format!("sess:{sid}")]);
    assert!(stored.contains("\"count\":10"), "{stored}");
    for counter in &mut counters {
        assert_alive_without_panic(counter);
    }
}

/// Two counter processes with `--exclusive` on one Redis: 32 concurrent
/// visits of one cookie, half to each, end at a count of exactly 32 more
/// (without the option, most of them are lost: bench/RESULTS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_exclusive_counter_processes_lose_no_concurrent_visit() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let ports = [free_port(), free_port()];
    let mut counters =
        ports.map(|port| start_counter_with(&binary, port, &redis, &["--exclusive"]));
    let first = wire::request(at(ports[0]), "GET", "/", None).await;
    assert_eq!(first.body, "{\"count\": 1}");
    let cookie = cookie_pair(&first.set_cookie().unwrap()).to_owned();
    let mut visits = tokio::task::JoinSet::new();
    for n in 0..32 {
        let (port, cookie) = (ports[n % 2], cookie.clone());
        visits.spawn(async move { wire::request(at(port), "GET", "/", Some(&cookie)).await });
    }
    while let Some(reply) = visits.join_next().await {
        let reply = reply.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    for port in ports {
        let peek = wire::request(at(port), "GET", "/peek", Some(&cookie)).await;
        assert_eq!(peek.body, "{\"count\": 33}", "read on port {port}");
    }
    for counter in &mut counters {
        assert_alive_without_panic(counter);
    }
}

/// One session, two fields, each changed through a different instance while
/// the other's request is in flight: neither change is lost. A store that
/// overwrites (last writer wins) loses the first field in the held phase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fields_written_concurrently_through_two_instances_lose_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let one = Instance::start(&redis, |l| l).await;
    let two = Instance::start(&redis, |l| l).await;
    let first = one.get("/a", None).await;
    assert_eq!(first.body, "1");
    let cookie = cookie_of(&first);

    // Deterministic: `a` held on one while `b` saves through two, then the
    // other way round.
    let held = one.hold("/slow-a", &cookie).await;
    assert_eq!(two.get("/b", Some(&cookie)).await.body, "1");
    assert_eq!(one.release(held).await.body, "2");
    assert_eq!(
        two.get("/show", Some(&cookie)).await.body,
        "2 1",
        "the held save of `a` overwrote the `b` saved meanwhile"
    );
    let held = two.hold("/slow-b", &cookie).await;
    assert_eq!(one.get("/a", Some(&cookie)).await.body, "3");
    assert_eq!(two.release(held).await.body, "2");
    assert_eq!(
        one.get("/show", Some(&cookie)).await.body,
        "3 2",
        "the held save of `b` overwrote the `a` saved meanwhile"
    );

    // A burst: `a` and `b` incremented concurrently, each field by its own
    // sequence of requests alternating between the instances. (Two requests
    // that increment the same field at once are a race in the app: the
    // store merges per field, so the later write of that field wins.)
    const EACH: u64 = 20;
    let instances = [&one, &two];
    let run = |path: &'static str, start: usize| {
        let cookie = cookie.clone();
        async move {
            for n in 0..EACH {
                let instance = instances[(start + n as usize) % 2];
                let reply = instance.get(path, Some(&cookie)).await;
                assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
            }
        }
    };
    tokio::join!(run("/a", 0), run("/b", 1));
    assert_eq!(
        one.get("/show", Some(&cookie)).await.body,
        format!("{} {}", 3 + EACH, 2 + EACH),
        "concurrent saves of the two fields lost an increment"
    );
}

/// A logout through one instance while a request of the same session is
/// held in another is final: the late save writes nothing (the key stays
/// gone in Redis), its response does not re-send the cookie, and the old
/// cookie then names no session.
#[tokio::test]
async fn a_late_save_after_a_logout_elsewhere_does_not_resurrect_the_session() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let one = Instance::start(&redis, |l| l).await;
    let two = Instance::start(&redis, |l| l).await;
    let first = one.get("/a", None).await;
    let cookie = cookie_of(&first);
    let sid = first.sid().unwrap();
    assert!(exists(&redis, &sid));

    let held = one.hold("/slow-b", &cookie).await;
    let logout = wire::request(two.addr, "POST", "/logout", Some(&cookie)).await;
    assert_eq!(logout.status, StatusCode::OK);
    assert!(
        logout
            .set_cookie()
            .is_some_and(|c| c.contains("Expires=Thu, 01 Jan 1970")),
        "the logout clears the cookie: {logout:?}"
    );
    assert!(!exists(&redis, &sid), "the logout deleted the key");

    let late = one.release(held).await;
    assert_eq!(late.status, StatusCode::OK, "{late:?}");
    assert_eq!(
        late.set_cookies(),
        Vec::<String>::new(),
        "the late response re-sent the cookie of the destroyed session"
    );
    assert!(
        !exists(&redis, &sid),
        "the late save re-created the destroyed session in Redis"
    );
    let after = one.get("/a", Some(&cookie)).await;
    assert_eq!(after.body, "1", "the old cookie still names the old data");
    assert_ne!(
        after.sid(),
        Some(sid.clone()),
        "a fresh session, a fresh id"
    );
    assert_eq!(
        two.get("/show", Some(&cookie)).await.body,
        "0 0",
        "the old cookie names no session"
    );
}

/// Redis killed under a running app: requests that need the session fail
/// fast with the store-error response (500 by default, 503 with
/// `Retry-After` under that policy), a route without the session still
/// works, and once Redis is back on its port the same app serves sessions
/// again, without a restart.
#[tokio::test]
async fn requests_fail_fast_while_redis_is_down_and_succeed_once_it_is_back() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let app = Instance::start(&redis, |l| l).await;
    let polite = Instance::start(&redis, unavailable_policy).await;
    let cookie = cookie_of(&app.get("/a", None).await);
    let polite_cookie = cookie_of(&polite.get("/a", None).await);

    redis.kill();
    // Twice: the first calls find the connection broken, the later ones a
    // refused reconnect; each must fail fast.
    for round in 1..=2 {
        let what = |path: &str| format!("round {round}, {path} with Redis down");
        assert_store_error(&app.get_bounded("/a", Some(&cookie)).await, &what("load"));
        assert_store_error(&app.get_bounded("/a", None).await, &what("create"));
        assert_unavailable(
            &polite.get_bounded("/a", Some(&polite_cookie)).await,
            &what("load, 503 policy"),
        );
        assert_unavailable(
            &polite.get_bounded("/a", None).await,
            &what("create, 503 policy"),
        );
        let hello = app.get_bounded("/hello", Some(&cookie)).await;
        assert_eq!(
            (hello.status, hello.body.as_str()),
            (StatusCode::OK, "hello")
        );
    }

    redis.restart();
    // Without persistence Redis comes back empty: the old cookie starts afresh.
    for instance in [&app, &polite] {
        let back = instance.wait_until_ok("/a", Some(&cookie)).await;
        assert_eq!(back.body, "1");
        let cookie = cookie_of(&back);
        assert_eq!(instance.get_bounded("/a", Some(&cookie)).await.body, "2");
    }
}

/// The same for the counter example as a process: Redis down gives 500s
/// within the bound, `/hello` answers, nothing panics, and the process
/// serves sessions again once Redis is back.
#[tokio::test]
async fn the_counter_process_survives_a_redis_outage() {
    let Some(binary) = example_binary("counter") else {
        return;
    };
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let port = free_port();
    let mut counter = start_counter(&binary, port, &redis);
    let first = wire::request(at(port), "GET", "/", None).await;
    assert_eq!(first.body, "{\"count\": 1}");
    let cookie = cookie_of(&first);

    redis.kill();
    for _ in 0..2 {
        let started = Instant::now();
        let reply = wire::request(at(port), "GET", "/", Some(&cookie)).await;
        assert!(started.elapsed() < NO_HANG, "{:?}", started.elapsed());
        assert_store_error(&reply, "GET / with Redis down");
        let hello = wire::request(at(port), "GET", "/hello", None).await;
        assert_eq!(hello.body, "hello");
    }
    assert_alive_without_panic(&mut counter);

    redis.restart();
    let deadline = Instant::now() + RECOVERY;
    loop {
        let reply = wire::request(at(port), "GET", "/", Some(&cookie)).await;
        if reply.status == StatusCode::OK {
            assert_eq!(reply.body, "{\"count\": 1}", "Redis came back empty");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the counter still fails {RECOVERY:?} after Redis came back: {reply:?}\n{}",
            counter.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_alive_without_panic(&mut counter);
}

/// Redis killed while a handler holds a loaded, changed session: the save
/// at the end of the request fails fast with the store-error response and
/// no cookie (500 by default, 503 with `Retry-After` under that policy).
#[tokio::test]
async fn redis_killed_mid_request_fails_the_save_without_a_cookie() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let app = Instance::start(&redis, |l| l).await;
    let polite = Instance::start(&redis, unavailable_policy).await;

    let cookie = cookie_of(&app.get("/a", None).await);
    let held = app.hold("/slow-a", &cookie).await;
    redis.kill();
    assert_store_error(&app.release(held).await, "a save after Redis died");

    redis.restart();
    let cookie = cookie_of(&polite.wait_until_ok("/a", None).await);
    let held = polite.hold("/slow-a", &cookie).await;
    redis.kill();
    assert_unavailable(
        &polite.release(held).await,
        "a save after Redis died, 503 policy",
    );
}

/// A Redis that stops answering without closing anything (SIGSTOP): its
/// port still accepts connections, so only the store's response timeout
/// (500 ms) stands between a request and a hang. Requests fail within the
/// bound; once Redis answers again, the session is there as it was.
#[tokio::test]
async fn requests_fail_fast_while_redis_is_frozen_and_succeed_once_it_answers() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let app = Instance::start(&redis, |l| l).await;
    let cookie = cookie_of(&app.get("/a", None).await);

    redis.freeze();
    for round in 1..=2 {
        let what = format!("round {round}, a load with Redis frozen");
        assert_store_error(&app.get_bounded("/a", Some(&cookie)).await, &what);
        let hello = app.get_bounded("/hello", Some(&cookie)).await;
        assert_eq!(hello.body, "hello");
    }

    redis.thaw();
    let back = app.wait_until_ok("/a", Some(&cookie)).await;
    assert_eq!(back.body, "2", "the session survived the freeze");
}

/// What each kind of request costs Redis, from `INFO commandstats`: a
/// read-only request one pipelined `GET` + `PEXPIRETIME`; past half the
/// session's lifetime, one touch (a script whose `GET` and `PEXPIREAT` Redis
/// counts too) for the next request only; a write the same read and one
/// script call (`EVALSHA`, counted with its `GET` and `SET`).
#[tokio::test]
async fn each_request_costs_the_commands_the_readme_says() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let app = Instance::start(&redis, |layer| layer.max_age(Duration::from_secs(4))).await;
    let cookie = cookie_of(&app.get("/a", None).await);
    app.get("/a", Some(&cookie)).await;
    let counted = |redis: &RedisServer| {
        let mut counts: Vec<(String, u64)> = redis
            .command_counts()
            .into_iter()
            .filter(|(name, _)| !matches!(name.as_str(), "info" | "config|resetstat"))
            .collect();
        counts.sort();
        counts
    };
    let of = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
        pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
    };

    redis.cli(&["CONFIG", "RESETSTAT"]);
    for _ in 0..20 {
        assert_eq!(app.get("/show", Some(&cookie)).await.body, "2 0");
    }
    assert_eq!(counted(&redis), of(&[("get", 20), ("pexpiretime", 20)]));

    // Past half of the four-second lifetime: the next read touches, once.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    redis.cli(&["CONFIG", "RESETSTAT"]);
    for _ in 0..20 {
        assert_eq!(app.get("/show", Some(&cookie)).await.body, "2 0");
    }
    assert_eq!(
        counted(&redis),
        of(&[
            ("evalsha", 1),
            ("get", 21),
            ("pexpireat", 1),
            ("pexpiretime", 20)
        ])
    );

    redis.cli(&["CONFIG", "RESETSTAT"]);
    assert_eq!(app.get("/a", Some(&cookie)).await.body, "3");
    assert_eq!(
        counted(&redis),
        of(&[("evalsha", 1), ("get", 2), ("pexpiretime", 1), ("set", 1)])
    );
}
