use session_runtime::Session;

#[derive(Session)]
struct Cart(Vec<String>);

fn main() {}
