//! The Redis store's indexes of indexed fields' values (`#[session(index)]`):
//! one sorted set of session ids per field and value, a registry of those
//! sets, and the reap that removes the entries of sessions that are gone.
//! [`RedisStore`](super::RedisStore#indexes) documents the layout and the rule.

use std::fmt::Write as _;

use futures_util::stream::{self, StreamExt as _};
use sha2::{Digest as _, Sha256};

use super::{Connection, RedisStore, decode};
use crate::id::SessionId;
use crate::index::same_json;
use crate::store::{BoxFuture, INDEX_GRACE, IndexEntry, StoreError, spawn_reaper};
use crate::time::duration_ms;

/// The longest value (its JSON text, in bytes) written into its index key as
/// it is; a longer one is named by `~` and the hex of its SHA-256.
const LONGEST_VALUE: usize = 128;

/// How many settled entries one call of [`SETTLED_SCRIPT`] lists (more when
/// the page ends among entries stamped in the same millisecond).
const REAP_PAGE: usize = 256;

/// How many index keys a reap works on at once.
const REAP_CONCURRENCY: usize = 16;

/// How many sessions' `GET` a reap on a cluster has in flight at once.
const GET_CONCURRENCY: usize = 64;

/// The `COUNT` of each `ZSCAN` of the registry.
const REGISTRY_SCAN: usize = 256;

/// The most ids one `ZREM` names.
const REMOVE_CHUNK: usize = 512;

/// Stamps the member `ARGV[1]` of the sorted set `KEYS[1]` with Redis's clock
/// (milliseconds since the epoch) and, when `KEYS[2]` is given (in the same
/// cluster slot), adds `ARGV[2]` to that set.
///
/// Redis's clock, not the app server's: every score is read and compared on
/// the node that holds it, so the grace does not depend on app servers'
/// clocks agreeing.
const STAMP_SCRIPT: &str = r"
local time = redis.call('TIME')
redis.call('ZADD', KEYS[1], time[1] * 1000 + math.floor(time[2] / 1000), ARGV[1])
if KEYS[2] then
  redis.call('SADD', KEYS[2], ARGV[2])
end
return 1
";

/// Lists the settled members of the sorted set `KEYS[1]`: those stamped at
/// least `ARGV[1]` milliseconds ago, by Redis's clock, oldest first, from
/// the score `ARGV[3]` on (`-inf`, or `(` and a score, exclusive), at most
/// `ARGV[2]` of them unless the page ends among members of one score, which
/// are then all listed so that the next page can start after that score.
///
/// Returns `{members in the set, the next page's ARGV[3] or '' after the last
/// page, {members listed}}`.
const SETTLED_SCRIPT: &str = r"
local time = redis.call('TIME')
local cutoff = time[1] * 1000 + math.floor(time[2] / 1000) - tonumber(ARGV[1])
local page = tonumber(ARGV[2])
local listed = redis.call('ZRANGE', KEYS[1], ARGV[3], cutoff, 'BYSCORE', 'LIMIT', 0, page, 'WITHSCORES')
local members = {}
for i = 1, #listed, 2 do
  members[#members + 1] = listed[i]
end
local after = ''
if #members == page then
  local last = listed[#listed]
  local tied = 0
  for i = #listed, 2, -2 do
    if listed[i] ~= last then
      break
    end
    tied = tied + 1
  end
  local all_tied = redis.call('ZRANGE', KEYS[1], last, last, 'BYSCORE')
  for i = tied + 1, #all_tied do
    members[#members + 1] = all_tied[i]
  end
  after = '(' .. last
end
return {redis.call('ZCARD', KEYS[1]), after, members}
";

/// Removes from the sorted set `KEYS[1]` each of the members `ARGV[2]`, … that
/// is still settled: stamped at least `ARGV[1]` milliseconds ago, by Redis's
/// clock. A member stamped again since it was listed stays.
///
/// Returns `{members removed, members left}`.
const REMOVE_SETTLED_SCRIPT: &str = r"
local time = redis.call('TIME')
local cutoff = time[1] * 1000 + math.floor(time[2] / 1000) - tonumber(ARGV[1])
local removed = 0
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= cutoff then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return {removed, redis.call('ZCARD', KEYS[1])}
";

/// The scripts of the index, loaded with the store's others.
pub(super) struct IndexScripts {
    pub(super) stamp: redis::Script,
    pub(super) settled: redis::Script,
    pub(super) remove_settled: redis::Script,
}

impl IndexScripts {
    pub(super) fn new() -> Self {
        IndexScripts {
            stamp: redis::Script::new(STAMP_SCRIPT),
            settled: redis::Script::new(SETTLED_SCRIPT),
            remove_settled: redis::Script::new(REMOVE_SETTLED_SCRIPT),
        }
    }

    pub(super) fn all(&self) -> [&redis::Script; 3] {
        [&self.stamp, &self.settled, &self.remove_settled]
    }
}

/// Where a store's index keys go, from its prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IndexLayout {
    /// What every index key of the store starts with: `index:` and the prefix.
    namespace: String,
    /// The registry: a sorted set of the store's index keys, each scored by
    /// when an entry was last inserted under it.
    values: String,
    /// The set of the indexed fields' keys ([`SessionStore::index_keys`]).
    ///
    /// [`SessionStore::index_keys`]: crate::SessionStore::index_keys
    fields: String,
}

impl IndexLayout {
    pub(super) fn for_prefix(prefix: &str) -> Self {
        let mut namespace = format!("index:{prefix}");
        // Only a prefix with which `index:index:…` itself starts ("i",
        // "index:", "index:in"…): its index keys would start with it, and
        // connect-redis, which finds sessions by scanning `<prefix>*`, would
        // count them. `sessions-index:` starts with another letter than any
        // such prefix.
        if !prefix.is_empty() && namespace.starts_with(prefix) {
            namespace = format!("sessions-index:{prefix}");
        }
        IndexLayout {
            // One hash tag for both, so that one script updates them together
            // on a cluster: the first `{` and the next `}` lie in the text
            // they share.
            values: format!("{namespace}{{registry}}:values"),
            fields: format!("{namespace}{{registry}}:fields"),
            namespace,
        }
    }

    /// The index key of `entry`: the namespace, the field's key as a JSON
    /// string, `:`, and the value's JSON text (or `~` and its SHA-256 in hex,
    /// when longer than [`LONGEST_VALUE`]).
    pub(super) fn key(&self, entry: IndexEntry<'_>) -> String {
        // A JSON string ends at its first unescaped `"`: no other key and
        // value make the same text. No JSON text starts with `~`.
        let field = serde_json::Value::from(entry.key).to_string();
        let mut key = String::with_capacity(
            self.namespace.len() + field.len() + 1 + LONGEST_VALUE.min(entry.value.len()),
        );
        key.push_str(&self.namespace);
        key.push_str(&field);
        key.push(':');
        if entry.value.len() <= LONGEST_VALUE {
            key.push_str(entry.value);
        } else {
            key.push('~');
            for byte in Sha256::digest(entry.value.as_bytes()) {
                let _ = write!(key, "{byte:02x}");
            }
        }
        key
    }
}

impl IndexLayout {
    /// The field and value an index key stands for; the value is `None`
    /// when the key holds only its hash.
    fn entry_of(&self, key: &[u8]) -> Option<(String, Option<String>)> {
        let rest = std::str::from_utf8(key)
            .ok()?
            .strip_prefix(&self.namespace)?;
        let mut fields = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        let field = fields.next()?.ok()?;
        let value = rest.get(fields.byte_offset()..)?.strip_prefix(':')?;
        let value = (!value.starts_with('~')).then(|| value.to_owned());
        Some((field, value))
    }
}

/// What the reap of one index key did.
struct Reaped {
    removed: usize,
    /// The key held no entry when last looked at.
    empty: bool,
}

impl RedisStore {
    /// The Redis key of the index entries of `entry` (one value of an
    /// indexed field): a sorted set of the ids of the sessions stored with
    /// the value, each scored by when it was last inserted. See
    /// [indexes](RedisStore#indexes).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), session_runtime::StoreError> {
    /// use session_runtime::store::IndexEntry;
    /// use session_runtime::store::redis::RedisStore;
    ///
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let entry = IndexEntry::new("user", r#""alice""#);
    /// assert_eq!(store.index_key(entry), r#"index:sess:"user":"alice""#);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn index_key(&self, entry: IndexEntry<'_>) -> String {
        self.inner.index.key(entry)
    }

    /// Removes now, from every index of the store, the entries of sessions
    /// that are not stored (expired, or destroyed by a process that died
    /// before it removed their entries) or no longer hold the value, unless they were inserted within the
    /// last [`INDEX_GRACE`] (they may belong to a session write under way);
    /// returns how many it removed. An index key left empty leaves the
    /// registry once its stamp there is that old too.
    ///
    /// A background task does this every
    /// [index reap interval](super::RedisStoreBuilder::index_reap_interval) in
    /// each process that writes sessions.
    ///
    /// # Errors
    /// When Redis fails. An index key that cannot be reaped (a key of another
    /// type under its name) does not stop the reap of the others: the error
    /// comes after them.
    pub async fn reap_indexes(&self) -> Result<usize, StoreError> {
        let registry = &self.inner.index.values;
        let mut cursor = "0".to_owned();
        let mut removed = 0;
        let mut failed: Option<(usize, StoreError)> = None;
        loop {
            let (next, listed): (String, Vec<Vec<u8>>) = self
                .inner
                .connection
                .query(
                    redis::cmd("ZSCAN")
                        .arg(registry)
                        .arg(&cursor)
                        .arg("COUNT")
                        .arg(REGISTRY_SCAN),
                    "ZSCAN",
                )
                .await?;
            // Members and their scores alternate.
            let keys: Vec<Vec<u8>> = listed.into_iter().step_by(2).collect();
            let reaped: Vec<(Vec<u8>, Result<Reaped, StoreError>)> = stream::iter(keys)
                .map(|key| -> BoxFuture<'_, _> {
                    Box::pin(async move {
                        let reaped = self.reap_index_key(&key).await;
                        (key, reaped)
                    })
                })
                .buffer_unordered(REAP_CONCURRENCY)
                .collect()
                .await;
            let mut empty = Vec::new();
            for (key, reaped) in reaped {
                match reaped {
                    Ok(reaped) => {
                        removed += reaped.removed;
                        if reaped.empty {
                            empty.push(key);
                        }
                    }
                    Err(error) => match &mut failed {
                        Some((count, _)) => *count += 1,
                        None => failed = Some((1, error)),
                    },
                }
            }
            if !empty.is_empty() {
                // An index key stamped in the registry within the grace stays:
                // an insert under it may be under way (it stamps the registry,
                // then the key).
                let mut forget = self.inner.index_scripts.remove_settled.key(registry);
                forget.arg(duration_ms(INDEX_GRACE));
                for key in &empty {
                    forget.arg(key.as_slice());
                }
                let _: (i64, i64) = self.inner.connection.invoke(&forget).await?;
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
        match failed {
            None => Ok(removed),
            Some((count, error)) => Err(StoreError::with_source(
                format!(
                    "redis: the reap of {count} index keys failed (it removed {removed} entries from the others)"
                ),
                error,
            )),
        }
    }

    /// Removes the settled entries of the index key `key` whose sessions are
    /// not stored or hold another value, a page at a time.
    async fn reap_index_key(&self, key: &[u8]) -> Result<Reaped, StoreError> {
        let scripts = &self.inner.index_scripts;
        let entry = self.inner.index.entry_of(key);
        let grace = duration_ms(INDEX_GRACE);
        let mut after = "-inf".to_owned();
        let mut removed = 0;
        loop {
            let mut settled = scripts.settled.key(key);
            settled.arg(grace).arg(REAP_PAGE).arg(&after);
            let (mut left, next, ids): (i64, String, Vec<Vec<u8>>) =
                self.inner.connection.invoke(&settled).await?;
            let gone = self.not_holding(ids, entry.as_ref()).await?;
            if !gone.is_empty() {
                let mut remove = scripts.remove_settled.key(key);
                remove.arg(grace);
                for id in &gone {
                    remove.arg(id.as_slice());
                }
                let (count, now_left): (usize, i64) = self.inner.connection.invoke(&remove).await?;
                removed += count;
                left = now_left;
            }
            if next.is_empty() {
                return Ok(Reaped {
                    removed,
                    empty: left == 0,
                });
            }
            after = next;
        }
    }

    /// The members of `ids` that name no stored session holding the entry's
    /// value: those whose session is not stored, or holds another value
    /// under the field (judged only when the key names the value, not its
    /// hash), and any that is not a session id at all.
    async fn not_holding(
        &self,
        ids: Vec<Vec<u8>>,
        entry: Option<&(String, Option<String>)>,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut gone = Vec::new();
        let mut candidates = Vec::with_capacity(ids.len());
        for id in ids {
            match std::str::from_utf8(&id).ok().and_then(SessionId::parse) {
                Some(session) => candidates.push((self.key(&session), id)),
                None => gone.push(id),
            }
        }
        let stored = self
            .fetch_all(candidates.iter().map(|(key, _)| key.clone()).collect())
            .await?;
        if stored.len() != candidates.len() {
            return Err(StoreError::new(format!(
                "redis: {} answers to {} `GET`",
                stored.len(),
                candidates.len()
            )));
        }
        let holds = |bytes: &[u8]| match entry {
            Some((field, Some(value))) => decode(bytes).map_or(true, |record| {
                record
                    .fields
                    .get(field)
                    .is_some_and(|stored| same_json(stored.get(), value))
            }),
            // Known only by its hash, or a key of another shape: the session's
            // existence is all that can be judged.
            _ => true,
        };
        gone.extend(
            candidates
                .into_iter()
                .zip(stored)
                .filter(|(_, value)| !value.as_deref().is_some_and(holds))
                .map(|((_, id), _)| id),
        );
        Ok(gone)
    }

    /// The values of `keys`: one pipeline on a single server; on a cluster,
    /// where a pipeline must stay in one slot, one `GET` each, many at once.
    async fn fetch_all(&self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let connection = &self.inner.connection;
        match connection {
            Connection::Single(_) => {
                let mut pipeline = redis::pipe();
                for key in keys {
                    pipeline.cmd("GET").arg(key);
                }
                connection.pipeline(&pipeline, "GET").await
            }
            Connection::Cluster(_) => stream::iter(keys)
                .map(|key| -> BoxFuture<'_, _> {
                    Box::pin(async move {
                        let mut get = redis::cmd("GET");
                        get.arg(key);
                        connection.query::<Option<Vec<u8>>>(&get, "GET").await
                    })
                })
                .buffered(GET_CONCURRENCY)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect(),
        }
    }

    /// Starts the background reap of the indexes unless it runs: called after
    /// each write, so that every process that writes sessions reaps.
    pub(super) fn start_index_reaper(&self) {
        spawn_reaper(
            |inner| &inner.index_reaper_running,
            &self.inner,
            self.inner.index_reap_interval,
            |inner| async move {
                match (RedisStore { inner }).reap_indexes().await {
                    Ok(0) => {}
                    Ok(removed) => {
                        tracing::debug!(
                            removed,
                            "redis store removed index entries of gone sessions"
                        );
                    }
                    Err(error) => tracing::warn!(%error, "redis store index reap failed"),
                }
            },
        );
    }

    pub(super) async fn insert_index_entry(
        &self,
        entry: IndexEntry<'_>,
        id: &SessionId,
    ) -> Result<(), StoreError> {
        let layout = &self.inner.index;
        let scripts = &self.inner.index_scripts;
        let key = layout.key(entry);
        // The registry first: a reap forgets an index key it found empty
        // only if the registry's stamp is older than the grace, so the entry
        // written next is never left out of the registry.
        let mut register = scripts.stamp.key(&layout.values);
        register.key(&layout.fields).arg(&key).arg(entry.key);
        let _: i64 = self.inner.connection.invoke(&register).await?;
        let mut stamp = scripts.stamp.key(&key);
        stamp.arg(id.as_str());
        let _: i64 = self.inner.connection.invoke(&stamp).await?;
        self.start_index_reaper();
        Ok(())
    }

    pub(super) async fn remove_index_entries(
        &self,
        entry: IndexEntry<'_>,
        ids: &[SessionId],
    ) -> Result<(), StoreError> {
        let key = self.inner.index.key(entry);
        for chunk in ids.chunks(REMOVE_CHUNK) {
            let mut remove = redis::cmd("ZREM");
            remove.arg(&key);
            for id in chunk {
                remove.arg(id.as_str());
            }
            let _: i64 = self.inner.connection.query(&remove, "ZREM").await?;
        }
        Ok(())
    }

    pub(super) async fn index_entry_members(
        &self,
        entry: IndexEntry<'_>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let key = self.inner.index.key(entry);
        let members: Vec<Vec<u8>> = self
            .inner
            .connection
            .query(redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1), "ZRANGE")
            .await?;
        Ok(members
            .iter()
            .filter_map(|id| SessionId::parse(std::str::from_utf8(id).ok()?))
            .collect())
    }

    pub(super) async fn indexed_field_keys(&self) -> Result<Vec<String>, StoreError> {
        let fields: Vec<Vec<u8>> = self
            .inner
            .connection
            .query(
                redis::cmd("SMEMBERS").arg(&self.inner.index.fields),
                "SMEMBERS",
            )
            .await?;
        Ok(fields
            .into_iter()
            .filter_map(|field| String::from_utf8(field).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use redis::cluster_routing::Slot;

    use super::super::{LockLayout, hash_tag};
    use super::*;

    /// Prefixes with a lock layout (those a store connects with), odd ones
    /// among them, and those that `index:` repeated starts with.
    const PREFIXES: [&str; 14] = [
        "sess:",
        "myapp:sess:",
        "",
        "{app}:sess:",
        "a{b}c}:",
        "x}y{z}:",
        "a{b",
        "{sess:",
        "sess{",
        "i",
        "index",
        "index:",
        "index:in",
        "sessions-index:",
    ];

    fn entries(long: &str) -> Vec<IndexEntry<'_>> {
        vec![
            IndexEntry::new("user", r#""alice""#),
            IndexEntry::new("user", "42"),
            IndexEntry::new("user", r#""ali:ce""#),
            IndexEntry::new("us\"er", r#""x""#),
            IndexEntry::new("us", r#"er":"x""#),
            IndexEntry::new("", r#""{}""#),
            IndexEntry::new("user", long),
            IndexEntry::new("team", r#""alice""#),
        ]
    }

    #[test]
    fn an_index_key_is_the_namespace_the_field_as_json_and_the_value() {
        let layout = IndexLayout::for_prefix("sess:");
        let key = |field, value| layout.key(IndexEntry::new(field, value));
        assert_eq!(key("user", r#""alice""#), r#"index:sess:"user":"alice""#);
        assert_eq!(key("user", "42"), r#"index:sess:"user":42"#);
        assert_eq!(key("a\"b", "1"), r#"index:sess:"a\"b":1"#);
        assert_eq!(layout.values, "index:sess:{registry}:values");
        assert_eq!(layout.fields, "index:sess:{registry}:fields");

        let exactly = format!("\"{}\"", "x".repeat(LONGEST_VALUE - 2));
        assert!(key("user", &exactly).ends_with(&exactly));
        let long = format!("\"{}\"", "x".repeat(LONGEST_VALUE - 1));
        let hashed = key("user", &long);
        let digest = hashed.strip_prefix(r#"index:sess:"user":~"#).unwrap();
        assert_eq!(digest.len(), 64);
        assert!(
            digest
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(
            hashed,
            key("user", &format!("\"{}\"", "y".repeat(LONGEST_VALUE)))
        );
    }

    /// Every key `layout` writes: those of `entries` and the registry's two.
    fn every_key(layout: &IndexLayout, long: &str) -> Vec<String> {
        let mut keys: Vec<String> = entries(long).into_iter().map(|e| layout.key(e)).collect();
        keys.push(layout.values.clone());
        keys.push(layout.fields.clone());
        keys
    }

    #[test]
    fn no_two_entries_share_an_index_key() {
        let long = format!("\"{}\"", "x".repeat(1024));
        for prefix in PREFIXES {
            let mut keys = every_key(&IndexLayout::for_prefix(prefix), &long);
            let count = keys.len();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), count, "{prefix:?}: {keys:?}");
        }
    }

    #[test]
    fn an_index_key_gives_back_its_field_and_value() {
        let long = format!("\"{}\"", "x".repeat(1024));
        for prefix in PREFIXES {
            let layout = IndexLayout::for_prefix(prefix);
            for (field, value) in [
                ("user", r#""alice""#),
                ("a\"b:c", "42"),
                ("uid", r#""x:\"y""#),
            ] {
                let key = layout.key(IndexEntry::new(field, value));
                assert_eq!(
                    layout.entry_of(key.as_bytes()),
                    Some((field.to_owned(), Some(value.to_owned()))),
                    "{key}"
                );
            }
            let hashed = layout.key(IndexEntry::new("user", &long));
            assert_eq!(
                layout.entry_of(hashed.as_bytes()),
                Some(("user".to_owned(), None))
            );
            assert_eq!(layout.entry_of(b"elsewhere"), None);
        }
    }

    #[test]
    fn index_keys_are_neither_sessions_nor_locks_and_stay_out_of_the_prefix() {
        let long = format!("\"{}\"", "x".repeat(1024));
        for prefix in PREFIXES {
            for key in every_key(&IndexLayout::for_prefix(prefix), &long) {
                if !prefix.is_empty() {
                    // connect-redis finds sessions by `SCAN MATCH <prefix>*`.
                    assert!(!key.starts_with(prefix), "{key:?} starts with {prefix:?}");
                }
                // Never this store's session key, nor its lock key.
                assert!(
                    key.strip_prefix(prefix)
                        .is_none_or(|rest| SessionId::parse(rest).is_none()),
                    "{key:?}"
                );
                if let Ok(lock) = LockLayout::for_prefix(prefix) {
                    for id in ["abc", "index", "x"] {
                        assert_ne!(lock.lock_key(&format!("{prefix}{id}")), key);
                    }
                }
            }
        }
    }

    #[test]
    fn the_registry_keys_share_a_cluster_slot() {
        for prefix in PREFIXES {
            let layout = IndexLayout::for_prefix(prefix);
            assert_eq!(
                Slot::for_key(&layout.values),
                Slot::for_key(&layout.fields),
                "{prefix:?}: {layout:?}"
            );
            assert!(hash_tag(&layout.values).is_some(), "{prefix:?}");
        }
    }
}
