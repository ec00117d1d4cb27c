//! The counter every test app needs: a schema with one count, and a handler
//! that increments it and answers the new count as plain text.

use session_runtime::Session;

#[derive(Session)]
pub struct Counter {
    #[session(default = 0)]
    pub count: u64,
}

/// Adds one to the count; answers it.
pub async fn increment(mut session: Session<Counter>) -> String {
    session.count += 1;
    session.count.to_string()
}
