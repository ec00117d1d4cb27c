//! `cookie option > path "/foo/bar"`.

use crate::harness::express_layer;
use axum::Router;
use axum::routing::get;
use session_runtime::{Session, SessionRejection};

use crate::harness::{Counter, SECRET};
use crate::support::{CountingStore, get_with};

async fn maybe_session(session: Result<Session<Counter>, SessionRejection>) -> String {
    match session {
        Ok(mut session) => {
            session.count += 1;
            "session".to_owned()
        }
        Err(_) => "no session".to_owned(),
    }
}

fn path_app(store: &CountingStore) -> Router {
    Router::new()
        .route("/", get(maybe_session))
        .route("/bar", get(maybe_session))
        .route("/foo/bar", get(maybe_session))
        .route("/foo/bar/baz", get(maybe_session))
        .layer(express_layer(store.clone(), SECRET).path("/foo/bar"))
}

#[tokio::test]
async fn not_set_cookie_for_root() {
    let store = CountingStore::new();
    let reply = get_with(&path_app(&store), "/", &[]).await;
    assert_eq!(reply.body, "no session");
    assert_eq!(reply.set_cookie(), None);
    assert_eq!(store.calls.writes(), 0);
}

#[tokio::test]
async fn not_set_cookie_for_http_foo_bar() {
    // An absolute-form request target: the path is `/bar`, the host `foo`.
    let store = CountingStore::new();
    let reply = get_with(&path_app(&store), "http://foo/bar", &[]).await;
    assert_eq!(reply.body, "no session");
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn set_cookie_for_foo_bar() {
    let store = CountingStore::new();
    let reply = get_with(&path_app(&store), "/foo/bar", &[]).await;
    assert_eq!(reply.body, "session");
    let set = reply.set_cookie().expect("Set-Cookie");
    assert!(set.contains("; Path=/foo/bar;"), "{set}");
}

#[tokio::test]
async fn set_cookie_for_foo_bar_baz() {
    let store = CountingStore::new();
    let reply = get_with(&path_app(&store), "/foo/bar/baz", &[]).await;
    assert_eq!(reply.body, "session");
    assert!(reply.set_cookie().is_some());
}

mod when_mounted_at_foo {
    use super::*;

    fn mounted_app(store: &CountingStore) -> Router {
        let inner = Router::new()
            .route("/bar", get(maybe_session))
            .route("/foo/bar", get(maybe_session))
            .layer(express_layer(store.clone(), SECRET).path("/foo/bar"));
        Router::new().nest("/foo", inner)
    }

    #[tokio::test]
    async fn set_cookie_for_foo_bar() {
        let store = CountingStore::new();
        let reply = get_with(&mounted_app(&store), "/foo/bar", &[]).await;
        assert_eq!(reply.body, "session");
        assert!(reply.set_cookie().is_some());
    }

    #[tokio::test]
    async fn not_set_cookie_for_foo_foo_bar() {
        let store = CountingStore::new();
        let reply = get_with(&mounted_app(&store), "/foo/foo/bar", &[]).await;
        assert_eq!(reply.body, "no session");
        assert_eq!(reply.set_cookie(), None);
    }
}
