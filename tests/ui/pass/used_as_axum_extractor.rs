use axum::Router;
use axum::routing::get;
use session_runtime::Session;

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

async fn index(mut session: Session<Counter>) -> String {
    session.count += 1;
    session.count.to_string()
}

fn main() {
    let _app: Router = Router::new().route("/", get(index));
}
