use session_runtime::{Flash, Session};

#[derive(Session)]
struct Notices {
    #[session(flash, default = Flash::default())]
    notice: Flash<String>,
}

fn main() {}
