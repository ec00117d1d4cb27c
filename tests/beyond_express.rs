//! What the layer does better than express-session: each test names the
//! express-session issue it answers.

mod support;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use session_runtime::{Session, SessionLayer};
use support::{Client, CountingStore, LogCapture};

#[derive(Session)]
struct Auth {
    user: Option<String>,
    #[session(default = 0)]
    visits: u32,
}

async fn visit(mut session: Session<Auth>) -> String {
    session.visits += 1;
    format!("{:?} {}", session.user, session.visits)
}

async fn show(session: Session<Auth>) -> String {
    format!("{:?} {}", session.user, session.visits)
}

/// The cookie settings as a handler reads them back: `Duration` and `SystemTime`.
async fn cookie_settings(session: Session<Auth>) -> String {
    let cookie = session.cookie();
    let left = cookie
        .expires_at()
        .and_then(|at| at.duration_since(std::time::SystemTime::now()).ok())
        .map(|left| left.as_secs() / 3600);
    format!("{:?} {left:?}", cookie.max_age())
}

/// A login that was not asked to be remembered: new id, the layer's cookie settings.
async fn login_plain(mut session: Session<Auth>) -> Result<&'static str, String> {
    session.cycle_id().await.map_err(|e| e.to_string())?;
    session.cookie_mut().reset();
    session.user = Some("eve".to_owned());
    Ok("logged in")
}

async fn login(mut session: Session<Auth>) -> Result<String, String> {
    session.cycle_id().await.map_err(|e| e.to_string())?;
    session.user = Some("bob".to_owned());
    Ok(session.id().to_string())
}

async fn remember_me(mut session: Session<Auth>) -> &'static str {
    session
        .cookie_mut()
        .set_max_age(Some(Duration::from_secs(30 * 24 * 3600)));
    "remembered"
}

async fn save_then_change(mut session: Session<Auth>) -> Result<&'static str, String> {
    session.visits = 10;
    session.save().await.map_err(|e| e.to_string())?;
    session.user = Some("late".to_owned());
    Ok("ok")
}

/// Counts five visits, then gives the session a new id: `cycle_id` keeps
/// the data, `regenerate` starts over.
async fn visits_then_new_id(
    axum::extract::Path(how): axum::extract::Path<String>,
    mut session: Session<Auth>,
) -> Result<String, String> {
    session.visits += 5;
    match how.as_str() {
        "cycle" => session.cycle_id().await,
        _ => session.regenerate().await,
    }
    .map_err(|e| e.to_string())?;
    Ok(format!("{:?} {}", session.user, session.visits))
}

fn app(store: &CountingStore, layer: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    Router::new()
        .route("/visit", get(visit))
        .route("/show", get(show))
        .route("/login", get(login))
        .route("/login-plain", get(login_plain))
        .route("/cookie", get(cookie_settings))
        .route("/remember", get(remember_me))
        .route("/save", get(save_then_change))
        .route("/visits-then/{how}", get(visits_then_new_id))
        .layer(layer(SessionLayer::new(store.clone(), "keyboard cat")))
}

/// express-session #425, #1036: rotate the id at login and keep the data.
#[tokio::test]
async fn cycle_id_keeps_the_data_under_a_new_id() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l));
    let old = client.get("/visit").await.sid().unwrap();
    let reply = client.get("/login").await;
    let new = reply.sid().expect("the new id is sent");
    assert_ne!(old, new);
    assert_eq!(reply.body, new, "`id()` is the new id");
    assert!(store.record(&old).await.is_none(), "the old entry is gone");
    assert_eq!(
        client.get("/show").await.body,
        "Some(\"bob\") 1",
        "data kept, login added"
    );
}

/// On a session that is new in this request (not stored yet), `cycle_id`
/// keeps what the handler set and `regenerate` drops it, as on a stored one.
#[tokio::test]
async fn a_new_sessions_data_is_kept_by_cycle_id_and_dropped_by_regenerate() {
    let store = CountingStore::new();
    let mut cycled = Client::new(app(&store, |l| l));
    assert_eq!(cycled.get("/visits-then/cycle").await.body, "None 5");
    assert_eq!(cycled.get("/show").await.body, "None 5", "stored as kept");
    let mut regenerated = Client::new(app(&store, |l| l));
    assert_eq!(
        regenerated.get("/visits-then/regenerate").await.body,
        "None 0"
    );
    assert_eq!(regenerated.get("/show").await.body, "None 0");
}

/// `cycle_id` keeps the cookie settings (a remembered max age survives a
/// login); `cookie_mut().reset()` gives the layer's settings back.
#[tokio::test]
async fn cycle_id_keeps_the_cookie_settings_and_reset_gives_the_layers_back() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l));
    client.get("/remember").await;
    let kept = client.get("/login").await.set_cookie().unwrap();
    assert!(
        kept.contains("; Expires="),
        "cycle_id keeps the max age: {kept}"
    );

    let reply = client.get("/login-plain").await;
    let cookie = reply.set_cookie().expect("a new id is sent");
    assert!(
        !cookie.contains("Expires="),
        "back to a browser-session cookie: {cookie}"
    );
    let record = store.record(&reply.sid().unwrap()).await.unwrap();
    assert_eq!(record.cookie.original_max_age, None);
    assert_eq!(client.get("/show").await.body, "Some(\"eve\") 0");
}

/// express-session #452: a cookie-only change is saved and re-sent.
#[tokio::test]
async fn remember_me_is_saved_and_re_sent() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l));
    let first = client.get("/visit").await;
    assert!(
        !first.set_cookie().unwrap().contains("Expires="),
        "browser-session cookie at first"
    );
    let sid = first.sid().unwrap();
    let reply = client.get("/remember").await;
    let cookie = reply
        .set_cookie()
        .expect("a cookie-only change re-sends the cookie");
    assert!(cookie.contains("; Expires="), "{cookie}");
    let record = store.record(&sid).await.unwrap();
    assert_eq!(record.cookie.original_max_age, Some(30 * 24 * 3600 * 1000));
    // Read back as the setter took it: a Duration, and an expiry in 30 days.
    assert_eq!(client.get("/cookie").await.body, "Some(2592000s) Some(719)");
    // Later modifications keep re-sending it, as for any cookie with a max age.
    assert!(client.get("/visit").await.set_cookie().is_some());
}

/// express-session #624: an absolute lifetime, however often the session is used.
#[tokio::test]
async fn absolute_timeout_ends_a_busy_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| {
        l.max_age(Duration::from_secs(3600))
            .absolute_timeout(Duration::from_millis(400))
    }));
    let sid = client.get("/visit").await.sid().unwrap();
    assert!(
        store.record(&sid).await.unwrap().created.is_some(),
        "creation time stored"
    );
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.get("/visit").await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply = client.get("/visit").await;
    assert_eq!(
        reply.body, "None 1",
        "a fresh session after the absolute timeout"
    );
    assert_ne!(reply.sid().as_deref(), Some(sid.as_str()));
    assert!(
        store.record(&sid).await.is_none(),
        "the timed-out entry is removed"
    );
}

#[tokio::test]
async fn an_invalid_genid_is_a_clear_error_not_a_broken_cookie() {
    let store = CountingStore::new();
    let logs = LogCapture::install();
    let mut client = Client::new(app(&store, |l| l.genid(|| "../../etc/passwd".to_owned())));
    let reply = client.get("/visit").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("genid"), "{}", reply.body);
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
    assert!(
        logs.contents().contains("[A-Za-z0-9_-]"),
        "{}",
        logs.contents()
    );
}

#[tokio::test]
async fn a_valid_genid_names_the_session() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.genid(|| "custom-id_1".to_owned())));
    assert_eq!(
        client.get("/visit").await.sid().as_deref(),
        Some("custom-id_1")
    );
    assert!(store.record("custom-id_1").await.is_some());
}

/// An explicit save, then more changes: both land, the second at the end of the request.
#[tokio::test]
async fn save_then_change_writes_both() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l));
    let sid = client
        .get("/save")
        .await
        .sid()
        .expect("a new, modified session gets its cookie");
    let changed = store.calls.changed.lock().unwrap().clone();
    assert_eq!(changed, vec![vec!["visits"], vec!["user"]]);
    assert_eq!(client.get("/show").await.body, "Some(\"late\") 10");
    assert!(store.record(&sid).await.is_some());
}

/// A Secure cookie is not sent over plain HTTP (as express), and a new
/// session whose cookie is withheld is not stored: express stores one orphan
/// per such request, which no browser can ever name again.
#[tokio::test]
async fn secure_cookie_is_withheld_over_http_and_no_orphan_is_stored() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.secure(true)));
    for _ in 0..10 {
        let reply = client.get("/visit").await;
        assert_eq!(reply.set_cookie(), None);
    }
    assert_eq!(store.calls.saves(), 0);
    assert!(store.inner.is_empty());
}

#[tokio::test]
async fn secure_auto_and_same_site_auto_follow_the_trusted_proxy() {
    let store = CountingStore::new();
    let router = app(&store, |l| l.proxy(true).secure_auto().same_site_auto());
    let https = axum::http::Request::get("/visit")
        .header("x-forwarded-proto", "https, http")
        .body(axum::body::Body::empty())
        .unwrap();
    let cookie = support::send(&router, https).await.set_cookie().unwrap();
    assert!(
        cookie.ends_with("; HttpOnly; Secure; SameSite=None"),
        "{cookie}"
    );
    let http = axum::http::Request::get("/visit")
        .header("x-forwarded-proto", "http")
        .body(axum::body::Body::empty())
        .unwrap();
    let cookie = support::send(&router, http).await.set_cookie().unwrap();
    assert!(cookie.ends_with("; HttpOnly; SameSite=Lax"), "{cookie}");

    let untrusted = app(&store, |l| l.secure_auto());
    let spoofed = axum::http::Request::get("/visit")
        .header("x-forwarded-proto", "https")
        .body(axum::body::Body::empty())
        .unwrap();
    let cookie = support::send(&untrusted, spoofed)
        .await
        .set_cookie()
        .unwrap();
    assert!(
        !cookie.contains("Secure"),
        "X-Forwarded-Proto is ignored without proxy(true): {cookie}"
    );
}

/// A session stored before `absolute_timeout` was configured starts its absolute
/// life at its next use, and that start is stored, even by a read-only request.
#[tokio::test]
async fn absolute_timeout_adopts_older_sessions() {
    let store = CountingStore::new();
    let mut before = Client::new(app(&store, |l| l));
    let sid = before.get("/visit").await.sid().unwrap();
    assert!(store.record(&sid).await.unwrap().created.is_none());
    let mut after = Client::new(app(&store, |l| {
        l.absolute_timeout(Duration::from_secs(3600))
    }));
    after.cookie = before.cookie.clone();
    assert_eq!(after.get("/show").await.body, "None 1");
    assert!(
        store.record(&sid).await.unwrap().created.is_some(),
        "the start of its absolute life is stored"
    );
}
