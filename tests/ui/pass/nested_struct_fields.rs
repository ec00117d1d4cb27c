// A schema whose fields are other (serde) types: here `serde_json::Value`,
// and a nested schema's own field type.
use session_runtime::{Session, SessionSchema};

#[derive(Session)]
struct Inner {
    #[session(default = 3)]
    depth: u32,
}

#[derive(Session)]
struct Outer {
    profile: serde_json::Value,
    #[session(default = (1, "one".to_owned()))]
    pair: (u8, String),
    depth: u32,
}

fn main() {
    assert_eq!(Inner::default_session().depth, 3);
    assert_eq!(Outer::KEYS, &["profile", "pair", "depth"]);
    assert_eq!(Outer::default_session().pair.1, "one");
}
