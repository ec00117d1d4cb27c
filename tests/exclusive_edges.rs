//! Review of issue 13 (exclusive sessions): promises of the README and the
//! docs broken on purpose, each with the smallest request sequence that
//! breaks it. The Redis checks need the `redis` feature and a
//! `redis-server` (started by the test).

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use session_runtime::store::{Created, SessionLock, SessionStore, StoreError, Update, Updated};
use session_runtime::{FileStore, MemoryStore, Record, Session, SessionId, SessionLayer};
use support::{Gate, Reply, TempDir, send};

const SECRET: &str = "review13 exclusive sessions secret";

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

async fn increment(mut session: Session<Counter>) -> String {
    session.count += 1;
    session.count.to_string()
}

/// A login: a new id, stored at once with `save()` (so that a redirect
/// finds it), then one more change, saved at the end of the request.
async fn login(mut session: Session<Counter>) -> Result<String, String> {
    session.cycle_id().await.map_err(|e| e.to_string())?;
    session.save().await.map_err(|e| e.to_string())?;
    session.count += 1;
    Ok(session.count.to_string())
}

fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(increment))
        .route("/login", get(login))
}

fn exclusive_layer<S: SessionStore + Clone>(store: &S) -> SessionLayer {
    SessionLayer::new(store.clone(), SECRET)
        .exclusive(true)
        .exclusive_wait(Duration::from_secs(10))
}

async fn call(router: &Router, path: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::builder().method("GET").uri(path);
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

/// The count stored for `cookie`, read by a request (which adds one).
async fn count_of(router: &Router, cookie: &str) -> u64 {
    let reply = call(router, "/", Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.parse::<u64>().unwrap() - 1
}

/// Promise (README, "Who waits"; `SessionLayer::exclusive`): a `save()` in
/// the handler and the session given a new id (`cycle_id`) work under an
/// exclusive session as without it. A login that gives the session a new
/// id, saves it, then changes it once more must answer `200` and keep the
/// change: the end-of-request save is an update of the new id.
async fn a_new_id_saved_then_changed_is_saved<S: SessionStore + Clone>(store: S) {
    let router = routes().layer(exclusive_layer(&store));
    let first = call(&router, "/", None).await;
    assert_eq!((first.status, first.body.as_str()), (StatusCode::OK, "1"));
    let login = call(&router, "/login", Some(&cookie_of(&first))).await;
    assert_eq!(
        (login.status, login.body.as_str()),
        (StatusCode::OK, "2"),
        "a login that cycles the id, saves, then changes the session failed"
    );
    assert_eq!(count_of(&router, &cookie_of(&login)).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_new_id_saved_then_changed_is_saved() {
    a_new_id_saved_then_changed_is_saved(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_a_new_id_saved_then_changed_is_saved() {
    let temp = TempDir::new("review13-new-id");
    a_new_id_saved_then_changed_is_saved(FileStore::new(temp.path())).await;
}

/// Logs out, then waits on the gate before it answers.
async fn slow_logout(State(gate): State<Arc<Gate>>, session: Session<Counter>) -> &'static str {
    session.destroy();
    gate.hold().await;
    "bye"
}

/// `store`, saying on `waiting` each time a request finds the session it
/// asks for held, and waits.
#[derive(Clone)]
struct Noting<S> {
    store: S,
    waiting: Arc<tokio::sync::Notify>,
}

impl<S: SessionStore> SessionStore for Noting<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.store.load(id).await
    }
    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        self.store.create(id, record).await
    }
    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        self.store.update(id, update).await
    }
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<Updated, StoreError> {
        self.store.touch(id, record).await
    }
    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.store.destroy(id).await
    }
    fn ttl(&self) -> Duration {
        self.store.ttl()
    }
    fn supports_locking(&self) -> bool {
        self.store.supports_locking()
    }
    async fn lock(
        &self,
        id: &SessionId,
        wait: Duration,
    ) -> Result<Option<SessionLock>, StoreError> {
        if let Some(lock) = self.store.lock(id, Duration::ZERO).await? {
            return Ok(Some(lock));
        }
        self.waiting.notify_waiters();
        self.store.lock(id, wait).await
    }
}

/// What the docs say of `destroy()` (README, "When it is given back";
/// `SessionLayer::exclusive`): the session stays held until the request
/// that destroyed it ends, when the store's copy is removed: a request of
/// the session that asks for it meanwhile waits, and then finds no session
/// ("1"; had it got the session, it would have counted on the copy not yet
/// removed: "2").
async fn a_destroyed_session_is_held_until_its_request_ends<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let waiting = Arc::new(tokio::sync::Notify::new());
    let store = Noting {
        store,
        waiting: Arc::clone(&waiting),
    };
    let router = routes::<Arc<Gate>>()
        .route("/slow-logout", get(slow_logout))
        .with_state(Arc::clone(&gate))
        .layer(exclusive_layer(&store));
    let first = call(&router, "/", None).await;
    let cookie = cookie_of(&first);
    let entered = gate.entered.notified();
    let logout = tokio::spawn({
        let (router, cookie) = (router.clone(), cookie.clone());
        async move { call(&router, "/slow-logout", Some(&cookie)).await }
    });
    tokio::time::timeout(Duration::from_secs(10), entered)
        .await
        .expect("the logout never started");
    let mut next_waits = std::pin::pin!(waiting.notified());
    next_waits.as_mut().enable();
    let next = tokio::spawn({
        let (router, cookie) = (router.clone(), cookie.clone());
        async move { call(&router, "/", Some(&cookie)).await }
    });
    tokio::time::timeout(Duration::from_secs(10), next_waits)
        .await
        .expect("the next request got the session while the logout still ran");
    gate.release.notify_one();
    assert_eq!(logout.await.unwrap().status, StatusCode::OK);
    let next = next.await.unwrap();
    assert_eq!((next.status, next.body.as_str()), (StatusCode::OK, "1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_destroyed_session_is_held_until_its_request_ends() {
    a_destroyed_session_is_held_until_its_request_ends(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_a_destroyed_session_is_held_until_its_request_ends() {
    let temp = TempDir::new("review13-destroyed");
    a_destroyed_session_is_held_until_its_request_ends(FileStore::new(temp.path())).await;
}

#[cfg(feature = "redis")]
mod redis {
    use session_runtime::store::redis::RedisStore;
    use session_runtime::{Secrets, testing};
    use support::redis::RedisServer;

    use super::*;

    fn server() -> RedisServer {
        RedisServer::start().expect("redis-server and redis-cli are installed")
    }

    /// A lease far longer than the test: it lapses only when the test says so.
    async fn store(server: &RedisServer) -> RedisStore {
        RedisStore::builder()
            .lease(Duration::from_secs(60))
            .connect(&server.url())
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_a_new_id_saved_then_changed_is_saved() {
        let server = server();
        a_new_id_saved_then_changed_is_saved(store(&server).await).await;
    }

    /// Reads the count, waits on the gate, then gives the session a new id
    /// (a login) and writes the count it read plus one.
    async fn slow_login(
        State(gate): State<Arc<Gate>>,
        mut session: Session<Counter>,
    ) -> Result<String, (StatusCode, String)> {
        let read = session.count;
        gate.hold().await;
        session
            .cycle_id()
            .await
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        session.count = read + 1;
        Ok(session.count.to_string())
    }

    /// Promise (README, "Where the lock lives" and Guarantees; `RedisStore`
    /// docs, "Fencing"): a Redis holder that stalls past its lease "cannot
    /// overwrite the next holder's work".
    ///
    /// Server A loads the session (count 1) and stalls; its lease lapses
    /// (the lock key is deleted, as its expiry would); server B takes the
    /// session and saves count 2. A wakes and logs in (`cycle_id`): its new
    /// id is stored with its stale count, and the old id, with B's save, is
    /// destroyed. Neither write is fenced (only `update` is), so B's
    /// increment is lost although A's lease had lapsed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_holder_cannot_undo_the_next_holders_save_by_a_new_id() {
        let server = server();
        let (a, b) = (store(&server).await, store(&server).await);
        let gate = Arc::new(Gate::default());
        let app = |store: &RedisStore| {
            routes::<Arc<Gate>>()
                .route("/slow-login", get(slow_login))
                .with_state(Arc::clone(&gate))
                .layer(exclusive_layer(store))
        };
        let (server_a, server_b) = (app(&a), app(&b));

        let first = call(&server_a, "/", None).await;
        let cookie = cookie_of(&first);
        let id = testing::session_id(first.set_cookie().unwrap(), &Secrets::new(SECRET)).unwrap();

        let entered = gate.entered.notified();
        let stalled = tokio::spawn({
            let (server_a, cookie) = (server_a.clone(), cookie.clone());
            async move { call(&server_a, "/slow-login", Some(&cookie)).await }
        });
        tokio::time::timeout(Duration::from_secs(10), entered)
            .await
            .expect("A's handler never started");
        // A's lease lapses while it stalls.
        assert_eq!(server.int(&["DEL", &a.lock_key(&id)]), 1);

        let next = call(&server_b, "/", Some(&cookie)).await;
        assert_eq!((next.status, next.body.as_str()), (StatusCode::OK, "2"));

        gate.release.notify_one();
        let late = stalled.await.unwrap();
        // The stalled holder's removal of the old id is refused: its login
        // fails, and it neither sets a cookie nor stores its stale count.
        assert_eq!(
            late.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            late.body
        );
        assert!(late.body.contains("lapsed"), "{}", late.body);
        assert!(late.set_cookie().is_none());
        assert_eq!(count_of(&server_b, &cookie).await, 2, "B's save must stay");
        // Nor does its stale count stay stored under a new id.
        let sessions = server.cli(&["--scan", "--pattern", "sess:*"]);
        assert_eq!(sessions.lines().count(), 1, "{sessions}");
    }
}
