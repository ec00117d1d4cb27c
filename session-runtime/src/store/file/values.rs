//! The file store's index of indexed fields' values (`#[session(index)]`):
//! `<dir>/.index/<extension>/<key>/<value>/<id>`, one empty file per session
//! and value, whose modification time is when it was last written.
//!
//! Extension, key and value are named by their base64url text (a value too long for a
//! file name by `~` and the hex of its SHA-256). Each operation is one file
//! created or removed, so processes sharing the directory need no lock: an
//! entry is written before its session, readers check every id against its
//! session, and the reap removes the entries of sessions that are gone.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use super::Inner;
use super::io::{Loaded, io_error};
use crate::id::{SessionId, is_valid};
use crate::index::same_json;
use crate::store::{INDEX_GRACE, IndexEntry, StoreError, is_live};
use crate::time::now_ms;

/// The longest name given a key or value as its base64url text; longer
/// ones are named by their hash (file names stop at 255 bytes).
const LONGEST_NAME: usize = 200;

/// The file name standing for `text`.
fn name_of(text: &str) -> String {
    let encoded = URL_SAFE_NO_PAD.encode(text);
    if encoded.len() <= LONGEST_NAME {
        return encoded;
    }
    let digest = Sha256::digest(text.as_bytes());
    let mut name = String::with_capacity(1 + 2 * digest.len());
    name.push('~');
    for byte in digest {
        name.push_str(&format!("{byte:02x}"));
    }
    name
}

/// The text a name stands for, unless it is a hash.
fn text_of(name: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(name).ok()?;
    String::from_utf8(bytes).ok()
}

impl Inner {
    /// `<dir>/.index/<extension>`: stores on one directory with different
    /// extensions keep different sessions, so each keeps its own index (and
    /// a reap never judges another extension's entries by its own files).
    fn index_dir(&self) -> PathBuf {
        self.settings
            .dir
            .join(".index")
            .join(name_of(&self.settings.extension))
    }

    fn value_dir(&self, entry: IndexEntry<'_>) -> PathBuf {
        self.index_dir()
            .join(name_of(entry.key))
            .join(name_of(entry.value))
    }

    /// The entry file of `id`; the id is checked first, as for session files.
    fn entry_path(&self, dir: &Path, id: &str) -> Result<PathBuf, StoreError> {
        if !is_valid(id) {
            return Err(StoreError::new(
                "file store: refusing an invalid session id",
            ));
        }
        Ok(dir.join(id))
    }

    pub(super) fn index_insert(&self, entry: IndexEntry<'_>, id: &str) -> Result<(), StoreError> {
        let dir = self.value_dir(entry);
        let path = self.entry_path(&dir, id)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, self.settings.mode);
        // A reap may remove the emptied value directory between its creation
        // and the entry's: create it again.
        let mut created_dir = false;
        let mut attempts = 0;
        let (file, new) = loop {
            match options.open(&path) {
                Ok(file) => break (file, true),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|error| io_error("open", &path, error))?;
                    break (file, false);
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                    self.create_dir(&dir)?;
                    created_dir = true;
                }
                Err(error) => return Err(io_error("create", &path, error)),
            }
        };
        // Written again, it starts its grace again (see `reap_index`).
        file.set_modified(SystemTime::now())
            .map_err(|error| io_error("stamp", &path, error))?;
        if self.settings.fsync && new {
            // The entry must be as durable as the session written after it:
            // its directory, and the directories this insert created.
            sync(&dir);
            if created_dir {
                let mut parent = dir.parent();
                while let Some(above) = parent {
                    sync(above);
                    if above == self.settings.dir {
                        break;
                    }
                    parent = above.parent();
                }
            }
        }
        Ok(())
    }

    pub(super) fn index_remove(
        &self,
        entry: IndexEntry<'_>,
        ids: &[SessionId],
    ) -> Result<(), StoreError> {
        let dir = self.value_dir(entry);
        for id in ids {
            let path = self.entry_path(&dir, id.as_str())?;
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(io_error("remove", &path, error)),
            }
        }
        remove_if_empty(&dir);
        if let Some(key_dir) = dir.parent() {
            remove_if_empty(key_dir);
        }
        Ok(())
    }

    pub(super) fn index_members(
        &self,
        entry: IndexEntry<'_>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let dir = self.value_dir(entry);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error("list", &dir, error)),
        };
        Ok(entries
            .filter_map(|entry| SessionId::parse(entry.ok()?.file_name().to_str()?))
            .collect())
    }

    pub(super) fn index_keys(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.index_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error("list", &dir, error)),
        };
        Ok(entries
            .filter_map(|entry| text_of(entry.ok()?.file_name().to_str()?))
            .collect())
    }

    /// Removes the entries, older than [`INDEX_GRACE`], of sessions that are
    /// not stored or no longer hold the entry's value, then the directories
    /// left empty; returns how many entries. Run by the reap after it
    /// removed the expired sessions.
    pub(super) fn reap_index(&self, mut pace: impl FnMut()) -> usize {
        let settled = SystemTime::now()
            .checked_sub(INDEX_GRACE)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = 0;
        for key_dir in subdirectories(&self.index_dir()) {
            let key = file_text(&key_dir);
            for value_dir in subdirectories(&key_dir) {
                let value = file_text(&value_dir);
                let Ok(entries) = fs::read_dir(&value_dir) else {
                    continue;
                };
                for entry in entries {
                    pace();
                    let Ok(entry) = entry else { continue };
                    let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
                        continue;
                    };
                    let written = entry.metadata().and_then(|meta| meta.modified());
                    if written.is_ok_and(|written| written > settled) {
                        continue;
                    }
                    if !self.holds(&id, key.as_deref(), value.as_deref())
                        && fs::remove_file(entry.path()).is_ok()
                    {
                        removed += 1;
                    }
                }
                remove_if_empty(&value_dir);
            }
            remove_if_empty(&key_dir);
        }
        removed
    }

    /// Whether the live session `id` holds `value` under `key`; with a key or
    /// value known only by its hash, whether the session is live at all.
    fn holds(&self, id: &str, key: Option<&str>, value: Option<&str>) -> bool {
        let Ok(path) = self.file_path(id) else {
            return true;
        };
        match self.read(id, &path) {
            Ok(Loaded::Session(record, seen)) if is_live(seen.expires_at, now_ms()) => {
                match (key, value) {
                    (Some(key), Some(value)) => record
                        .fields
                        .get(key)
                        .is_some_and(|stored| same_json(stored.get(), value)),
                    _ => true,
                }
            }
            Ok(_) => false,
            // Unreadable now (permissions, I/O): judged at a later reap.
            Err(_) => true,
        }
    }
}

/// The text a directory's name stands for.
fn file_text(dir: &Path) -> Option<String> {
    text_of(dir.file_name()?.to_str()?)
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

/// Removes `dir` if it is empty; a directory that is not (an entry written
/// meanwhile) stays, which is the point.
fn remove_if_empty(dir: &Path) {
    let _ = fs::remove_dir(dir);
}

/// Best effort, as the store's other directory syncs.
fn sync(dir: &Path) {
    if let Err(error) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(%error, dir = %dir.display(), "file store: cannot fsync the directory");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::file::FileStore;
    use crate::store::file::tests::{TestDir, accessed};
    use crate::store::{Created, SessionStore as _};

    fn id(text: &str) -> SessionId {
        SessionId::parse(text).unwrap()
    }

    #[tokio::test]
    async fn a_store_that_indexed_nothing_has_no_index_keys_and_a_broken_one_says_so() {
        let dir = TestDir::new("index-keys");
        let store = FileStore::new(dir.path()).with_reap_interval(None);
        assert!(
            store.index_keys().await.unwrap().is_empty(),
            "no .index yet"
        );
        let nowhere = FileStore::new(dir.path().join("missing")).with_reap_interval(None);
        assert!(
            nowhere.index_keys().await.unwrap().is_empty(),
            "no directory at all"
        );
        // A file where the index directory should be: an error, not "none".
        std::fs::write(dir.path().join(".index"), "x").unwrap();
        let error = store.index_keys().await.unwrap_err();
        assert!(error.to_string().contains("list"), "{error}");
    }

    /// Sets the entry file of `id` under `entry` to `age` old.
    fn age(store: &FileStore, entry: IndexEntry<'_>, id: &str, age: std::time::Duration) {
        let path = store.inner.value_dir(entry).join(id);
        let file = File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[tokio::test]
    async fn the_reap_removes_the_entries_of_gone_sessions_once_settled() {
        let dir = TestDir::new("index-reap");
        let store = FileStore::new(dir.path())
            .with_reap_interval(None)
            .with_ttl(std::time::Duration::from_secs(3600));
        let alice = IndexEntry::new("user", r#""alice""#);
        let settled = INDEX_GRACE + std::time::Duration::from_secs(1);
        // `live` holds alice; `switched` is stored but holds bob now;
        // `expired` holds alice but is past its lifetime; `destroyed` is not
        // stored; `coming` is an entry just written for a session whose write
        // is still under way.
        let holding = |user: &str, ago_ms: u64| {
            let mut record = accessed(ago_ms);
            let user = serde_json::value::RawValue::from_string(user.to_owned()).unwrap();
            record.fields.set("user", user);
            record
        };
        for (name, user, ago_ms) in [
            ("live", r#""alice""#, 0),
            ("switched", r#""bob""#, 0),
            ("expired", r#""alice""#, 2 * 3_600_000),
        ] {
            let created = store.create(&id(name), &holding(user, ago_ms)).await;
            assert_eq!(created.unwrap(), Created::Stored);
        }
        for name in ["live", "switched", "expired", "destroyed", "coming"] {
            store.index_insert(alice, &id(name)).await.unwrap();
        }
        for name in ["live", "switched", "expired", "destroyed"] {
            age(&store, alice, name, settled);
        }
        let stats = store.remove_expired().await.unwrap();
        assert_eq!((stats.removed, stats.index_entries_removed), (1, 3));
        let mut left = store.index_members(alice).await.unwrap();
        left.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(left, [id("coming"), id("live")]);
        age(&store, alice, "coming", settled);
        assert_eq!(
            store.remove_expired().await.unwrap().index_entries_removed,
            1
        );
        assert_eq!(store.index_members(alice).await.unwrap(), [id("live")]);
        // A value whose last entry goes leaves no directory behind.
        store.destroy(&id("live")).await.unwrap();
        store.index_remove(alice, &[id("live")]).await.unwrap();
        let index = dir.path().join(".index").join(name_of(".json"));
        assert_eq!(std::fs::read_dir(index).unwrap().count(), 0);
        assert!(store.index_keys().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_reap_leaves_the_entries_of_another_extensions_sessions() {
        let dir = TestDir::new("index-extensions");
        let json = FileStore::new(dir.path()).with_reap_interval(None);
        let other = json.clone().with_extension(".b");
        let alice = IndexEntry::new("user", r#""alice""#);
        let settled = INDEX_GRACE + std::time::Duration::from_secs(1);
        assert_eq!(
            other.create(&id("bee"), &accessed(0)).await.unwrap(),
            Created::Stored
        );
        other.index_insert(alice, &id("bee")).await.unwrap();
        age(&other, alice, "bee", settled);
        assert!(
            json.index_members(alice).await.unwrap().is_empty(),
            "indexes are per extension"
        );
        assert_eq!(
            json.remove_expired().await.unwrap().index_entries_removed,
            0
        );
        assert_eq!(other.index_members(alice).await.unwrap(), [id("bee")]);
    }

    #[test]
    fn names_stand_for_their_text_and_long_ones_are_hashed() {
        for text in ["user", r#""alice""#, "42", r#""a/b\\..""#] {
            let name = name_of(text);
            assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
            assert_eq!(text_of(&name).as_deref(), Some(text));
        }
        let long = format!("\"{}\"", "x".repeat(400));
        let name = name_of(&long);
        assert!(name.starts_with('~') && name.len() == 65, "{name}");
        assert_eq!(text_of(&name), None);
        assert_ne!(name_of(&long), name_of(&format!("\"{}\"", "y".repeat(400))));
    }
}
