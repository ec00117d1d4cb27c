use session_runtime::Session;

#[derive(Session)]
struct Page {
    #[session(skip = true)]
    scratch: String,
}

fn main() {}
