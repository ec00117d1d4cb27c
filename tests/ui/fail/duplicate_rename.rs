use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(rename = "uid", rename = "user_id")]
    user: Option<u64>,
}

fn main() {}
