use session_runtime::Session;

#[derive(Session)]
#[session(crate = "session_runtime")]
struct Auth {
    user: Option<String>,
}

fn main() {}
