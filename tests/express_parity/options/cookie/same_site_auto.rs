//! `cookie option > sameSite "auto"`.

use crate::harness::secure_reply;

#[tokio::test]
async fn set_same_site_none_for_secure_connections() {
    let (_, reply) = secure_reply(|l| l.same_site_auto(), "https://example.com/", None).await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; HttpOnly; SameSite=None"), "{set}");
}

#[tokio::test]
async fn set_same_site_lax_for_insecure_connections() {
    let (_, reply) = secure_reply(|l| l.same_site_auto(), "/", None).await;
    assert!(
        reply
            .set_cookie()
            .unwrap()
            .ends_with("; HttpOnly; SameSite=Lax")
    );
}

mod proxy_true {
    use super::*;

    #[tokio::test]
    async fn set_none_when_x_forwarded_proto_is_https() {
        let (_, reply) = secure_reply(|l| l.proxy(true).same_site_auto(), "/", Some("https")).await;
        assert!(reply.set_cookie().unwrap().ends_with("; SameSite=None"));
    }

    #[tokio::test]
    async fn set_lax_when_x_forwarded_proto_is_http() {
        let (_, reply) = secure_reply(|l| l.proxy(true).same_site_auto(), "/", Some("http")).await;
        assert!(reply.set_cookie().unwrap().ends_with("; SameSite=Lax"));
    }
}

mod proxy_false {
    use super::*;

    #[tokio::test]
    async fn set_lax_when_x_forwarded_proto_is_https() {
        let (_, reply) =
            secure_reply(|l| l.proxy(false).same_site_auto(), "/", Some("https")).await;
        assert!(reply.set_cookie().unwrap().ends_with("; SameSite=Lax"));
    }
}

mod with_secure_auto {
    use super::*;

    #[tokio::test]
    async fn set_secure_and_none_when_secure() {
        let (_, reply) = secure_reply(
            |l| l.secure_auto().same_site_auto(),
            "https://example.com/",
            None,
        )
        .await;
        assert!(
            reply
                .set_cookie()
                .unwrap()
                .ends_with("; HttpOnly; Secure; SameSite=None")
        );
    }

    #[tokio::test]
    async fn set_neither_secure_nor_none_when_insecure() {
        let (_, reply) = secure_reply(|l| l.secure_auto().same_site_auto(), "/", None).await;
        let set = reply.set_cookie().unwrap();
        assert!(set.ends_with("; HttpOnly; SameSite=Lax"), "{set}");
    }
}

mod with_secure_false {
    use super::*;

    #[tokio::test]
    async fn set_none_without_secure_when_secure() {
        let (_, reply) = secure_reply(
            |l| l.secure(false).same_site_auto(),
            "https://example.com/",
            None,
        )
        .await;
        let set = reply.set_cookie().unwrap();
        assert!(set.ends_with("; HttpOnly; SameSite=None"), "{set}");
    }

    #[tokio::test]
    async fn set_lax_without_secure_when_insecure() {
        let (_, reply) = secure_reply(|l| l.secure(false).same_site_auto(), "/", None).await;
        let set = reply.set_cookie().unwrap();
        assert!(set.ends_with("; HttpOnly; SameSite=Lax"), "{set}");
    }
}

mod with_secure_true {
    use super::*;

    #[tokio::test]
    async fn set_secure_and_none_when_secure() {
        let (_, reply) = secure_reply(
            |l| l.secure(true).same_site_auto(),
            "https://example.com/",
            None,
        )
        .await;
        assert!(
            reply
                .set_cookie()
                .unwrap()
                .ends_with("; HttpOnly; Secure; SameSite=None")
        );
    }

    #[tokio::test]
    async fn not_set_cookie_when_insecure() {
        let (store, reply) = secure_reply(|l| l.secure(true).same_site_auto(), "/", None).await;
        assert_eq!(reply.set_cookie(), None);
        assert_eq!(
            store.calls.saves(),
            0,
            "no orphan: a session whose cookie can never be sent is not stored (express stores it)"
        );
    }
}
