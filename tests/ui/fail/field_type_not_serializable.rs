use session_runtime::Session;

#[derive(Default)]
struct Cart {
    items: Vec<String>,
}

#[derive(Session)]
struct Shop {
    cart: Cart,
}

fn main() {
    let _ = Cart::default().items;
}
