//! Flash fields (`#[session(flash)]`, `Flash<T>`): set in one request, seen by
//! the next request that extracts the schema, then gone, read or not; one
//! save to set, one save to remove; a redirect carries it.

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use session_runtime::{FileStore, Flash, MemoryStore, Session, SessionLayer, SessionStore};
use support::{Client, CountingStore, Gate, TempDir};

#[derive(Session)]
struct Notices {
    #[session(flash)]
    notice: Flash<String>,
    #[session(default = 0)]
    visits: u64,
}

/// Another schema of the same session, without the flash field.
#[derive(Session)]
struct Other {
    #[session(default = 0)]
    other: u64,
}

/// Sets the flash and redirects, as a form handler does.
async fn save(mut session: Session<Notices>) -> Redirect {
    session.notice.set("saved".to_owned());
    Redirect::to("/")
}

/// Shows the flash, touching nothing else.
async fn show(session: Session<Notices>) -> String {
    session.notice.get().cloned().unwrap_or_default()
}

/// Shows the flash and counts a visit: a mutable access that leaves the flash alone.
async fn visit(mut session: Session<Notices>) -> String {
    session.visits += 1;
    session.notice.get().cloned().unwrap_or_default()
}

/// Shows what it received, and leaves the same message again.
async fn again(mut session: Session<Notices>) -> String {
    let shown = session.notice.get().cloned().unwrap_or_default();
    session.notice.set(shown.clone());
    shown
}

/// Sets a flash, then takes it back.
async fn cancel(mut session: Session<Notices>) -> &'static str {
    session.notice.set("never".to_owned());
    session.notice.clear();
    "cancelled"
}

/// Two flash fields of one schema, as a page with a notice and an alert.
#[derive(Session)]
struct Banners {
    #[session(flash)]
    info: Flash<String>,
    #[session(flash)]
    warning: Flash<String>,
}

async fn set_banners(mut session: Session<Banners>) -> &'static str {
    session.info.set("info".to_owned());
    session.warning.set("warning".to_owned());
    "set"
}

async fn show_banners(session: Session<Banners>) -> String {
    let shown = |flash: &Flash<String>| flash.get().cloned().unwrap_or_default();
    format!("{}|{}", shown(&session.info), shown(&session.warning))
}

/// Shows the flash, then saves in the middle of the handler.
async fn show_and_save(mut session: Session<Notices>) -> Result<String, String> {
    let shown = session.notice.get().cloned().unwrap_or_default();
    session.save().await.map_err(|e| e.to_string())?;
    Ok(shown)
}

/// A request of the session that does not extract `Notices`.
async fn elsewhere(mut session: Session<Other>) -> String {
    session.other += 1;
    session.other.to_string()
}

fn app(store: impl SessionStore) -> Router {
    routes().layer(SessionLayer::new(store, "flash secret"))
}

fn routes() -> Router {
    Router::new()
        .route("/save", post(save))
        .route("/", get(show))
        .route("/visit", get(visit))
        .route("/again", get(again))
        .route("/cancel", post(cancel))
        .route("/elsewhere", get(elsewhere))
        .route("/banners", get(show_banners).post(set_banners))
        .route("/show-and-save", get(show_and_save))
}

/// The whole round trip on one store: set before a redirect, shown once
/// after it, not on a reload.
async fn shown_once_after_a_redirect(store: impl SessionStore) {
    let mut browser = Client::new(app(store));
    let saved = browser.post("/save").await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(saved.header("location"), Some("/"));
    assert!(saved.sid().is_some(), "the flash's session gets its cookie");
    let shown = browser.get("/").await;
    assert_eq!(
        (shown.status, shown.body.as_str()),
        (StatusCode::OK, "saved")
    );
    assert_eq!(
        browser.get("/").await.body,
        "",
        "shown once, not on a reload"
    );
    assert_eq!(browser.get("/visit").await.body, "");
}

#[tokio::test]
async fn a_flash_is_shown_once_after_a_redirect_in_the_memory_store() {
    shown_once_after_a_redirect(MemoryStore::new()).await;
}

#[tokio::test]
async fn a_flash_is_shown_once_after_a_redirect_in_the_file_store() {
    let dir = TempDir::new("flash");
    shown_once_after_a_redirect(FileStore::new(dir.path())).await;
    // Nothing of the flash is left in the session file.
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    assert_eq!(files.len(), 1);
    let stored = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        !stored.contains("notice") && !stored.contains("saved"),
        "{stored}"
    );
}

#[tokio::test]
async fn setting_costs_one_save_and_seeing_it_costs_one_save_then_none() {
    let store = CountingStore::new();
    let calls = store.calls.clone();
    let mut browser = Client::new(app(store.clone()));
    browser.post("/save").await;
    assert_eq!(calls.saves(), 1, "setting: the new session's one save");
    browser.get("/").await;
    assert_eq!(calls.saves(), 2, "seeing it: one save, which removes it");
    assert!(calls.changed.lock().unwrap().last().unwrap().is_empty());
    assert_eq!(calls.taken.lock().unwrap().last().unwrap(), &["notice"]);
    browser.get("/").await;
    browser.get("/").await;
    assert_eq!(calls.saves(), 2, "nothing to remove: no save");
}

#[tokio::test]
async fn a_save_in_the_handler_removes_the_flash_and_the_end_of_the_request_saves_nothing_more() {
    let store = CountingStore::new();
    let calls = store.calls.clone();
    let mut browser = Client::new(app(store.clone()));
    browser.post("/save").await;
    assert_eq!(browser.get("/show-and-save").await.body, "saved");
    assert_eq!(calls.saves(), 2, "the handler's save removed it; no other");
    assert_eq!(calls.taken.lock().unwrap().last().unwrap(), &["notice"]);
    assert_eq!(browser.get("/").await.body, "");
    assert_eq!(calls.saves(), 2);
}

#[tokio::test]
async fn every_flash_field_seen_is_removed() {
    let store = CountingStore::new();
    let calls = store.calls.clone();
    let mut browser = Client::new(app(store.clone()));
    browser.post("/banners").await;
    assert_eq!(browser.get("/banners").await.body, "info|warning");
    assert_eq!(
        calls.taken.lock().unwrap().last().unwrap(),
        &["info", "warning"]
    );
    assert_eq!(browser.get("/banners").await.body, "|", "each shown once");
}

#[tokio::test]
async fn a_request_that_only_mutates_other_fields_still_removes_the_flash() {
    let mut browser = Client::new(app(MemoryStore::new()));
    browser.post("/save").await;
    assert_eq!(browser.get("/visit").await.body, "saved");
    assert_eq!(browser.get("/visit").await.body, "");
    assert_eq!(browser.get("/").await.body, "");
}

#[tokio::test]
async fn the_same_message_set_again_is_shown_again() {
    // Received "saved", left "saved" again: not mistaken for no change.
    let store = CountingStore::new();
    let calls = store.calls.clone();
    let mut browser = Client::new(app(store));
    browser.post("/save").await;
    assert_eq!(browser.get("/again").await.body, "saved");
    // Written as a change; the store is not also asked to remove it.
    assert_eq!(calls.changed.lock().unwrap().last().unwrap(), &["notice"]);
    assert!(calls.taken.lock().unwrap().last().unwrap().is_empty());
    assert_eq!(browser.get("/again").await.body, "saved");
    assert_eq!(browser.get("/").await.body, "saved");
    assert_eq!(browser.get("/").await.body, "");
}

#[tokio::test]
async fn a_request_of_another_schema_leaves_the_flash_for_the_next_that_shows_it() {
    let mut browser = Client::new(app(MemoryStore::new()));
    browser.post("/save").await;
    assert_eq!(browser.get("/elsewhere").await.body, "1");
    assert_eq!(browser.get("/").await.body, "saved");
    assert_eq!(browser.get("/").await.body, "");
}

#[tokio::test]
async fn a_flash_cleared_in_its_request_is_never_shown() {
    let store = CountingStore::new();
    let calls = store.calls.clone();
    let mut browser = Client::new(app(store));
    browser.post("/save").await;
    assert_eq!(browser.post("/cancel").await.body, "cancelled");
    assert_eq!(
        browser.get("/").await.body,
        "",
        "the received one was seen by /cancel"
    );
    assert_eq!(browser.get("/").await.body, "");
    // /cancel saved once (the removal of "saved"), nothing stored for "never".
    assert_eq!(calls.saves(), 2);
    assert!(calls.changed.lock().unwrap().last().unwrap().is_empty());
    assert_eq!(calls.taken.lock().unwrap().last().unwrap(), &["notice"]);
}

#[tokio::test]
async fn a_flash_survives_cycle_id_and_is_seen_under_the_new_id() {
    async fn login(mut session: Session<Notices>) -> Redirect {
        session.cycle_id().await.unwrap();
        session.notice.set("welcome".to_owned());
        Redirect::to("/")
    }
    let router = routes()
        .route("/login", post(login))
        .layer(SessionLayer::new(MemoryStore::new(), "flash secret"));
    let mut browser = Client::new(router);
    let first = browser.post("/save").await.sid().unwrap();
    let second = browser.post("/login").await.sid().unwrap();
    assert_ne!(first, second);
    assert_eq!(browser.get("/").await.body, "welcome");
    assert_eq!(browser.get("/").await.body, "");
}

/// Shows the flash, then waits on the gate before the request ends.
async fn slow_show(State(gate): State<Arc<Gate>>, session: Session<Notices>) -> String {
    let shown = session.notice.get().cloned().unwrap_or_default();
    gate.hold().await;
    shown
}

/// A request that read "saved" and ends after another request left "new"
/// does not remove "new": the next request sees it.
async fn a_reader_leaves_a_newer_message(store: impl SessionStore) {
    async fn leave_new(mut session: Session<Notices>) -> &'static str {
        session.notice.set("new".to_owned());
        "left"
    }
    let gate = Arc::new(Gate::default());
    let gated = Router::new()
        .route("/slow", get(slow_show))
        .with_state(Arc::clone(&gate));
    let router = routes()
        .route("/new", post(leave_new))
        .merge(gated)
        .layer(SessionLayer::new(store, "flash secret"));
    let mut browser = Client::new(router.clone());
    browser.post("/save").await;
    let mut slow_tab = Client::new(router.clone());
    slow_tab.cookie = browser.cookie.clone();
    let slow = tokio::spawn(async move { slow_tab.get("/slow").await });
    tokio::time::timeout(Duration::from_secs(10), gate.entered.notified())
        .await
        .expect("the slow reader has the flash");
    // The other tab saw nothing yet (the reader has not saved), and leaves "new".
    assert_eq!(browser.post("/new").await.body, "left");
    gate.release.notify_one();
    let slow = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("the slow reader finished")
        .unwrap();
    assert_eq!(slow.body, "saved");
    assert_eq!(
        browser.get("/").await.body,
        "new",
        "the reader removed a newer message"
    );
    assert_eq!(browser.get("/").await.body, "");
}

#[tokio::test]
async fn a_reader_leaves_a_newer_message_in_the_memory_store() {
    a_reader_leaves_a_newer_message(MemoryStore::new()).await;
}

#[tokio::test]
async fn a_reader_leaves_a_newer_message_in_the_file_store() {
    let dir = TempDir::new("flash-newer");
    a_reader_leaves_a_newer_message(FileStore::new(dir.path())).await;
}

/// A middleware that extracts the schema first (and drops it), then lets
/// the handler extract it again: both see the flash; it is still removed.
#[tokio::test]
async fn every_view_of_the_request_that_sees_a_flash_sees_it() {
    use axum::extract::{FromRequestParts, Request};
    use axum::middleware::{Next, from_fn};
    use axum::response::Response;
    async fn first_view(request: Request, next: Next) -> Response {
        let (mut parts, body) = request.into_parts();
        let first = Session::<Notices>::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        let seen = first.notice.get().cloned().unwrap_or_default();
        drop(first);
        let mut response = next.run(Request::from_parts(parts, body)).await;
        response
            .headers_mut()
            .insert("x-first-view", seen.parse().unwrap());
        response
    }
    let router = routes()
        .layer(from_fn(first_view))
        .layer(SessionLayer::new(MemoryStore::new(), "flash secret"));
    let mut browser = Client::new(router);
    browser.post("/save").await;
    let shown = browser.get("/").await;
    assert_eq!(shown.header("x-first-view"), Some("saved"));
    assert_eq!(
        shown.body, "saved",
        "the second view of the request saw nothing"
    );
    let again = browser.get("/").await;
    assert_eq!(
        (again.header("x-first-view"), again.body.as_str()),
        (Some(""), "")
    );
}

/// A middleware's view is shown the flash and leaves a new message; the
/// handler's view, later in the same request, sees that new message (and so
/// takes it), not the one the middleware was shown.
#[tokio::test]
async fn a_later_view_sees_the_message_an_earlier_view_of_the_request_left() {
    use axum::extract::{FromRequestParts, Request};
    use axum::middleware::{Next, from_fn};
    use axum::response::Response;
    async fn reply_first(request: Request, next: Next) -> Response {
        let (mut parts, body) = request.into_parts();
        let mut first = Session::<Notices>::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        let seen = first.notice.get().cloned().unwrap_or_default();
        first.notice.set(format!("after {seen}"));
        drop(first);
        next.run(Request::from_parts(parts, body)).await
    }
    let router = routes()
        .route("/relay", get(show).layer(from_fn(reply_first)))
        .layer(SessionLayer::new(MemoryStore::new(), "flash secret"));
    let mut browser = Client::new(router);
    browser.post("/save").await;
    assert_eq!(browser.get("/relay").await.body, "after saved");
    assert_eq!(
        browser.get("/").await.body,
        "",
        "the handler's view took it"
    );
}
