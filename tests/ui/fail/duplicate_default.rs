use session_runtime::Session;

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    #[session(default = 1)]
    count: u64,
}

fn main() {}
