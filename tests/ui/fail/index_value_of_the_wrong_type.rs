use session_runtime::{Session, Sessions};

#[derive(Session)]
struct Auth {
    #[session(index)]
    user: Option<String>,
}

async fn end_all(sessions: Sessions) {
    // An index is searched by a value of its field's type.
    let _ = sessions.destroy_all(Auth::user_index(), &Some(7u64)).await;
}

fn main() {}
