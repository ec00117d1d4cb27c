//! The per-session lock: an in-process stripe mutex, then an advisory lock
//! on one of [`STRIPES`] lock files in `<dir>/.locks/`, shared by every
//! process that uses the directory.

use std::fs::{File, OpenOptions};
use std::io;
use std::sync::{Mutex, MutexGuard};

use super::Inner;
use super::io::io_error;
use crate::store::StoreError;
use crate::store::hash::fnv1a;
use crate::sync::lock;

pub(super) const STRIPES: usize = 64;
const LOCK_DIR: &str = ".locks";

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
    /// Takes the lock of `id`. `None` when the directory does not exist and
    /// `create` is false: there is nothing to touch or remove then.
    pub(super) fn lock_session(
        &self,
        id: &str,
        create: bool,
    ) -> Result<Option<SessionLock<'_>>, StoreError> {
        let stripe = stripe_of(id);
        let guard = lock(&self.shared.stripes[stripe]);
        let lock_dir = self.settings.dir.join(LOCK_DIR);
        let path = lock_dir.join(format!("{stripe:02}"));
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
        file.lock()
            .map_err(|error| io_error("lock", &path, error))?;
        Ok(Some(SessionLock {
            _file: file,
            _guard: guard,
        }))
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
