// expected errors: 0
// A later `#[derive(Deserialize)]` owns `#[serde(...)]`, on the struct and on fields.
use serde::Deserialize;
use session_runtime::Session;

#[derive(Session)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Auth {
    #[serde(default)]
    user_id: Option<u64>,
}

fn main() {
    let _ = Auth { user_id: None }.user_id;
}
