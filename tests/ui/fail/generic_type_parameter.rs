use session_runtime::Session;

#[derive(Session)]
struct Cart<T> {
    items: Vec<T>,
}

fn main() {}
