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
