//! The [`SessionStore`] contract on session files: each operation takes the
//! session's lock, reads what is on disk now, and decides from that whether
//! to write; a session destroyed or expired meanwhile is never written back.

use std::path::Path;

use serde_json::value::RawValue;
use std::time::Duration;

use super::io::{Loaded, shown};
use super::{FileStore, Inner};
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{
    Created, IndexEntry, SessionLock, SessionStore, StoreError, Update, Updated, is_live,
};
use crate::time::now_ms;

impl Inner {
    fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let path = self.file_path(id)?;
        Ok(match self.read(id, &path)? {
            Loaded::Missing => None,
            Loaded::Unreadable(why, _) => {
                tracing::warn!(
                    file = %shown(&path),
                    error = %why,
                    "file store: not a session file; treating it as no session (the next save replaces it)"
                );
                None
            }
            Loaded::Session(record, seen) => is_live(seen.expires_at, now_ms()).then_some(record),
        })
    }

    /// The live session of `id` as stored now, read under its lock.
    fn read_live(&self, id: &str, path: &Path) -> Result<Option<Record>, StoreError> {
        Ok(match self.read(id, path)? {
            Loaded::Session(record, seen) if is_live(seen.expires_at, now_ms()) => Some(record),
            Loaded::Session(..) | Loaded::Unreadable(..) | Loaded::Missing => None,
        })
    }

    fn create(&self, id: &str, mut record: Record) -> Result<Created, StoreError> {
        let path = self.file_path(id)?;
        // session-file-store stamps every write.
        record.last_access.get_or_insert_with(now_ms);
        let _lock = self.lock_session(id, true)?;
        if self.read_live(id, &path)?.is_some() {
            return Ok(Created::IdTaken);
        }
        self.write_record(id, &path, &record)?;
        Ok(Created::Stored)
    }

    /// Merges `update` into what other requests and processes saved
    /// meanwhile; writes nothing for a session destroyed or expired since.
    fn update(
        &self,
        id: &str,
        record: &Record,
        changed: &[String],
        taken: &[(String, Box<RawValue>)],
    ) -> Result<Updated, StoreError> {
        let path = self.file_path(id)?;
        let Some(_lock) = self.lock_session(id, false)? else {
            return Ok(Updated::Gone);
        };
        let Some(mut current) = self.read_live(id, &path)? else {
            return Ok(Updated::Gone);
        };
        let changed: Vec<&str> = changed.iter().map(String::as_str).collect();
        let taken: Vec<(&str, &RawValue)> = taken
            .iter()
            .map(|(key, raw)| (key.as_str(), &**raw))
            .collect();
        Update::new(record, &changed)
            .taking(&taken)
            .apply_to(&mut current);
        current.last_access.get_or_insert_with(now_ms);
        self.write_record(id, &path, &current)?;
        Ok(Updated::Stored)
    }

    fn destroy(&self, id: &str) -> Result<(), StoreError> {
        let path = self.file_path(id)?;
        let Some(_lock) = self.lock_session(id, false)? else {
            return Ok(());
        };
        if self.unlink(id, &path)? {
            // Durable before the logout completes: a power loss must not bring the session back.
            self.sync_dir();
        }
        Ok(())
    }
}

impl SessionStore for FileStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let id = id.as_str().to_owned();
        self.run(move |inner| inner.load(&id)).await
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        let id = id.as_str().to_owned();
        let record = record.clone();
        self.run(move |inner| inner.create(&id, record)).await
    }

    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        let id = id.as_str().to_owned();
        let record = update.record.clone();
        let changed: Vec<String> = update.changed.iter().map(|&key| key.to_owned()).collect();
        let taken: Vec<(String, Box<RawValue>)> = update
            .taken
            .iter()
            .map(|(key, raw)| ((*key).to_owned(), (*raw).to_owned()))
            .collect();
        self.run(move |inner| inner.update(&id, &record, &changed, &taken))
            .await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        let id = id.as_str().to_owned();
        self.run(move |inner| inner.destroy(&id)).await
    }

    fn ttl(&self) -> Duration {
        self.inner.settings.ttl
    }

    fn supports_indexes(&self) -> bool {
        true
    }

    /// `<dir>/.index/<key>/<value>/<id>`, an empty file (see [`FileStore`]).
    async fn index_insert(&self, entry: IndexEntry<'_>, id: &SessionId) -> Result<(), StoreError> {
        let (key, value, id) = owned(entry, id.as_str());
        self.run(move |inner| inner.index_insert(IndexEntry::new(&key, &value), &id))
            .await
    }

    async fn index_remove(
        &self,
        entry: IndexEntry<'_>,
        ids: &[SessionId],
    ) -> Result<(), StoreError> {
        let (key, value, _) = owned(entry, "");
        let ids = ids.to_vec();
        self.run(move |inner| inner.index_remove(IndexEntry::new(&key, &value), &ids))
            .await
    }

    async fn index_members(&self, entry: IndexEntry<'_>) -> Result<Vec<SessionId>, StoreError> {
        let (key, value, _) = owned(entry, "");
        self.run(move |inner| inner.index_members(IndexEntry::new(&key, &value)))
            .await
    }

    async fn index_keys(&self) -> Result<Vec<String>, StoreError> {
        self.run(|inner| inner.index_keys()).await
    }

    /// `true` on Unix systems; elsewhere [`lock`](Self::lock) fails.
    fn supports_locking(&self) -> bool {
        cfg!(unix)
    }

    /// The session's lock in this process, then its lock file
    /// `<dir>/.locks/held/<id>`, across processes; see [`FileStore`].
    async fn lock(
        &self,
        id: &SessionId,
        wait: Duration,
    ) -> Result<Option<SessionLock>, StoreError> {
        self.hold(id.as_str(), wait).await
    }
}

/// What a blocking thread needs of an index call: owned copies.
fn owned(entry: IndexEntry<'_>, id: &str) -> (String, String, String) {
    (entry.key.to_owned(), entry.value.to_owned(), id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::file::tests::{TestDir, accessed, store_holding};

    /// The names in `dir`, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn update_and_touch_of_a_destroyed_session_write_nothing() {
        let (dir, store, id) = store_holding("gone").await;
        store.destroy(&id).await.unwrap();
        let late = accessed(0);
        let updated = store.update(&id, Update::new(&late, &[])).await.unwrap();
        assert_eq!(updated, Updated::Gone);
        assert_eq!(store.touch(&id, &late).await.unwrap(), Updated::Gone);
        // No session file, and no temporary file: only the lock files.
        assert_eq!(listing(dir.path()), [".locks"]);
        assert!(store.load(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_missing_directory_is_created_only_by_create() {
        let parent = TestDir::new("missing");
        let dir = parent.path().join("sessions");
        let store = FileStore::new(&dir).with_reap_interval(None);
        let id = SessionId::parse("nobody").unwrap();
        let record = accessed(0);
        let updated = store.update(&id, Update::new(&record, &[])).await.unwrap();
        assert_eq!(updated, Updated::Gone);
        assert_eq!(store.touch(&id, &record).await.unwrap(), Updated::Gone);
        store.destroy(&id).await.unwrap();
        assert!(store.load(&id).await.unwrap().is_none());
        assert_eq!(store.remove_expired().await.unwrap().scanned, 0);
        assert!(!dir.exists(), "no directory, no lock file");
        assert_eq!(store.create(&id, &record).await.unwrap(), Created::Stored);
        assert!(dir.join("nobody.json").is_file());
    }

    #[tokio::test]
    async fn create_under_a_live_id_is_id_taken_and_leaves_the_file_alone() {
        let (dir, store, id) = store_holding("taken").await;
        let path = dir.path().join("taken.json");
        let (bytes, meta) = (
            std::fs::read(&path).unwrap(),
            std::fs::metadata(&path).unwrap(),
        );
        std::thread::sleep(Duration::from_millis(20));

        let mut other = accessed(0);
        let user = serde_json::value::to_raw_value(&2).unwrap();
        other.fields.set("user", user);
        assert_eq!(store.create(&id, &other).await.unwrap(), Created::IdTaken);
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(after.modified().unwrap(), meta.modified().unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            assert_eq!(after.ino(), meta.ino(), "not replaced by a rename");
        }
        assert_eq!(listing(dir.path()), [".locks", "taken.json"]);
    }

    #[tokio::test]
    async fn a_max_age_of_zero_or_none_means_the_ttl() {
        // session-file-store's `originalMaxAge || ttl`, with its one-hour ttl;
        // null is checked in tests/file_store.rs, a real max age is the control.
        let dir = TestDir::new("zero-max-age");
        let store = FileStore::new(dir.path()).with_ttl(std::time::Duration::from_secs(3600));
        let cookies = [
            r#"{"originalMaxAge":0}"#,
            "{}",
            r#"{"originalMaxAge":7200000}"#,
        ];
        for (n, cookie) in cookies.iter().enumerate() {
            for (state, minutes_ago) in [("within", 30), ("past", 90)] {
                let last_access = now_ms() - minutes_ago * 60_000;
                let json = format!(r#"{{"cookie":{cookie},"__lastAccess":{last_access}}}"#);
                let name = format!("{state}{n}");
                std::fs::write(dir.path().join(format!("{name}.json")), json).unwrap();
                let live = store.load(&SessionId::parse(&name).unwrap()).await;
                let expected = state == "within" || n == 2;
                assert_eq!(live.unwrap().is_some(), expected, "{name}: {cookie}");
            }
        }
    }
}
