//! `proxy option`.

use crate::harness::secure_reply;

mod when_enabled {
    use super::*;

    #[tokio::test]
    async fn trust_x_forwarded_proto_when_string() {
        let (_, reply) = secure_reply(|l| l.proxy(true).secure(true), "/", Some("https")).await;
        let set = reply.set_cookie().expect("secure per the trusted proxy");
        assert!(set.ends_with("; Secure"), "{set}");
    }

    #[tokio::test]
    async fn trust_x_forwarded_proto_when_comma_separated_list() {
        let (_, reply) =
            secure_reply(|l| l.proxy(true).secure(true), "/", Some("https,http")).await;
        assert!(reply.set_cookie().is_some());
        let (_, reply) =
            secure_reply(|l| l.proxy(true).secure(true), "/", Some(" HTTPS , http")).await;
        assert!(reply.set_cookie().is_some(), "trimmed and case-insensitive");
        let (_, reply) =
            secure_reply(|l| l.proxy(true).secure(true), "/", Some("http,https")).await;
        assert_eq!(reply.set_cookie(), None, "only the first value counts");
    }

    #[tokio::test]
    async fn work_when_no_header() {
        let (store, reply) = secure_reply(|l| l.proxy(true).secure(true), "/", None).await;
        assert_eq!(reply.set_cookie(), None);
        assert_eq!(
            store.calls.saves(),
            0,
            "no orphan: a session whose cookie can never be sent is not stored (express stores it)"
        );
    }
}

mod when_disabled {
    use super::*;

    #[tokio::test]
    async fn not_trust_x_forwarded_proto() {
        let (store, reply) =
            secure_reply(|l| l.proxy(false).secure(true), "/", Some("https")).await;
        assert_eq!(reply.set_cookie(), None);
        assert_eq!(
            store.calls.saves(),
            0,
            "no orphan: a session whose cookie can never be sent is not stored (express stores it)"
        );
    }
}

mod when_unspecified {
    use super::*;

    #[tokio::test]
    async fn not_trust_x_forwarded_proto() {
        let (_, reply) = secure_reply(|l| l.secure(true), "/", Some("https")).await;
        assert_eq!(reply.set_cookie(), None);
    }

    #[tokio::test]
    async fn use_req_secure() {
        // differs: there is no `req.secure`; an `https` request URI is what counts.
        let (_, reply) = secure_reply(|l| l.secure(true), "https://example.com/", None).await;
        assert!(reply.set_cookie().unwrap().ends_with("; Secure"));
    }
}
