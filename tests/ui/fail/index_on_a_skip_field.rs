use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(skip, index)]
    user: Option<String>,
}

fn main() {}
