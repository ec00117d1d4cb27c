//! A gate that holds a handler mid-request: the deterministic half of every
//! interleaving test.

use tokio::sync::Notify;

/// Holds a handler (after it has loaded, and perhaps changed, the session)
/// until the test releases it: the handler calls [`hold`](Gate::hold); the
/// test waits on `entered`, runs the other request, then notifies `release`.
#[derive(Default)]
pub struct Gate {
    pub entered: Notify,
    pub release: Notify,
}

impl Gate {
    pub async fn hold(&self) {
        self.entered.notify_one();
        self.release.notified().await;
    }
}
