use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session]
    user: Option<String>,
}

fn main() {}
