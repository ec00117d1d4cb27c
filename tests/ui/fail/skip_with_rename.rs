use session_runtime::Session;

#[derive(Session)]
struct Page {
    #[session(skip, rename = "tmp")]
    scratch: String,
}

fn main() {}
