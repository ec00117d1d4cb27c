// `cycle_id()` without `.await` does not rotate the id: the warning says so.
#![deny(unused_must_use)]

use session_runtime::Session;

#[derive(Session)]
struct Auth {
    user: Option<String>,
}

async fn login(mut session: Session<Auth>) {
    session.cycle_id();
    session.user = Some("bob".to_owned());
}

fn main() {
    let _ = login;
}
