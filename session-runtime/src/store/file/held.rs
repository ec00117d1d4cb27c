//! Exclusive sessions on files ([`SessionStore::lock`]): one lock file per
//! session held for a whole request, in this process and across every
//! process that uses the directory.
//!
//! A request first takes the session's in-process lock ([`KeyedLocks`]), so
//! that one request per process and session touches the file; then an
//! advisory lock (`flock`) on `<dir>/.locks/held/<id>`, polled without
//! blocking, each attempt on the blocking pool, with a growing pause between
//! attempts until the wait runs out. The lock files sit in a directory of
//! their own: their names never meet the stripe files of the per-write
//! locks (`<dir>/.locks/00`…`63`), and neither this store (which lists
//! `<dir>` alone) nor session-file-store (which takes only files with the
//! session extension) ever takes one for a session.
//!
//! # Removing lock files without a race
//!
//! A lock file exists only while a session is held (or waited for): its
//! holder unlinks it when it releases the session. That is safe only with
//! the whole of the classic unlink-while-locked protocol:
//!
//! - only a process that holds the `flock` of the file at the path unlinks
//!   the path, and it unlinks **before** it closes the file (which releases
//!   the `flock`): so nobody can lock the file after its release and find it
//!   still at the path;
//! - a process that takes the `flock` checks that the file it locked is
//!   still the one at the path (the device and inode of its open file
//!   against a fresh `stat` of the path). If the path is gone, or names a
//!   newer file, it locked a file its previous holder released and unlinked
//!   meanwhile: it closes it and starts over on the path. An inode cannot be
//!   reused while the file is open, so a matching inode is the same file.
//!
//! Without the unlink the directory would grow by one file per session ever
//! held; without the check two processes could each hold a lock, one on the
//! unlinked file and one on its successor.
//!
//! A process killed while it holds a session leaves its lock file behind,
//! unlocked (the kernel drops the `flock` of a dead process). It blocks
//! nobody: the next request of that session locks it, checks it and removes
//! it on release, as any other. The reap removes the others by the same
//! rules: it takes the lock without waiting, checks the file is still at
//! its path, and unlinks it while holding it.
//!
//! Lock files are never fsynced, nor their directory: they hold no data,
//! and the `flock` that gives them their meaning lives in the kernel and
//! does not survive a crash or a reboot. After a power loss a lock file may
//! be missing (created again on the next lock) or left behind (unlocked,
//! and so stale, which the next lock or the reap removes).
//!
//! [`SessionStore::lock`]: crate::store::SessionStore::lock
//! [`KeyedLocks`]: crate::store::keyed::KeyedLocks

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::io::{io_error, shown};
use super::lock::LOCK_DIR;
use super::{FileStore, Inner};
use crate::id::is_valid;
use crate::store::keyed::KeyedGuard;
use crate::store::{SessionLock, StoreError};

/// The directory of the lock files, in `<dir>/.locks/`.
const HELD_DIR: &str = "held";
/// The first pause between two attempts to take a held session; it doubles
/// up to [`MAX_PAUSE`]. A session is held for a request, milliseconds at
/// least: polling faster would cost CPU for nothing.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const MAX_PAUSE: Duration = Duration::from_millis(20);
/// How many times one attempt opens the path again after locking a file its
/// holder had just released and unlinked, before it counts as a miss.
const MAX_REOPENS: usize = 8;

/// A session's lock file, locked by this process and still at its path:
/// while it lives, no other process or store holds the session.
///
/// Dropping it releases the session: the path is unlinked first, while the
/// lock is still held, then the file is closed, which releases the lock
/// (see the module's documentation). Both are quick system calls done where
/// it drops, so that the session is free as soon as its lock is dropped.
struct HeldFile {
    path: PathBuf,
    _file: File,
}

impl Drop for HeldFile {
    fn drop(&mut self) {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            // Gone only if someone removed it by hand: nothing left to do.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            // The file stays, unlocked once closed: stale, which the reap
            // or the next lock of the session removes.
            Err(error) => tracing::warn!(
                file = %shown(&self.path),
                %error,
                "file store: cannot remove the lock file of a released session"
            ),
        }
        // `_file` is closed after this, releasing the lock.
    }
}

/// What holds an exclusive session: its lock file, then the in-process lock.
/// The file is released first (fields drop in order), so that the next
/// request of this process finds it free.
struct Exclusive {
    _file: HeldFile,
    _keyed: KeyedGuard,
}

/// What one attempt to take a lock file found.
enum Attempt {
    Taken(HeldFile),
    /// Another process, or another store on this directory, holds it.
    Busy,
}

impl FileStore {
    /// [`SessionStore::lock`](crate::store::SessionStore::lock): the
    /// in-process lock of `id`, then its lock file, both within `wait`.
    ///
    /// Cancel safe: the in-process lock is released with the future, and an
    /// attempt running on the blocking pool when it is dropped drops what it
    /// took when it completes, which releases it.
    pub(super) async fn hold(
        &self,
        id: &str,
        wait: Duration,
    ) -> Result<Option<SessionLock>, StoreError> {
        if !cfg!(unix) {
            return Err(StoreError::new(
                "file store: exclusive sessions need a Unix system (the lock files are \
                 checked by device and inode)",
            ));
        }
        let deadline = Instant::now().checked_add(wait);
        let Some(keyed) = self.inner.shared.locks.lock(id, wait).await else {
            return Ok(None);
        };
        let mut pause = FIRST_PAUSE;
        loop {
            let owned = id.to_owned();
            match self.run(move |inner| inner.try_hold(&owned)).await? {
                Attempt::Taken(file) => {
                    return Ok(Some(SessionLock::new(Exclusive {
                        _file: file,
                        _keyed: keyed,
                    })));
                }
                Attempt::Busy => {}
            }
            let left = deadline.map_or(pause, |deadline| {
                deadline.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Ok(None);
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = pause.saturating_mul(2).min(MAX_PAUSE);
        }
    }
}

impl Inner {
    /// `<dir>/.locks/held`.
    pub(super) fn held_dir(&self) -> PathBuf {
        self.settings.dir.join(LOCK_DIR).join(HELD_DIR)
    }

    /// The lock file of `id`, checked as [`file_path`](Self::file_path) checks it.
    fn held_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        if !is_valid(id) {
            return Err(StoreError::new(
                "file store: refusing an invalid session id",
            ));
        }
        Ok(self.held_dir().join(id))
    }

    /// One attempt, without waiting, to take the lock file of `id`.
    fn try_hold(&self, id: &str) -> Result<Attempt, StoreError> {
        let path = self.held_path(id)?;
        for _ in 0..MAX_REOPENS {
            let file = self.open_held(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(Attempt::Busy),
                Err(TryLockError::Error(error)) => {
                    return Err(io_error("lock the lock file", &path, error));
                }
            }
            if is_at(&file, &path)? {
                return Ok(Attempt::Taken(HeldFile { path, _file: file }));
            }
            // Its holder released it and unlinked it between our open and
            // our lock: closing `file` here, try the path again.
        }
        Ok(Attempt::Busy)
    }

    /// Opens the lock file at `path`, creating it (and its directories, mode
    /// `0700`, as the per-write locks do) if it does not exist.
    fn open_held(&self, path: &Path) -> Result<File, StoreError> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, self.settings.mode);
        match options.open(path) {
            Ok(file) => Ok(file),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                self.create_dir(&self.held_dir())?;
                options
                    .open(path)
                    .map_err(|error| io_error("create the lock file", path, error))
            }
            Err(error) => Err(io_error("open the lock file", path, error)),
        }
    }
}

/// Removes the lock file at `path` if nobody holds it (a holder killed
/// before it could remove it): locked without waiting, checked to be still
/// at its path, unlinked while locked. `false` if it is held, gone, or
/// cannot be removed.
pub(super) fn remove_if_stale(path: &Path) -> bool {
    // Read-only is enough for `flock`, and creates nothing.
    File::open(path).is_ok_and(|file| remove_if_unheld(file, path))
}

/// The second half of [`remove_if_stale`], on `file` as it was opened at
/// `path`: by now its holder may have released it (unlinked it) and another
/// may hold a new file at the path, which must stay.
fn remove_if_unheld(file: File, path: &Path) -> bool {
    if file.try_lock().is_err() || !is_at(&file, path).unwrap_or(false) {
        return false;
    }
    fs::remove_file(path).is_ok()
    // `file` closes here, after the unlink.
}

/// Whether `file` is the file at `path` now: `false` when the path is gone
/// or names another file.
fn is_at(file: &File, path: &Path) -> Result<bool, StoreError> {
    let open = file
        .metadata()
        .map_err(|error| io_error("inspect the lock file", path, error))?;
    match fs::metadata(path) {
        Ok(at_path) => Ok(same_file(&open, &at_path)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(io_error("inspect the lock file", path, error)),
    }
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Never the same, where std cannot tell: [`FileStore::hold`] refuses
/// before any lock file is touched, and the reap removes none.
#[cfg(not(unix))]
fn same_file(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use std::future::Future as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::Poll;

    use super::*;
    use crate::id::SessionId;
    use crate::store::SessionStore as _;
    use crate::store::file::tests::TestDir;

    const LONG: Duration = Duration::from_secs(30);
    const SHORT: Duration = Duration::from_millis(30);

    fn sid(text: &str) -> SessionId {
        SessionId::parse(text).unwrap()
    }

    fn new_store(dir: &Path) -> FileStore {
        FileStore::new(dir).with_reap_interval(None)
    }

    /// The names in `<dir>/.locks/held`, sorted; none when it does not exist.
    fn held_files(store: &FileStore) -> Vec<String> {
        let Ok(entries) = fs::read_dir(store.inner.held_dir()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Waits until `<dir>/.locks/held` is empty: a lock taken by an attempt
    /// whose future was dropped is released when that attempt completes on
    /// the blocking pool.
    async fn until_no_held_files(store: &FileStore) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !held_files(store).is_empty() {
            assert!(Instant::now() < deadline, "left: {:?}", held_files(store));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_second_lock_of_a_session_waits_for_the_first() {
        let dir = TestDir::new("held-wait");
        let store = new_store(dir.path());
        let id = sid("abc");
        let first = store.lock(&id, LONG).await.unwrap().unwrap();
        assert_eq!(held_files(&store), ["abc"]);
        let start = Instant::now();
        assert!(store.lock(&id, SHORT).await.unwrap().is_none());
        assert!(start.elapsed() >= SHORT);
        // Another store on the directory has in-process locks of its own, as
        // another process would: it waits on the file.
        let other = new_store(dir.path());
        assert!(other.lock(&id, SHORT).await.unwrap().is_none());
        assert!(other.lock(&id, Duration::ZERO).await.unwrap().is_none());
        let waiter = tokio::spawn({
            let other = other.clone();
            async move { other.lock(&sid("abc"), LONG).await.unwrap().is_some() }
        });
        tokio::time::sleep(SHORT).await;
        assert!(!waiter.is_finished(), "taken while held");
        drop(first);
        assert!(waiter.await.unwrap());
        // Free the moment its lock drops: no wait needed.
        let again = store.lock(&id, Duration::ZERO).await.unwrap();
        assert!(again.is_some());
        drop(again);
        assert!(held_files(&store).is_empty());
        assert_eq!(store.inner.shared.locks.len(), 0);
        assert_eq!(other.inner.shared.locks.len(), 0);
    }

    #[tokio::test]
    async fn different_sessions_never_wait_on_each_other() {
        let dir = TestDir::new("held-apart");
        let (store, other) = (new_store(dir.path()), new_store(dir.path()));
        // 200 ids: every stripe of the per-write locks several times over.
        let mut held = Vec::new();
        for n in 0..200 {
            let (id, by) = (sid(&format!("id{n}")), [&store, &other][n % 2]);
            held.push(by.lock(&id, Duration::ZERO).await.unwrap().expect("free"));
        }
        assert_eq!(held_files(&store).len(), 200);
        drop(held);
        assert!(held_files(&store).is_empty());
        assert_eq!(store.inner.shared.locks.len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_lock_future_leaves_nothing_behind() {
        let dir = TestDir::new("held-dropped");
        let store = new_store(dir.path());
        let id = sid("abc");

        // Waiting for the in-process lock, and polling the file another store holds.
        let held = store.lock(&id, LONG).await.unwrap().unwrap();
        let other = new_store(dir.path());
        for waiting in [&store, &other] {
            let lock = waiting.lock(&id, LONG);
            assert!(tokio::time::timeout(SHORT, lock).await.is_err());
        }
        assert_eq!(other.inner.shared.locks.len(), 0);
        drop(held);
        assert!(held_files(&store).is_empty());

        // Dropped at every point of an attempt: before it starts, while it
        // runs on the blocking pool, and when it has just taken the file.
        let mut dropped = 0;
        for n in 0..300 {
            let mut lock = std::pin::pin!(store.lock(&id, LONG));
            let polled = std::future::poll_fn(|cx| Poll::Ready(lock.as_mut().poll(cx))).await;
            match polled {
                Poll::Ready(lock) => drop(lock.unwrap().unwrap()),
                Poll::Pending => {
                    // The attempt runs on the blocking pool meanwhile.
                    std::thread::sleep(Duration::from_micros(n));
                    dropped += 1;
                }
            }
        }
        assert!(dropped > 0, "no future was dropped mid-attempt");
        // An attempt still running when its future was dropped takes the
        // file and releases it when it completes: soon, the session is free
        // and nothing is left.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(lock) = store.lock(&id, Duration::ZERO).await.unwrap() {
                drop(lock);
                if held_files(&store).is_empty() && store.inner.shared.locks.len() == 0 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "left: {:?}", held_files(&store));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_thousand_sessions_locked_and_released_leave_no_file() {
        let dir = TestDir::new("held-growth");
        let store = new_store(dir.path());
        for n in 0..1000 {
            let id = sid(&format!("session{n}"));
            drop(store.lock(&id, LONG).await.unwrap().unwrap());
        }
        assert!(store.inner.held_dir().is_dir());
        assert!(held_files(&store).is_empty());
        assert_eq!(store.inner.shared.locks.len(), 0);
    }

    #[tokio::test]
    async fn a_stale_lock_file_blocks_nobody_and_is_reaped() {
        let dir = TestDir::new("held-stale");
        let store = new_store(dir.path());
        // Left unlocked by holders that were killed.
        fs::create_dir_all(store.inner.held_dir()).unwrap();
        for name in ["stale1", "stale2"] {
            fs::write(store.inner.held_dir().join(name), "").unwrap();
        }
        let lock = store.lock(&sid("stale1"), Duration::ZERO).await.unwrap();
        assert!(lock.is_some(), "a stale lock file blocks nobody");
        drop(lock);
        assert_eq!(held_files(&store), ["stale2"], "and goes with its lock");

        let holding = store.lock(&sid("holding"), LONG).await.unwrap().unwrap();
        fs::write(store.inner.held_dir().join("not.an-id"), "").unwrap();
        let stats = store.remove_expired().await.unwrap();
        assert_eq!(stats.stale_locks_removed, 1);
        assert_eq!(stats.scanned, 0, "no lock file is a session");
        assert_eq!(
            held_files(&store),
            ["holding", "not.an-id"],
            "held lock files, and names the store never gives one, stay"
        );
        drop(holding);
        assert_eq!(held_files(&store), ["not.an-id"]);
        assert_eq!(store.remove_expired().await.unwrap().stale_locks_removed, 0);
    }

    #[tokio::test]
    async fn the_reap_never_removes_the_lock_file_of_a_later_holder() {
        let dir = TestDir::new("held-reap-race");
        let (store, other) = (new_store(dir.path()), new_store(dir.path()));
        let id = sid("abc");
        let first = store.lock(&id, LONG).await.unwrap().unwrap();
        let path = store.inner.held_dir().join("abc");
        // The reap opens the lock file; before it locks it, the holder
        // releases the session and another takes it, in a new file.
        let opened = File::open(&path).unwrap();
        drop(first);
        let second = store.lock(&id, Duration::ZERO).await.unwrap().unwrap();
        assert!(
            !remove_if_unheld(opened, &path),
            "the reap locked the released file, not the one at the path"
        );
        assert_eq!(held_files(&store), ["abc"]);
        assert!(other.lock(&id, Duration::ZERO).await.unwrap().is_none());
        drop(second);
        assert!(other.lock(&id, Duration::ZERO).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn lock_files_are_never_sessions() {
        let dir = TestDir::new("held-not-sessions");
        // No extension: a lock file's name is a session file's name.
        let store = new_store(dir.path()).with_extension("");
        let id = sid("abc");
        let _held = store.lock(&id, LONG).await.unwrap().unwrap();
        assert!(store.load(&id).await.unwrap().is_none());
        let stats = store.remove_expired().await.unwrap();
        assert_eq!((stats.scanned, stats.read, stats.removed), (0, 0, 0));
        assert_eq!(held_files(&store), ["abc"]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_missing_directory_is_created_and_modes_are_kept() {
        use std::os::unix::fs::PermissionsExt as _;
        let parent = TestDir::new("held-missing");
        let dir = parent.path().join("sessions");
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        let store = new_store(&dir);
        let held = store.lock(&sid("abc"), Duration::ZERO).await.unwrap();
        assert!(held.is_some());
        for created in [dir.clone(), dir.join(LOCK_DIR), store.inner.held_dir()] {
            assert_eq!(mode(&created), 0o700, "{}", created.display());
        }
        assert_eq!(mode(&store.inner.held_dir().join("abc")), 0o600);
        // The store's mode, less the umask, as every lock file.
        let shared = store.clone().with_mode(0o660);
        let _held = shared.lock(&sid("def"), Duration::ZERO).await.unwrap();
        let lock_mode = mode(&store.inner.held_dir().join("def"));
        assert_eq!(lock_mode & !0o660, 0, "{lock_mode:o}");
        assert_eq!(lock_mode & 0o600, 0o600, "{lock_mode:o}");
    }

    #[tokio::test]
    async fn a_lock_file_that_cannot_be_created_is_an_error_naming_it() {
        let dir = TestDir::new("held-error");
        let store = new_store(dir.path());
        // A file where the directory of lock files should be.
        fs::create_dir(dir.path().join(LOCK_DIR)).unwrap();
        fs::write(store.inner.held_dir(), "").unwrap();
        let error = store.lock(&sid("abc"), LONG).await.unwrap_err();
        let path = store.inner.held_dir().join("abc");
        let message = error.to_string();
        assert!(message.contains("lock file"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(std::error::Error::source(&error).is_some(), "{error:?}");
        assert_eq!(store.inner.shared.locks.len(), 0);
    }

    #[tokio::test]
    async fn long_ids_are_not_logged_whole() {
        let dir = TestDir::new("held-redacted");
        let store = new_store(dir.path());
        fs::create_dir(dir.path().join(LOCK_DIR)).unwrap();
        fs::write(store.inner.held_dir(), "").unwrap();
        let id = "mWhV7O00Zsg3SN5Too8g3uj9plEE9sS_";
        let message = store.lock(&sid(id), LONG).await.unwrap_err().to_string();
        assert!(!message.contains(id), "{message}");
        assert!(message.contains("held/mWhV7…"), "{message}");
    }

    /// Tasks of two stores on one directory (only the lock files keep them
    /// apart) and a reap in a loop, all on one session: never two holders.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stores_and_a_reap_never_let_two_hold_a_session() {
        let dir = TestDir::new("held-contention");
        let stores = [new_store(dir.path()), new_store(dir.path())];
        let inside = Arc::new(dir.path().join("inside"));
        let entries = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for n in 0..16 {
            let store = stores[n % 2].clone();
            let (inside, entries) = (Arc::clone(&inside), Arc::clone(&entries));
            tasks.push(tokio::spawn(async move {
                for _ in 0..25 {
                    let _held = store.lock(&sid("one"), LONG).await.unwrap().unwrap();
                    fs::File::create_new(&*inside).expect("two holders at once");
                    tokio::task::yield_now().await;
                    fs::remove_file(&*inside).unwrap();
                    entries.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let done = Arc::new(AtomicBool::new(false));
        let reaper = tokio::spawn({
            let (store, done) = (stores[0].clone(), Arc::clone(&done));
            async move {
                while !done.load(Ordering::Relaxed) {
                    store.remove_expired().await.unwrap();
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
        });
        for task in tasks {
            task.await.unwrap();
        }
        done.store(true, Ordering::Relaxed);
        reaper.await.unwrap();
        assert_eq!(entries.load(Ordering::Relaxed), 16 * 25);
        until_no_held_files(&stores[0]).await;
        for store in &stores {
            assert_eq!(store.inner.shared.locks.len(), 0);
        }
    }
}
