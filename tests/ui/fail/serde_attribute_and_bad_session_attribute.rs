use session_runtime::Session;

// An attribute error and a `#[serde(...)]`: two mistakes, two errors, and the
// stub impl still keeps the rest of the crate quiet.
#[derive(Session)]
struct Auth {
    #[serde(rename = "uid")]
    user: Option<u64>,
    #[session(rename = 5)]
    role: Option<String>,
}

fn main() {}
