use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(rename_all = "camelCase")]
    user: Option<String>,
}

fn main() {}
