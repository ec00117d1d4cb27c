use session_runtime::Session;

#[derive(Session)]
struct Auth<'a> {
    user: &'a str,
}

fn main() {}
