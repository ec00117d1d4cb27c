use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(index)]
    #[session(index)]
    user: Option<String>,
}

fn main() {}
