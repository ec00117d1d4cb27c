use session_runtime::Session;

#[derive(Session)]
struct Geo {
    #[session(index)]
    latitude: Option<f64>,
}

fn main() {}
