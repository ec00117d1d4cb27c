use session_runtime::Session;

#[derive(Session)]
struct Auth {
    user: Option<String>,
    #[session(alias = "user")]
    login: Option<String>,
}

fn main() {}
