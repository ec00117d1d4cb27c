use session_runtime::Session;

#[derive(Session)]
struct Auth {
    #[session(rename = "")]
    user: Option<String>,
}

fn main() {}
