use session_runtime::Session;

#[derive(Session)]
struct Consent {
    cookie: bool,
}

fn main() {}
