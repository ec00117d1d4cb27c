//! Reading and writing session files: atomic writes (a temporary file,
//! fsynced, renamed), reads that tell a session from a foreign file, the
//! index of what the store last saw of each file, and the paths, checked
//! before they are built and redacted before they are logged.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde_json::error::Category;

use super::Inner;
use crate::error::DecodeError;
use crate::id::is_valid;
use crate::record::Record;
use crate::store::{StoreError, expires_at};
use crate::sync::lock;
use crate::time::{duration_ms, to_ms};

/// A file's identity as last read or written, with the session's expiry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    pub(super) expires_at: u64,
}

impl Seen {
    pub(super) fn same_file(&self, other: &Seen) -> bool {
        self.modified.is_some()
            && self.modified == other.modified
            && self.len == other.len
            && self.inode == other.inode
    }
}

/// What reading one session file found.
pub(super) enum Loaded {
    Missing,
    /// Not a session (bad JSON, wrong shape, binary, no `__lastAccess`, too large).
    Unreadable(NotASession, Seen),
    Session(Record, Seen),
}

/// Why a file named like a session is not one.
pub(super) enum NotASession {
    NotAFile,
    TooLarge { len: u64, limit: u64 },
    NotUtf8,
    Invalid(DecodeError),
    NoLastAccess,
}

impl fmt::Display for NotASession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotASession::NotAFile => f.write_str("not a regular file"),
            NotASession::TooLarge { len, limit } => write!(
                f,
                "{len} bytes, more than the {limit} bytes `with_max_file_size` allows"
            ),
            NotASession::NotUtf8 => f.write_str("not UTF-8 text"),
            // serde's message can quote the stored value (a string or a
            // number of the wrong type), and a session file may hold user
            // data: only the kind of failure and where it is are logged.
            NotASession::Invalid(DecodeError::Json(error)) => write!(
                f,
                "not a JSON object ({} at line {}, column {})",
                match error.classify() {
                    Category::Io => "read error",
                    Category::Syntax => "syntax error",
                    Category::Data => "a value of the wrong type",
                    Category::Eof => "unexpected end",
                },
                error.line(),
                error.column()
            ),
            NotASession::Invalid(error) => error.fmt(f),
            NotASession::NoLastAccess => f.write_str("no `__lastAccess`"),
        }
    }
}

pub(super) fn io_error(what: &str, path: &Path, error: io::Error) -> StoreError {
    StoreError::with_source(format!("file store: cannot {what} {}", shown(path)), error)
}

/// `path` for logs: a session id is a bearer credential, so file names longer
/// than eight characters (session and temporary files) show only their start.
pub(super) fn shown(path: &Path) -> String {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return path.display().to_string();
    };
    if name.len() <= 8 {
        return path.display().to_string();
    }
    let start: String = name.chars().take(5).collect();
    path.with_file_name(format!("{start}…"))
        .display()
        .to_string()
}

/// Whether `bytes` begin as every session file does, with `{"cookie":`
/// (JSON whitespace allowed): session-file-store and this store both write
/// the cookie first, so a broken file that begins so was a session's.
fn begins_like_a_session(bytes: &[u8]) -> bool {
    bytes
        .trim_ascii_start()
        .strip_prefix(b"{")
        .is_some_and(|rest| rest.trim_ascii_start().starts_with(b"\"cookie\""))
}

pub(super) fn seen(meta: &fs::Metadata, expires_at: u64) -> Seen {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0;
    Seen {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
        expires_at,
    }
}

impl Inner {
    /// Expiry of a file that is not a session: its modification time plus
    /// the ttl if it is `reapable`, else never.
    fn unreadable_expires_at(&self, meta: &fs::Metadata, reapable: bool) -> u64 {
        if !reapable {
            return u64::MAX;
        }
        meta.modified()
            .map_or(0, to_ms)
            .saturating_add(duration_ms(self.settings.ttl))
    }

    /// The session file of `id`. The id is checked again here, so that no
    /// path is ever built from an id that could leave the directory.
    pub(super) fn file_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        if !is_valid(id) {
            return Err(StoreError::new(
                "file store: refusing an invalid session id",
            ));
        }
        Ok(self
            .settings
            .dir
            .join(format!("{id}{}", self.settings.extension)))
    }

    /// Whether `name` is one of [`write_atomic`](Self::write_atomic)'s
    /// temporary files, `.<id><extension>.<pid>.<n>.tmp`: a leading dot and a
    /// trailing `.tmp`, so never taken for a session, by us (not a valid id)
    /// or by session-file-store (wrong extension). The reap removes no other
    /// dot-file.
    pub(super) fn is_temp_name(&self, name: &str) -> bool {
        let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
            return false;
        };
        let number = |part: Option<&str>| {
            part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        let mut parts = inner.rsplitn(3, '.');
        number(parts.next())
            && number(parts.next())
            && parts.next().is_some_and(|file| {
                file.strip_suffix(self.settings.extension.as_str())
                    .is_some_and(is_valid)
            })
    }

    pub(super) fn remember(&self, id: &str, seen: Seen) {
        lock(&self.shared.index).insert(id.into(), seen);
    }

    /// Unlinks the file of `id` at `path`, and forgets it; `false` when it
    /// was already gone, which is not an error. The caller syncs the directory.
    pub(super) fn unlink(&self, id: &str, path: &Path) -> Result<bool, StoreError> {
        lock(&self.shared.index).remove(id);
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(io_error("remove", path, error)),
        }
    }

    pub(super) fn read(&self, id: &str, path: &Path) -> Result<Loaded, StoreError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(error) => return Err(io_error("open", path, error)),
        };
        let meta = file
            .metadata()
            .map_err(|error| io_error("inspect", path, error))?;
        if !meta.is_file() {
            let seen = seen(&meta, self.unreadable_expires_at(&meta, false));
            return Ok(Loaded::Unreadable(NotASession::NotAFile, seen));
        }
        // Only a file that begins like a session may be reaped: the store
        // cannot judge a file too large to read, and never deletes a file
        // that was never a session, whatever its name.
        let unreadable = |why: NotASession, reapable: bool| {
            let seen = seen(&meta, self.unreadable_expires_at(&meta, reapable));
            self.remember(id, seen);
            Ok(Loaded::Unreadable(why, seen))
        };
        let limit = self.settings.max_file_size;
        let too_large = |len| NotASession::TooLarge { len, limit };
        if meta.len() > limit {
            return unreadable(too_large(meta.len()), false);
        }
        // The size was checked, but the file may grow meanwhile: read one byte
        // past the limit, no more.
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|error| io_error("read", path, error))?;
        let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if read > limit {
            return unreadable(too_large(read), false);
        }
        let reapable = begins_like_a_session(&bytes);
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return unreadable(NotASession::NotUtf8, reapable);
        };
        let record = match Record::from_json(text) {
            Ok(record) => record,
            Err(error) => return unreadable(NotASession::Invalid(error), reapable),
        };
        let Some(expires_at) = expires_at(&record, self.settings.ttl) else {
            return unreadable(NotASession::NoLastAccess, reapable);
        };
        let seen = seen(&meta, expires_at);
        self.remember(id, seen);
        Ok(Loaded::Session(record, seen))
    }

    pub(super) fn create_dir(&self, dir: &Path) -> Result<(), StoreError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|error| io_error("create directory", dir, error))
    }

    /// Replaces `path` with `json`: a temporary file in the same directory,
    /// written, fsynced and renamed over `path`, then the directory fsynced.
    pub(super) fn write_atomic(
        &self,
        id: &str,
        path: &Path,
        json: &str,
    ) -> Result<fs::Metadata, StoreError> {
        let n = self.shared.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp = self.settings.dir.join(format!(
            ".{id}{}.{}.{n}.tmp",
            self.settings.extension,
            std::process::id()
        ));
        let result = self.write_temp(&temp, json).and_then(|meta| {
            fs::rename(&temp, path).map_err(|error| io_error("rename into", path, error))?;
            Ok(meta)
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        } else {
            // The rename is atomic without it, but only the directory's fsync
            // makes it durable: after a power loss the entry could still hold
            // the old file, a completed save reverted.
            self.sync_dir();
        }
        result
    }

    pub(super) fn write_temp(&self, temp: &Path, json: &str) -> Result<fs::Metadata, StoreError> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, self.settings.mode);
        let mut file = match options.open(temp) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                self.create_dir(&self.settings.dir)?;
                options
                    .open(temp)
                    .map_err(|error| io_error("create", temp, error))?
            }
            Err(error) => return Err(io_error("create", temp, error)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // Exactly the configured mode, whatever the umask.
            file.set_permissions(fs::Permissions::from_mode(self.settings.mode))
                .map_err(|error| io_error("set the mode of", temp, error))?;
        }
        file.write_all(json.as_bytes())
            .map_err(|error| io_error("write", temp, error))?;
        if self.settings.fsync {
            file.sync_all()
                .map_err(|error| io_error("fsync", temp, error))?;
        }
        file.metadata()
            .map_err(|error| io_error("inspect", temp, error))
    }

    pub(super) fn write_record(
        &self,
        id: &str,
        path: &Path,
        record: &Record,
    ) -> Result<(), StoreError> {
        let json = record.to_json();
        let len = u64::try_from(json.len()).unwrap_or(u64::MAX);
        if len > self.settings.max_file_size {
            return Err(StoreError::new(format!(
                "file store: the session is {len} bytes, more than the {} bytes \
                 `with_max_file_size` allows; nothing was written",
                self.settings.max_file_size
            )));
        }
        let meta = self.write_atomic(id, path, &json)?;
        let expires_at = expires_at(record, self.settings.ttl).unwrap_or(0);
        self.remember(id, seen(&meta, expires_at));
        Ok(())
    }

    /// Makes the renames and unlinks done in the directory durable, when
    /// fsync is on. Best effort: not every system can open a directory.
    pub(super) fn sync_dir(&self) {
        if !self.settings.fsync {
            return;
        }
        #[cfg(test)]
        self.shared.dir_syncs.fetch_add(1, Ordering::SeqCst);
        let dir = &self.settings.dir;
        #[cfg(unix)]
        if let Err(error) = File::open(dir).and_then(|d| d.sync_all()) {
            tracing::debug!(%error, dir = %dir.display(), "file store: cannot fsync the directory");
        }
        #[cfg(not(unix))]
        let _ = dir;
    }
}

#[cfg(test)]
mod tests {
    use super::super::FileStore;
    use super::super::tests::{accessed, store_holding};
    use super::*;
    use crate::id::SessionId;
    use crate::store::{SessionStore as _, Update, Updated};

    #[tokio::test]
    async fn every_rename_and_unlink_is_followed_by_a_directory_sync() {
        let (_dir, store, id) = store_holding("dir-sync").await;
        let syncs = || store.inner.shared.dir_syncs.load(Ordering::SeqCst);
        assert_eq!(syncs(), 1, "create: a new name");
        let record = accessed(0);
        let _ = store.update(&id, Update::new(&record, &[])).await.unwrap();
        assert_eq!(syncs(), 2, "update: a rename over the file");
        let _ = store.touch(&id, &record).await.unwrap();
        assert_eq!(syncs(), 3, "touch: a rename over the file");
        store.destroy(&id).await.unwrap();
        assert_eq!(syncs(), 4, "destroy: an unlink");
        store.destroy(&id).await.unwrap();
        assert_eq!(syncs(), 4, "nothing unlinked, nothing to sync");
        // The reap: one sync after its unlinks, none when it unlinks nothing.
        let expired = accessed(2 * 3_600_000);
        let _ = store.create(&id, &expired).await.unwrap();
        assert_eq!(syncs(), 5);
        assert_eq!(store.remove_expired().await.unwrap().removed, 1);
        assert_eq!(syncs(), 6, "reap: after its unlinks");
        assert_eq!(store.remove_expired().await.unwrap().removed, 0);
        assert_eq!(syncs(), 6);
        // With fsync off, never.
        let unsynced = store.clone().with_fsync(false);
        let _ = unsynced.create(&id, &record).await.unwrap();
        let _ = unsynced.touch(&id, &record).await.unwrap();
        unsynced.destroy(&id).await.unwrap();
        assert_eq!(syncs(), 6);
    }

    #[tokio::test]
    async fn a_session_exactly_at_the_size_limit_is_written_and_read_back() {
        let (_dir, store, id) = store_holding("at-limit").await;
        let mut record = accessed(0);
        record.fields.set(
            "note",
            serde_json::value::RawValue::from_string("\"x\"".to_owned()).unwrap(),
        );
        let len = u64::try_from(record.to_json().len()).unwrap();
        let store = store.with_max_file_size(len);
        let updated = store.update(&id, Update::new(&record, &["note"])).await;
        assert_eq!(
            updated.unwrap(),
            Updated::Stored,
            "{len} bytes is within a {len}-byte limit"
        );
        let loaded = store
            .load(&id)
            .await
            .unwrap()
            .expect("a file at the limit is read");
        assert_eq!(loaded.fields.get("note").unwrap().get(), "\"x\"");
        // A byte under it, the same session is neither written nor read.
        let tighter = store.clone().with_max_file_size(len - 1);
        let other = SessionId::parse("over-limit").unwrap();
        assert!(tighter.create(&other, &record).await.is_err());
        assert!(
            store.load(&other).await.unwrap().is_none(),
            "nothing was written"
        );
        assert!(
            tighter.load(&id).await.unwrap().is_none(),
            "over the limit: not read"
        );
        assert!(store.load(&id).await.unwrap().is_some());
    }

    /// What the file system refuses (as root, whose permissions never do) is
    /// a store error, never taken for a missing session or an empty directory.
    #[cfg(unix)]
    #[tokio::test]
    async fn what_the_file_system_refuses_is_an_error_not_an_absence() {
        let (dir, store, id) = store_holding("refused").await;
        let path = store.inner.file_path(id.as_str()).unwrap();
        // A directory where the session's file was: unlinking it fails.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let error = store.destroy(&id).await.unwrap_err();
        assert!(error.to_string().contains("remove"), "{error}");
        std::fs::remove_dir(&path).unwrap();
        // A symlink loop: opening it fails.
        std::os::unix::fs::symlink(&path, &path).unwrap();
        let error = store.load(&id).await.unwrap_err();
        assert!(error.to_string().contains("open"), "{error}");
        std::fs::remove_file(&path).unwrap();
        // A file where the store's directory should be: listing it fails.
        let file = dir.path().join("not-a-directory");
        std::fs::write(&file, "x").unwrap();
        let on_a_file = FileStore::new(&file).with_reap_interval(None);
        assert!(on_a_file.remove_expired().await.is_err());
        // A file where the held sessions' lock directory should be.
        std::fs::create_dir_all(dir.path().join(".locks")).unwrap();
        std::fs::write(dir.path().join(".locks").join("held"), "x").unwrap();
        let error = store.remove_expired().await.unwrap_err();
        assert!(error.to_string().contains("list"), "{error}");
    }

    #[test]
    fn only_the_stores_own_temporary_files_count_as_temporary() {
        let store = FileStore::new("/tmp/x");
        let temp = |name: &str| store.inner.is_temp_name(name);
        assert!(temp(".mWhV7O00Zsg3.json.12.0.tmp"));
        assert!(temp(".a.json.1.2.tmp"));
        for other in [
            "a.json.1.2.tmp",    // no leading dot
            ".a.json.1.2",       // no `.tmp`
            ".a.json..2.tmp",    // an empty process id
            ".a.json.1..tmp",    // an empty counter
            ".a.json.x.2.tmp",   // a process id that is not a number
            ".a.json.1.y.tmp",   // a counter that is not a number
            ".a.txt.1.2.tmp",    // another extension
            ".a b.json.1.2.tmp", // not a session id
            ".json.1.2.tmp",     // no id at all
            ".1.2.tmp",          // no file name
        ] {
            assert!(!temp(other), "{other:?}");
        }
    }

    #[tokio::test]
    async fn a_reap_that_removes_only_a_stale_temporary_file_syncs_the_directory() {
        let (dir, store, _id) = store_holding("stale-temp-sync").await;
        let syncs = || store.inner.shared.dir_syncs.load(Ordering::SeqCst);
        assert_eq!(syncs(), 1, "create: a new name");
        // A temporary file an interrupted write left two hours ago.
        let temp = dir.path().join(".leftover.json.1.2.tmp");
        let file = std::fs::File::create(&temp).unwrap();
        file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
            .unwrap();
        drop(file);
        let stats = store.remove_expired().await.unwrap();
        assert_eq!((stats.removed, stats.stale_temp_removed), (0, 1));
        assert!(!temp.exists());
        assert_eq!(syncs(), 2, "the unlink is made durable like any other");
    }

    #[test]
    fn invalid_ids_never_become_paths() {
        let store = FileStore::new("/tmp/x");
        for bad in ["../etc/passwd", "a/b", "", ".", "..", "a\0b", "a.b"] {
            assert!(store.inner.file_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            store.inner.file_path("abc").unwrap(),
            Path::new("/tmp/x/abc.json")
        );
    }

    #[test]
    fn logged_paths_hide_all_but_the_start_of_an_id() {
        let session = Path::new("/var/sessions/mWhV7O00Zsg3SN5Too8g3uj9plEE9sS_.json");
        assert_eq!(shown(session), "/var/sessions/mWhV7…");
        let temp = Path::new("/var/sessions/.mWhV7O00Zsg3.json.12.0.tmp");
        assert_eq!(shown(temp), "/var/sessions/.mWhV…");
        // Short names (the lock files, `.locks`) carry no secret.
        assert_eq!(
            shown(Path::new("/var/sessions/.locks/07")),
            "/var/sessions/.locks/07"
        );
    }
}
