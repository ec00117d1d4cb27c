//! A store of one JSON file per session, in session-file-store's format.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::hash::fnv1a;
use super::sync::lock;
use super::{Created, SessionStore, StoreError, Update, Updated, is_live, spawn_reaper};
use crate::id::{SessionId, is_valid};
use crate::record::Record;
use crate::time::{duration_ms, now_ms, to_ms};

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
///   the same directory, fsynced, renamed over the old file (and the directory
///   fsynced when the file is new). A reader sees the old file or the new one, never a torn one,
///   even when the process is killed mid-write.
/// - **No lost updates**: saves and touches of one session are serialized, in
///   this process and across processes using this store on the same directory
///   (an advisory lock on one of 64 lock files in `<dir>/.locks/`), and a
///   save re-reads the file and merges in just the fields the request changed.
///   A touch refreshes only the cookie and `__lastAccess` of what is on disk,
///   and never brings back a session that was destroyed meanwhile.
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
///   thread, never on the async workers, and every file operation does too.
///
/// [session-file-store]: https://www.npmjs.com/package/session-file-store
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
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    ttl: Duration,
    reap_interval: Option<Duration>,
    extension: String,
    mode: u32,
    fsync: bool,
    /// In-process half of the per-session lock; the lock files are the other half.
    stripes: Box<[Mutex<()>]>,
    /// What the store last saw of each file, so that reaping need not re-read it.
    index: Mutex<HashMap<Box<str>, Seen>>,
    /// Held by a running reap: reaps never overlap.
    reaping: Mutex<()>,
    reaper_started: AtomicBool,
    temp_counter: AtomicU64,
}

/// A file's identity as last read or written, with the session's expiry.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Seen {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    expires_at: u64,
}

impl Seen {
    fn same_file(&self, other: &Seen) -> bool {
        self.modified.is_some()
            && self.modified == other.modified
            && self.len == other.len
            && self.inode == other.inode
    }
}

const DEFAULT_PATH: &str = "./sessions";
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
const DEFAULT_REAP_INTERVAL: Duration = Duration::from_secs(3600);
const DEFAULT_EXTENSION: &str = ".json";
const DEFAULT_MODE: u32 = 0o600;
const STRIPES: usize = 64;
const LOCK_DIR: &str = ".locks";
/// Temporary files older than this are leftovers of a crash; the reap removes them.
const STALE_TEMP: Duration = Duration::from_secs(3600);

impl Default for FileStore {
    /// A store in `./sessions`, as session-file-store's default.
    fn default() -> Self {
        Self::new(DEFAULT_PATH)
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.inner.dir)
            .field("ttl", &self.inner.ttl)
            .field("reap_interval", &self.inner.reap_interval)
            .field("extension", &self.inner.extension)
            .field("mode", &format_args!("{:o}", self.inner.mode))
            .field("fsync", &self.inner.fsync)
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
}

impl FileStore {
    /// Sessions in the directory `path`, created (mode `0700`) at the first
    /// save if it does not exist. Nothing touches the disk until then.
    ///
    /// Defaults are session-file-store's: a one-hour ttl for browser-session
    /// cookies, a reap every hour, `.json` files; and ours: files of mode
    /// `0600`, fsync on every write.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("./sessions");
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore {
            inner: Arc::new(Inner {
                dir: path.into(),
                ttl: DEFAULT_TTL,
                reap_interval: Some(DEFAULT_REAP_INTERVAL),
                extension: DEFAULT_EXTENSION.to_owned(),
                mode: DEFAULT_MODE,
                fsync: true,
                stripes: new_stripes(),
                index: Mutex::new(HashMap::new()),
                reaping: Mutex::new(()),
                reaper_started: AtomicBool::new(false),
                temp_counter: AtomicU64::new(0),
            }),
        }
    }

    /// How long a session whose cookie has no max age lives after its last
    /// access (session-file-store's `ttl`; default one hour). Sessions with a
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
    /// owner can read them). Applied exactly, whatever the umask. Ignored on
    /// systems without Unix permissions.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("./sessions").with_mode(0o640);
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_mode(self, mode: u32) -> Self {
        self.configure(|inner| inner.mode = mode & 0o7777)
    }

    /// Whether each write is flushed to the disk (the file, then the
    /// directory) before the request completes (default `true`). Without it
    /// writes are still atomic, and survive a killed process, but a power
    /// loss can lose the last writes.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("./sessions").with_fsync(false);
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_fsync(self, fsync: bool) -> Self {
        self.configure(|inner| inner.fsync = fsync)
    }

    /// The directory the sessions are kept in.
    ///
    /// ```
    /// let store = session_runtime::FileStore::new("/var/lib/app/sessions");
    /// assert_eq!(store.path(), std::path::Path::new("/var/lib/app/sessions"));
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Removes every expired session file now, and temporary files that an
    /// interrupted write left behind more than an hour ago. The background
    /// task calls this every reap interval.
    ///
    /// A file is read only when its size or modification time differs from
    /// when this store last read or wrote it; an expired one is read again
    /// under its lock before it is removed, so a session saved meanwhile
    /// survives. A file that cannot be read as a session is removed once it
    /// has not been modified for the ttl.
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
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.reap()).await
    }

    fn configure(self, apply: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            // Configuring a store that is already shared: start a fresh one with its settings.
            dir: shared.dir.clone(),
            ttl: shared.ttl,
            reap_interval: shared.reap_interval,
            extension: shared.extension.clone(),
            mode: shared.mode,
            fsync: shared.fsync,
            stripes: new_stripes(),
            index: Mutex::new(HashMap::new()),
            reaping: Mutex::new(()),
            reaper_started: AtomicBool::new(false),
            temp_counter: AtomicU64::new(0),
        });
        apply(&mut inner);
        FileStore {
            inner: Arc::new(inner),
        }
    }

    fn start_reaper(&self) {
        let Some(interval) = self.inner.reap_interval else {
            return;
        };
        spawn_reaper(
            &self.inner.reaper_started,
            &self.inner,
            interval,
            |inner| async move {
                match blocking(move || inner.reap()).await {
                    Ok(stats) if stats.removed > 0 || stats.stale_temp_removed > 0 => {
                        tracing::debug!(?stats, "file store removed expired sessions");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "file store reap failed"),
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
        let inner = Arc::clone(&self.inner);
        blocking(move || op(&inner)).await
    }
}

fn new_stripes() -> Box<[Mutex<()>]> {
    (0..STRIPES).map(|_| Mutex::new(())).collect()
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

/// FNV-1a: stable across processes and builds, so every process maps an id to the same lock file.
fn stripe_of(id: &str) -> usize {
    (fnv1a(id.as_bytes()) % STRIPES as u64) as usize
}

/// A session's lock: the in-process stripe mutex, then the stripe's lock file.
/// Both are released when it drops (the file first: fields drop in order).
struct SessionLock<'a> {
    _file: File,
    _guard: MutexGuard<'a, ()>,
}

/// What reading one session file found.
enum Loaded {
    Missing,
    /// Not a session (bad JSON, wrong shape, binary, no `__lastAccess`).
    Unreadable(String, Seen),
    Session(Record, Seen),
}

fn io_error(what: &str, path: &Path, error: io::Error) -> StoreError {
    StoreError::with_source(format!("file store: cannot {what} {}", shown(path)), error)
}

/// `path` for logs: a session id is a bearer credential, so file names longer
/// than eight characters (session and temporary files) show only their start.
fn shown(path: &Path) -> String {
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

fn seen(meta: &fs::Metadata, expires_at: u64) -> Seen {
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
    fn ttl_ms(&self) -> u64 {
        duration_ms(self.ttl)
    }

    /// The store's one expiry rule ([`super::expires_at`]).
    fn expires_at(&self, record: &Record) -> Option<u64> {
        super::expires_at(record, self.ttl)
    }

    /// Expiry of a file that is not a session: its modification time plus the ttl.
    fn unreadable_expires_at(&self, meta: &fs::Metadata) -> u64 {
        meta.modified()
            .map_or(0, to_ms)
            .saturating_add(self.ttl_ms())
    }

    /// The session file of `id`. The id is checked again here, so that no
    /// path is ever built from an id that could leave the directory.
    fn file_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        if !is_valid(id) {
            return Err(StoreError::new(
                "file store: refusing an invalid session id",
            ));
        }
        Ok(self.dir.join(format!("{id}{}", self.extension)))
    }

    fn remember(&self, id: &str, seen: Seen) {
        lock(&self.index).insert(id.into(), seen);
    }

    fn forget(&self, id: &str) {
        lock(&self.index).remove(id);
    }

    fn read(&self, id: &str, path: &Path) -> Result<Loaded, StoreError> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(error) => return Err(io_error("open", path, error)),
        };
        let meta = file
            .metadata()
            .map_err(|error| io_error("inspect", path, error))?;
        if !meta.is_file() {
            return Ok(Loaded::Unreadable(
                "not a regular file".to_owned(),
                seen(&meta, self.unreadable_expires_at(&meta)),
            ));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes)
            .map_err(|error| io_error("read", path, error))?;
        let unreadable = |why: String| {
            let seen = seen(&meta, self.unreadable_expires_at(&meta));
            self.remember(id, seen);
            Ok(Loaded::Unreadable(why, seen))
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return unreadable("not UTF-8 text".to_owned());
        };
        let record = match Record::from_json(text) {
            Ok(record) => record,
            Err(error) => return unreadable(error.to_string()),
        };
        let Some(expires_at) = self.expires_at(&record) else {
            return unreadable("no `__lastAccess`".to_owned());
        };
        let seen = seen(&meta, expires_at);
        self.remember(id, seen);
        Ok(Loaded::Session(record, seen))
    }

    /// Takes the lock of `id`. `None` when the directory does not exist and
    /// `create` is false: there is nothing to touch or remove then.
    fn lock_session(&self, id: &str, create: bool) -> Result<Option<SessionLock<'_>>, StoreError> {
        let stripe = stripe_of(id);
        let guard = lock(&self.stripes[stripe]);
        let lock_dir = self.dir.join(LOCK_DIR);
        let path = lock_dir.join(format!("{stripe:02}"));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, self.mode);
        let file = match options.open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if !create && !self.dir.is_dir() {
                    return Ok(None);
                }
                self.create_dir(&lock_dir)?;
                options
                    .open(&path)
                    .map_err(|error| io_error("create lock file", &path, error))?
            }
            Err(error) => return Err(io_error("open lock file", &path, error)),
        };
        file.lock()
            .map_err(|error| io_error("lock", &path, error))?;
        Ok(Some(SessionLock {
            _file: file,
            _guard: guard,
        }))
    }

    fn create_dir(&self, dir: &Path) -> Result<(), StoreError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|error| io_error("create directory", dir, error))
    }

    /// Replaces `path` with `json`: a temporary file in the same directory,
    /// written, fsynced and renamed over `path`; the directory is fsynced too
    /// when `path` is new.
    fn write_atomic(&self, id: &str, path: &Path, json: &str) -> Result<fs::Metadata, StoreError> {
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        // A leading dot and a trailing `.tmp`: never taken for a session, by us
        // (not a valid id) or by session-file-store (wrong extension).
        let temp = self.dir.join(format!(
            ".{id}{}.{}.{n}.tmp",
            self.extension,
            std::process::id()
        ));
        let result = self.write_temp(&temp, json).and_then(|meta| {
            let replacing = fs::symlink_metadata(path).is_ok();
            fs::rename(&temp, path).map_err(|error| io_error("rename into", path, error))?;
            Ok((meta, replacing))
        });
        match result {
            Ok((meta, replacing)) => {
                // A new name must reach the disk with its directory. A rename over
                // an existing file needs no directory fsync to stay atomic: after a
                // power loss the entry holds the old complete file or the new one.
                if self.fsync && !replacing {
                    sync_dir(&self.dir);
                }
                Ok(meta)
            }
            Err(error) => {
                let _ = fs::remove_file(&temp);
                Err(error)
            }
        }
    }

    fn write_temp(&self, temp: &Path, json: &str) -> Result<fs::Metadata, StoreError> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, self.mode);
        let mut file = match options.open(temp) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                self.create_dir(&self.dir)?;
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
            file.set_permissions(fs::Permissions::from_mode(self.mode))
                .map_err(|error| io_error("set the mode of", temp, error))?;
        }
        file.write_all(json.as_bytes())
            .map_err(|error| io_error("write", temp, error))?;
        if self.fsync {
            file.sync_all()
                .map_err(|error| io_error("fsync", temp, error))?;
        }
        file.metadata()
            .map_err(|error| io_error("inspect", temp, error))
    }

    fn write_record(&self, id: &str, path: &Path, record: &Record) -> Result<(), StoreError> {
        let meta = self.write_atomic(id, path, &record.to_json())?;
        let expires_at = self.expires_at(record).unwrap_or(0);
        self.remember(id, seen(&meta, expires_at));
        Ok(())
    }

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
    fn update(&self, id: &str, record: &Record, changed: &[String]) -> Result<Updated, StoreError> {
        let path = self.file_path(id)?;
        let Some(_lock) = self.lock_session(id, false)? else {
            return Ok(Updated::Gone);
        };
        let Some(mut current) = self.read_live(id, &path)? else {
            return Ok(Updated::Gone);
        };
        let changed: Vec<&str> = changed.iter().map(String::as_str).collect();
        Update::new(record, &changed).apply_to(&mut current);
        current.last_access.get_or_insert_with(now_ms);
        self.write_record(id, &path, &current)?;
        Ok(Updated::Stored)
    }

    fn destroy(&self, id: &str) -> Result<(), StoreError> {
        let path = self.file_path(id)?;
        let Some(_lock) = self.lock_session(id, false)? else {
            return Ok(());
        };
        self.forget(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io_error("remove", &path, error)),
        }
    }

    fn reap(&self) -> Result<ReapStats, StoreError> {
        let _reaping = lock(&self.reaping);
        let mut stats = ReapStats::default();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(stats),
            Err(error) => return Err(io_error("list", &self.dir, error)),
        };
        let now = now_ms();
        let now_time = SystemTime::now();
        let mut present: HashSet<Box<str>> = HashSet::new();
        let mut candidates: Vec<Box<str>> = Vec::new();
        let mut pacer = Pacer::new();
        for entry in entries {
            pacer.pace();
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') && name.ends_with(".tmp") {
                let stale = entry
                    .metadata()
                    .ok()
                    .and_then(|meta| meta.modified().ok())
                    .and_then(|modified| now_time.duration_since(modified).ok())
                    .is_some_and(|age| age > STALE_TEMP);
                if stale && fs::remove_file(entry.path()).is_ok() {
                    stats.stale_temp_removed += 1;
                }
                continue;
            }
            let Some(id) = name.strip_suffix(self.extension.as_str()) else {
                continue;
            };
            if !is_valid(id) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            stats.scanned += 1;
            present.insert(id.into());
            let on_disk = seen(&meta, 0);
            let known = lock(&self.index)
                .get(id)
                .filter(|known| known.same_file(&on_disk))
                .map(|known| known.expires_at);
            let expires_at = match known {
                Some(expires_at) => expires_at,
                None => {
                    stats.read += 1;
                    match self.read(id, &entry.path()) {
                        Ok(Loaded::Session(_, seen) | Loaded::Unreadable(_, seen)) => {
                            seen.expires_at
                        }
                        Ok(Loaded::Missing) | Err(_) => continue,
                    }
                }
            };
            if !is_live(expires_at, now) {
                candidates.push(id.into());
            }
        }
        lock(&self.index).retain(|id, _| present.contains(id));
        for id in candidates {
            pacer.pace();
            if self.remove_if_expired(&id)? {
                stats.removed += 1;
            }
        }
        Ok(stats)
    }

    /// Removes the file of `id` if, read again under its lock, it has expired.
    fn remove_if_expired(&self, id: &str) -> Result<bool, StoreError> {
        let path = self.file_path(id)?;
        let Some(_lock) = self.lock_session(id, false)? else {
            return Ok(false);
        };
        let expired = match self.read(id, &path)? {
            Loaded::Missing => false,
            Loaded::Session(_, seen) | Loaded::Unreadable(_, seen) => {
                !is_live(seen.expires_at, now_ms())
            }
        };
        if !expired {
            return Ok(false);
        }
        self.forget(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(io_error("remove", &path, error)),
        }
    }
}

/// Keeps a reap from hogging a CPU that requests need: after each
/// [`REAP_SLICE`] of work it sleeps [`REAP_PAUSE`], so a reap uses at most
/// about a sixth of one CPU and a request waits at most one slice for it.
struct Pacer {
    slice_started: std::time::Instant,
}

/// How long a reap works before it pauses.
const REAP_SLICE: Duration = Duration::from_micros(200);
/// How long it pauses.
const REAP_PAUSE: Duration = Duration::from_millis(1);

impl Pacer {
    fn new() -> Self {
        Pacer {
            slice_started: std::time::Instant::now(),
        }
    }

    fn pace(&mut self) {
        if self.slice_started.elapsed() >= REAP_SLICE {
            std::thread::sleep(REAP_PAUSE);
            self.slice_started = std::time::Instant::now();
        }
    }
}

/// Makes a rename in `dir` durable. Best effort: not every system can open a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(error) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(%error, dir = %dir.display(), "file store: cannot fsync the directory");
    }
    #[cfg(not(unix))]
    let _ = dir;
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
        self.run(move |inner| inner.update(&id, &record, &changed))
            .await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        let id = id.as_str().to_owned();
        self.run(move |inner| inner.destroy(&id)).await
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_are_stable_and_spread() {
        // The mapping is part of the cross-process protocol: it must not change.
        assert_eq!(stripe_of("a"), stripe_of("a"));
        let used: HashSet<usize> = (0..1000).map(|i| stripe_of(&format!("id{i}"))).collect();
        assert_eq!(used.len(), STRIPES);
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
    fn expiry_is_session_file_stores() {
        let store = FileStore::new("/tmp/x").with_ttl(Duration::from_secs(10));
        let mut record = Record::default();
        assert_eq!(store.inner.expires_at(&record), None);
        record.last_access = Some(1000);
        assert_eq!(store.inner.expires_at(&record), Some(11_000));
        // `originalMaxAge || ttl`: a max age of 0 counts as none.
        record.cookie.original_max_age = Some(0);
        assert_eq!(store.inner.expires_at(&record), Some(11_000));
        record.cookie.original_max_age = Some(500);
        assert_eq!(store.inner.expires_at(&record), Some(1500));
    }
}
