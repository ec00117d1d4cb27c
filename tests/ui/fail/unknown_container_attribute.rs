use session_runtime::Session;

#[derive(Session)]
#[session(deny_unknown_fields)]
struct Auth {
    user: Option<String>,
}

fn main() {}
