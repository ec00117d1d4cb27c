use std::marker::PhantomData;
use std::rc::Rc;

use session_runtime::Session;

#[derive(Session)]
struct Shop {
    #[session(default = PhantomData)]
    marker: PhantomData<Rc<u8>>,
}

fn main() {}
