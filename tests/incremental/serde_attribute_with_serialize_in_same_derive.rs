// expected errors: 0
// `Serialize` in the same `#[derive(...)]` as `Session` owns `#[serde(...)]`,
// though the `Session` derive cannot see it.
use serde::Serialize;
use session_runtime::Session;

#[derive(Session, Serialize)]
struct Auth {
    #[serde(rename = "uid")]
    user: Option<u64>,
}

fn main() {
    let _ = Auth { user: None }.user;
}
