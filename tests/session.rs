//! The session layer end to end over a real axum app: the counter flow, the
//! save rules, cookies, records, typed views, and failures.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use session_runtime::store::SessionStore;
use session_runtime::{Record, Secrets, Session, SessionId, SessionLayer};
use support::clock::{http_date_secs, now_ms};
use support::wire::{self, serve};
use support::{Client, CountingStore, LogCapture, cookie_pair, get_with_cookie, signed_value};

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

async fn increment(mut session: Session<Counter>) -> String {
    session.count += 1;
    format!("{{\"count\": {}}}", session.count)
}

async fn peek(session: Session<Counter>) -> String {
    format!("{{\"count\": {}}}", session.count)
}

async fn logout(session: Session<Counter>) -> &'static str {
    session.destroy();
    "bye"
}

async fn keep_alive(mut session: Session<Counter>) -> &'static str {
    session.reset_max_age();
    "kept"
}

async fn no_session() -> &'static str {
    "hello"
}

async fn assign_same(mut session: Session<Counter>) -> String {
    // A mutable access that changes nothing in the end.
    session.count += 1;
    session.count -= 1;
    "same".to_owned()
}

fn counter_app(store: CountingStore, layer: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    Router::new()
        .route("/", get(increment))
        .route("/peek", get(peek))
        .route("/same", get(assign_same))
        .route("/logout", post(logout))
        .route("/hello", get(no_session))
        .route("/keep-alive", get(keep_alive))
        .layer(layer(SessionLayer::new(store, "keyboard cat")))
}

fn default_app(store: &CountingStore) -> Router {
    counter_app(store.clone(), |l| l)
}

#[tokio::test]
async fn counter_flow_over_a_real_socket() {
    let store = CountingStore::new();
    let addr = serve(default_app(&store)).await;

    let first = wire::request(addr, "GET", "/", None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body, "{\"count\": 1}");
    let set_cookie = first
        .set_cookie()
        .expect("the first modified response sets the cookie");
    assert!(set_cookie.starts_with("connect.sid=s%3A"), "{set_cookie}");
    assert!(
        set_cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = Some(cookie_pair(&set_cookie));

    let second = wire::request(addr, "GET", "/", cookie).await;
    assert_eq!(second.body, "{\"count\": 2}");
    assert_eq!(
        second.set_cookie(),
        None,
        "browser-session cookie is not re-sent"
    );

    let peeked = wire::request(addr, "GET", "/peek", cookie).await;
    assert_eq!(peeked.body, "{\"count\": 2}");
    assert_eq!(peeked.set_cookie(), None);

    let writes_before_logout = store.calls.writes();
    let out = wire::request(addr, "POST", "/logout", cookie).await;
    assert_eq!(
        out.set_cookie().as_deref(),
        Some("connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax")
    );
    assert_eq!(store.calls.destroys(), 1);
    assert_eq!(store.calls.writes(), writes_before_logout + 1);

    // The old cookie now names nothing: a fresh session starts at 1.
    let after = wire::request(addr, "GET", "/", cookie).await;
    assert_eq!(after.body, "{\"count\": 1}");
}

#[tokio::test]
async fn read_only_requests_cause_no_store_write_and_no_cookie() {
    let store = CountingStore::new();
    let mut client = Client::new(default_app(&store));
    client.get("/").await;
    let writes = store.calls.writes();
    for _ in 0..5 {
        let reply = client.get("/peek").await;
        assert_eq!(reply.json()["count"], 1);
        assert_eq!(reply.set_cookie(), None);
    }
    assert_eq!(
        store.calls.writes(),
        writes,
        "peek must not write the store"
    );
}

#[tokio::test]
async fn new_unmodified_session_is_not_stored_and_gets_no_cookie() {
    let store = CountingStore::new();
    let router = default_app(&store);
    let mut client = Client::new(router);
    let peek = client.get("/peek").await;
    assert_eq!(peek.json()["count"], 0);
    assert_eq!(peek.set_cookie(), None);
    let same = client.get("/same").await;
    assert_eq!(
        same.set_cookie(),
        None,
        "a DerefMut that changes nothing is not a modification"
    );
    assert_eq!(store.calls.writes(), 0);
    assert!(store.inner.is_empty());
}

#[tokio::test]
async fn a_route_without_session_reads_nothing() {
    let store = CountingStore::new();
    let mut client = Client::new(default_app(&store));
    client.get("/").await;
    let loads = store.calls.loads();
    let reply = client.get("/hello").await;
    assert_eq!(reply.body, "hello");
    assert_eq!(
        store.calls.loads(),
        loads,
        "lazy loading: no store read without Session<T>"
    );
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn modified_session_is_stored_with_its_changed_fields() {
    let store = CountingStore::new();
    let mut client = Client::new(default_app(&store));
    let reply = client.get("/").await;
    let sid = reply.sid().unwrap();
    assert_eq!(sid.len(), 32);
    let record = store.record(&sid).await.expect("stored");
    assert_eq!(record.fields.get("count").unwrap().get(), "1");
    assert_eq!(
        *store.calls.changed.lock().unwrap(),
        vec![vec!["count".to_owned()]]
    );
}

#[tokio::test]
async fn cookie_vectors_from_express_session() {
    // secret `keyboard cat`, id `apple`: the express-session test "allow custom function".
    let store = CountingStore::new();
    let id = SessionId::parse("apple").unwrap();
    let mut record = Record::default();
    record.fields.set(
        "count",
        serde_json::value::RawValue::from_string("41".into()).unwrap(),
    );
    record.last_access = Some(now_ms());
    let _ = store.inner.create(&id, &record).await.unwrap();
    let router = default_app(&store);

    for cookie in [
        "connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU",
        // Also accepted by express: the raw value, and a quoted one.
        "connect.sid=s:apple.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCU",
        "connect.sid=\"s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU\"",
    ] {
        let reply = get_with_cookie(&router, "/peek", cookie).await;
        assert_eq!(reply.json()["count"], 41, "{cookie}");
    }
}

#[tokio::test]
async fn set_cookie_bytes_match_express_session() {
    // Re-signing `apple` with a max age: the value part must equal express's bytes.
    let store = CountingStore::new();
    let id = SessionId::parse("apple").unwrap();
    let mut record = Record::default();
    record.cookie.original_max_age = Some(60_000);
    record.last_access = Some(now_ms());
    let _ = store.inner.create(&id, &record).await.unwrap();
    let router = counter_app(store.clone(), |l| l.max_age(Duration::from_secs(60)));
    let reply = get_with_cookie(
        &router,
        "/",
        "connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU",
    )
    .await;
    let set = reply
        .set_cookie()
        .expect("modified session with a max age re-sends its cookie");
    assert!(
        set.starts_with("connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU; Path=/; Expires="),
        "{set}"
    );
    assert!(set.ends_with(" GMT; HttpOnly"), "{set}");
    let expires = set
        .split("Expires=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let delta = http_date_secs(expires) - (now_ms() / 1000) as i64;
    assert!(
        (58..=61).contains(&delta),
        "Expires is the max age from now: {expires} ({delta} s)"
    );
}

#[tokio::test]
async fn tampered_unsigned_and_garbage_cookies_are_fresh_sessions() {
    let store = CountingStore::new();
    let mut client = Client::new(default_app(&store));
    let good = client.get("/").await;
    let sid = good.sid().unwrap();
    let valid = client.cookie.clone().unwrap();
    let router = default_app(&store);
    let loads = store.calls.loads();

    let last = valid.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &valid[..valid.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    for cookie in [
        flipped,
        format!("connect.sid={sid}"),
        format!("connect.sid=s%3A{sid}"),
        format!("{valid}%3D"),
        format!("{valid}="),
        "connect.sid=".to_owned(),
        "connect.sid=%%%".to_owned(),
        "connect.sid=s%3A..%2F..%2Fetc%2Fpasswd.abc".to_owned(),
        "connect.sid=s%3A%FF%FE.abc".to_owned(),
        "connect.sid=s%3A\u{e9}t\u{e9}".to_owned(),
        format!("connect.sid=s%3A{}", "x".repeat(5000)),
    ] {
        let reply = get_with_cookie(&router, "/", &cookie).await;
        assert_eq!(reply.status, StatusCode::OK, "{cookie}");
        assert_eq!(
            reply.json()["count"],
            1,
            "{cookie} must start a fresh session"
        );
        assert_ne!(
            reply.sid().as_deref(),
            Some(sid.as_str()),
            "a new id, never the client's"
        );
    }
    assert_eq!(
        store.calls.loads(),
        loads,
        "an invalid cookie never reaches the store"
    );
}

#[tokio::test]
async fn first_cookie_of_the_name_wins() {
    let store = CountingStore::new();
    let mut client = Client::new(default_app(&store));
    client.get("/").await;
    client.get("/").await;
    let valid = client.cookie.clone().unwrap();
    let router = default_app(&store);
    let reply = get_with_cookie(
        &router,
        "/peek",
        &format!("other=1; {valid}; connect.sid=bogus"),
    )
    .await;
    assert_eq!(reply.json()["count"], 2);
    let reply = get_with_cookie(&router, "/peek", &format!("connect.sid=bogus; {valid}")).await;
    assert_eq!(
        reply.json()["count"],
        0,
        "express: the first occurrence wins, even a bogus one"
    );
}

#[tokio::test]
async fn rotated_secrets_verify_old_cookies_and_sign_with_the_first() {
    let store = CountingStore::new();
    let old_app = counter_app(store.clone(), |l| l.max_age(Duration::from_secs(60)));
    let mut client = Client::new(old_app);
    client.get("/").await;
    let old_cookie = client.cookie.clone().unwrap();

    let rotated = Router::new().route("/", get(increment)).layer(
        SessionLayer::new(
            store.clone(),
            Secrets::try_new(["new secret", "keyboard cat"]).unwrap(),
        )
        .max_age(Duration::from_secs(60)),
    );
    let reply = get_with_cookie(&rotated, "/", &old_cookie).await;
    assert_eq!(reply.json()["count"], 2, "the old secret still verifies");
    let set = reply
        .set_cookie()
        .expect("a max-age cookie is re-sent when modified");
    let sid = reply.sid().unwrap();
    assert_eq!(
        set.split(';').next().unwrap(),
        format!("connect.sid={}", signed_value(b"new secret", &sid)),
        "re-signed with the first secret"
    );
    let only_new = Router::new()
        .route("/peek", get(peek))
        .layer(SessionLayer::new(store.clone(), "new secret"));
    let reply = get_with_cookie(&only_new, "/peek", set.split(';').next().unwrap()).await;
    assert_eq!(
        reply.json()["count"],
        2,
        "session {sid} verifies with the new secret alone"
    );
}

#[tokio::test]
async fn resave_writes_unmodified_loaded_sessions() {
    let store = CountingStore::new();
    let mut client = Client::new(counter_app(store.clone(), |l| l.resave(true)));
    client.get("/").await;
    let saves = store.calls.saves();
    let reply = client.get("/peek").await;
    assert_eq!(store.calls.saves(), saves + 1);
    assert_eq!(reply.set_cookie(), None, "resave does not send the cookie");
}

#[tokio::test]
async fn save_uninitialized_stores_and_cookies_new_sessions() {
    let store = CountingStore::new();
    let mut client = Client::new(counter_app(store.clone(), |l| l.save_uninitialized(true)));
    let reply = client.get("/peek").await;
    let sid = reply.sid().expect("cookie for an uninitialized session");
    assert!(store.record(&sid).await.is_some());
    assert_eq!(store.calls.changed.lock().unwrap()[0], Vec::<String>::new());
}

#[tokio::test]
async fn rolling_sends_the_cookie_for_loaded_sessions_only() {
    let store = CountingStore::new();
    let mut client = Client::new(counter_app(store.clone(), |l| {
        l.rolling(true).max_age(Duration::from_secs(60))
    }));
    assert_eq!(
        client.get("/peek").await.set_cookie(),
        None,
        "rolling does not create sessions"
    );
    let first = client.get("/").await;
    let sid = first.sid().unwrap();
    let touches = store.calls.touches();
    let reply = client.get("/peek").await;
    assert_eq!(
        reply.sid().as_deref(),
        Some(sid.as_str()),
        "unmodified, but re-sent"
    );
    assert_eq!(
        store.calls.touches(),
        touches + 1,
        "the store's expiry follows the re-sent cookie"
    );
}

#[tokio::test]
async fn without_max_age_the_cookie_is_sent_once() {
    let store = CountingStore::new();
    let mut client = Client::new(default_app(&store));
    assert!(client.get("/").await.set_cookie().is_some());
    assert_eq!(client.get("/").await.set_cookie(), None);
}

#[tokio::test]
async fn with_max_age_a_modified_session_re_sends_its_cookie() {
    let store = CountingStore::new();
    let mut client = Client::new(counter_app(store.clone(), |l| {
        l.max_age(Duration::from_secs(3600))
    }));
    let first = client.get("/").await.set_cookie().unwrap();
    assert!(first.contains("; Expires="), "{first}");
    let second = client.get("/").await.set_cookie();
    assert!(second.is_some());
    assert_eq!(
        client.get("/peek").await.set_cookie(),
        None,
        "unmodified: no cookie"
    );
}

#[derive(Session)]
struct Cart {
    items: Vec<String>,
    quantities: BTreeMap<String, u32>,
}

#[derive(Session)]
struct Auth {
    user: Option<String>,
}

async fn add_item(mut cart: Session<Cart>) -> String {
    cart.items.push("apple".to_owned());
    *cart.quantities.entry("apple".to_owned()).or_default() += 1;
    cart.items.len().to_string()
}

async fn login(mut auth: Session<Auth>) -> &'static str {
    auth.user = Some("bob".to_owned());
    "ok"
}

async fn show(cart: Session<Cart>, auth: Session<Auth>) -> String {
    format!("{:?} {:?} {:?}", cart.items, cart.quantities, auth.user)
}

fn views_app(store: &CountingStore) -> Router {
    Router::new()
        .route("/add", get(add_item))
        .route("/login", get(login))
        .route("/show", get(show))
        .route("/", get(increment))
        .layer(SessionLayer::new(store.clone(), "keyboard cat"))
}

#[tokio::test]
async fn nested_mutations_are_saved() {
    let store = CountingStore::new();
    let mut client = Client::new(views_app(&store));
    let sid = client.get("/add").await.sid().unwrap();
    client.get("/add").await;
    let record = store.record(&sid).await.unwrap();
    assert_eq!(
        record.fields.get("items").unwrap().get(),
        r#"["apple","apple"]"#
    );
    assert_eq!(
        record.fields.get("quantities").unwrap().get(),
        r#"{"apple":2}"#
    );
}

#[tokio::test]
async fn typed_views_share_one_session_without_erasing_each_other() {
    let store = CountingStore::new();
    let mut client = Client::new(views_app(&store));
    let sid = client.get("/add").await.sid().unwrap();
    client.get("/login").await;
    client.get("/").await;
    let shown = client.get("/show").await;
    assert_eq!(shown.body, r#"["apple"] {"apple": 1} Some("bob")"#);
    let record = store.record(&sid).await.unwrap();
    let keys: Vec<&str> = record.fields.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["items", "quantities", "user", "count"]);
    // Each request reported only its own view's changed fields.
    let changed = store.calls.changed.lock().unwrap().clone();
    assert_eq!(
        changed,
        vec![vec!["items", "quantities"], vec!["user"], vec!["count"]]
    );
}

#[tokio::test]
async fn unknown_stored_keys_survive_saves() {
    let store = CountingStore::new();
    let id = SessionId::generate();
    let record = Record::from_json(&format!(
        r#"{{"cookie":{{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}},"count":5,"flash":{{"info":["hi"]}},"passport":{{"user":7}},"__lastAccess":{}}}"#,
        now_ms()
    ))
    .unwrap();
    let _ = store.inner.create(&id, &record).await.unwrap();
    let router = default_app(&store);
    let cookie = format!("connect.sid={}", signed_value(b"keyboard cat", id.as_str()));
    let reply = get_with_cookie(&router, "/", &cookie).await;
    assert_eq!(reply.json()["count"], 6);
    let json = store.record(id.as_str()).await.unwrap().to_json();
    assert!(
        json.contains(r#""count":6,"flash":{"info":["hi"]},"passport":{"user":7}"#),
        "{json}"
    );
}

#[tokio::test]
async fn undecodable_field_falls_back_to_default_and_the_session_works() {
    let store = CountingStore::new();
    let id = SessionId::generate();
    let mut record = Record::default();
    record.fields.set(
        "count",
        serde_json::value::RawValue::from_string("\"seven\"".into()).unwrap(),
    );
    record.fields.set(
        "items",
        serde_json::value::RawValue::from_string("{\"not\":\"a list\"}".into()).unwrap(),
    );
    record.last_access = Some(now_ms());
    let _ = store.inner.create(&id, &record).await.unwrap();
    let cookie = format!("connect.sid={}", signed_value(b"keyboard cat", id.as_str()));

    let logs = LogCapture::install();
    let router = views_app(&store);
    let reply = get_with_cookie(&router, "/", &cookie).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "{\"count\": 1}");
    let reply = get_with_cookie(&router, "/show", &cookie).await;
    assert_eq!(reply.body, "[] {} None");
    let logged = logs.contents();
    assert!(
        logged.contains("does not decode into the field's type"),
        "{logged}"
    );
    assert!(
        logged.contains("field=\"count\"") || logged.contains("field=count"),
        "{logged}"
    );
}

#[tokio::test]
async fn session_without_layer_is_a_500_that_names_the_fix() {
    let router = Router::new().route("/", get(peek));
    let reply = support::send(
        &router,
        axum::http::Request::get("/")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("SessionLayer"), "{}", reply.body);
    assert!(reply.body.contains(".layer("), "{}", reply.body);
}

#[tokio::test]
async fn store_save_failure_is_a_plain_500() {
    let store = CountingStore::new();
    store.fail_saves.store(true, Ordering::SeqCst);
    let logs = LogCapture::install();
    let mut client = Client::new(default_app(&store));
    let reply = client.get("/").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session store error");
    assert_eq!(reply.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        reply.set_cookie(),
        None,
        "no cookie for a session that was not saved"
    );
    assert!(logs.contents().contains("injected save failure"));
}

#[tokio::test]
async fn store_load_failure_is_a_plain_500() {
    let store = CountingStore::new();
    let mut client = Client::new(default_app(&store));
    client.get("/").await;
    store.fail_loads.store(true, Ordering::SeqCst);
    let reply = client.get("/peek").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "session store error");
}

#[tokio::test]
async fn the_store_write_completes_before_the_response_head_leaves() {
    let mut store = CountingStore::new();
    store.save_delay = Some(Duration::from_millis(300));
    let saved = store.saved.clone();
    let router = Router::new()
        .route(
            "/login",
            get(|mut s: Session<Counter>| async move {
                s.count = 1;
                drop(s);
                (StatusCode::FOUND, [("location", "/")])
            }),
        )
        .layer(SessionLayer::new(store, "keyboard cat"));
    let addr = serve(router).await;
    let mut stream = wire::open(addr, "GET", "/login", None, "Content-Length: 0").await;
    use tokio::io::AsyncReadExt as _;
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).await.unwrap();
    assert!(
        saved.load(Ordering::SeqCst),
        "the first response byte arrived before the save finished"
    );
}

#[tokio::test]
async fn the_memory_store_serves_many_concurrent_sessions() {
    let store = CountingStore::new();
    let router = default_app(&store);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(router);
            for expected in 1..=20 {
                assert_eq!(client.get("/").await.json()["count"], expected);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.inner.len(), 64);
}

fn store_with_ttl(ttl: Duration) -> CountingStore {
    CountingStore {
        inner: session_runtime::MemoryStore::new().with_ttl(ttl),
        ..CountingStore::default()
    }
}

#[tokio::test]
async fn an_expired_session_starts_fresh() {
    let store = store_with_ttl(Duration::from_millis(200));
    let mut client = Client::new(default_app(&store));
    client.get("/").await;
    assert_eq!(client.get("/peek").await.json()["count"], 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = client.get("/").await;
    assert_eq!(reply.json()["count"], 1, "the expired session is gone");
    assert!(reply.sid().is_some(), "a new session gets a new cookie");
}

#[tokio::test]
async fn touch_happens_at_most_once_per_half_lifetime() {
    let store = store_with_ttl(Duration::from_secs(2));
    let mut client = Client::new(default_app(&store));
    client.get("/").await;
    client.get("/peek").await;
    assert_eq!(store.calls.touches(), 0, "fresh session: no touch");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.get("/peek").await;
    assert_eq!(store.calls.touches(), 1, "past half its lifetime: touched");
    client.get("/peek").await;
    client.get("/peek").await;
    assert_eq!(store.calls.touches(), 1, "the touch restarted the lifetime");
    assert_eq!(store.calls.saves(), 1);
}

/// express's `resetMaxAge()`, the alias of `touch()`: a request that changes
/// nothing still restarts the session's lifetime in the store, which a read
/// of a young session does not.
#[tokio::test]
async fn reset_max_age_restarts_the_lifetime_of_an_unchanged_session() {
    let store = store_with_ttl(Duration::from_secs(60));
    let mut client = Client::new(default_app(&store));
    let sid = client.get("/").await.sid().unwrap();
    let created = store.record(&sid).await.unwrap().last_access.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    client.get("/peek").await;
    assert_eq!(store.calls.touches(), 0, "a read alone does not touch");
    let reply = client.get("/keep-alive").await;
    assert_eq!(reply.body, "kept");
    assert_eq!(
        store.calls.touches(),
        1,
        "reset_max_age touched the session"
    );
    assert_eq!(store.calls.saves(), 1, "and saved nothing");
    let touched = store.record(&sid).await.unwrap().last_access.unwrap();
    assert!(
        touched >= created + 20,
        "the lifetime restarts at the touch: {created} then {touched}"
    );
}

#[derive(Session, Debug)]
struct Profile {
    name: Option<String>,
}

async fn debug_views(mut profile: Session<Profile>) -> String {
    profile.name = Some("ada".to_owned());
    let cookie = format!("{:?}", profile.cookie_mut());
    format!("{profile:?} / {cookie} / {}", profile.id())
}

/// `{:?}` of a session shows its fields (what `dbg!` in a handler is for),
/// not its id, which is a credential; `{:?}` of its cookie handle names it.
#[tokio::test]
async fn a_sessions_debug_shows_its_fields_but_not_its_id() {
    let router = Router::new()
        .route("/", get(debug_views))
        .layer(SessionLayer::new(CountingStore::new(), "keyboard cat"));
    let reply = Client::new(router).get("/").await;
    let (debug, id) = reply.body.rsplit_once(" / ").unwrap();
    assert_eq!(
        debug,
        r#"Session(Profile { name: Some("ada") }) / CookieMut { .. }"#
    );
    assert_eq!(reply.sid().as_deref(), Some(id));
    assert!(!debug.contains(id));
}

/// A new session saved by `save()` and then destroyed in the same request
/// leaves nothing in the store, and no cookie.
#[tokio::test]
async fn a_new_session_saved_then_destroyed_leaves_nothing_stored() {
    async fn save_then_destroy(mut session: Session<Counter>) -> &'static str {
        session.count += 1;
        session.save().await.unwrap();
        session.destroy();
        "gone"
    }
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", get(save_then_destroy))
        .layer(SessionLayer::new(store.clone(), "keyboard cat"));
    let reply = Client::new(router).get("/").await;
    assert_eq!(reply.body, "gone");
    assert_eq!(store.calls.saves(), 1);
    assert!(
        store.inner.is_empty(),
        "the early save was left in the store"
    );
    assert_eq!(reply.set_cookie(), None);
}

/// As in express, a cookie's lifetime restarts when the cookie is sent: a
/// handler that saves early and then works on gets an `Expires` counted from
/// the end of the request, not from the save.
#[tokio::test]
async fn a_cookie_sent_after_an_early_save_counts_its_lifetime_from_the_response() {
    async fn save_then_work(mut session: Session<Counter>) -> String {
        session.count += 1;
        session.save().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        now_ms().to_string()
    }
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", get(save_then_work))
        .layer(SessionLayer::new(store.clone(), "keyboard cat").max_age(Duration::from_secs(3600)));
    let reply = Client::new(router).get("/").await;
    let returned: u64 = reply.body.parse().unwrap();
    let set = reply.set_cookie().expect("a new session's cookie");
    let expires = http_date_secs(support::expires_attr(&set).unwrap());
    assert!(
        expires >= ((returned + 3_600_000) / 1000) as i64,
        "Expires {expires} s is an hour from the save, not from the response ({returned} ms): {set}"
    );
}
