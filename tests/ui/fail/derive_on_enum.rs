use session_runtime::Session;

#[derive(Session)]
enum Cart {
    Empty,
    Full(Vec<String>),
}

fn main() {}
