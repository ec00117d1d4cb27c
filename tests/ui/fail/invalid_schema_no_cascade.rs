use session_runtime::Session;

// The bad attribute is the only error: the derive still emits an impl, so
// using the schema elsewhere does not add "not a session schema" errors.
#[derive(Session)]
struct Auth {
    #[session(rename = 5)]
    user: Option<u64>,
}

fn handler(_session: Session<Auth>) {}

fn main() {
    let _ = handler;
}
