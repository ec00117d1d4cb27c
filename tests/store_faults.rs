//! A store that fails, stalls or panics, under each store-failure policy:
//! never a hang, never a panic out of the service, never a `Set-Cookie` for
//! a session that was not saved.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use session_runtime::store::{Created, SessionStore, Update, Updated};
use session_runtime::{
    MemoryStore, OnStoreError, Record, Session, SessionId, SessionLayer, StoreError,
};
use support::counter::{Counter, increment};
use support::{Reply, send};

async fn logout(session: Session<Counter>) -> &'static str {
    session.destroy();
    "bye"
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Load,
    Save,
    Destroy,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Fail,
    /// Answers only after this long.
    Stall(Duration),
    Panic,
}

/// A memory store with one injected fault.
#[derive(Clone, Default)]
struct FaultyStore {
    inner: MemoryStore,
    fault: Arc<Mutex<Option<(Op, Fault)>>>,
}

impl FaultyStore {
    fn inject(&self, op: Op, fault: Fault) {
        *self.fault.lock().unwrap() = Some((op, fault));
    }

    async fn maybe_fail(&self, op: Op) -> Result<(), StoreError> {
        let fault = *self.fault.lock().unwrap();
        match fault {
            Some((faulty, Fault::Fail)) if faulty == op => {
                Err(StoreError::new(format!("injected {op:?} failure")))
            }
            Some((faulty, Fault::Stall(time))) if faulty == op => {
                tokio::time::sleep(time).await;
                Ok(())
            }
            Some((faulty, Fault::Panic)) if faulty == op => panic!("injected {op:?} panic"),
            _ => Ok(()),
        }
    }
}

impl SessionStore for FaultyStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.maybe_fail(Op::Load).await?;
        self.inner.load(id).await
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        self.maybe_fail(Op::Save).await?;
        self.inner.create(id, record).await
    }

    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        self.maybe_fail(Op::Save).await?;
        self.inner.update(id, update).await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.maybe_fail(Op::Destroy).await?;
        self.inner.destroy(id).await
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl()
    }
}

/// Each fault injected into one store operation at a time.
const FAULTS: [Fault; 3] = [
    Fault::Fail,
    Fault::Stall(Duration::from_secs(60)),
    Fault::Panic,
];

const RETRY_AFTER: Duration = Duration::from_millis(2500);
const POLICIES: [OnStoreError; 3] = [
    OnStoreError::InternalServerError,
    OnStoreError::ServiceUnavailable {
        retry_after: RETRY_AFTER,
    },
    OnStoreError::ServeWithoutSession,
];

fn app(store: &FaultyStore, policy: OnStoreError) -> Router {
    Router::new()
        .route("/", get(increment))
        .route("/logout", post(logout))
        .layer(
            SessionLayer::new(store.clone(), "store faults secret")
                .on_store_error(policy)
                .store_timeout(Some(Duration::from_millis(200))),
        )
}

/// One request, failing the test if it does not complete in 10 s (a hang).
async fn call(router: &Router, method: &str, cookie: Option<&str>) -> Reply {
    let path = if method == "POST" { "/logout" } else { "/" };
    let mut request = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let request = request.body(Body::empty()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), send(router, request))
        .await
        .expect("the request hung on a faulty store")
}

/// A session saved while the store was healthy: its cookie.
async fn healthy_session(store: &FaultyStore) -> String {
    let reply = call(&app(store, OnStoreError::default()), "GET", None).await;
    assert_eq!(reply.body, "1");
    let set = reply.set_cookie().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// What each policy answers for a store failure, with the handler's answer
/// when the policy serves the request anyway.
fn assert_policy_answer(policy: OnStoreError, reply: &Reply, served: &str, case: &str) {
    match policy {
        OnStoreError::InternalServerError => {
            assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{case}");
            assert_eq!(reply.body, "session store error", "{case}");
        }
        OnStoreError::ServiceUnavailable { .. } => {
            assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{case}");
            assert_eq!(
                reply.headers.get(header::RETRY_AFTER).unwrap(),
                "3",
                "{case}: Retry-After in whole seconds, rounded up"
            );
        }
        _ => {
            assert_eq!(reply.status, StatusCode::OK, "{case}");
            assert_eq!(reply.body, served, "{case}");
        }
    }
    assert_eq!(
        reply.set_cookies(),
        Vec::<String>::new(),
        "{case}: a Set-Cookie for a session that was not saved"
    );
}

#[tokio::test]
async fn a_failing_load_gets_the_policys_answer() {
    for policy in POLICIES {
        for fault in FAULTS {
            let store = FaultyStore::default();
            let cookie = healthy_session(&store).await;
            store.inject(Op::Load, fault);
            let reply = call(&app(&store, policy), "GET", Some(&cookie)).await;
            // Served without its session, the handler sees a new one: count 1, never saved.
            assert_policy_answer(policy, &reply, "1", &format!("{policy:?} {fault:?} load"));
        }
    }
}

#[tokio::test]
async fn a_failing_save_gets_the_policys_answer_and_stores_nothing() {
    for policy in POLICIES {
        for fault in FAULTS {
            let store = FaultyStore::default();
            let cookie = healthy_session(&store).await;
            store.inject(Op::Save, fault);
            let case = format!("{policy:?} {fault:?} save");
            let reply = call(&app(&store, policy), "GET", Some(&cookie)).await;
            assert_policy_answer(policy, &reply, "2", &case);
            // A new session's create fails the same way, and gets no cookie.
            let fresh = call(&app(&store, policy), "GET", None).await;
            assert_policy_answer(policy, &fresh, "1", &format!("{case}, new session"));
            // Once the store is healthy, the stored count is the last one saved.
            *store.fault.lock().unwrap() = None;
            let after = call(&app(&store, policy), "GET", Some(&cookie)).await;
            assert_eq!(after.body, "2", "{case}: the failed save changed nothing");
        }
    }
}

#[tokio::test]
async fn a_failing_logout_keeps_the_cookie_and_says_so() {
    for policy in POLICIES {
        let store = FaultyStore::default();
        let cookie = healthy_session(&store).await;
        store.inject(Op::Destroy, Fault::Fail);
        let reply = call(&app(&store, policy), "POST", Some(&cookie)).await;
        assert_policy_answer(policy, &reply, "bye", &format!("{policy:?} destroy"));
    }
}

/// With no timeout the layer waits for a slow store rather than failing it.
#[tokio::test]
async fn without_a_timeout_a_slow_store_is_waited_for() {
    let store = FaultyStore::default();
    let cookie = healthy_session(&store).await;
    store.inject(Op::Load, Fault::Stall(Duration::from_millis(300)));
    let router = Router::new()
        .route("/", get(increment))
        .layer(SessionLayer::new(store.clone(), "store faults secret").store_timeout(None));
    let reply = call(&router, "GET", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "2");
}
