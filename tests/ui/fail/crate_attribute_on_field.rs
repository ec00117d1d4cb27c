use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(crate = session_runtime)]
    user: Option<String>,
}

fn main() {}
