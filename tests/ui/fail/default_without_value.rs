use session_runtime::Session;

#[derive(Session)]
struct Counter {
    #[session(default)]
    count: u64,
}

fn main() {}
