use session_runtime::Session;

#[derive(Session)]
struct Page {
    #[session(skip, skip)]
    scratch: String,
}

fn main() {}
