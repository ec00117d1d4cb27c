use session_runtime::Session;

#[derive(Session)]
struct Started {
    #[session(alias = "__created")]
    started_at: u64,
}

fn main() {}
