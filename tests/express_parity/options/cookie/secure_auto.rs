//! `cookie option > secure "auto"`.

use crate::harness::secure_reply;

#[tokio::test]
async fn set_secure_when_x_forwarded_proto_is_https_and_proxy_true() {
    let (_, reply) = secure_reply(|l| l.proxy(true).secure_auto(), "/", Some("https")).await;
    assert!(reply.set_cookie().unwrap().ends_with("; HttpOnly; Secure"));
}

#[tokio::test]
async fn not_set_secure_when_x_forwarded_proto_is_https_and_proxy_false() {
    let (_, reply) = secure_reply(|l| l.proxy(false).secure_auto(), "/", Some("https")).await;
    let set = reply
        .set_cookie()
        .expect("an insecure session's cookie is sent");
    assert!(!set.contains("Secure"), "{set}");
}

#[tokio::test]
async fn set_secure_if_req_secure_true_when_proxy_unspecified() {
    let (_, reply) = secure_reply(|l| l.secure_auto(), "https://example.com/", None).await;
    assert!(reply.set_cookie().unwrap().ends_with("; HttpOnly; Secure"));
}

#[tokio::test]
async fn not_set_secure_if_req_secure_false_when_proxy_unspecified() {
    let (_, reply) = secure_reply(|l| l.secure_auto(), "/", None).await;
    let set = reply.set_cookie().unwrap();
    assert!(set.ends_with("; Path=/; HttpOnly"), "{set}");
}
