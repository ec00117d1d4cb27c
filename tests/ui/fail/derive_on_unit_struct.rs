use session_runtime::Session;

#[derive(Session)]
struct Nothing;

fn main() {}
