use session_runtime::{Flash, Session};

#[derive(Session)]
struct Notices {
    notice: Flash<String>,
}

fn main() {}
