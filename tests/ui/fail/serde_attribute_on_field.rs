use session_runtime::Session;

// `#[serde(...)]` does nothing for `Session`: the error names `#[session(...)]`.
#[derive(Session)]
struct Auth {
    #[serde(rename = "uid")]
    user: Option<u64>,
}

fn main() {}
