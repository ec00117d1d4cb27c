use session_runtime::{Flash, Session};

#[derive(Session)]
struct Notices {
    #[session(flash, alias = "message")]
    notice: Flash<String>,
}

fn main() {}
