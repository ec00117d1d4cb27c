use session_runtime::Session;

// `#[serde(...)]` does nothing for `Session`, on the struct either.
#[derive(Session)]
#[serde(rename_all = "camelCase")]
struct Auth {
    user_id: Option<u64>,
}

fn main() {}
