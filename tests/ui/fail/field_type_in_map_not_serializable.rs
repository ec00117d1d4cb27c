use std::collections::HashMap;

use session_runtime::Session;

struct Item;

// The note names `Item`, the type to derive serde on, through the map and the box.
#[derive(Session)]
struct Shop {
    items: HashMap<String, Vec<Box<Item>>>,
}

fn main() {
    let _ = Item;
}
