use session_runtime::Session;

#[derive(Session)]
struct Counter {
    #[session(default = "zero")]
    count: u64,
}

fn main() {}
