use session_runtime::Session;

struct Item;

// The note names `Item`, the type to derive serde on, not `Option<Item>`.
#[derive(Session)]
struct Shop {
    last: Option<Item>,
}

fn main() {
    let _ = Item;
}
