//! Indexed fields (`#[session(index)]`) and `Sessions`: a user's sessions
//! listed and ended, in a real axum app over the memory and file stores (the
//! Redis store runs the same in tests/redis_index.rs; the login example runs
//! them over real HTTP in tests/login_example.rs).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use session_runtime::{FileStore, MemoryStore, Session, SessionLayer, SessionStore, Sessions};
use support::{Client, CountingStore, Gate, LogCapture, TempDir};

#[derive(Debug, Session)]
struct Auth {
    #[session(index)]
    user: Option<String>,
}

#[derive(Session)]
struct Cart {
    #[session(default = 0)]
    items: u64,
}

async fn login(Path(name): Path<String>, mut session: Session<Auth>) -> String {
    session.cycle_id().await.unwrap();
    session.user = Some(name);
    session.id().to_string()
}

/// Logs in with a `save()` in the handler, and nothing to save after it.
async fn login_and_save(
    Path(name): Path<String>,
    mut session: Session<Auth>,
) -> Result<String, String> {
    session.user = Some(name);
    session.save().await.map_err(|e| e.to_string())?;
    Ok(session.id().to_string())
}

/// Changes the user without a new id (a bad practice the index must survive).
async fn become_user(Path(name): Path<String>, mut session: Session<Auth>) -> &'static str {
    session.user = Some(name);
    "ok"
}

async fn whoami(session: Session<Auth>) -> String {
    session.user.clone().unwrap_or_default()
}

/// The current user's sessions: `id*` for this one, one per line.
async fn list(session: Session<Auth>, sessions: Sessions) -> String {
    let current = session.id();
    let mut lines: Vec<String> = sessions
        .list(Auth::user_index(), &session.user)
        .await
        .unwrap()
        .into_iter()
        .map(|info| {
            assert_eq!(info.data.user, session.user, "listed under another user");
            assert!(info.last_access.is_some() && info.created.is_some() && info.expires.is_some());
            let mark = if info.id == current { "*" } else { "" };
            format!("{}{mark}", info.id)
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

async fn logout_everywhere(session: Session<Auth>, sessions: Sessions) -> String {
    let ended = sessions
        .destroy_all(Auth::user_index(), &session.user)
        .await
        .unwrap();
    session.destroy();
    ended.to_string()
}

async fn logout_others(session: Session<Auth>, sessions: Sessions) -> String {
    let ended = sessions
        .destroy_all_except(Auth::user_index(), &session.user, &session.id())
        .await
        .unwrap();
    ended.to_string()
}

async fn logout(session: Session<Auth>) -> &'static str {
    session.destroy();
    "bye"
}

/// `cycle_id` from a handler that knows only the cart, answering its error.
async fn cart_cycle_checked(mut cart: Session<Cart>) -> Result<String, (StatusCode, String)> {
    cart.cycle_id()
        .await
        .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    cart.items += 1;
    Ok(cart.id().to_string())
}

/// A handler that knows only the cart, and gives the session a new id.
async fn cart_cycle(mut cart: Session<Cart>) -> String {
    cart.cycle_id().await.unwrap();
    cart.items += 1;
    cart.id().to_string()
}

/// Loads the session, waits on the gate, then logs in again (a new id for
/// the same data, as a "remember me" or a re-login does) and marks it.
async fn slow_cycle(
    axum::extract::State(gate): axum::extract::State<Arc<Gate>>,
    mut cart: Session<Cart>,
) -> String {
    gate.hold().await;
    cart.cycle_id().await.unwrap();
    cart.items += 1;
    cart.id().to_string()
}

/// Loads the session, gives it a new id, then waits on the gate.
async fn cycle_then_wait(
    axum::extract::State(gate): axum::extract::State<Arc<Gate>>,
    mut cart: Session<Cart>,
) -> String {
    cart.cycle_id().await.unwrap();
    gate.hold().await;
    cart.items += 1;
    cart.id().to_string()
}

fn routes() -> Router {
    Router::new()
        .route("/login/{name}", post(login))
        .route("/become/{name}", post(become_user))
        .route("/", get(whoami))
        .route("/sessions", get(list))
        .route("/logout-everywhere", post(logout_everywhere))
        .route("/logout-others", post(logout_others))
        .route("/logout", post(logout))
        .route("/cart-cycle", post(cart_cycle))
        .route("/cart-cycle-checked", post(cart_cycle_checked))
        .route("/login-and-save/{name}", post(login_and_save))
}

fn app(layer: SessionLayer) -> Router {
    routes().layer(layer)
}

fn layer(store: impl SessionStore) -> SessionLayer {
    SessionLayer::new(store, "index secret")
}

/// Three browsers log in as alice, one as bob; the lists, "all but this
/// one", and "everywhere", on one store.
async fn three_browsers(store: impl SessionStore + Clone) {
    let router = app(layer(store));
    let mut browsers: Vec<Client> = (0..3).map(|_| Client::new(router.clone())).collect();
    let mut ids = Vec::new();
    for browser in &mut browsers {
        ids.push(browser.post("/login/alice").await.body);
    }
    let mut bob = Client::new(router.clone());
    let bob_id = bob.post("/login/bob").await.body;

    for (n, browser) in browsers.iter_mut().enumerate() {
        let listed = browser.get("/sessions").await.body;
        let mut expected: Vec<String> = ids
            .iter()
            .map(|id| {
                if *id == ids[n] {
                    format!("{id}*")
                } else {
                    id.clone()
                }
            })
            .collect();
        expected.sort();
        assert_eq!(listed, expected.join("\n"), "browser {n}'s list");
    }
    assert_eq!(bob.get("/sessions").await.body, format!("{bob_id}*"));

    // All but this one, from the first browser.
    assert_eq!(browsers[0].post("/logout-others").await.body, "2");
    assert_eq!(browsers[0].get("/").await.body, "alice");
    assert_eq!(
        browsers[0].get("/sessions").await.body,
        format!("{}*", ids[0])
    );
    for browser in &mut browsers[1..] {
        assert_eq!(
            browser.get("/").await.body,
            "",
            "its next request has no user"
        );
    }
    assert_eq!(
        bob.get("/").await.body,
        "bob",
        "another user's session stays"
    );

    // Log in again from the others, then everywhere from the last.
    for browser in &mut browsers[1..] {
        browser.post("/login/alice").await;
    }
    let everywhere = browsers[2].post("/logout-everywhere").await;
    assert_eq!(everywhere.body, "3");
    assert!(
        everywhere
            .set_cookie()
            .is_some_and(|cookie| cookie.contains("Expires=Thu, 01 Jan 1970")),
        "the caller's cookie is cleared"
    );
    for browser in &mut browsers {
        assert_eq!(
            browser.get("/").await.body,
            "",
            "every browser is logged out"
        );
    }
    assert_eq!(bob.get("/").await.body, "bob");
    assert_eq!(bob.get("/sessions").await.body, format!("{bob_id}*"));
}

#[tokio::test]
async fn three_browsers_of_one_user_are_listed_and_ended_in_the_memory_store() {
    three_browsers(MemoryStore::new()).await;
}

#[tokio::test]
async fn three_browsers_of_one_user_are_listed_and_ended_in_the_file_store() {
    let dir = TempDir::new("index-browsers");
    three_browsers(FileStore::new(dir.path())).await;
}

#[tokio::test]
async fn a_session_that_changed_user_is_listed_under_its_new_user_only() {
    let router = app(layer(MemoryStore::new()));
    let mut browser = Client::new(router.clone());
    let id = browser.post("/login/alice").await.body;
    browser.post("/become/bob").await;
    assert_eq!(browser.get("/sessions").await.body, format!("{id}*"));
    let mut alice = Client::new(router);
    alice.post("/login/alice").await;
    let listed = alice.get("/sessions").await.body;
    assert!(
        !listed.contains(&id),
        "bob's session listed under alice: {listed}"
    );
    assert_eq!(
        alice.post("/logout-everywhere").await.body,
        "1",
        "bob's session is not alice's to end"
    );
    assert_eq!(browser.get("/").await.body, "bob");
}

#[tokio::test]
async fn an_expired_session_disappears_from_the_list() {
    let store = MemoryStore::new();
    let router = app(layer(store.clone()).max_age(Duration::from_millis(1500)));
    let (mut kept, mut left) = (Client::new(router.clone()), Client::new(router));
    let kept_id = kept.post("/login/alice").await.body;
    left.post("/login/alice").await;
    assert_eq!(kept.get("/sessions").await.body.lines().count(), 2);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A session past half its life is extended by a request: this one stays.
        kept.post("/become/alice").await;
    }
    assert_eq!(kept.get("/sessions").await.body, format!("{kept_id}*"));
}

#[tokio::test]
async fn cycle_id_from_a_handler_that_does_not_know_the_index_keeps_the_session_listed() {
    // A second layer on the same store: like a freshly started process, it
    // has seen no schema with an index when its handler cycles the id.
    let store = MemoryStore::new();
    let mut browser = Client::new(app(layer(store.clone())));
    browser.post("/login/alice").await;
    let cookie = browser.cookie.clone();
    let mut restarted = Client::new(app(layer(store)));
    restarted.cookie = cookie;
    let new_id = restarted.post("/cart-cycle").await.body;
    assert_eq!(restarted.get("/sessions").await.body, format!("{new_id}*"));
}

#[tokio::test]
async fn a_schema_with_an_index_on_a_store_without_indexes_is_refused_loudly() {
    let logs = LogCapture::install();
    let store = CountingStore::new();
    let calls = store.calls.clone();
    let mut browser = Client::new(app(layer(store)));
    let refused = browser.post("/login/alice").await;
    assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        refused.body.contains("keeps no indexes"),
        "{}",
        refused.body
    );
    // It names the store, so that the fix is plain from the message alone.
    assert!(
        refused.body.contains("store::CountingStore`"),
        "{}",
        refused.body
    );
    assert!(refused.set_cookie().is_none());
    assert_eq!(calls.saves(), 0, "nothing stored that could not be listed");
    assert!(
        logs.contents().contains("keeps no indexes"),
        "{}",
        logs.contents()
    );
    // A schema without an index works on that store.
    assert_eq!(browser.post("/cart-cycle").await.status, StatusCode::OK);
}

/// Logins and logouts of one user at once, from many browsers, with
/// exclusive sessions off: afterwards the list is exactly the sessions that
/// are logged in (no id listed that is not stored, none missing).
async fn concurrent_logins_and_logouts(store: impl SessionStore + Clone) {
    let router = app(layer(store));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..24 {
        let router = router.clone();
        tasks.spawn(async move {
            let mut browser = Client::new(router);
            let mut id = browser.post("/login/alice").await.body;
            tokio::task::yield_now().await;
            if n % 3 == 0 {
                browser.post("/logout").await;
                return None;
            }
            if n % 3 == 1 {
                // Log in again: a new id, the old one gone.
                id = browser.post("/login/alice").await.body;
            }
            Some((id, browser))
        });
    }
    let mut logged_in = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        logged_in.extend(joined.unwrap());
    }
    let expected: BTreeSet<String> = logged_in.iter().map(|(id, _)| id.clone()).collect();
    let (_, browser) = logged_in.first_mut().unwrap();
    let listed: BTreeSet<String> = browser
        .get("/sessions")
        .await
        .body
        .lines()
        .map(|line| line.trim_end_matches('*').to_owned())
        .collect();
    assert_eq!(listed, expected);
    for (_, browser) in &mut logged_in {
        assert_eq!(browser.get("/").await.body, "alice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_and_logouts_leave_the_memory_stores_index_exact() {
    concurrent_logins_and_logouts(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_and_logouts_leave_the_file_stores_index_exact() {
    let dir = TempDir::new("index-concurrent");
    concurrent_logins_and_logouts(FileStore::new(dir.path())).await;
}

#[tokio::test]
async fn sessions_work_outside_requests_and_ignore_none() {
    let store = MemoryStore::new();
    let layer = layer(store.clone());
    let sessions = layer.sessions();
    let mut browser = Client::new(app(layer));
    browser.post("/login/alice").await;
    let listed = sessions
        .list(Auth::user_index(), &Some("alice".to_owned()))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].data.user.as_deref(), Some("alice"));
    assert!(
        sessions
            .list(Auth::user_index(), &None)
            .await
            .unwrap()
            .is_empty(),
        "None is not a value of the index"
    );
    assert_eq!(
        sessions
            .destroy_all(Auth::user_index(), &None)
            .await
            .unwrap(),
        0
    );
    let standalone = Sessions::new(store);
    assert_eq!(
        standalone
            .destroy_all(Auth::user_index(), &Some("alice".to_owned()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(browser.get("/").await.body, "");
    assert!(format!("{standalone:?}").contains("MemoryStore"));
}

/// The router of `routes()` plus the two gated handlers, on `store`.
fn gated_app(store: MemoryStore, gate: &Arc<Gate>) -> Router {
    let gated = Router::new()
        .route("/slow-cycle", post(slow_cycle))
        .route("/cycle-then-wait", post(cycle_then_wait))
        .with_state(Arc::clone(gate));
    routes().merge(gated).layer(layer(store))
}

/// Runs `slow` with `browser`'s cookie; once its handler waits on the gate,
/// runs `other`, then lets `slow` finish. Returns `slow`'s reply.
async fn while_held(
    router: &Router,
    browser: &Client,
    gate: &Arc<Gate>,
    slow: &'static str,
    other: impl std::future::Future<Output = ()>,
) -> support::Reply {
    let mut held = Client::new(router.clone());
    held.cookie = browser.cookie.clone();
    let task = tokio::spawn(async move { held.post(slow).await });
    tokio::time::timeout(Duration::from_secs(10), gate.entered.notified())
        .await
        .expect("the slow handler loaded the session");
    other.await;
    gate.release.notify_one();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the slow request finished")
        .unwrap()
}

#[tokio::test]
async fn a_request_that_loaded_a_session_before_its_logout_cannot_carry_it_to_a_new_id() {
    let gate = Arc::new(Gate::default());
    let store = MemoryStore::new();
    let router = gated_app(store.clone(), &gate);
    let mut browser = Client::new(router.clone());
    browser.post("/login/alice").await;
    let mut logout = Client::new(router.clone());
    logout.cookie = browser.cookie.clone();
    let slow = while_held(&router, &browser, &gate, "/slow-cycle", async {
        assert_eq!(logout.post("/logout").await.body, "bye");
    })
    .await;
    assert_eq!(slow.status, StatusCode::OK);
    // The handler went on with a new, empty session: no user came with it.
    let mut after = Client::new(router);
    after.cookie = slow
        .set_cookie()
        .map(|c| support::cookie_pair(&c).to_owned());
    assert_eq!(after.get("/").await.body, "", "the logged-out user is back");
    let sessions = layer(store).sessions();
    let alice = Some("alice".to_owned());
    assert!(
        sessions
            .list(Auth::user_index(), &alice)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn log_out_everywhere_ends_a_session_whose_request_gave_it_a_new_id_meanwhile() {
    let gate = Arc::new(Gate::default());
    let store = MemoryStore::new();
    let router = gated_app(store.clone(), &gate);
    let mut browser = Client::new(router.clone());
    browser.post("/login/alice").await;
    let mut other = Client::new(router.clone());
    other.post("/login/alice").await;
    let slow = while_held(&router, &browser, &gate, "/cycle-then-wait", async {
        assert_eq!(other.post("/logout-everywhere").await.body, "2");
    })
    .await;
    assert_eq!(slow.status, StatusCode::OK);
    let mut after = Client::new(router);
    after.cookie = slow
        .set_cookie()
        .map(|c| support::cookie_pair(&c).to_owned());
    assert_eq!(
        after.get("/").await.body,
        "",
        "a session of alice outlived log out everywhere"
    );
    let sessions = layer(store).sessions();
    let alice = Some("alice".to_owned());
    assert!(
        sessions
            .list(Auth::user_index(), &alice)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A memory store whose `destroy` fails for the first session it is asked
/// to end, whose `index_members` panics or stalls, or whose `index_keys` fails.
#[derive(Clone, Default)]
struct Faulty {
    inner: MemoryStore,
    fail_first_destroy: Arc<std::sync::atomic::AtomicBool>,
    panic_members: bool,
    stall_members: bool,
    fail_index_keys: bool,
    /// How long each create takes.
    create_delay: Option<Duration>,
    /// Index entries written.
    inserts: Arc<std::sync::atomic::AtomicUsize>,
}

impl SessionStore for Faulty {
    async fn load(
        &self,
        id: &session_runtime::SessionId,
    ) -> Result<Option<session_runtime::Record>, session_runtime::StoreError> {
        self.inner.load(id).await
    }
    async fn create(
        &self,
        id: &session_runtime::SessionId,
        record: &session_runtime::Record,
    ) -> Result<session_runtime::store::Created, session_runtime::StoreError> {
        if let Some(delay) = self.create_delay {
            tokio::time::sleep(delay).await;
        }
        self.inner.create(id, record).await
    }
    async fn update(
        &self,
        id: &session_runtime::SessionId,
        update: session_runtime::store::Update<'_>,
    ) -> Result<session_runtime::store::Updated, session_runtime::StoreError> {
        self.inner.update(id, update).await
    }
    async fn destroy(
        &self,
        id: &session_runtime::SessionId,
    ) -> Result<(), session_runtime::StoreError> {
        if self
            .fail_first_destroy
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(session_runtime::StoreError::new("injected destroy failure"));
        }
        self.inner.destroy(id).await
    }
    fn ttl(&self) -> Duration {
        self.inner.ttl()
    }
    fn supports_indexes(&self) -> bool {
        true
    }
    async fn index_insert(
        &self,
        entry: session_runtime::store::IndexEntry<'_>,
        id: &session_runtime::SessionId,
    ) -> Result<(), session_runtime::StoreError> {
        self.inserts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.index_insert(entry, id).await
    }
    async fn index_remove(
        &self,
        entry: session_runtime::store::IndexEntry<'_>,
        ids: &[session_runtime::SessionId],
    ) -> Result<(), session_runtime::StoreError> {
        self.inner.index_remove(entry, ids).await
    }
    async fn index_members(
        &self,
        entry: session_runtime::store::IndexEntry<'_>,
    ) -> Result<Vec<session_runtime::SessionId>, session_runtime::StoreError> {
        assert!(!self.panic_members, "injected panic in index_members");
        if self.stall_members {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        self.inner.index_members(entry).await
    }
    async fn index_keys(&self) -> Result<Vec<String>, session_runtime::StoreError> {
        if self.fail_index_keys {
            return Err(session_runtime::StoreError::new(
                "injected index_keys failure",
            ));
        }
        self.inner.index_keys().await
    }
}

#[tokio::test]
async fn ending_sessions_goes_on_past_a_failure_and_reports_it() {
    let store = Faulty::default();
    let router = app(layer(store.clone()));
    let mut browsers: Vec<Client> = (0..3).map(|_| Client::new(router.clone())).collect();
    for browser in &mut browsers {
        browser.post("/login/alice").await;
    }
    store
        .fail_first_destroy
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let sessions = Sessions::new(store.clone());
    let alice = Some("alice".to_owned());
    let error = sessions
        .destroy_all(Auth::user_index(), &alice)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("1 session(s) could not be ended (2 were)"),
        "{error}"
    );
    assert!(error.contains("injected destroy failure"), "{error}");
    // The one that failed is still there, and the next call ends it.
    assert_eq!(
        sessions
            .list(Auth::user_index(), &alice)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        sessions
            .destroy_all(Auth::user_index(), &alice)
            .await
            .unwrap(),
        1
    );
    for browser in &mut browsers {
        assert_eq!(browser.get("/").await.body, "");
    }
}

#[tokio::test]
async fn a_store_that_panics_or_stalls_is_an_error_from_sessions() {
    let alice = Some("alice".to_owned());
    let panicking = Sessions::new(Faulty {
        panic_members: true,
        ..Faulty::default()
    });
    let error = panicking
        .list(Auth::user_index(), &alice)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("panicked in `index_members`"),
        "{error}"
    );
    let stalling = Sessions::new(Faulty {
        stall_members: true,
        ..Faulty::default()
    })
    .with_timeout(Some(Duration::from_millis(100)));
    let started = std::time::Instant::now();
    let error = stalling
        .destroy_all(Auth::user_index(), &alice)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("did not answer `index_members`"),
        "{error}"
    );
    // Its own bound, not the default five seconds.
    assert!(error.to_string().contains("100ms"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// A write that lands long after its index entry (a store timeout of a
/// minute, or none) writes the entry again: a reap in between may have
/// taken it for a leftover, its session not stored yet.
#[tokio::test(start_paused = true)]
async fn a_slow_write_writes_its_index_entry_again() {
    let inserts_for = |delay: Duration| async move {
        let store = Faulty {
            create_delay: Some(delay),
            ..Faulty::default()
        };
        let inserts = Arc::clone(&store.inserts);
        let mut browser = Client::new(app(layer(store).store_timeout(None)));
        browser.post("/login/alice").await;
        assert_eq!(browser.get("/").await.body, "alice");
        inserts.load(std::sync::atomic::Ordering::SeqCst)
    };
    let grace = session_runtime::store::INDEX_GRACE;
    assert_eq!(inserts_for(Duration::from_secs(1)).await, 1);
    assert_eq!(inserts_for(grace / 2 - Duration::from_millis(1)).await, 1);
    // Half the grace or more (the clock is paused: exactly half).
    assert_eq!(inserts_for(grace / 2).await, 2);
    assert_eq!(inserts_for(grace).await, 2);
}

/// `cycle_id` keeping a session's data first asks the store which keys it
/// indexes. When the store cannot say, a layer that indexes fields refuses
/// the new id (the session would lose its index entries) and leaves the
/// session where it was; a layer that indexes nothing goes on, with a warning.
#[tokio::test]
async fn cycle_id_without_the_stores_index_keys_fails_only_where_fields_are_indexed() {
    let logs = LogCapture::install();
    let store = Faulty {
        fail_index_keys: true,
        ..Faulty::default()
    };
    // This layer has served `Auth`, which has an indexed field.
    let mut browser = Client::new(app(layer(store.clone())));
    browser.post("/login/alice").await;
    let refused = browser.post("/cart-cycle-checked").await;
    assert_eq!(refused.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        refused.body.contains("injected index_keys failure"),
        "{}",
        refused.body
    );
    assert_eq!(browser.get("/").await.body, "alice", "still where it was");
    // A layer that has served only the cart (no indexed field).
    let mut shopper = Client::new(app(layer(store)));
    let first = shopper.post("/cart-cycle").await.body;
    let second = shopper.post("/cart-cycle-checked").await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_ne!(second.body, first, "a new id");
    assert!(
        logs.contents()
            .contains("could not read the store's indexed keys"),
        "{}",
        logs.contents()
    );
}

/// The same on the Redis store, single node and cluster: the kit checks the
/// index methods, these the layer's use of them under concurrency.
#[cfg(feature = "redis")]
mod redis {
    use session_runtime::store::redis::RedisStore;
    use support::redis::{RedisCluster, RedisServer};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_logins_and_logouts_leave_the_redis_stores_index_exact() {
        let server = RedisServer::start().expect("redis-server is installed");
        let store = RedisStore::connect(&server.url()).await.unwrap();
        concurrent_logins_and_logouts(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_logins_and_logouts_leave_a_redis_clusters_index_exact() {
        let Some(cluster) = RedisCluster::start() else {
            return;
        };
        let store = RedisStore::builder()
            .connect_cluster(cluster.urls())
            .await
            .unwrap();
        concurrent_logins_and_logouts(store).await;
    }

    #[tokio::test]
    async fn three_browsers_of_one_user_are_listed_and_ended_in_the_redis_store() {
        let server = RedisServer::start().expect("redis-server is installed");
        let store = RedisStore::connect(&server.url()).await.unwrap();
        three_browsers(store).await;
    }
}

#[test]
fn an_index_names_its_schema_and_key() {
    let index = Auth::user_index();
    assert_eq!(index.key(), "user");
    let debug = format!("{index:?}");
    assert!(
        debug.contains("Auth") && debug.contains("\"user\""),
        "{debug}"
    );
}

/// Each write that stores an indexed value writes its entry once, however
/// often the layer has seen the schema: a login (one), a second login from
/// the same browser (the new id's entry, then the new user's).
#[tokio::test]
async fn each_indexed_value_written_is_one_index_insert() {
    let store = Faulty::default();
    let inserts = Arc::clone(&store.inserts);
    let count = || inserts.load(std::sync::atomic::Ordering::SeqCst);
    let mut browser = Client::new(app(layer(store)));
    browser.post("/login/alice").await;
    assert_eq!(count(), 1);
    assert_eq!(browser.get("/").await.body, "alice");
    assert_eq!(browser.get("/sessions").await.body.lines().count(), 1);
    assert_eq!(count(), 1, "reading writes no entry");
    browser.post("/login/bob").await;
    assert_eq!(count(), 3);
    assert_eq!(browser.get("/").await.body, "bob");
}

/// `destroy_all` removes the entries of the sessions it ended at once,
/// without waiting for a reap.
#[tokio::test]
async fn ending_sessions_removes_their_entries() {
    let store = MemoryStore::new();
    let mut browser = Client::new(app(layer(store.clone())));
    browser.post("/login/alice").await;
    let entry = session_runtime::store::IndexEntry::new("user", r#""alice""#);
    assert_eq!(store.index_members(entry).await.unwrap().len(), 1);
    let alice = Some("alice".to_owned());
    let sessions = Sessions::new(store.clone());
    assert_eq!(
        sessions
            .destroy_all(Auth::user_index(), &alice)
            .await
            .unwrap(),
        1
    );
    assert!(store.index_members(entry).await.unwrap().is_empty());
}

/// A session stored with an indexed field has its creation time, for
/// `SessionInfo::created`, also when its only write is a `save()` in the
/// handler.
#[tokio::test]
async fn a_session_first_stored_by_save_in_the_handler_has_its_creation_time() {
    let store = MemoryStore::new();
    let mut browser = Client::new(app(layer(store.clone())));
    let id = browser.post("/login-and-save/alice").await.body;
    let id = session_runtime::SessionId::parse(&id).unwrap();
    let stored = store.load(&id).await.unwrap().expect("stored");
    assert!(stored.created.is_some(), "{stored:?}");
    let listed = layer(store)
        .sessions()
        .list(Auth::user_index(), &Some("alice".to_owned()))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].created.is_some());
}
