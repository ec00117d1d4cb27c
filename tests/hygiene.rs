//! The derive's output compiles in a crate that shadows the prelude, denies
//! warnings, `unused_qualifications` and clippy's pedantic lints, and does not
//! depend on serde; and `#[session(crate = path)]` works through a re-export.

#![deny(warnings, unused_qualifications, clippy::pedantic)]
#![allow(dead_code)]

// Prelude names shadowed by unrelated items: generated code must not use them unqualified.
type Result = ();
struct Ok;
enum Option {}
struct Some;
struct Box;
type String = u8;
trait Default {}
trait Send {}
trait Sized {}
trait Serialize {}
mod core {}
mod std {}
mod serde {}

use ::std::collections::HashMap;

use session_runtime::{Session, SessionSchema};

/// A crate that re-exports session-runtime under its own path; `__private`
/// comes along with the glob, as the generated code needs it.
mod reexport {
    pub(crate) use session_runtime::*;
}

#[derive(Session)]
struct Shop {
    #[session(default = ::std::vec![1, 2])]
    cart: ::std::vec::Vec<u32>,
    #[session(rename = "uid", alias = "user_id")]
    user: ::std::option::Option<u64>,
    #[session(skip)]
    scratch: ::std::string::String,
    prices: HashMap<::std::string::String, f64>,
    // The shadowing `String` alias (`u8`) as a field type.
    code: String,
}

#[derive(Session)]
#[session(crate = crate::reexport)]
struct ThroughReexport {
    #[session(default = 7)]
    count: u64,
}

fn keys<T: SessionSchema>() -> &'static [&'static str] {
    T::KEYS
}

#[test]
fn derive_is_hygienic() {
    let shop = Shop::default_session();
    assert_eq!(shop.cart, [1, 2]);
    assert_eq!(shop.user, None);
    assert!(shop.scratch.is_empty() && shop.prices.is_empty());
    assert_eq!(shop.code, 0);
    assert_eq!(keys::<Shop>(), ["cart", "uid", "prices", "code"]);
}

#[test]
fn crate_attribute_names_a_reexport() {
    assert_eq!(ThroughReexport::default_session().count, 7);
    assert_eq!(ThroughReexport::KEYS, ["count"]);
    // The schema is usable as an extractor type.
    let _ = ::core::mem::size_of::<Session<ThroughReexport>>();
}
