use session_runtime::Session;

#[derive(Session)]
struct Activity {
    #[session(rename = "__lastAccess")]
    last_seen: u64,
}

fn main() {}
