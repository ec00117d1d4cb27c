//! What a store value is: settings of its own, and state shared with every clone.
//!
//! A store is configured by value (`MemoryStore::new().with_ttl(..)`) and
//! cloned to be shared (the layer clones it into every service), in either
//! order. Keeping the two apart makes every order safe: configuring a handle
//! changes that handle's settings only (copied first if another handle still
//! shares them), never its sessions, which every clone keeps sharing.
//!
//! The stores used to rebuild their whole state when configured while
//! shared: `store.clone().with_ttl(..)` silently started an empty store.
//! Mutating the shared settings in place instead would fix that, but would
//! let a builder call on one handle change every other handle's settings.

use std::sync::Arc;

/// A store handle: its settings `S`, and the state `T` its clones share.
pub(crate) struct Handle<S, T> {
    /// This handle's settings.
    pub(crate) settings: Arc<S>,
    /// What every clone shares: the sessions, or their locks and index.
    pub(crate) shared: Arc<T>,
}

impl<S, T> Clone for Handle<S, T> {
    fn clone(&self) -> Self {
        Handle {
            settings: Arc::clone(&self.settings),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Clone, T> Handle<S, T> {
    pub(crate) fn new(settings: S, shared: T) -> Self {
        Handle {
            settings: Arc::new(settings),
            shared: Arc::new(shared),
        }
    }

    /// This handle with its settings changed by `apply`; the shared state is
    /// untouched, so every clone still sees the same sessions.
    #[must_use]
    pub(crate) fn configure(mut self, apply: impl FnOnce(&mut S)) -> Self {
        apply(Arc::make_mut(&mut self.settings));
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn configuring_a_clone_changes_its_settings_not_the_shared_state() {
        let original: Handle<u32, Mutex<Vec<u32>>> = Handle::new(1, Mutex::new(Vec::new()));
        let configured = original.clone().configure(|n| *n = 2);
        configured.shared.lock().unwrap().push(7);
        assert_eq!((*original.settings, *configured.settings), (1, 2));
        assert!(Arc::ptr_eq(&original.shared, &configured.shared));
        assert_eq!(*original.shared.lock().unwrap(), [7]);
    }

    #[test]
    fn configuring_an_unshared_handle_copies_nothing() {
        let handle: Handle<String, ()> = Handle::new("a".to_owned(), ());
        let before = Arc::as_ptr(&handle.settings);
        let handle = handle.configure(|s| s.push('b'));
        assert_eq!(
            (Arc::as_ptr(&handle.settings), handle.settings.as_str()),
            (before, "ab")
        );
    }
}
