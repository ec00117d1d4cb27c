use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(alias = "uid", alias = "uid")]
    user: Option<u64>,
}

fn main() {}
