//! `req.session > .cookie`: the cookie a session's responses carry, and the
//! settings a handler sees through `Session::cookie()`.

use crate::harness::express_layer;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use session_runtime::{MemoryStore, Priority, Session, SessionLayer};

use crate::harness::{Counter, MINUTE, SECRET, app, increment, secure_reply};
use crate::support::clock::{expires_in_secs, http_date_secs};
use crate::support::wire::{self, serve};
use crate::support::{Client, CountingStore, expires_attr, get_with};

#[tokio::test]
async fn serialize_as_parameters() {
    let store = CountingStore::new();
    let router = app(&store, |l| {
        l.save_uninitialized(false).http_only(false).secure(true)
    });
    let reply = get_with(&router, "https://example.com/", &[]).await;
    let set = reply.set_cookie().expect("Set-Cookie over https");
    assert!(set.ends_with("; Path=/; Secure"), "{set}");
    assert!(!set.contains("HttpOnly"), "{set}");
}

#[tokio::test]
async fn default_to_a_browser_session_length_cookie() {
    let store = CountingStore::new();
    let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
        .get("/")
        .await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; Path=/; HttpOnly"), "{set}");
    assert_eq!(expires_attr(&set), None);
}

#[tokio::test]
async fn set_cookie_only_once_for_browser_session_cookies() {
    let store = CountingStore::new();
    let mut client = Client::new(app(&store, |l| l.save_uninitialized(false).resave(false)));
    assert!(client.get("/").await.set_cookie().is_some());
    let second = client.get("/").await;
    assert_eq!(second.body, "2");
    assert_eq!(second.set_cookie(), None);
}

#[tokio::test]
async fn override_defaults() {
    let store = CountingStore::new();
    let router = Router::new().route("/admin", get(increment)).layer(
        express_layer(store.clone(), SECRET)
            .save_uninitialized(false)
            .path("/admin")
            .http_only(false)
            .secure(false)
            .priority(Priority::High),
    );
    let reply = get_with(&router, "/admin", &[]).await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; Path=/admin; Priority=High"), "{set}");
    assert!(
        !set.contains("HttpOnly") && !set.contains("Secure"),
        "{set}"
    );
}

#[tokio::test]
#[should_panic(expected = "invalid session cookie domain")]
async fn forward_errors_setting_cookie() {
    // differs: invalid attributes are refused when the layer is built, not per response.
    let _ = express_layer(MemoryStore::new(), SECRET).domain("example.com; Secure");
}

#[tokio::test]
async fn preserve_cookies_set_before_write_head_is_called() {
    let store = CountingStore::new();
    let router = Router::new()
        .route(
            "/",
            get(|mut s: Session<Counter>| async move {
                s.count += 1;
                ([(header::SET_COOKIE, "previous=cookieval")], "ok").into_response()
            }),
        )
        .layer(express_layer(store.clone(), SECRET).save_uninitialized(false));
    let reply = get_with(&router, "/", &[]).await;
    let cookies = reply.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert_eq!(cookies[0], "previous=cookieval");
    assert!(cookies[1].starts_with("connect.sid=s%3A"), "{cookies:?}");
}

#[tokio::test]
async fn preserve_cookies_set_in_write_head() {
    // writeHead's analogue: a middleware below the layer adds a cookie to the head.
    let store = CountingStore::new();
    let router = Router::new()
        .route("/", get(increment))
        .layer(axum::middleware::map_response(
            |mut r: Response| async move {
                r.headers_mut().append(
                    header::SET_COOKIE,
                    header::HeaderValue::from_static("previous=cookieval"),
                );
                r
            },
        ))
        .layer(express_layer(store.clone(), SECRET).save_uninitialized(false));
    let cookies = get_with(&router, "/", &[]).await.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert_eq!(cookies[0], "previous=cookieval");
    assert!(cookies[1].starts_with("connect.sid=s%3A"), "{cookies:?}");
}

mod original_max_age {
    use super::*;

    #[tokio::test]
    async fn equal_original_max_age() {
        let store = CountingStore::new();
        let sid = Client::new(app(&store, |l| {
            l.save_uninitialized(false).max_age(Duration::from_secs(2))
        }))
        .get("/")
        .await
        .sid()
        .unwrap();
        let cookie = store.record(&sid).await.unwrap().cookie;
        assert_eq!(cookie.original_max_age, Some(2000));
    }

    #[tokio::test]
    async fn equal_original_max_age_for_all_requests() {
        let store = CountingStore::new();
        let mut client = Client::new(app(&store, |l| {
            l.save_uninitialized(false).max_age(Duration::from_secs(2))
        }));
        let sid = client.get("/").await.sid().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.get("/").await;
        client.get("/peek").await;
        let cookie = store.record(&sid).await.unwrap().cookie;
        assert_eq!(cookie.original_max_age, Some(2000));
    }

    #[tokio::test]
    async fn equal_original_max_age_as_the_handler_sees_it() {
        let store = CountingStore::new();
        let mut client = Client::new(app(&store, |l| {
            l.save_uninitialized(false).max_age(Duration::from_secs(2))
        }));
        client.get("/").await;
        assert_eq!(client.get("/cookie").await.body, "Some(2000)");
    }
}

mod secure {
    use super::*;

    #[tokio::test]
    async fn set_cookie_when_secure() {
        let store = CountingStore::new();
        let router = app(&store, |l| l.save_uninitialized(false).secure(true));
        let reply = get_with(&router, "https://example.com/", &[]).await;
        let set = reply.set_cookie().expect("Set-Cookie over https");
        assert!(set.ends_with("; Path=/; HttpOnly; Secure"), "{set}");
    }

    #[tokio::test]
    async fn not_set_cookie_when_insecure() {
        let (store, reply) = secure_reply(|l| l.secure(true), "/", None).await;
        assert_eq!(reply.set_cookie(), None);
        assert_eq!(
            store.calls.saves(),
            0,
            "no orphan: a session whose cookie can never be sent is not stored (express stores it)"
        );
    }
}

mod max_age {
    use super::*;

    #[tokio::test]
    async fn set_cookie_expires_relative_to_max_age() {
        // express compares Expires with the Date header; over a real socket here.
        let store = CountingStore::new();
        let router = app(&store, |l| {
            l.save_uninitialized(false).max_age(Duration::from_secs(2))
        });
        let addr = serve(router).await;
        let reply = wire::request(addr, "GET", "/", None).await;
        let set = reply.set_cookie().unwrap();
        let date = http_date_secs(reply.header("date").expect("Date header"));
        let delta = http_date_secs(expires_attr(&set).unwrap()) - date;
        assert!(
            (1..=3).contains(&delta),
            "Expires - Date = {delta} s: {set}"
        );
    }

    fn max_age_app(store: &CountingStore, max_age: Duration) -> Router {
        Router::new()
            .route(
                "/",
                get(move |mut s: Session<Counter>| async move {
                    s.cookie_mut().set_max_age(Some(max_age));
                    "ok"
                }),
            )
            .layer(
                express_layer(store.clone(), SECRET)
                    .save_uninitialized(false)
                    .max_age(MINUTE),
            )
    }

    #[tokio::test]
    async fn modify_cookie_expires_when_changed() {
        let store = CountingStore::new();
        let set = Client::new(max_age_app(&store, Duration::from_secs(5)))
            .get("/")
            .await
            .set_cookie()
            .unwrap();
        let delta = expires_in_secs(&set);
        assert!((4..=6).contains(&delta), "{delta} s: {set}");
    }

    #[tokio::test]
    async fn modify_cookie_expires_when_changed_to_large_value() {
        let store = CountingStore::new();
        let set = Client::new(max_age_app(&store, Duration::from_millis(3_000_000_000)))
            .get("/")
            .await
            .set_cookie()
            .unwrap();
        let delta = expires_in_secs(&set);
        assert!((2_999_998..=3_000_001).contains(&delta), "{delta} s: {set}");
    }
}

mod expires {
    use super::*;

    mod when_null {
        use super::*;

        #[tokio::test]
        async fn be_a_browser_session_cookie() {
            let store = CountingStore::new();
            let reply = Client::new(app(&store, |l| l.save_uninitialized(false)))
                .get("/")
                .await;
            assert_eq!(expires_attr(&reply.set_cookie().unwrap()), None);
            let record = store.record(&reply.sid().unwrap()).await.unwrap();
            assert_eq!(record.cookie.expires, None);
            assert_eq!(record.cookie.original_max_age, None);
        }

        #[tokio::test]
        async fn not_reset_cookie() {
            let store = CountingStore::new();
            let mut client = Client::new(app(&store, |l| l.save_uninitialized(true).resave(true)));
            assert!(client.get("/peek").await.set_cookie().is_some());
            assert_eq!(client.get("/peek").await.set_cookie(), None);
        }

        #[tokio::test]
        async fn not_reset_cookie_when_modified() {
            let store = CountingStore::new();
            let mut client = Client::new(app(&store, |l| l.save_uninitialized(true).resave(true)));
            assert!(client.get("/peek").await.set_cookie().is_some());
            let modified = client.get("/").await;
            assert_eq!(modified.body, "1");
            assert_eq!(modified.set_cookie(), None);
        }
    }

    mod when_given_a_date {
        use super::*;

        #[tokio::test]
        async fn set_absolute() {
            // express uses the epoch; a session expiring before it starts would not be
            // stored, so a fixed future date stands in for it.
            let store = CountingStore::new();
            let at = std::time::UNIX_EPOCH + Duration::from_secs(4_102_444_800);
            let router = app(&store, |l| l.save_uninitialized(false).expires(at));
            let set = get_with(&router, "/", &[]).await.set_cookie().unwrap();
            assert_eq!(
                expires_attr(&set),
                Some("Fri, 01 Jan 2100 00:00:00 GMT"),
                "{set}"
            );
        }
    }
}

mod partitioned {
    use super::*;

    /// The cookie of a new session's first response under `configure`.
    async fn first_cookie(configure: impl FnOnce(SessionLayer) -> SessionLayer) -> String {
        let store = CountingStore::new();
        Client::new(app(&store, |l| configure(l.save_uninitialized(false))))
            .get("/")
            .await
            .set_cookie()
            .unwrap()
    }

    #[tokio::test]
    async fn by_default_not_set() {
        let set = first_cookie(|l| l).await;
        assert!(!set.contains("Partitioned"), "{set}");
    }

    #[tokio::test]
    async fn when_false_not_set() {
        let set = first_cookie(|l| l.partitioned(false)).await;
        assert!(!set.contains("Partitioned"), "{set}");
    }

    #[tokio::test]
    async fn when_true_set() {
        let set = first_cookie(|l| l.partitioned(true)).await;
        assert!(set.ends_with("; Path=/; HttpOnly; Partitioned"), "{set}");
    }
}
