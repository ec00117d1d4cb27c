// expected errors: 0
// Every container the error's note looks through, nested and behind an alias,
// still compiles when its element is serializable.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use session_runtime::Session;

#[derive(Default, Serialize, Deserialize)]
struct Item {
    id: u32,
}

type Items = Vec<Option<Item>>;

#[derive(Session)]
struct Shop {
    list: Vec<Item>,
    maybe: Option<Box<Item>>,
    queue: VecDeque<Item>,
    by_name: HashMap<String, Vec<Item>>,
    sorted: BTreeMap<String, Item>,
    ids: HashSet<u32>,
    names: BTreeSet<String>,
    three: [u8; 3],
    aliased: Items,
    by_id: HashMap<u32, Item>,
    pair: (u8, String),
    text: Box<str>,
    #[session(skip)]
    scratch: Vec<Item>,
}

fn main() {
    let _ = Item::default().id;
}
