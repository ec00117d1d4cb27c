//! The store test kit (`session_runtime::testing`) run on the stores this
//! crate ships: one test per check and store, e.g. `file_store::create_on_a_live_id_does_not_merge`.

mod support;

use session_runtime::{FileStore, MemoryStore};
use support::TempDir;

session_runtime::store_kit!(memory_store, || async { MemoryStore::new() });

// Each check gets its own directory, removed when the check ends.
session_runtime::store_kit!(file_store, || async {
    let dir = TempDir::new("store-kit");
    (FileStore::new(dir.path()), dir)
});

/// One idle lifetime for browser-session cookies in every store, unless a
/// store is configured otherwise.
#[test]
fn every_store_has_the_same_default_idle_lifetime() {
    use session_runtime::store::DEFAULT_TTL;
    use session_runtime::{FileStore, MemoryStore, SessionStore};
    assert_eq!(DEFAULT_TTL, std::time::Duration::from_secs(24 * 60 * 60));
    assert_eq!(MemoryStore::new().ttl(), DEFAULT_TTL);
    assert_eq!(FileStore::new("./unused").ttl(), DEFAULT_TTL);
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(FileStore::new("./unused").with_ttl(hour).ttl(), hour);
}

/// The memory store's size queries and its `Debug`, which shows its settings.
#[tokio::test]
async fn the_memory_store_counts_its_sessions_and_shows_its_settings() {
    use session_runtime::{Record, SessionId, SessionStore, store::Created};
    let store = MemoryStore::new().with_ttl(std::time::Duration::from_secs(90));
    assert!(store.is_empty());
    assert_eq!(store.len(), 0);
    let mut record = Record::default();
    record.last_access = Some(support::clock::now_ms());
    let created = store.create(&SessionId::generate(), &record).await.unwrap();
    assert_eq!(created, Created::Stored);
    assert!(!store.is_empty());
    assert_eq!(store.len(), 1);
    let debug = format!("{store:?}");
    assert!(
        debug.starts_with("MemoryStore") && debug.contains("ttl: 90s"),
        "{debug}"
    );
}

/// The file store's `Debug` shows its settings.
#[test]
fn the_file_stores_debug_shows_its_settings() {
    let store = FileStore::new("./sessions-debug")
        .with_ttl(std::time::Duration::from_secs(90))
        .with_extension(".sess");
    let debug = format!("{store:?}");
    for shown in [
        "FileStore",
        "sessions-debug",
        "ttl: 90s",
        "\".sess\"",
        "fsync: true",
    ] {
        assert!(debug.contains(shown), "{shown} not in {debug}");
    }
}
