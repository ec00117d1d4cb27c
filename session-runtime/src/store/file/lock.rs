//! The per-session lock: an in-process stripe mutex, then an advisory lock
//! on one of [`STRIPES`] lock files in `<dir>/.locks/`, shared by every
//! process that uses the directory.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use super::Inner;
use super::io::io_error;
use crate::store::StoreError;
use crate::store::hash::fnv1a;

pub(super) const STRIPES: usize = 64;
pub(super) const LOCK_DIR: &str = ".locks";
/// The first pause between two attempts to take a held lock; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_micros(50);
const MAX_PAUSE: Duration = Duration::from_millis(2);

pub(super) fn new_stripes() -> Box<[Mutex<()>]> {
    (0..STRIPES).map(|_| Mutex::new(())).collect()
}

/// FNV-1a: stable across processes and builds, so every process maps an id to the same lock file.
fn stripe_of(id: &str) -> usize {
    (fnv1a(id.as_bytes()) % STRIPES as u64) as usize
}

/// A session's lock: the in-process stripe mutex, then the stripe's lock file.
/// Both are released when it drops (the file first: fields drop in order).
pub(super) struct SessionLock<'a> {
    _file: File,
    _guard: MutexGuard<'a, ()>,
}

impl Inner {
    /// Takes the lock of `id`, waiting at most the lock timeout for each
    /// half. `None` when the directory does not exist and `create` is false:
    /// there is nothing to touch or remove then.
    pub(super) fn lock_session(
        &self,
        id: &str,
        create: bool,
    ) -> Result<Option<SessionLock<'_>>, StoreError> {
        let stripe = stripe_of(id);
        let lock_dir = self.settings.dir.join(LOCK_DIR);
        let path = lock_dir.join(format!("{stripe:02}"));
        let deadline = Instant::now().checked_add(self.settings.lock_timeout);
        #[allow(
            clippy::indexing_slicing,
            reason = "`stripe_of` is below `STRIPES`, the stripes' length"
        )]
        let mutex = &self.shared.stripes[stripe];
        let guard = retry_until(deadline, || match mutex.try_lock() {
            Ok(guard) => Ok(Some(guard)),
            // Poison-tolerant, as `crate::sync::lock`.
            Err(TryLockError::Poisoned(poisoned)) => Ok(Some(poisoned.into_inner())),
            Err(TryLockError::WouldBlock) => Ok(None),
        })?
        .ok_or_else(|| self.lock_timed_out(&path))?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, self.settings.mode);
        let file = match options.open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if !create && !self.settings.dir.is_dir() {
                    return Ok(None);
                }
                self.create_dir(&lock_dir)?;
                options
                    .open(&path)
                    .map_err(|error| io_error("create lock file", &path, error))?
            }
            Err(error) => return Err(io_error("open lock file", &path, error)),
        };
        retry_until(deadline, || match file.try_lock() {
            Ok(()) => Ok(Some(())),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(error)) => Err(io_error("lock", &path, error)),
        })?
        .ok_or_else(|| self.lock_timed_out(&path))?;
        Ok(Some(SessionLock {
            _file: file,
            _guard: guard,
        }))
    }

    fn lock_timed_out(&self, path: &Path) -> StoreError {
        StoreError::new(format!(
            "file store: gave up after {:?} waiting for the session lock {}: another \
             thread or process holds it; find it, or raise `with_lock_timeout`",
            self.settings.lock_timeout,
            path.display()
        ))
    }
}

/// Calls `attempt` until it takes its lock (`Some`), pausing a little longer
/// after each miss; `None` once `deadline` has passed (never, without one).
fn retry_until<T>(
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> Result<Option<T>, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(taken) = attempt()? {
            return Ok(Some(taken));
        }
        let left = match deadline {
            Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            None => MAX_PAUSE,
        };
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(pause.min(left));
        pause = pause.saturating_mul(2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn stripes_are_stable_and_spread() {
        // The mapping is part of the cross-process protocol: it must not change.
        assert_eq!(stripe_of("a"), stripe_of("a"));
        let used: HashSet<usize> = (0..1000).map(|i| stripe_of(&format!("id{i}"))).collect();
        assert_eq!(used.len(), STRIPES);
        // FNV-1a of the id, mod 64: the values every process must agree on.
        assert_eq!(stripe_of("a"), 0x0c);
        assert_eq!(stripe_of("foobar"), 0x28);
    }

    #[test]
    fn a_held_stripe_fails_the_lock_within_the_timeout() {
        let dir = super::super::tests::TestDir::new("held-stripe");
        let store = super::super::FileStore::new(dir.path())
            .with_lock_timeout(std::time::Duration::from_millis(100));
        // A thread of this process (this one, here) holds the in-process half.
        let held = crate::sync::lock(&store.inner.shared.stripes[stripe_of("abc")]);
        let start = Instant::now();
        let error = store.inner.lock_session("abc", true).err().unwrap();
        assert!(error.to_string().contains("`with_lock_timeout`"), "{error}");
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        drop(held);
        assert!(store.inner.lock_session("abc", true).unwrap().is_some());
    }

    #[test]
    fn no_lock_file_for_a_missing_directory_unless_creating() {
        let dir = std::env::temp_dir().join(format!(
            "session-runtime-no-lock-dir-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let store = super::super::FileStore::new(&dir);
        assert!(store.inner.lock_session("abc", false).unwrap().is_none());
        assert!(!dir.exists(), "looking for a lock creates nothing");
        let held = store.inner.lock_session("abc", true).unwrap();
        assert!(held.is_some());
        let lock_file = dir.join(LOCK_DIR).join(format!("{:02}", stripe_of("abc")));
        assert!(lock_file.is_file());
        drop(held);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
