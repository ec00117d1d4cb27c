use std::collections::{BTreeMap, HashMap};

use session_runtime::{Session, SessionSchema};

#[derive(Session)]
struct Shop {
    user: Option<u64>,
    cart: Vec<String>,
    #[session(default = vec![1, 2, 3])]
    recent: Vec<u32>,
    prices: HashMap<String, f64>,
    flags: BTreeMap<String, bool>,
    // `Option` of a std enum-like type and a serde_json enum.
    theme: Option<serde_json::Value>,
    #[session(default = Ok(0))]
    last: Result<u8, String>,
}

fn main() {
    let shop = Shop::default_session();
    assert_eq!(shop.recent, vec![1, 2, 3]);
    assert!(shop.user.is_none() && shop.cart.is_empty());
    assert!(shop.prices.is_empty() && shop.flags.is_empty() && shop.theme.is_none());
    assert_eq!(shop.last, Ok(0));
    assert_eq!(Shop::KEYS.len(), 7);
}
