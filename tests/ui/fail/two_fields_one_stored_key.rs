use session_runtime::Session;

#[derive(Session)]
struct Auth {
    user: Option<String>,
    #[session(rename = "user")]
    name: Option<String>,
}

fn main() {}
