use session_runtime::{Flash, Session};

struct Banner {
    text: String,
}

#[derive(Session)]
struct Notices {
    #[session(flash)]
    banner: Flash<Banner>,
}

fn main() {}
