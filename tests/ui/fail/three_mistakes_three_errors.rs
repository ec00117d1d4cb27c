use session_runtime::Session;

// Errors are collected: each mistake below is reported, not only the first.
#[derive(Session)]
struct Shop {
    #[session(renam = "c")]
    cart: Vec<String>,
    #[session(rename = 5)]
    user: Option<u64>,
    cookie: bool,
}

fn main() {}
