//! The reap: removes expired session files and leftover temporary files,
//! reading only the files the store has not seen as they are, and pacing
//! itself so that requests keep their CPU.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::time::{Duration, SystemTime};

use super::held::remove_if_stale;
use super::io::{Loaded, io_error, seen};
use super::{Inner, ReapStats};
use crate::id::is_valid;
use crate::store::{StoreError, is_live};
use crate::sync::lock;
use crate::time::now_ms;

/// Temporary files older than this are leftovers of a crash; the reap removes them.
const STALE_TEMP: Duration = Duration::from_secs(3600);

impl Inner {
    pub(super) fn reap(&self) -> Result<ReapStats, StoreError> {
        let _reaping = lock(&self.shared.reaping);
        let mut stats = ReapStats::default();
        let entries = match fs::read_dir(&self.settings.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(stats),
            Err(error) => return Err(io_error("list", &self.settings.dir, error)),
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
            if self.is_temp_name(name) {
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
            let Some(id) = name.strip_suffix(self.settings.extension.as_str()) else {
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
            // The index is shared by clones, whose ttls may differ: a known
            // expiry only picks candidates; each is re-read under its lock
            // with this handle's ttl before it is removed.
            let known = lock(&self.shared.index)
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
        lock(&self.shared.index).retain(|id, _| present.contains(id));
        let removed = candidates.into_iter().try_for_each(|id| {
            pacer.pace();
            stats.removed += usize::from(self.remove_if_expired(&id)?);
            Ok(())
        });
        // One directory sync for all of the reap's unlinks, even after an
        // error. Not for the lock files': they need none (see `held`).
        if stats.removed > 0 || stats.stale_temp_removed > 0 {
            self.sync_dir();
        }
        let stale_locks = self.reap_held(&mut pacer);
        stats.index_entries_removed = self.reap_index(|| pacer.pace());
        removed.and(stale_locks).map(|removed| {
            stats.stale_locks_removed = removed;
            stats
        })
    }

    /// Removes the lock files of exclusive sessions that nobody holds: left
    /// by a process killed while it held them (see `held`). The directory
    /// holds one file per session held now, so this is short.
    fn reap_held(&self, pacer: &mut Pacer) -> Result<usize, StoreError> {
        let dir = self.held_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(io_error("list", &dir, error)),
        };
        let mut removed = 0;
        for entry in entries {
            pacer.pace();
            let Ok(entry) = entry else { continue };
            // Only names this store gives lock files.
            if entry.file_name().to_str().is_some_and(is_valid) && remove_if_stale(&entry.path()) {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the file of `id` if, read again under its lock, it has expired.
    pub(super) fn remove_if_expired(&self, id: &str) -> Result<bool, StoreError> {
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
        self.unlink(id, &path)
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
