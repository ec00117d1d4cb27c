use session_runtime::Session;

#[derive(Session)]
#[session(rename = "auth")]
struct Auth {
    user: Option<String>,
}

fn main() {}
