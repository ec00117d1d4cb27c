use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(alias = 7)]
    user: Option<u64>,
}

fn main() {}
