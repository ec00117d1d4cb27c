use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(index, alias = "uid")]
    user: Option<String>,
}

fn main() {}
