use session_runtime::Session;

#[derive(Session)]
struct Page {
    #[session(skip, default = String::from("none"))]
    scratch: String,
}

fn main() {}
