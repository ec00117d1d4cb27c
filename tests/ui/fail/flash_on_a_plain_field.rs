use session_runtime::Session;

#[derive(Session)]
struct Notices {
    #[session(flash)]
    notice: Option<String>,
}

fn main() {}
