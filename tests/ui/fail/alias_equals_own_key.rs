use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(alias = "user")]
    user: Option<String>,
}

fn main() {}
