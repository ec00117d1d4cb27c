use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(index)]
    roles: Vec<String>,
}

fn main() {}
