use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(index = true)]
    user: Option<String>,
}

fn main() {}
