//! A store of one JSON file per session, in session-file-store's format.

mod held;
mod io;
mod lock;
mod reap;
mod session_store;
mod values;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use self::io::Seen;
use super::handle::Handle;
use super::keyed::KeyedLocks;
use super::{StoreError, spawn_reaper};

/// Sessions as files, one per session, in the format of Node's
/// [session-file-store] 1.5: an Express app using it and an axum app using
/// this store can share one directory (and one cookie secret) during a migration.
///
/// Each session is `<dir>/<id>.json`, one line of JSON:
/// `{"cookie":{…},<fields…>,"__lastAccess":<ms since the epoch>}`. A session
/// expires `cookie.originalMaxAge` (or, for browser-session cookies, the
/// [ttl](FileStore::with_ttl)) after `__lastAccess`, as session-file-store computes it.
///
/// What it does that session-file-store does not:
///
/// - **Atomic, durable writes**: a session is written to a temporary file in
///   the same directory, fsynced, renamed over the old file, and the
///   directory fsynced (after a destroy's unlink too). A reader sees the old
///   file or the new one, never a torn one, even when the process is killed
///   mid-write; a completed save or logout survives a power loss.
/// - **No lost updates**: saves and touches of one session are serialized, in
///   this process and across processes using this store on the same directory
///   (an advisory lock on one of 64 lock files in `<dir>/.locks/`), and a
///   save re-reads the file and merges in just the fields the request changed.
///   A touch refreshes only the cookie and `__lastAccess` of what is on disk,
///   and never brings back a session that was destroyed meanwhile.
/// - **Exclusive sessions** (opt-in, [`SessionLayer::exclusive`]; the
///   store's [`lock`](super::SessionStore::lock)): while a request holds a
///   session, other requests of it wait, in this process and in every
///   process using the directory. A held session has a lock file,
///   `<dir>/.locks/held/<id>`, which its holder locks (`flock`) and removes
///   when it lets go, so the directory holds one file per session held now,
///   never one per session ever held. Requests of different sessions never
///   wait on each other. A process killed while it holds a session leaves its
///   lock file unlocked: it blocks nobody (the next request of that session
///   takes it over, and removes it) and the reap removes the others. In one
///   process, waiters are served in order; across processes, a waiter polls
///   the file, pausing 1 ms at first and up to 20 ms, so another process's
///   next request may go first. It needs a Unix system and a file system on
///   which `flock` holds between the processes sharing it (any local one).
/// - **Indexes** ([`#[session(index)]`](crate::Sessions)): the sessions of
///   each value of an indexed field are empty files
///   `<dir>/.index/<extension>/<key>/<value>/<id>` (each name in base64url, a value
///   too long for a file name as `~` and its SHA-256), each written before
///   its session and, with fsync on, made durable first. Listing a value
///   reads one directory. The layer removes a logged-out session's files;
///   the reap removes those of sessions that are gone once they are a minute
///   old ([`INDEX_GRACE`](crate::store::INDEX_GRACE)), and the directories
///   left empty. Processes sharing the directory share the index.
/// - **Quiet misses**: a missing file is "no session" at once, without
///   retries or logs. A corrupt or foreign file (not JSON, not an object, no
///   `__lastAccess`, binary) is "no session" plus one warning, never an error
///   response; the next save under that id replaces it.
/// - **Safe paths**: the id is checked (`[A-Za-z0-9_-]`, 1 to 128 characters)
///   before any path is built, so no id can reach outside the directory.
/// - **Private files**: mode `0600` by default (session-file-store leaves them
///   world-readable).
/// - **Cheap reaping**: the background reap lists the directory and compares
///   each file's size and modification time with what the store last saw;
///   only files changed by someone else are read again. It runs on a blocking
///   thread, never on the async workers, and every file operation does too,
///   but one: an exclusive session's release (an unlink and a close, no
///   fsync) is done where its lock is dropped, so that the session is free
///   the moment it is.
///
/// [session-file-store]: https://www.npmjs.com/package/session-file-store
/// [`SessionLayer::exclusive`]: crate::SessionLayer::exclusive
///
/// ```no_run
/// use std::time::Duration;
/// use session_runtime::{FileStore, SessionLayer};
///
/// let store = FileStore::new("./sessions")
///     .with_ttl(Duration::from_secs(3600))
///     .with_reap_interval(Some(Duration::from_secs(3600)));
/// let layer = SessionLayer::new(store, "a long random secret");
/// # let _ = layer;
/// ```
///
/// # Clones
///
/// Clones share one in-process state: the per-session locks, the index the
/// reap uses, and one background reap. Settings belong to the value they are
/// set on: `store.clone().with_ttl(..)` changes the clone's ttl, not
/// `store`'s, and both still serialize their writes on the same locks. The
/// shared reap runs with the settings of the first clone with a reap interval
/// that used the store; a store in another directory or with another
/// extension wants its own [`FileStore::new`].
#[derive(Clone)]
pub struct FileStore {
    inner: Inner,
}

/// A handle's view of the store: its settings, and what its clones share.
type Inner = Handle<Settings, Shared>;

/// What the `with_*` methods set, per handle.
#[derive(Clone)]
struct Settings {
    dir: PathBuf,
    ttl: Duration,
    reap_interval: Option<Duration>,
    extension: String,
    mode: u32,
    fsync: bool,
    max_file_size: u64,
    lock_timeout: Duration,
}

/// What every clone of a store shares.
struct Shared {
    /// In-process half of the per-write lock; the stripe files are the other half.
    stripes: Box<[Mutex<()>]>,
    /// In-process half of the exclusive sessions' locks; the files in
    /// `<dir>/.locks/held/` are the other half.
    locks: Arc<KeyedLocks>,
    /// What the store last saw of each file, so that reaping need not re-read it.
    index: Mutex<HashMap<Box<str>, Seen>>,
    /// Held by a running reap: reaps never overlap.
    reaping: Mutex<()>,
    reaper_started: AtomicBool,
    temp_counter: AtomicU64,
    /// Directory fsyncs so far, for the tests of the durability rule.
    #[cfg(test)]
    dir_syncs: std::sync::atomic::AtomicUsize,
}

use super::DEFAULT_TTL;

const DEFAULT_PATH: &str = "./sessions";
const DEFAULT_REAP_INTERVAL: Duration = Duration::from_secs(3600);
const DEFAULT_EXTENSION: &str = ".json";
const DEFAULT_MODE: u32 = 0o600;
/// 4 MiB: four times the largest session the store contract requires (a
/// 1 MiB field round-trips, `testing::a_one_mebibyte_record_round_trips`),
/// room for JSON escapes and other fields; a thousand times a session kept
/// in a cookie; and still a bounded read on every request.
const DEFAULT_MAX_FILE_SIZE: u64 = 4 << 20;
/// The layer's default store timeout: when the layer gives up on a request,
/// the blocking thread waiting for its lock gives up too, so a process that
/// holds a lock file forever cannot pile up blocked threads.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for FileStore {
    /// A store in `./sessions`, as session-file-store's default.
    fn default() -> Self {
        Self::new(DEFAULT_PATH)
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.inner.settings.dir)
            .field("ttl", &self.inner.settings.ttl)
            .field("reap_interval", &self.inner.settings.reap_interval)
            .field("extension", &self.inner.settings.extension)
            .field("mode", &format_args!("{:o}", self.inner.settings.mode))
            .field("fsync", &self.inner.settings.fsync)
            .field("max_file_size", &self.inner.settings.max_file_size)
            .field("lock_timeout", &self.inner.settings.lock_timeout)
            .finish_non_exhaustive()
    }
}

/// What one reap did: see [`FileStore::remove_expired`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReapStats {
    /// Session files found in the directory.
    pub scanned: usize,
    /// Files that had to be read because the store had not seen them as they are.
    pub read: usize,
    /// Expired sessions removed.
    pub removed: usize,
    /// Leftover temporary files of interrupted writes removed.
    pub stale_temp_removed: usize,
    /// Lock files of [exclusive sessions](crate::SessionLayer::exclusive)
    /// left by a process that ended while it held them, removed.
    pub stale_locks_removed: usize,
    /// Index entries (`#[session(index)]`) of sessions no longer stored, removed.
    pub index_entries_removed: usize,
}

impl FileStore {
    /// Sessions in the directory `path`, created (mode `0700`) at the first
    /// save if it does not exist. Nothing touches the disk until then.
    ///
    /// Defaults are session-file-store's: a reap every hour, `.json` files;
    /// and ours: a one-day ttl for browser-session cookies, as every store
    /// here ([`DEFAULT_TTL`]; `.with_ttl(Duration::from_secs(3600))` for
    /// session-file-store's hour), files of mode `0600`, fsync on every write.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("./sessions");
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let settings = Settings {
            dir: path.into(),
            ttl: DEFAULT_TTL,
            reap_interval: Some(DEFAULT_REAP_INTERVAL),
            extension: DEFAULT_EXTENSION.to_owned(),
            mode: DEFAULT_MODE,
            fsync: true,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        };
        let shared = Shared {
            stripes: lock::new_stripes(),
            locks: Arc::default(),
            index: Mutex::new(HashMap::new()),
            reaping: Mutex::new(()),
            reaper_started: AtomicBool::new(false),
            temp_counter: AtomicU64::new(0),
            #[cfg(test)]
            dir_syncs: std::sync::atomic::AtomicUsize::new(0),
        };
        FileStore {
            inner: Handle::new(settings, shared),
        }
    }

    /// How long a session whose cookie has no max age lives after its last
    /// access (session-file-store's `ttl`; default one day, [`DEFAULT_TTL`],
    /// the same for every store: session-file-store's is one hour). Sessions with a
    /// max age live that long instead.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let store = session_runtime::FileStore::new("./sessions").with_ttl(Duration::from_secs(86_400));
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_ttl(self, ttl: Duration) -> Self {
        self.configure(|inner| inner.ttl = ttl)
    }

    /// How often a background task removes expired session files (default:
    /// every hour); `None` disables it (session-file-store's `reapInterval: -1`),
    /// for example when another process sharing the directory reaps it.
    /// Expired sessions are never returned either way.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let store = session_runtime::FileStore::new("./sessions")
    ///     .with_reap_interval(Some(Duration::from_secs(600)));
    /// let no_reaping = session_runtime::FileStore::new("./sessions").with_reap_interval(None);
    /// # let _ = (store, no_reaping);
    /// ```
    #[must_use]
    pub fn with_reap_interval(self, interval: Option<Duration>) -> Self {
        self.configure(|inner| {
            inner.reap_interval = interval.map(|i| i.max(Duration::from_millis(1)));
        })
    }

    /// The session files' extension, dot included (default `.json`, as
    /// session-file-store's `fileExtension`). It may be empty.
    ///
    /// # Panics
    /// If `extension` contains a path separator or a NUL byte.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("./sessions").with_extension(".session");
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_extension(self, extension: &str) -> Self {
        assert!(
            !extension.contains(['/', '\\', '\0']),
            "invalid session file extension {extension:?}: it must not contain / \\ or NUL"
        );
        let extension = extension.to_owned();
        self.configure(|inner| inner.extension = extension)
    }

    /// The permission bits of session files (default `0o600`: only the
    /// owner can read them). Applied exactly, whatever the umask. Lock files
    /// (in `<dir>/.locks/`) are created with them too, less the umask.
    /// Ignored on systems without Unix permissions.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("./sessions").with_mode(0o640);
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_mode(self, mode: u32) -> Self {
        self.configure(|inner| inner.mode = mode & 0o7777)
    }

    /// Whether each save and destroy is durable before the request
    /// completes (default `true`): the file is fsynced, then the directory
    /// after every rename and unlink, so a power loss can neither revert a
    /// completed save nor bring back a destroyed session. Without it writes
    /// are still atomic, and survive a killed process, but a power loss can
    /// lose the last writes.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("./sessions").with_fsync(false);
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_fsync(self, fsync: bool) -> Self {
        self.configure(|inner| inner.fsync = fsync)
    }

    /// The largest session file, in bytes, the store reads or writes
    /// (default 4 MiB: four times the 1 MiB session every store must hold).
    ///
    /// A larger file is no session (one warning; it is never read whole into
    /// memory, and the reap leaves it alone), and a save that would write a
    /// larger session fails with a [`StoreError`] and writes nothing. When an
    /// Express app shares the directory, set it above the largest session
    /// that app writes.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("./sessions").with_max_file_size(64 * 1024);
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_max_file_size(self, bytes: u64) -> Self {
        self.configure(|inner| inner.max_file_size = bytes)
    }

    /// How long a save, touch, destroy or reap deletion waits for the lock
    /// of a session (default 5 seconds, the layer's default
    /// [store timeout](crate::SessionLayer::store_timeout)) before it fails
    /// with a [`StoreError`]. The lock is held for one file read and write,
    /// milliseconds; a longer wait means another process holds a lock file
    /// in `<dir>/.locks/` and does not let go. It does not bound the wait
    /// for an [exclusive session](super::SessionStore::lock), which the
    /// layer sets.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let store = session_runtime::FileStore::new("./sessions")
    ///     .with_lock_timeout(Duration::from_secs(2));
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_lock_timeout(self, timeout: Duration) -> Self {
        self.configure(|inner| inner.lock_timeout = timeout)
    }

    /// The directory the sessions are kept in.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("/var/lib/app/sessions");
    /// assert_eq!(store.path(), std::path::Path::new("/var/lib/app/sessions"));
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.settings.dir
    }

    /// Removes every expired session file now, temporary files that an
    /// interrupted write left behind more than an hour ago, and the lock
    /// files of exclusive sessions that nobody holds (left by a process
    /// killed while it held them). The background task calls this every
    /// reap interval.
    ///
    /// A file is read only when its size or modification time differs from
    /// when this store last read or wrote it; an expired one is read again
    /// under its lock before it is removed, so a session saved meanwhile
    /// survives. A file that does not parse is removed only if it begins as
    /// every session file does (`{"cookie":`) and has not been modified for
    /// the ttl; a file that was never a session is never removed, whatever
    /// its name.
    ///
    /// # Errors
    /// When the directory cannot be listed (a missing directory is not an error).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_runtime::StoreError> {
    /// let store = session_runtime::FileStore::new("./no-such-session-dir");
    /// let stats = store.remove_expired().await?;
    /// assert_eq!(stats.removed, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn remove_expired(&self) -> Result<ReapStats, StoreError> {
        let inner = self.inner.clone();
        blocking(move || inner.reap()).await
    }

    fn configure(self, apply: impl FnOnce(&mut Settings)) -> Self {
        FileStore {
            inner: self.inner.configure(apply),
        }
    }

    fn start_reaper(&self) {
        let Some(interval) = self.inner.settings.reap_interval else {
            return;
        };
        let settings = Arc::clone(&self.inner.settings);
        spawn_reaper(
            |shared| &shared.reaper_started,
            &self.inner.shared,
            interval,
            move |shared| {
                let inner = Handle {
                    settings: Arc::clone(&settings),
                    shared,
                };
                async move {
                    match blocking(move || inner.reap()).await {
                        Ok(stats) if stats.removed > 0 || stats.stale_temp_removed > 0 => {
                            tracing::debug!(?stats, "file store removed expired sessions");
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "file store reap failed"),
                    }
                }
            },
        );
    }

    /// Runs `op` on a blocking thread with the store's state.
    async fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.start_reaper();
        let inner = self.inner.clone();
        blocking(move || op(&inner)).await
    }
}

/// Runs blocking file I/O off the async worker threads.
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(op).await {
        Ok(result) => result,
        Err(error) => Err(StoreError::with_source(
            "file store operation did not complete",
            error,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionId;
    use crate::record::Record;
    use crate::store::{Created, SessionStore as _};
    use crate::time::now_ms;

    /// A fresh directory under the system's temporary one, removed on drop.
    pub(super) struct TestDir(PathBuf);

    impl TestDir {
        pub(super) fn new(label: &str) -> Self {
            let unique = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let path = std::env::temp_dir().join(format!(
                "session-runtime-{label}-{}-{unique}",
                std::process::id()
            ));
            std::fs::create_dir_all(&path).unwrap();
            TestDir(path)
        }

        pub(super) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A session as the layer saves it: a browser-session cookie, last accessed `ago_ms` ago.
    pub(super) fn accessed(ago_ms: u64) -> Record {
        Record {
            last_access: Some(now_ms() - ago_ms),
            ..Record::default()
        }
    }

    /// A store without a background reap and with session-file-store's
    /// one-hour ttl, in a fresh directory, holding one live session under `id`.
    pub(super) async fn store_holding(id: &str) -> (TestDir, FileStore, SessionId) {
        let dir = TestDir::new(id);
        let store = FileStore::new(dir.path())
            .with_reap_interval(None)
            .with_ttl(Duration::from_secs(3600));
        let id = SessionId::parse(id).unwrap();
        let created = store.create(&id, &accessed(0)).await.unwrap();
        assert_eq!(created, Created::Stored);
        (dir, store, id)
    }

    #[tokio::test]
    async fn a_store_configured_after_being_cloned_shares_locks_and_index() {
        let (_dir, store, id) = store_holding("shared").await;
        let configured = store.clone().with_ttl(Duration::from_secs(60));
        assert!(Arc::ptr_eq(&store.inner.shared, &configured.inner.shared));
        assert!(configured.load(&id).await.unwrap().is_some());
        // The clone's reap knows the file `store` wrote: it reads nothing.
        let stats = configured.remove_expired().await.unwrap();
        assert_eq!((stats.scanned, stats.read), (1, 0));
        // The settings are the handle's own.
        assert_eq!(store.ttl(), Duration::from_secs(3600));
        assert_eq!(configured.ttl(), Duration::from_secs(60));
    }
}
