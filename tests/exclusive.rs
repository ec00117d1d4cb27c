//! Exclusive sessions (`SessionLayer::exclusive`): each promise of the
//! option, broken on purpose. A handler held on a gate keeps its session while
//! another request of it arrives; a handler that panics, a request dropped
//! mid-handler, a logout, a new id, two views, nested layers and a `save()`
//! in the handler must all leave the session free for the next request; 32
//! concurrent increments over real sockets end at exactly 32.
//!
//! Every check runs on each store with locks (memory and file here; Redis in
//! `tests/redis_exclusive.rs`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use session_runtime::store::{Created, SessionLock, SessionStore, Update, Updated};
use session_runtime::{
    FileStore, MemoryStore, Record, Session, SessionId, SessionLayer, StoreError,
};
use support::{Gate, Reply, TempDir, send, wire};
use tower::ServiceExt;

const SECRET: &str = "exclusive sessions secret";

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

#[derive(Session)]
struct Visits {
    #[session(default = 0)]
    visits: u64,
}

async fn increment(mut session: Session<Counter>) -> String {
    session.count += 1;
    session.count.to_string()
}

/// Reads the count, waits on the gate, then writes the count plus one: the
/// read-modify-write that loses updates when two requests interleave.
async fn slow_increment(State(gate): State<Arc<Gate>>, mut session: Session<Counter>) -> String {
    let read = session.count;
    gate.hold().await;
    session.count = read + 1;
    session.count.to_string()
}

async fn panics(mut session: Session<Counter>) -> String {
    session.count += 1000;
    panic!("the handler fails after changing the session");
}

async fn logout(session: Session<Counter>) -> &'static str {
    session.destroy();
    "bye"
}

async fn cycle(mut session: Session<Counter>) -> Result<String, String> {
    session.cycle_id().await.map_err(|e| e.to_string())?;
    session.count += 1;
    Ok(session.count.to_string())
}

async fn regenerate(mut session: Session<Counter>) -> Result<String, String> {
    session.regenerate().await.map_err(|e| e.to_string())?;
    session.count += 1;
    Ok(session.count.to_string())
}

/// Two views of the session and a `save()` in the middle of the handler.
async fn two_views_and_save(
    mut counter: Session<Counter>,
    mut visits: Session<Visits>,
) -> Result<String, String> {
    counter.count += 1;
    counter.save().await.map_err(|e| e.to_string())?;
    visits.visits += 1;
    Ok(format!("{} {}", counter.count, visits.visits))
}

/// Answers at once with a body that streams only when the gate opens, and
/// keeps the session (moved into the body) alive until then.
async fn streamed(
    State(gate): State<Arc<Gate>>,
    session: Session<Counter>,
) -> axum::response::Response {
    let body = futures_util::stream::once(async move {
        gate.hold().await;
        let count = session.count;
        Ok::<_, std::convert::Infallible>(format!("streamed {count}"))
    });
    axum::response::Response::new(Body::from_stream(body))
}

async fn no_session() -> &'static str {
    "no session asked for"
}

fn routes(gate: &Arc<Gate>) -> Router {
    Router::new()
        .route("/", get(increment))
        .route("/slow", get(slow_increment))
        .route("/panic", get(panics))
        .route("/logout", post(logout))
        .route("/cycle", post(cycle))
        .route("/regenerate", post(regenerate))
        .route("/two-views", get(two_views_and_save))
        .route("/stream", get(streamed))
        .route("/plain", get(no_session))
        .with_state(Arc::clone(gate))
}

fn app<S: SessionStore + Clone>(store: &S, gate: &Arc<Gate>, wait: Duration) -> Router {
    routes(gate).layer(
        SessionLayer::new(store.clone(), SECRET)
            .exclusive(true)
            .exclusive_wait(wait),
    )
}

async fn call(router: &Router, method: &str, path: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    send(router, request.body(Body::empty()).unwrap()).await
}

/// `name=value` of a response's session cookie.
fn cookie_of(reply: &Reply) -> String {
    let set = reply.set_cookie().expect("a session cookie");
    set.split(';').next().unwrap().to_owned()
}

/// A stored session with a count of 1, and its cookie.
async fn started(router: &Router) -> String {
    started_at(router, "/").await
}

/// A stored session with a count of 1 from the counter at `path`, and its cookie.
async fn started_at(router: &Router, path: &str) -> String {
    let first = call(router, "GET", path, None).await;
    assert_eq!((first.status, first.body.as_str()), (StatusCode::OK, "1"));
    cookie_of(&first)
}

/// Starts `/slow` with `cookie` and returns once its handler holds the gate.
async fn hold_session(
    router: &Router,
    gate: &Arc<Gate>,
    cookie: &str,
) -> tokio::task::JoinHandle<Reply> {
    let entered = gate.entered.notified();
    let slow = tokio::spawn({
        let (router, cookie) = (router.clone(), cookie.to_owned());
        async move { call(&router, "GET", "/slow", Some(&cookie)).await }
    });
    tokio::time::timeout(Duration::from_secs(10), entered)
        .await
        .expect("the slow handler never started");
    slow
}

/// The count stored for `cookie`, read by a request.
async fn count_of(router: &Router, cookie: &str) -> String {
    let reply = call(router, "GET", "/", Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // The read itself added one.
    (reply.body.parse::<u64>().unwrap() - 1).to_string()
}

/// A request of a held session waits for its holder, then reads what the
/// holder saved: no interleaving of the read-modify-write. Without the
/// option the same two requests interleave and one increment is lost: the
/// test shows the option is what keeps it.
async fn a_second_request_waits_for_the_holder<S: SessionStore + Clone>(store: S) {
    for exclusive in [true, false] {
        let gate = Arc::new(Gate::default());
        let router = routes(&gate).layer(
            SessionLayer::new(store.clone(), SECRET)
                .exclusive(exclusive)
                .exclusive_wait(Duration::from_secs(30)),
        );
        let cookie = started(&router).await;
        let slow = hold_session(&router, &gate, &cookie).await;
        let second = tokio::spawn({
            let (router, cookie) = (router.clone(), cookie.clone());
            async move { call(&router, "GET", "/", Some(&cookie)).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            second.is_finished(),
            !exclusive,
            "with exclusive({exclusive}), the second request {} while the first held the session",
            if exclusive { "ran" } else { "waited" }
        );
        gate.release.notify_one();
        let (slow, second) = (slow.await.unwrap(), second.await.unwrap());
        assert_eq!(
            (slow.status, second.status),
            (StatusCode::OK, StatusCode::OK)
        );
        if exclusive {
            assert_eq!((slow.body.as_str(), second.body.as_str()), ("2", "3"));
            assert_eq!(count_of(&router, &cookie).await, "3");
        } else {
            // Both read 1: the slow one's write of 2 lands last and undoes the other's.
            assert_eq!((slow.body.as_str(), second.body.as_str()), ("2", "2"));
        }
    }
}

/// Past the wait, a request is answered `503` with `Retry-After`, and the
/// holder's save is unaffected.
async fn waiting_past_the_bound_is_a_503<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, Duration::from_millis(300));
    let cookie = started(&router).await;
    let slow = hold_session(&router, &gate, &cookie).await;
    let turned_away = call(&router, "GET", "/", Some(&cookie)).await;
    assert_eq!(turned_away.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(turned_away.header("retry-after"), Some("1"));
    assert!(turned_away.set_cookie().is_none());
    gate.release.notify_one();
    assert_eq!(slow.await.unwrap().body, "2");
    assert_eq!(count_of(&router, &cookie).await, "2");
}

/// Requests that never wait: one without a cookie (a new session), one with
/// a forged cookie, and one whose handler does not extract the session.
async fn requests_without_the_session_never_wait<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, Duration::from_secs(30));
    let cookie = started(&router).await;
    let slow = hold_session(&router, &gate, &cookie).await;
    let quick = Duration::from_secs(5);
    let fresh = tokio::time::timeout(quick, call(&router, "GET", "/", None))
        .await
        .expect("a request without a cookie waited for another session's holder");
    assert_eq!(fresh.body, "1");
    let forged = format!("connect.sid=s%3A{}.forged", "a".repeat(32));
    let forged = tokio::time::timeout(quick, call(&router, "GET", "/", Some(&forged)))
        .await
        .expect("a request with a forged cookie waited");
    assert_eq!(forged.body, "1");
    let plain = tokio::time::timeout(quick, call(&router, "GET", "/plain", Some(&cookie)))
        .await
        .expect("a handler that never extracts the session waited for it");
    assert_eq!(plain.status, StatusCode::OK);
    gate.release.notify_one();
    assert_eq!(slow.await.unwrap().body, "2");
}

/// A handler that panics after changing the session saves nothing and
/// leaves the session free: the next request is served at once.
async fn a_panicking_handler_releases_the_session<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, Duration::from_secs(2));
    let cookie = started(&router).await;
    let request = Request::get("/panic")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let panicked = tokio::spawn(router.clone().oneshot(request)).await;
    assert!(panicked.unwrap_err().is_panic());
    // Held still, this would be a 503 after two seconds.
    assert_eq!(count_of(&router, &cookie).await, "1");
}

/// A request dropped mid-handler (its client went away: the server drops
/// the request's future) releases the session and saves nothing.
async fn a_dropped_request_releases_the_session<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, Duration::from_secs(2));
    let cookie = started(&router).await;
    let slow = hold_session(&router, &gate, &cookie).await;
    slow.abort();
    assert!(slow.await.unwrap_err().is_cancelled());
    assert_eq!(count_of(&router, &cookie).await, "1");
}

/// `destroy()`, `cycle_id()` and `regenerate()` leave nothing held: the next
/// request with the old cookie, and with the new one, are served at once.
async fn ending_or_renaming_the_session_releases_it<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, Duration::from_secs(2));

    let cookie = started(&router).await;
    let bye = call(&router, "POST", "/logout", Some(&cookie)).await;
    assert_eq!(bye.status, StatusCode::OK);
    let after = call(&router, "GET", "/", Some(&cookie)).await;
    assert_eq!((after.status, after.body.as_str()), (StatusCode::OK, "1"));

    for (path, count_after) in [("/cycle", "2"), ("/regenerate", "1")] {
        let cookie = started(&router).await;
        let renamed = call(&router, "POST", path, Some(&cookie)).await;
        assert_eq!(
            (renamed.status, renamed.body.as_str()),
            (StatusCode::OK, count_after),
            "{path}"
        );
        let new_cookie = cookie_of(&renamed);
        assert_ne!(new_cookie, cookie, "{path} gives a new id");
        assert_eq!(count_of(&router, &new_cookie).await, count_after, "{path}");
        let old = call(&router, "GET", "/", Some(&cookie)).await;
        assert_eq!(
            (old.status, old.body.as_str()),
            (StatusCode::OK, "1"),
            "{path}: the old id names no session"
        );
    }
}

/// The session is given back once saved, before the response body streams:
/// a body still streaming (here one that even keeps the session alive)
/// holds nothing up.
async fn the_session_is_free_while_the_body_streams<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, Duration::from_secs(2));
    let cookie = started(&router).await;
    let request = Request::get("/stream")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The head is here, the body is not: the next request of the session
    // runs now (held, it would be a 503 after two seconds).
    assert_eq!(count_of(&router, &cookie).await, "1");
    let entered = gate.entered.notified();
    let body = tokio::spawn(axum::body::to_bytes(response.into_body(), 1024));
    entered.await;
    gate.release.notify_one();
    assert_eq!(&body.await.unwrap().unwrap()[..], b"streamed 1");
}

/// Two views and a `save()` in one handler share the request's one hold
/// (a second hold would wait for the first: a deadlock until the wait).
async fn views_and_save_share_one_hold<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, Duration::from_secs(2));
    let cookie = started(&router).await;
    let reply = call(&router, "GET", "/two-views", Some(&cookie)).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "2 1"));
    assert_eq!(count_of(&router, &cookie).await, "2");
}

/// Nested exclusive layers on one store: with the same cookie name the
/// inner layer keeps the outer one's session (one hold, not two, or the
/// request would wait on itself); with another name each is a session of
/// its own, held on its own.
async fn nested_layers_hold_each_session_once<S: SessionStore + Clone>(store: S) {
    for inner_name in ["connect.sid", "inner.sid"] {
        let layer = |name: &str| {
            SessionLayer::new(store.clone(), SECRET)
                .name(name)
                .exclusive(true)
                .exclusive_wait(Duration::from_secs(2))
        };
        let inner = Router::new()
            .route("/count", get(increment))
            .layer(layer(inner_name));
        let router = Router::new()
            .route("/count", get(increment))
            .nest("/inner", inner)
            .layer(layer("connect.sid"));
        let outer_cookie = started_at(&router, "/count").await;
        let inner_cookie = if inner_name == "connect.sid" {
            outer_cookie.clone()
        } else {
            started_at(&router, "/inner/count").await
        };
        let both = if inner_cookie == outer_cookie {
            outer_cookie.clone()
        } else {
            format!("{outer_cookie}; {inner_cookie}")
        };
        let inner_again = call(&router, "GET", "/inner/count", Some(&both)).await;
        let outer_again = call(&router, "GET", "/count", Some(&both)).await;
        let expected = if inner_name == "connect.sid" {
            ("2", "3")
        } else {
            ("2", "2")
        };
        assert_eq!(
            (
                inner_again.status,
                outer_again.status,
                inner_again.body.as_str(),
                outer_again.body.as_str()
            ),
            (StatusCode::OK, StatusCode::OK, expected.0, expected.1),
            "inner layer named {inner_name}"
        );
    }
}

/// 32 concurrent increments of one session over real sockets end at exactly 32.
async fn thirty_two_concurrent_increments_end_at_32<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, Duration::from_secs(30));
    let addr = wire::serve(router).await;
    let first = wire::request(addr, "GET", "/", None).await;
    let cookie = cookie_of(&first);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let cookie = cookie.clone();
        requests.spawn(async move { wire::request(addr, "GET", "/", Some(&cookie)).await });
    }
    while let Some(reply) = requests.join_next().await {
        assert_eq!(reply.unwrap().status, StatusCode::OK);
    }
    let last = wire::request(addr, "GET", "/", Some(&cookie)).await;
    assert_eq!(last.body, "34", "1 + 32 concurrent increments + 1");
}

/// A store without locks is refused when the layer is built, naming it.
#[test]
#[should_panic(expected = "does not support exclusive sessions")]
fn a_store_without_locks_is_refused_at_start_up() {
    let _ = SessionLayer::new(support::CountingStore::new(), SECRET).exclusive(true);
}

/// A store without locks is fine when the option is off.
#[test]
fn a_store_without_locks_is_fine_without_the_option() {
    let _ = SessionLayer::new(support::CountingStore::new(), SECRET).exclusive(false);
}

/// A memory store whose locks carry a fencing token, as a lease's do
/// (`RedisStore`), and which logs each write with the token it was made under.
#[derive(Clone, Default)]
struct FencedStore {
    inner: MemoryStore,
    issued: Arc<std::sync::atomic::AtomicUsize>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FencedStore {
    fn note(&self, event: String) {
        self.log.lock().unwrap().push(event);
    }

    fn taken_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn fence_of(lock: Option<&SessionLock>) -> &str {
    lock.map_or("unlocked", |lock| lock.fence().unwrap_or("no fence"))
}

impl SessionStore for FencedStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.inner.load(id).await
    }
    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        self.note("create".to_owned());
        self.inner.create(id, record).await
    }
    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        self.note(format!("update {}", fence_of(update.lock)));
        self.inner.update(id, update).await
    }
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<Updated, StoreError> {
        self.note("touch".to_owned());
        self.inner.touch(id, record).await
    }
    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.note("destroy unlocked".to_owned());
        self.inner.destroy(id).await
    }
    async fn destroy_under(&self, id: &SessionId, lock: &SessionLock) -> Result<(), StoreError> {
        self.note(format!("destroy {}", fence_of(Some(lock))));
        self.inner.destroy_under(id, lock).await
    }
    fn ttl(&self) -> Duration {
        self.inner.ttl()
    }
    fn supports_locking(&self) -> bool {
        true
    }
    async fn lock(
        &self,
        id: &SessionId,
        wait: Duration,
    ) -> Result<Option<SessionLock>, StoreError> {
        let n = 1 + self
            .issued
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let fence = format!("fence-{n}");
        self.note(format!("lock {fence}"));
        Ok(self
            .inner
            .lock(id, wait)
            .await?
            .map(|lock| lock.with_fence(fence)))
    }
}

/// A store whose locks can lapse checks each write's fencing token
/// (`Update::lock`, `destroy_under`): every write a request makes under its
/// lock, at the end or in the middle of the handler (`save`, `cycle_id`,
/// `destroy`), shows the store that lock's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_under_a_lock_shows_the_store_its_fence() {
    let store = FencedStore::default();
    let router = app(&store, &Arc::new(Gate::default()), Duration::from_secs(5));
    // A new session has no id to lock yet.
    let cookie = started(&router).await;
    assert_eq!(store.taken_log(), ["create"]);
    assert_eq!(call(&router, "GET", "/", Some(&cookie)).await.body, "2");
    assert_eq!(store.taken_log(), ["lock fence-1", "update fence-1"]);
    // A save in the handler, then the end of the request's.
    let reply = call(&router, "GET", "/two-views", Some(&cookie)).await;
    assert_eq!(reply.body, "3 1");
    assert_eq!(
        store.taken_log(),
        ["lock fence-2", "update fence-2", "update fence-2"]
    );
    // A new id: stored under it at once, the old id removed under the lock;
    // the new id, which no other request can know yet, is written unlocked.
    let cycled = call(&router, "POST", "/cycle", Some(&cookie)).await;
    assert_eq!(cycled.body, "4");
    let cookie = cookie_of(&cycled);
    assert_eq!(
        store.taken_log(),
        [
            "lock fence-3",
            "create",
            "destroy fence-3",
            "update unlocked"
        ]
    );
    assert_eq!(
        call(&router, "POST", "/logout", Some(&cookie)).await.body,
        "bye"
    );
    assert_eq!(store.taken_log(), ["lock fence-4", "destroy fence-4"]);
}

/// A lock's fencing token lets whoever has it save over the holder: its
/// `Debug` says whether there is one, never what it is.
#[test]
fn a_locks_debug_hides_its_fence() {
    let fenced = SessionLock::new(()).with_fence("the-token");
    assert_eq!(fenced.fence(), Some("the-token"));
    let shown = format!("{fenced:?}");
    assert!(shown.contains("fence: Some(\"[redacted]\")"), "{shown}");
    assert!(!shown.contains("the-token"), "{shown}");
    let plain = SessionLock::new(());
    assert_eq!(plain.fence(), None);
    assert!(format!("{plain:?}").contains("fence: None"), "{plain:?}");
}

macro_rules! on_every_store {
    ($($check:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(MemoryStore::new()).await;
                }
            )*
        }
        mod file {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let temp = TempDir::new(concat!("exclusive-", stringify!($check)));
                    super::$check(FileStore::new(temp.path())).await;
                }
            )*
        }
    };
}

on_every_store!(
    a_second_request_waits_for_the_holder,
    waiting_past_the_bound_is_a_503,
    requests_without_the_session_never_wait,
    a_panicking_handler_releases_the_session,
    a_dropped_request_releases_the_session,
    ending_or_renaming_the_session_releases_it,
    views_and_save_share_one_hold,
    the_session_is_free_while_the_body_streams,
    nested_layers_hold_each_session_once,
    thirty_two_concurrent_increments_end_at_32,
);
