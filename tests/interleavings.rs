//! Two requests on one session, interleaved deterministically: a handler that
//! has loaded the session waits on a gate while another request runs to the
//! end. Each test breaks a promise of the store contract on a store that
//! overwrites or recreates on save; all of them run on every store.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use session_runtime::store::{Created, SessionStore, Update, Updated};
use session_runtime::{
    FileStore, MemoryStore, Record, Session, SessionId, SessionLayer, StoreError,
};
use support::{Gate, Reply, TempDir, send};

#[derive(Session)]
struct Shop {
    cart: Vec<String>,
    #[session(default = 0)]
    count: u64,
}

async fn add(mut shop: Session<Shop>) -> String {
    shop.cart.push("socks".to_owned());
    shop.cart.len().to_string()
}

async fn count(mut shop: Session<Shop>) -> String {
    shop.count += 1;
    shop.count.to_string()
}

async fn show(shop: Session<Shop>) -> String {
    format!("{} {}", shop.cart.len(), shop.count)
}

async fn logout(shop: Session<Shop>) -> &'static str {
    shop.destroy();
    "bye"
}

async fn cycle(mut shop: Session<Shop>) -> Result<&'static str, String> {
    shop.cycle_id().await.map_err(|e| e.to_string())?;
    Ok("cycled")
}

/// Loads the session, changes a field, waits.
async fn slow_count(State(gate): State<Arc<Gate>>, mut shop: Session<Shop>) -> String {
    shop.count += 1;
    gate.hold().await;
    shop.count.to_string()
}

/// Loads the session, changes only its cookie ("remember me"), waits.
async fn slow_remember(State(gate): State<Arc<Gate>>, mut shop: Session<Shop>) -> &'static str {
    shop.cookie_mut()
        .set_max_age(Some(Duration::from_secs(30 * 24 * 3600)));
    gate.hold().await;
    "remembered"
}

/// Loads the session, changes nothing, waits.
async fn slow_read(State(gate): State<Arc<Gate>>, shop: Session<Shop>) -> String {
    gate.hold().await;
    shop.cart.len().to_string()
}

fn app<S: SessionStore + Clone>(
    store: &S,
    gate: &Arc<Gate>,
    configure: impl FnOnce(SessionLayer) -> SessionLayer,
) -> Router {
    Router::new()
        .route("/add", get(add))
        .route("/count", get(count))
        .route("/show", get(show))
        .route("/logout", post(logout))
        .route("/cycle", post(cycle))
        .route("/slow-count", get(slow_count))
        .route("/slow-remember", get(slow_remember))
        .route("/slow-read", get(slow_read))
        .with_state(Arc::clone(gate))
        .layer(configure(SessionLayer::new(
            store.clone(),
            "interleavings secret",
        )))
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

async fn stored<S: SessionStore>(store: &S, reply: &Reply) -> bool {
    let id = SessionId::parse(&reply.sid().expect("a session cookie")).unwrap();
    store.load(&id).await.unwrap().is_some()
}

/// Runs `slow` (a request that holds the session on the gate) and, while it
/// waits, `other`; then lets `slow` finish. Returns both replies.
async fn interleave(
    router: &Router,
    gate: &Arc<Gate>,
    slow: &'static str,
    other: (&'static str, &'static str),
    cookie: &str,
) -> (Reply, Reply) {
    let held = tokio::spawn({
        let router = router.clone();
        let cookie = cookie.to_owned();
        async move { call(&router, "GET", slow, Some(&cookie)).await }
    });
    tokio::time::timeout(Duration::from_secs(10), gate.entered.notified())
        .await
        .expect("the slow handler loaded the session");
    let other = call(router, other.0, other.1, Some(cookie)).await;
    gate.release.notify_one();
    let slow = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("the slow request finished")
        .unwrap();
    (slow, other)
}

/// A logout while another request of the session is in flight is final: the
/// late request's save is dropped, and its response does not re-send the
/// cookie the logout cleared (with a max age, a modified session's cookie is
/// normally re-sent).
async fn late_save_after_logout_does_not_bring_the_session_back<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, |l| l.max_age(Duration::from_secs(3600)));
    let first = call(&router, "GET", "/add", None).await;
    let cookie = cookie_of(&first);
    assert!(stored(&store, &first).await);

    let (slow, logout) =
        interleave(&router, &gate, "/slow-count", ("POST", "/logout"), &cookie).await;
    assert!(
        logout
            .set_cookie()
            .unwrap()
            .contains("Expires=Thu, 01 Jan 1970"),
        "the logout clears the cookie"
    );
    assert_eq!(slow.status, StatusCode::OK);
    assert_eq!(
        slow.set_cookies(),
        Vec::<String>::new(),
        "the late response must not re-send the cookie the logout cleared"
    );
    assert!(
        !stored(&store, &first).await,
        "the late save recreated the destroyed session"
    );
    let after = call(&router, "GET", "/show", Some(&cookie)).await;
    assert_eq!(after.body, "0 0", "the old cookie names no session");
}

/// The same for the old id after `cycle_id()` (login): the late save of the
/// old id does not recreate it beside the new one.
async fn late_save_after_cycle_id_does_not_revive_the_old_id<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, |l| l.max_age(Duration::from_secs(3600)));
    let first = call(&router, "GET", "/add", None).await;
    let cookie = cookie_of(&first);

    let (slow, cycled) =
        interleave(&router, &gate, "/slow-count", ("POST", "/cycle"), &cookie).await;
    assert_eq!(cycled.status, StatusCode::OK);
    assert_ne!(cycled.sid(), first.sid(), "cycle_id gives a new id");
    assert!(stored(&store, &cycled).await, "the new id is stored");
    assert_eq!(slow.set_cookies(), Vec::<String>::new());
    assert!(
        !stored(&store, &first).await,
        "the late save recreated the session under its old id"
    );
    let new_cookie = cookie_of(&cycled);
    let after = call(&router, "GET", "/show", Some(&new_cookie)).await;
    assert_eq!(
        after.body, "1 0",
        "the new id has the data, without the late change"
    );
}

/// A save that changes no field (a cookie-only change, a `resave`, the
/// `__created` stamp of an absolute timeout) merges into what is stored: a
/// field saved meanwhile by another request stays.
async fn saves_without_field_changes_keep_a_concurrent_field_save<S: SessionStore + Clone>(
    make_store: impl Fn() -> S,
) {
    type Configure = fn(SessionLayer) -> SessionLayer;
    let cases: [(&str, &str, Configure); 3] = [
        ("cookie-only change", "/slow-remember", |l| l),
        ("resave", "/slow-read", |l| l.resave(true)),
        ("absolute timeout stamp", "/slow-read", |l| {
            l.absolute_timeout(Duration::from_secs(3600))
        }),
    ];
    for (case, slow_path, configure) in cases {
        let store = make_store();
        let gate = Arc::new(Gate::default());
        // Created without `__created`, as before an absolute timeout was configured.
        let plain = app(&store, &gate, |l| l);
        let first = call(&plain, "GET", "/add", None).await;
        let cookie = cookie_of(&first);

        let router = app(&store, &gate, configure);
        let (slow, added) = interleave(&router, &gate, slow_path, ("GET", "/add"), &cookie).await;
        assert_eq!(slow.status, StatusCode::OK, "{case}");
        assert_eq!(added.body, "2", "{case}");
        let after = call(&router, "GET", "/show", Some(&cookie)).await;
        assert_eq!(
            after.body, "2 0",
            "{case}: the save overwrote the item another request added meanwhile"
        );
    }
}

/// A new session whose id is already stored (a custom `genid` that repeats)
/// is not merged into the stored one: no response gets a cookie for another
/// user's session, and the stored session is unchanged.
async fn a_new_session_never_merges_into_a_stored_one<S: SessionStore + Clone>(store: S) {
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, |l| {
        l.genid(|| "always-the-same-id".to_owned())
    });
    let first = call(&router, "GET", "/add", None).await;
    assert_eq!(first.sid().as_deref(), Some("always-the-same-id"));

    let second = call(&router, "GET", "/count", None).await;
    assert_eq!(second.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        second.set_cookies(),
        Vec::<String>::new(),
        "a cookie for another user's session was sent"
    );
    let cookie = cookie_of(&first);
    let after = call(&router, "GET", "/show", Some(&cookie)).await;
    assert_eq!(
        after.body, "1 0",
        "the stored session took the newcomer's change"
    );
}

fn file_store(temp: &TempDir) -> FileStore {
    FileStore::new(temp.path()).with_fsync(false)
}

#[tokio::test]
async fn memory_late_save_after_logout_does_not_bring_the_session_back() {
    late_save_after_logout_does_not_bring_the_session_back(MemoryStore::new()).await;
}

#[tokio::test]
async fn file_late_save_after_logout_does_not_bring_the_session_back() {
    let temp = TempDir::new("logout-race");
    late_save_after_logout_does_not_bring_the_session_back(file_store(&temp)).await;
}

#[tokio::test]
async fn memory_late_save_after_cycle_id_does_not_revive_the_old_id() {
    late_save_after_cycle_id_does_not_revive_the_old_id(MemoryStore::new()).await;
}

#[tokio::test]
async fn file_late_save_after_cycle_id_does_not_revive_the_old_id() {
    let temp = TempDir::new("cycle-race");
    late_save_after_cycle_id_does_not_revive_the_old_id(file_store(&temp)).await;
}

#[tokio::test]
async fn memory_saves_without_field_changes_keep_a_concurrent_field_save() {
    saves_without_field_changes_keep_a_concurrent_field_save(MemoryStore::new).await;
}

#[tokio::test]
async fn file_saves_without_field_changes_keep_a_concurrent_field_save() {
    let temp = TempDir::new("merge-race");
    let n = std::sync::atomic::AtomicUsize::new(0);
    saves_without_field_changes_keep_a_concurrent_field_save(|| {
        let dir = temp.path().join(
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                .to_string(),
        );
        FileStore::new(dir).with_fsync(false)
    })
    .await;
}

#[tokio::test]
async fn memory_a_new_session_never_merges_into_a_stored_one() {
    a_new_session_never_merges_into_a_stored_one(MemoryStore::new()).await;
}

#[tokio::test]
async fn file_a_new_session_never_merges_into_a_stored_one() {
    let temp = TempDir::new("create-race");
    a_new_session_never_merges_into_a_stored_one(file_store(&temp)).await;
}

/// A store that saves by compare-and-set, as the Redis store does: `load`
/// names the stored value with [`Record::set_revision`], and `update` writes
/// only if the record it is given still names the stored value.
#[derive(Clone, Default)]
struct RevisionStore {
    inner: MemoryStore,
    /// How many times each session was written.
    writes: Arc<Mutex<HashMap<String, u64>>>,
}

impl RevisionStore {
    fn current(&self, id: &SessionId) -> String {
        let writes = self.writes.lock().unwrap();
        format!("write {}", writes.get(id.as_str()).copied().unwrap_or(0))
    }
}

impl SessionStore for RevisionStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let revision = self.current(id);
        let mut record = self.inner.load(id).await?;
        if let Some(record) = &mut record {
            record.set_revision(revision);
        }
        Ok(record)
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        self.inner.create(id, record).await
    }

    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        let current = self.current(id);
        if update.record.revision() != Some(current.as_str()) {
            return Err(StoreError::new(format!(
                "compare-and-set: the request loaded {:?}, the store holds {current:?}",
                update.record.revision()
            )));
        }
        *self
            .writes
            .lock()
            .unwrap()
            .entry(id.as_str().to_owned())
            .or_default() += 1;
        self.inner.update(id, update).await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.destroy(id).await
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl()
    }
}

/// A compare-and-set store gets back, in `update`, the revision it gave the
/// record in `load`: each request's save goes through, and a save over one
/// that another request made meanwhile is refused by the store, not written.
#[tokio::test]
async fn a_compare_and_set_store_gets_back_the_revision_it_loaded() {
    let store = RevisionStore::default();
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, |l| l);
    let first = call(&router, "GET", "/count", None).await;
    let cookie = cookie_of(&first);
    for expected in ["2", "3"] {
        let reply = call(&router, "GET", "/count", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body, expected);
    }

    let (slow, other) = interleave(&router, &gate, "/slow-count", ("GET", "/count"), &cookie).await;
    assert_eq!(other.body, "4");
    assert_eq!(
        slow.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the stale save was refused"
    );
    let after = call(&router, "GET", "/show", Some(&cookie)).await;
    assert_eq!(after.body, "0 4", "the save made meanwhile stays");
}

/// A store that answers `IdTaken` to the first create it is asked for, as
/// a store would whose random id met a stored one: the layer draws another
/// id and stores the session under it.
#[derive(Clone, Default)]
struct FirstIdTaken {
    inner: MemoryStore,
    refused: Arc<Mutex<Vec<String>>>,
}

impl SessionStore for FirstIdTaken {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.inner.load(id).await
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        let first = {
            let mut refused = self.refused.lock().unwrap();
            let first = refused.is_empty();
            if first {
                refused.push(id.as_str().to_owned());
            }
            first
        };
        if first {
            return Ok(Created::IdTaken);
        }
        self.inner.create(id, record).await
    }

    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        self.inner.update(id, update).await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.destroy(id).await
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl()
    }
}

#[tokio::test]
async fn a_random_id_found_taken_is_drawn_again() {
    let store = FirstIdTaken::default();
    let gate = Arc::new(Gate::default());
    let router = app(&store, &gate, |l| l);
    let first = call(&router, "GET", "/count", None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let sid = first.sid().expect("the session got a cookie");
    let refused = store.refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 1);
    assert_ne!(sid, refused[0], "the cookie names the id the store refused");
    let again = call(&router, "GET", "/count", Some(&cookie_of(&first))).await;
    assert_eq!(again.body, "2", "the session was stored under the new id");
}
