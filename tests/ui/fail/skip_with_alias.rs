use session_runtime::Session;

#[derive(Session)]
struct Page {
    #[session(skip, alias = "tmp")]
    scratch: String,
}

fn main() {}
