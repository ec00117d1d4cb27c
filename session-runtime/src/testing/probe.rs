//! What the checks share: a store wrapped so that every failure names the
//! check and the rule, and builders of records.

use std::fmt::Display;
use std::time::Duration;

use serde_json::value::RawValue;

use crate::id::SessionId;
use crate::record::Record;
use crate::store::{Created, IndexEntry, SessionLock, SessionStore, Update, Updated};
use crate::time::{duration_ms, now_ms};

/// How long the lock checks wait for a lock that must be free: long enough
/// for a store whose release is asynchronous (a network round trip).
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(10);

/// One check's view of the store under test: each operation fails the check
/// on a store error, and [`ensure`](Self::ensure) on a broken rule.
pub(super) struct Probe<'a, S> {
    check: &'static str,
    store: &'a S,
}

impl<'a, S: SessionStore> Probe<'a, S> {
    pub(super) fn new(check: &'static str, store: &'a S) -> Self {
        let probe = Probe { check, store };
        let ttl = store.ttl();
        probe.ensure(
            ttl >= super::MIN_TTL,
            format_args!(
                "the store's ttl is {ttl:?}; the kit needs at least {:?} (configure the factory's store with a longer ttl)",
                super::MIN_TTL
            ),
        );
        probe
    }

    /// The store's ttl in milliseconds.
    pub(super) fn ttl_ms(&self) -> u64 {
        duration_ms(self.store.ttl())
    }

    /// Fails the check with `rule` unless `ok`.
    #[track_caller]
    pub(super) fn ensure(&self, ok: bool, rule: impl Display) {
        if !ok {
            self.fail(rule);
        }
    }

    #[track_caller]
    pub(super) fn fail(&self, rule: impl Display) -> ! {
        panic!("store kit, check `{}`: {rule}", self.check)
    }

    fn failed<T>(&self, op: &str, result: Result<T, crate::StoreError>) -> T {
        result.unwrap_or_else(|error| self.fail(format_args!("`{op}` returned an error: {error}")))
    }

    pub(super) async fn load(&self, id: &SessionId) -> Option<Record> {
        self.failed("load", self.store.load(id).await)
    }

    /// The session under `id`, which must be live.
    pub(super) async fn load_live(&self, id: &SessionId, why: &str) -> Record {
        match self.load(id).await {
            Some(record) => record,
            None => self.fail(format_args!("`load` found no session, but {why}")),
        }
    }

    pub(super) async fn create(&self, id: &SessionId, record: &Record) -> Created {
        self.failed("create", self.store.create(id, record).await)
    }

    /// Creates a session under a fresh id, which must be stored.
    pub(super) async fn create_new(&self, id: &SessionId, record: &Record) {
        let created = self.create(id, record).await;
        self.ensure(
            created == Created::Stored,
            format_args!(
                "`create` of a session under an unused id returned {created:?}, not `Created::Stored`"
            ),
        );
    }

    pub(super) async fn update(
        &self,
        id: &SessionId,
        record: &Record,
        changed: &[&str],
    ) -> Updated {
        let update = Update::new(record, changed);
        self.failed("update", self.store.update(id, update).await)
    }

    /// Updates a session that must be live.
    pub(super) async fn update_live(&self, id: &SessionId, record: &Record, changed: &[&str]) {
        let updated = self.update(id, record, changed).await;
        self.ensure(
            updated == Updated::Stored,
            "`update` of a live session returned `Updated::Gone`",
        );
    }

    /// Touches a session that must be live.
    pub(super) async fn touch_live(&self, id: &SessionId, record: &Record) {
        let touched = self.touch(id, record).await;
        self.ensure(
            touched == Updated::Stored,
            "`touch` of a live session returned `Updated::Gone`",
        );
    }

    pub(super) async fn touch(&self, id: &SessionId, record: &Record) -> Updated {
        self.failed("touch", self.store.touch(id, record).await)
    }

    /// `lock(id, wait)`, which must not fail.
    pub(super) async fn lock(&self, id: &SessionId, wait: Duration) -> Option<SessionLock> {
        self.failed("lock", self.store.lock(id, wait).await)
    }

    /// Takes the lock of `id`, which must be free (or freed within seconds).
    pub(super) async fn lock_free(&self, id: &SessionId, why: &str) -> SessionLock {
        match self.lock(id, LOCK_WAIT).await {
            Some(lock) => lock,
            None => self.fail(format_args!(
                "`lock` did not take the session within {LOCK_WAIT:?}, but {why}"
            )),
        }
    }

    /// Whether the store says it implements `lock`; if not, checks that its
    /// `lock` fails rather than pretending to hold the session.
    pub(super) async fn locks(&self) -> bool {
        if self.store.supports_locking() {
            return true;
        }
        let id = SessionId::generate();
        self.ensure(
            self.store.lock(&id, Duration::ZERO).await.is_err(),
            "`supports_locking` is false, but `lock` returned a lock: a layer would refuse \
             the store while its lock works, or trust a lock that does not exclude",
        );
        false
    }

    /// `update(id, update)` as given, which must not fail.
    pub(super) async fn store_update(&self, id: &SessionId, update: Update<'_>) -> Updated {
        self.failed("update", self.store.update(id, update).await)
    }

    /// Whether the store says it keeps indexes; if not, checks that its index
    /// methods fail rather than pretending to keep entries.
    pub(super) async fn indexes(&self) -> bool {
        if self.store.supports_indexes() {
            return true;
        }
        let entry = IndexEntry::new("user", "1");
        let id = SessionId::generate();
        self.ensure(
            self.store.index_insert(entry, &id).await.is_err()
                && self.store.index_members(entry).await.is_err(),
            "`supports_indexes` is false, but the index methods succeed: the layer would refuse \
             the store while its index works, or trust an index that keeps nothing",
        );
        false
    }

    pub(super) async fn index_insert(&self, entry: IndexEntry<'_>, id: &SessionId) {
        self.failed("index_insert", self.store.index_insert(entry, id).await);
    }

    pub(super) async fn index_remove(&self, entry: IndexEntry<'_>, ids: &[SessionId]) {
        self.failed("index_remove", self.store.index_remove(entry, ids).await);
    }

    /// The ids under `entry`, sorted.
    pub(super) async fn index_members(&self, entry: IndexEntry<'_>) -> Vec<SessionId> {
        let mut ids = self.failed("index_members", self.store.index_members(entry).await);
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        ids
    }

    pub(super) async fn index_keys(&self) -> Vec<String> {
        self.failed("index_keys", self.store.index_keys().await)
    }

    pub(super) async fn destroy(&self, id: &SessionId) {
        self.failed("destroy", self.store.destroy(id).await);
    }

    /// Fails unless `what` (a write to a session that is gone: "an update
    /// after destroy") wrote nothing and returned [`Updated::Gone`].
    pub(super) async fn expect_gone(&self, id: &SessionId, done: Updated, what: &str) {
        self.ensure(
            self.load(id).await.is_none(),
            format_args!("{what} recreated the session"),
        );
        self.ensure(
            done == Updated::Gone,
            format_args!("{what} returned `Updated::Stored`, not `Updated::Gone`"),
        );
    }

    /// Creates `record` under a fresh id and fails with `rule` unless `load`
    /// then finds it exactly when `live`.
    pub(super) async fn expect_liveness(&self, record: &Record, live: bool, rule: &str) {
        let id = SessionId::generate();
        self.create_new(&id, record).await;
        let found = self.load(&id).await.is_some();
        let what = if found {
            "returned it"
        } else {
            "found nothing"
        };
        self.ensure(found == live, format_args!("{rule} (`load` {what})"));
    }

    /// Fails unless `loaded` is `expected`: the same fields with the same raw
    /// JSON (in any order), cookie settings, access time and creation time.
    #[track_caller]
    pub(super) fn expect_same(&self, loaded: &Record, expected: &Record, rule: &str) {
        for (key, value) in expected.fields.iter() {
            self.expect_field(loaded, key, value.get(), rule);
        }
        if let Some((extra, _)) = loaded
            .fields
            .iter()
            .find(|(key, _)| expected.fields.get(key).is_none())
        {
            self.fail(format_args!(
                "{rule}: it holds a field {extra:?} that was not stored"
            ));
        }
        self.ensure(
            loaded.cookie == expected.cookie,
            format_args!(
                "{rule}: the cookie settings are {:?}, expected {:?}",
                loaded.cookie, expected.cookie
            ),
        );
        self.ensure(
            loaded.last_access == expected.last_access,
            format_args!(
                "{rule}: `last_access` is {:?}, expected {:?}",
                loaded.last_access, expected.last_access
            ),
        );
        self.ensure(
            loaded.created == expected.created,
            format_args!(
                "{rule}: `created` is {:?}, expected {:?}",
                loaded.created, expected.created
            ),
        );
    }

    /// Fails unless `record` holds `key` with exactly the raw JSON `expected`.
    #[track_caller]
    pub(super) fn expect_field(&self, record: &Record, key: &str, expected: &str, rule: &str) {
        match record.fields.get(key) {
            Some(value) if value.get() == expected => {}
            Some(value) => self.fail(format_args!(
                "{rule}: field {key:?} is {}, expected {}",
                shown(value.get()),
                shown(expected)
            )),
            None => self.fail(format_args!(
                "{rule}: field {key:?} is missing, expected {}",
                shown(expected)
            )),
        }
    }

    /// Fails if `record` holds `key`.
    #[track_caller]
    pub(super) fn expect_no_field(&self, record: &Record, key: &str, rule: &str) {
        if let Some(value) = record.fields.get(key) {
            self.fail(format_args!(
                "{rule}: field {key:?} is {}, expected no such field",
                shown(value.get())
            ));
        }
    }
}

/// A value for a failure message, cut short: a 1 MiB field must not flood the log.
fn shown(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

/// One hour, in milliseconds: the max age of sessions whose expiry a check
/// does not look at.
pub(super) const HOUR_MS: u64 = 60 * 60 * 1000;

/// A record holding `fields` (key, raw JSON), last accessed at `last_access`,
/// whose cookie has the max age `max_age` (ms) and expires accordingly.
pub(super) fn record_at(fields: &[(&str, &str)], last_access: u64, max_age: Option<u64>) -> Record {
    let mut record = Record::default();
    for (key, value) in fields {
        record.fields.set(key, raw(value));
    }
    record.last_access = Some(last_access);
    record.cookie.original_max_age = max_age;
    record.cookie.expires = max_age.map(|ms| last_access.saturating_add(ms));
    record
}

/// A record holding `fields`, accessed now, living an hour.
pub(super) fn record(fields: &[(&str, &str)]) -> Record {
    record_at(fields, now_ms(), Some(HOUR_MS))
}

/// Raw JSON that the check itself wrote, known to be valid.
pub(super) fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("the store kit wrote invalid JSON")
}
