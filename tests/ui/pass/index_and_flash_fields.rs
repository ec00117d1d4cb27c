use axum::Router;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use session_runtime::{Flash, IndexKey, MemoryStore, Session, SessionLayer, Sessions};

#[derive(Clone, Serialize, Deserialize)]
struct UserId(u64);
impl IndexKey for UserId {}

// A private schema: its index functions are private too.
#[derive(Session)]
struct Auth {
    #[session(index)]
    user: Option<String>,
    #[session(index, rename = "uid")]
    id: Option<UserId>,
    #[session(index)]
    tenant: u32,
    #[session(flash)]
    notice: Flash<String>,
    #[session(flash, rename = "err")]
    error: Flash<Vec<String>>,
}

async fn logout_others(session: Session<Auth>, sessions: Sessions) -> String {
    let ended = sessions
        .destroy_all_except(Auth::user_index(), &session.user, &session.id())
        .await
        .unwrap_or(0);
    let listed = sessions.list(Auth::id_index(), &session.id).await.map(|l| l.len());
    let _ = (Auth::tenant_index().key(), listed, session.notice.get(), session.error.get());
    ended.to_string()
}

fn main() {
    assert_eq!(Auth::id_index().key(), "uid");
    let _app: Router = Router::new()
        .route("/", post(logout_others))
        .layer(SessionLayer::new(MemoryStore::new(), "secret"));
}
