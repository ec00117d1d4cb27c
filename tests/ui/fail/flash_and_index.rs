use session_runtime::{Flash, Session};

#[derive(Session)]
struct Notices {
    #[session(flash, index)]
    notice: Flash<String>,
}

fn main() {}
