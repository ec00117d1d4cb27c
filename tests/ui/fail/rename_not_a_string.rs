use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(rename = uid)]
    user: Option<u64>,
}

fn main() {}
