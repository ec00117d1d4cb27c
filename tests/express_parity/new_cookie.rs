//! test/cookie.js, `new Cookie()` and `new Cookie(opts)`: the cookie
//! settings a new session gets.

use crate::harness::express_layer;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use session_runtime::{CookieMeta, Priority, SessionLayer};

use crate::harness::{MINUTE, SECRET, app, peek};
use crate::support::clock::now_ms;
use crate::support::{Client, CountingStore, get_with};

/// The stored cookie settings of a new session created under `configure`.
async fn new_cookie(configure: impl FnOnce(SessionLayer) -> SessionLayer) -> CookieMeta {
    let store = CountingStore::new();
    let router = app(&store, |l| configure(l.save_uninitialized(true)));
    let sid = Client::new(router).get("/peek").await.sid().unwrap();
    store.record(&sid).await.unwrap().cookie
}

#[tokio::test]
async fn create_a_new_cookie_object() {
    assert_eq!(new_cookie(|l| l).await, CookieMeta::default());
}

#[tokio::test]
async fn default_expires_to_null() {
    assert_eq!(new_cookie(|l| l).await.expires, None);
}

#[tokio::test]
async fn default_http_only_to_true() {
    assert!(new_cookie(|l| l).await.http_only);
}

#[tokio::test]
async fn default_path_to_root() {
    assert_eq!(new_cookie(|l| l).await.path, "/");
}

#[tokio::test]
async fn default_max_age_to_null() {
    assert_eq!(new_cookie(|l| l).await.original_max_age, None);
}

mod with_options {
    use super::*;

    #[tokio::test]
    async fn create_a_new_cookie_object() {
        let cookie = new_cookie(|l| {
            l.path("/")
                .domain("example.com")
                .http_only(false)
                .max_age(MINUTE)
        })
        .await;
        assert_eq!(cookie.domain.as_deref(), Some("example.com"));
        assert!(!cookie.http_only);
        assert_eq!(cookie.original_max_age, Some(60_000));
    }

    mod http_only {
        use super::*;

        #[tokio::test]
        async fn set_http_only() {
            assert!(!new_cookie(|l| l.http_only(false)).await.http_only);
        }
    }

    mod max_age {
        use super::*;

        #[tokio::test]
        async fn set_expires() {
            let before = now_ms();
            let expires = new_cookie(|l| l.max_age(Duration::from_secs(1)))
                .await
                .expires
                .unwrap();
            assert!(
                (before + 1000..=now_ms() + 1000).contains(&expires),
                "{expires} is not now + 1 s"
            );
        }

        #[tokio::test]
        async fn set_max_age() {
            let cookie = new_cookie(|l| l.max_age(Duration::from_secs(1))).await;
            assert_eq!(cookie.original_max_age, Some(1000));
        }
    }

    mod partitioned {
        use super::*;

        #[tokio::test]
        async fn set_partitioned() {
            assert_eq!(
                new_cookie(|l| l.partitioned(true)).await.partitioned,
                Some(true)
            );
        }
    }

    mod path {
        use super::*;

        #[tokio::test]
        async fn set_path() {
            let store = CountingStore::new();
            let router = Router::new().route("/foo/bar", get(peek)).layer(
                express_layer(store.clone(), SECRET)
                    .save_uninitialized(true)
                    .path("/foo/bar"),
            );
            let sid = get_with(&router, "/foo/bar", &[]).await.sid().unwrap();
            assert_eq!(store.record(&sid).await.unwrap().cookie.path, "/foo/bar");
        }
    }

    mod priority {
        use super::*;

        #[tokio::test]
        async fn set_priority() {
            assert_eq!(
                new_cookie(|l| l.priority(Priority::High)).await.priority,
                Some(Priority::High)
            );
        }
    }

    mod expires {
        use super::*;

        #[tokio::test]
        async fn set_expires() {
            let at = std::time::UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100-01-01
            assert_eq!(
                new_cookie(|l| l.expires(at)).await.expires,
                Some(4_102_444_800_000)
            );
        }

        #[tokio::test]
        async fn set_max_age() {
            // express: setting `expires` records the time left as `originalMaxAge`.
            let at = std::time::SystemTime::now() + Duration::from_secs(3600);
            let before = now_ms();
            let max_age = new_cookie(|l| l.expires(at))
                .await
                .original_max_age
                .unwrap();
            assert!(
                (3_590_000..=3_600_000).contains(&max_age),
                "{max_age} ms left, {} ms after start",
                now_ms() - before
            );
        }
    }
}
