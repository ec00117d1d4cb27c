use session_runtime::Session;

#[derive(Session)]
struct Consent {
    #[session(alias = "cookie")]
    accepted: bool,
}

fn main() {}
