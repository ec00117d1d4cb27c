use session_runtime::Session;

struct Item;

// The note names `Item`, the type to derive serde on, not `Vec<Item>`.
#[derive(Session)]
struct Shop {
    items: Vec<Item>,
}

fn main() {
    let _ = Item;
}
