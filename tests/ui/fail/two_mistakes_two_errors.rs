use std::marker::PhantomData;
use std::rc::Rc;

use session_runtime::Session;

struct Item;

// Two unfit field types, one error each: not two per field, and nothing on the struct.
#[derive(Session)]
struct Shop {
    items: Vec<Item>,
    #[session(default = PhantomData)]
    marker: PhantomData<Rc<u8>>,
}

fn main() {
    let _ = Item;
}
