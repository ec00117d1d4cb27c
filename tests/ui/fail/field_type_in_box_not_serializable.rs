use session_runtime::Session;

#[derive(Default)]
struct Item;

// The note names `Item`, the type to derive serde on, not `Box<Item>`.
#[derive(Session)]
struct Shop {
    current: Box<Item>,
}

fn main() {
    let _ = Item;
}
