//! Sessions in Redis or Redis Cluster, stored as connect-redis stores them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisResult, Script, ScriptInvocation, Value};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::hash::fnv1a;
use super::keyed::{KeyedGuard, KeyedLocks};
use super::{
    Created, DEFAULT_TTL, IndexEntry, SessionLock, SessionStore, StoreError, Update, Updated,
    is_live, lifetime_ms,
};
use crate::id::SessionId;
use crate::record::Record;
use crate::time::{duration_ms, now_ms};
use index::{IndexLayout, IndexScripts};

mod index;

/// What every key starts with unless [`RedisStoreBuilder::prefix`] says
/// otherwise: connect-redis's default.
pub const DEFAULT_PREFIX: &str = "sess:";

/// How long connecting to a Redis node may take, unless
/// [`RedisStoreBuilder::connect_timeout`] says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a Redis command may wait for its answer, unless
/// [`RedisStoreBuilder::response_timeout`] says otherwise.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// How many times a save is tried when other requests keep changing the
/// session between its read and its write, before it fails. Between tries
/// it waits a random moment, up to [`MAX_BACKOFF_MS`], so that writers that
/// collided do not collide again.
const SAVE_ATTEMPTS: u32 = 64;

/// The longest wait between two tries of a save.
const MAX_BACKOFF_MS: u64 = 16;

/// How many queues the saves of one process wait in, by a hash of the id.
const SAVE_QUEUES: usize = 256;

/// How long a lock of an [exclusive session](RedisStore#exclusive-sessions)
/// lasts in Redis unless renewed, unless [`RedisStoreBuilder::lease`] says
/// otherwise: the longest a crashed holder can keep other requests of its
/// session waiting.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);

/// The shortest lease [`RedisStoreBuilder::lease`] accepts: a lease is
/// renewed every third of it, and a renewal is a round trip to Redis.
pub const MIN_LEASE: Duration = Duration::from_millis(100);

/// How often each process that writes sessions reaps the
/// [indexes](RedisStore#indexes), unless
/// [`RedisStoreBuilder::index_reap_interval`] says otherwise: an index entry
/// of a session that is gone stays at most this long after
/// [`INDEX_GRACE`](super::INDEX_GRACE).
pub const DEFAULT_INDEX_REAP_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The first wait between two tries to take a lock another server holds;
/// each wait is up to twice the one before, at most [`LOCK_POLL_MAX`].
const LOCK_POLL_FIRST: Duration = Duration::from_millis(2);

/// The longest wait between two tries to take a lock another server holds.
const LOCK_POLL_MAX: Duration = Duration::from_millis(50);

/// Random bytes in a lock's token (its fencing token): 144 bits, 24
/// characters of base64url.
const TOKEN_BYTES: usize = 18;

/// Writes a loaded session's new value if the stored value is still the one
/// the request read (named by its SHA-1), and never writes a key that is gone.
///
/// `KEYS[1]`: the session's key. `ARGV[1]`: the SHA-1 (hex) of the value the
/// write is based on; `ARGV[2]`: the new value; `ARGV[3]`: when it expires,
/// in milliseconds since the Unix epoch, or `"0"` to delete the session (its
/// lifetime is over). Returns 1 when written or deleted, 0 when the key is
/// gone, or the stored value when it is not the expected one.
///
/// A save made under a lock (fenced) also has `KEYS[2]`, the lock's key (in
/// the session key's cluster slot), and `ARGV[4]`, the lock's token: unless
/// the lock key still holds that token it writes nothing and returns -1.
const SAVE_SCRIPT: &str = r"
if KEYS[2] and redis.call('GET', KEYS[2]) ~= ARGV[4] then
  return -1
end
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
if redis.sha1hex(current) ~= ARGV[1] then
  return current
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
end
return 1
";

/// Moves a loaded session's expiry if the stored value is still the one the
/// request read; never writes a key that is gone, and never overrides the
/// expiry that a save since the load set (with the cookie settings it saved).
///
/// `KEYS[1]`: the session's key. `ARGV[1]`: the SHA-1 (hex) of the value the
/// request loaded; `ARGV[2]`: the new expiry, in milliseconds since the Unix
/// epoch. Returns 0 when the key is gone, else 1.
const TOUCH_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
if redis.sha1hex(current) == ARGV[1] then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
";

/// Deletes a session for a request that holds its lock, if it still does.
///
/// `KEYS[1]`: the session's key; `KEYS[2]`: the lock's key (in the same
/// cluster slot). `ARGV[1]`: the lock's token. Returns 1 when the session
/// is deleted (or was not there), -1 when the lock key no longer holds the
/// token (nothing deleted).
const DESTROY_SCRIPT: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return -1
end
redis.call('DEL', KEYS[1])
return 1
";

/// Extends a lock's lease if the lock is still ours.
///
/// `KEYS[1]`: the lock's key. `ARGV[1]`: our token; `ARGV[2]`: the lease, in
/// milliseconds. Returns 1 when extended, 0 when the key holds another
/// token or none (the lease lapsed).
const RENEW_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes a lock's key if the lock is still ours (never a later holder's).
///
/// `KEYS[1]`: the lock's key. `ARGV[1]`: our token. Returns 1 when deleted,
/// else 0.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Sessions in Redis, or in a Redis Cluster: for apps that run on more than
/// one server.
///
/// - **connect-redis's format**: the key is the prefix (`sess:` by default)
///   followed by the session id, the value the JSON express-session stores (the
///   `cookie` object and the app's fields, plus `__lastAccess` as
///   session-file-store writes it), and the key expires with the session.
///   An Express app using connect-redis and this store can share one Redis and
///   one cookie during a migration; keys the schema does not know are kept
///   byte for byte.
/// - **No lost updates, no resurrection**: a save of a loaded session is a
///   compare-and-set, in one Lua script on the session's single key (so it
///   works on a cluster and over one multiplexed connection). If another
///   request saved since this one loaded, the save reads the stored session
///   again, merges just this request's changed fields into it and tries again.
///   If the session was destroyed or expired meanwhile, nothing is written.
///   New sessions are written only where no key exists (`SET … NX`). Saves
///   of one session from one process take turns, so only saves from
///   different processes race in Redis.
/// - **One round trip** per store call: a load is `GET` and `PEXPIRETIME`
///   pipelined (the expiry time tells when the session was last touched), an
///   uncontended save one script call, a touch one script call that moves
///   the key's expiry (`PEXPIREAT`) only if no save changed the value since
///   the load (never a rewrite of the value), a destroy one `DEL`. Expiry
///   times are absolute, so the app servers' clocks and Redis's should agree
///   (NTP).
/// - **Bounded waits**: connecting and every command have timeouts
///   ([`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_RESPONSE_TIMEOUT`]). While Redis is
///   down each call fails fast with a [`StoreError`], and the connection is
///   re-established in the background when Redis is back.
///
/// It needs Redis 7.0 or later (`PEXPIRETIME`), and the `redis` feature.
///
/// # Exclusive sessions
///
/// With [`SessionLayer::exclusive`](crate::SessionLayer::exclusive), a
/// request holds its session until its save, across every server on the same
/// Redis ([`lock`](SessionStore::lock)):
///
/// - **In this process**, requests of one session queue in order (an async
///   lock per session, kept only while held or waited for), so that one
///   request per process and session at a time asks Redis.
/// - **In Redis**, that request takes a lease: `SET <lock key> <token> NX PX
///   <lease>`, with a token of 144 random bits. While another server holds
///   it, the `SET` is tried again after a random wait that grows from 2 ms to
///   at most 50 ms, until the layer's wait runs out. While held, the lease is
///   renewed every third of its length (only if it still holds this token),
///   and dropping the lock deletes it (again only if it holds this token)
///   before the next request of this process gets its turn. A server that
///   dies while holding a session blocks it for at most the lease
///   ([`RedisStoreBuilder::lease`], default [`DEFAULT_LEASE`]).
/// - **Fencing**: a holder can stall past its lease (a paused VM, a runtime too
///   busy to run the renewal), and another request may then take the
///   session. A save made under a lock runs only while the lock key still
///   holds the lock's token, checked in the save's own script, so the stalled
///   holder's save fails with a [`StoreError`] instead of overwriting what the
///   later holder saved. Its removal of the session (a logout, or the old id
///   of a `cycle_id`/`regenerate`: [`SessionStore::destroy_under`]) is
///   checked the same way.
///
/// The lock key lives in the session key's cluster hash slot, so that one
/// script reads both: the session key in a hash tag, then `:lock`
/// (`{sess:<id>}:lock` with the default prefix), or, when the prefix has a
/// hash tag of its own (`{app}:sess:`), `lock:` then the session key
/// (`lock:{app}:sess:<id>`). Either way it does not start with the prefix, so
/// connect-redis, which finds sessions by scanning `<prefix>*`, never takes
/// one for a session (a Redis ACL that limits the app to `<prefix>*` must
/// allow these keys too). A prefix for which no such key exists (one with a `}`
/// but no hash tag, or one made of `{` alone) is refused when the store
/// connects.
///
/// # Indexes
///
/// For indexed fields (`#[session(index)]`, listed and ended through
/// [`Sessions`](crate::Sessions)) the store keeps, per field and value, the
/// ids of the sessions stored with it. Every command and script works on one
/// key, or on two keys in one hash slot, so each runs wherever a cluster puts
/// it. An entry and its session lie in different slots and are not written
/// together: as [the contract](SessionStore#indexes) has it, the entry is
/// written first and readers check each id against its session.
///
/// - **One key per value**: `index:<prefix><field key as a JSON
///   string>:<value's JSON text>` ([`index_key`](RedisStore::index_key);
///   `index:sess:"user":"alice"`, `index:sess:"user":42`), a sorted set of
///   session ids, each scored by when it was last inserted, in milliseconds
///   by Redis's own clock (`TIME`, in the script that writes it, so that app
///   servers' clocks do not matter to the grace below). A value's JSON longer
///   than 128 bytes is written as `~` and the hex of its SHA-256. Listing the
///   ids is a `ZRANGE`, removing some a `ZREM`.
/// - **A registry**, two keys sharing the hash tag `{registry}`: the sorted
///   set `index:<prefix>{registry}:values` of the value keys, each scored by
///   its last insert, which the reap walks; and the set
///   `index:<prefix>{registry}:fields` of the indexed fields' keys
///   ([`index_keys`](SessionStore::index_keys), one `SMEMBERS`). The fields'
///   set holds field names only (as many as the schemas have indexed fields)
///   and is never pruned: pruning could race with an insert and hide a field
///   from a process that has not seen its schema yet.
/// - **An insert** (made only by a write that changes an indexed field) is
///   two script calls: the registry (the value key and the field's key),
///   then the entry. A write that changes no indexed field costs what it
///   costs without indexes.
/// - These keys start with `index:`, not with the prefix, so connect-redis's
///   scan of `<prefix>*` never counts them, and no key of this store is
///   another's. (For the odd prefix with which `index:index:…` itself
///   starts, such as `i` or `index:`, they start with `sessions-index:`
///   instead.) A Redis ACL that limits the app to `<prefix>*` must allow them
///   too.
///
/// **Reaping.** Every [index reap interval](RedisStoreBuilder::index_reap_interval)
/// (default [`DEFAULT_INDEX_REAP_INTERVAL`], 5 minutes), each process that
/// writes sessions runs [`reap_indexes`](RedisStore::reap_indexes): it walks
/// the registry (`ZSCAN`); for each value key it lists the entries inserted
/// at least [`INDEX_GRACE`](super::INDEX_GRACE) ago (a minute), reads each
/// one's session (`GET`), and removes the entries whose session is not
/// stored or no longer holds the value, in a script that removes an entry
/// only if it is still that old (an entry inserted again meanwhile stays). An
/// entry younger than the grace is never removed, stored session or not: it
/// may belong to a write under way. An entry whose session holds its value is
/// never removed by the reap. So the entry of a session that expired, that
/// moved to another value, or that a process destroyed and died before it
/// removed the entries, goes within the grace and one reap interval (and the
/// time a reap takes), for as long as any process writes sessions. (A value
/// longer than 128 bytes is known to the reap only by its hash: its entries
/// go when their session does.)
/// A value key whose last entry goes disappears (Redis deletes an empty
/// sorted set), and leaves the registry once its stamp there is older than
/// the grace as well: an insert stamps the registry before it writes the
/// entry, so no entry is ever left out of the registry.
///
/// **No expiry on index keys.** A session lives on with every touch, and a
/// save can lengthen its max age, neither of which writes its index entries:
/// any expiry given an index key at insert (the session's lifetime plus the
/// grace, say) could lapse while the session still lives, and "log out
/// everywhere" would miss it. No expiry is safe unless every touch also
/// writes the index, a second round trip (to another node, on a cluster) for
/// every request that touches. So index keys never expire; they go with
/// their last entry, removed by the layer when it destroys the session, or by
/// the reap.
///
/// ```no_run
/// use std::time::Duration;
/// use session_runtime::store::redis::RedisStore;
///
/// # async fn run() -> Result<(), session_runtime::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// // Or with options, on a cluster:
/// let clustered = RedisStore::builder()
///     .prefix("myapp:sess:")
///     .ttl(Duration::from_secs(8 * 60 * 60))
///     .connect_cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])
///     .await?;
/// # let _ = (store, clustered);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    prefix: String,
    ttl: Duration,
    save: Script,
    touch: Script,
    /// Saves of one session from this process take turns (in one of
    /// [`SAVE_QUEUES`] queues, by id): only saves from other processes race
    /// in Redis, so concurrent requests of one client on one server never
    /// exhaust the tries.
    queues: Box<[tokio::sync::Mutex<()>]>,
    /// How long a lock's lease lasts unless renewed.
    lease: Duration,
    /// Where a session's lock key goes.
    lock_layout: LockLayout,
    /// The locks of exclusive sessions held or waited for in this process:
    /// one request per session and process asks Redis.
    locks: Arc<KeyedLocks>,
    renew: Script,
    release: Script,
    destroy: Script,
    /// Where the index keys go.
    index: IndexLayout,
    index_scripts: IndexScripts,
    /// How often the indexes are reaped.
    index_reap_interval: Duration,
    /// Whether the background reap of the indexes runs (see `spawn_reaper`).
    index_reaper_running: AtomicBool,
}

/// Where the lock key of a session goes: the session key's hash tag decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LockLayout {
    /// The prefix has a hash tag: `lock:` then the session key, in the slot
    /// of that tag. Not the session key then `:lock`, which would start with
    /// the prefix, and connect-redis would count it as a session.
    Tagged,
    /// The session key in a hash tag, then `:lock`: `{sess:<id>}:lock`, in the
    /// slot of the whole session key. It does not start with `sess:`, so
    /// connect-redis never takes it for a session.
    Wrapped,
}

impl LockLayout {
    /// The layout for keys starting with `prefix` (session ids have no
    /// braces), or why there is none: a lock key must hash to the session
    /// key's slot and must not start with the prefix.
    fn for_prefix(prefix: &str) -> Result<Self, String> {
        if hash_tag(prefix).is_some() {
            // The tag lies in the prefix: every session key has it, and so
            // does `lock:` before it (the first `{` stays the prefix's).
            Ok(LockLayout::Tagged)
        } else if prefix.contains('}') {
            Err(format!(
                "redis: the prefix {prefix:?} has a `}}` but no hash tag, so no lock key can share \
                 its sessions' cluster slot; use a prefix without braces, or with a hash tag (`{{app}}:sess:`)"
            ))
        } else if !prefix.is_empty() && prefix.bytes().all(|b| b == b'{') {
            Err(format!(
                "redis: the prefix {prefix:?} is made of `{{` alone: lock keys would start with it, \
                 and connect-redis would count them as sessions"
            ))
        } else {
            // No `}` anywhere: `{` + key + `}` makes the whole key the tag.
            Ok(LockLayout::Wrapped)
        }
    }

    /// The lock key of the session stored under `session_key`.
    fn lock_key(self, session_key: &str) -> String {
        match self {
            LockLayout::Tagged => format!("lock:{session_key}"),
            LockLayout::Wrapped => format!("{{{session_key}}}:lock"),
        }
    }
}

/// The hash tag of `key` as Redis Cluster reads it: what lies between the
/// first `{` and the first `}` after it, if that is not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let rest = key.get(open + 1..)?;
    let close = rest.find('}')?;
    rest.get(..close).filter(|tag| !tag.is_empty())
}

/// How a [`RedisStore`] is set up: build it with [`RedisStore::builder`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `connect` or `connect_cluster`"]
pub struct RedisStoreBuilder {
    prefix: String,
    ttl: Duration,
    connect_timeout: Duration,
    response_timeout: Duration,
    lease: Duration,
    index_reap_interval: Duration,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        RedisStoreBuilder {
            prefix: DEFAULT_PREFIX.to_owned(),
            ttl: DEFAULT_TTL,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            lease: DEFAULT_LEASE,
            index_reap_interval: DEFAULT_INDEX_REAP_INTERVAL,
        }
    }
}

impl RedisStoreBuilder {
    /// What each key starts with, before the session id (default `sess:`,
    /// connect-redis's `prefix`).
    ///
    /// A prefix with a `}` but no hash tag (`a}b:`, `x{}:`), or made of `{`
    /// alone, is refused when the store connects: no lock key of an
    /// [exclusive session](RedisStore#exclusive-sessions) could share its
    /// session's cluster slot and stay out of the prefix. A hash tag
    /// (`{app}:sess:`) keeps all sessions on one node of a cluster.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a session whose cookie has no max age lives after its last
    /// access (default one day, connect-redis's `ttl`).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long connecting (or reconnecting) to a node may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a command may wait for its answer (default [`DEFAULT_RESPONSE_TIMEOUT`]).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long the lock of an [exclusive session](RedisStore#exclusive-sessions)
    /// lasts in Redis unless renewed (default [`DEFAULT_LEASE`], 5 s; at least
    /// [`MIN_LEASE`], 100 ms, or the store refuses to connect).
    ///
    /// While a request holds the lock it is renewed every third of the lease,
    /// so a long request keeps it. The lease is how long a server that died
    /// (or stalled) while holding a session keeps that session's other
    /// requests waiting; a shorter one frees them sooner, but a holder that
    /// stalls longer than it (its renewal cannot run) loses the lock, and its
    /// save is then refused.
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_runtime::store::redis::RedisStore;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let too_short = RedisStore::builder()
    ///     .lease(Duration::from_millis(10))
    ///     .connect("redis://127.0.0.1:6379")
    ///     .await;
    /// // Refused before any connection is tried.
    /// assert!(too_short.unwrap_err().to_string().contains("lease"));
    /// # });
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How often each process that writes sessions removes the
    /// [index](RedisStore#indexes) entries of sessions that are gone (default
    /// [`DEFAULT_INDEX_REAP_INTERVAL`], 5 minutes; at least 1 ms).
    ///
    /// An entry of a session that expired, or that a process destroyed and
    /// died before it removed the session's entries, stays at most this long
    /// after [`INDEX_GRACE`](super::INDEX_GRACE) (a minute). Each reap reads
    /// the registry of index keys and checks every entry older than the grace
    /// against its session (a `GET` each), in every process: a shorter
    /// interval removes them sooner for more work in Redis. Readers never
    /// list such a session either way; the reap bounds what the index holds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_runtime::store::redis::RedisStore;
    ///
    /// let builder = RedisStore::builder().index_reap_interval(Duration::from_secs(60));
    /// # let _ = builder;
    /// ```
    pub fn index_reap_interval(mut self, interval: Duration) -> Self {
        self.index_reap_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The lock layout of these options, or why they cannot make a store.
    fn check(&self) -> Result<LockLayout, StoreError> {
        if self.lease < MIN_LEASE {
            return Err(StoreError::new(format!(
                "redis: a lease of {:?} is too short: it is renewed every third of it, \
                 and must be at least {MIN_LEASE:?}",
                self.lease
            )));
        }
        LockLayout::for_prefix(&self.prefix).map_err(StoreError::new)
    }

    /// Connects to one Redis server, `redis://[user:password@]host:port[/db]`
    /// (`rediss://` needs TLS, which this build does not include).
    ///
    /// # Errors
    /// When the URL is invalid, the server cannot be reached within the
    /// connect timeout, or the [prefix](Self::prefix) or the
    /// [lease](Self::lease) is refused.
    pub async fn connect(self, url: &str) -> Result<RedisStore, StoreError> {
        let layout = self.check()?;
        let client = redis::Client::open(url)
            .map_err(|error| StoreError::with_source("redis: invalid URL", error))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            // Reconnect in the background, briefly: while Redis is down a call
            // fails within about the connect timeout instead of waiting out
            // a long backoff, and the next call tries again.
            .set_number_of_retries(1)
            .set_max_delay(self.connect_timeout);
        let mut manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|error| StoreError::with_source("redis: cannot connect", error))?;
        let store = self.build(Connection::Single(manager.clone()), layout);
        // Loaded now, the scripts cost no extra round trip on first use (after
        // a restart of Redis, a script call loads its script again by itself).
        let inner = &store.inner;
        let scripts = [
            &inner.save,
            &inner.touch,
            &inner.renew,
            &inner.release,
            &inner.destroy,
        ];
        for script in scripts.into_iter().chain(inner.index_scripts.all()) {
            script
                .load_async(&mut manager)
                .await
                .map_err(|error| StoreError::with_source("redis: cannot load a script", error))?;
        }
        Ok(store)
    }

    /// Connects to a Redis Cluster through any of its nodes' URLs.
    ///
    /// # Errors
    /// When a URL is invalid, no node can be reached within the connect
    /// timeout, or the [prefix](Self::prefix) or the [lease](Self::lease) is
    /// refused.
    pub async fn connect_cluster<I, S>(self, urls: I) -> Result<RedisStore, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let layout = self.check()?;
        let urls: Vec<String> = urls
            .into_iter()
            .map(|url| url.as_ref().to_owned())
            .collect();
        let client = ClusterClientBuilder::new(urls)
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.response_timeout)
            .retries(2)
            .build()
            .map_err(|error| StoreError::with_source("redis cluster: invalid URLs", error))?;
        let connection = client
            .get_async_connection()
            .await
            .map_err(|error| StoreError::with_source("redis cluster: cannot connect", error))?;
        Ok(self.build(Connection::Cluster(connection), layout))
    }

    fn build(self, connection: Connection, lock_layout: LockLayout) -> RedisStore {
        RedisStore {
            inner: Arc::new(Inner {
                connection,
                index: IndexLayout::for_prefix(&self.prefix),
                index_scripts: IndexScripts::new(),
                index_reap_interval: self.index_reap_interval,
                index_reaper_running: AtomicBool::new(false),
                prefix: self.prefix,
                ttl: self.ttl,
                save: Script::new(SAVE_SCRIPT),
                touch: Script::new(TOUCH_SCRIPT),
                queues: (0..SAVE_QUEUES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
                lease: self.lease,
                lock_layout,
                locks: Arc::default(),
                renew: Script::new(RENEW_SCRIPT),
                release: Script::new(RELEASE_SCRIPT),
                destroy: Script::new(DESTROY_SCRIPT),
            }),
        }
    }
}

impl RedisStore {
    /// Connects to one Redis server with the default options.
    ///
    /// # Errors
    /// When the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// A builder for a store with other options.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// The Redis key of session `id`: the prefix, then the id.
    #[must_use]
    pub fn key(&self, id: &SessionId) -> String {
        let mut key = String::with_capacity(self.inner.prefix.len() + id.as_str().len());
        key.push_str(&self.inner.prefix);
        key.push_str(id.as_str());
        key
    }

    /// The Redis key of the lock of session `id`, while an
    /// [exclusive](RedisStore#exclusive-sessions) request holds it: in the
    /// cluster slot of [`key`](Self::key), and not starting with the prefix.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), session_runtime::StoreError> {
    /// use session_runtime::SessionId;
    /// use session_runtime::store::redis::RedisStore;
    ///
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let id = SessionId::parse("abc").unwrap();
    /// assert_eq!(store.key(&id), "sess:abc");
    /// assert_eq!(store.lock_key(&id), "{sess:abc}:lock");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn lock_key(&self, id: &SessionId) -> String {
        self.inner.lock_layout.lock_key(&self.key(id))
    }

    /// The queue the saves of `id` from this process wait in.
    fn queue(&self, id: &SessionId) -> &tokio::sync::Mutex<()> {
        let queues = &self.inner.queues;
        let index = usize::try_from(fnv1a(id.as_str().as_bytes()) % queues.len() as u64)
            .unwrap_or_default();
        #[allow(
            clippy::indexing_slicing,
            reason = "the index is reduced modulo the length"
        )]
        &queues[index]
    }

    /// When `record`, written now, expires: in milliseconds since the epoch.
    fn expiry(&self, record: &Record, now: u64) -> u64 {
        record
            .last_access
            .unwrap_or(now)
            .saturating_add(lifetime_ms(record, self.inner.ttl))
    }
}

impl fmt::Debug for RedisStore {
    /// The options, never the URL (it may hold a password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "kind",
                &match self.inner.connection {
                    Connection::Single(_) => "single",
                    Connection::Cluster(_) => "cluster",
                },
            )
            .field("prefix", &self.inner.prefix)
            .field("ttl", &self.inner.ttl)
            .field("lease", &self.inner.lease)
            .field("index_reap_interval", &self.inner.index_reap_interval)
            .finish_non_exhaustive()
    }
}

impl SessionStore for RedisStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let key = self.key(id);
        let mut pipeline = redis::pipe();
        pipeline.cmd("GET").arg(&key).cmd("PEXPIRETIME").arg(&key);
        let (value, expire_time): (Option<Vec<u8>>, i64) = self
            .inner
            .connection
            .pipeline(&pipeline, "GET and PEXPIRETIME")
            .await?;
        let Some(mut record) =
            value.and_then(|bytes| decode_loaded(&bytes, expire_time, self.inner.ttl))
        else {
            return Ok(None);
        };
        if expire_time == -1 {
            // A key without expiry (connect-redis's `disableTTL`, a `PERSIST`):
            // this store's rule decides, from `__lastAccess`, and the key gets
            // the expiry it lacks; one in the past deletes it.
            let now = now_ms();
            let expires = self.expiry(&record, now);
            record.last_access.get_or_insert(now);
            let _: i64 = self
                .inner
                .connection
                .query(redis::cmd("PEXPIREAT").arg(&key).arg(expires), "PEXPIREAT")
                .await?;
            if !is_live(expires, now) {
                return Ok(None);
            }
        }
        Ok(Some(record))
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        let now = now_ms();
        let expires = self.expiry(record, now);
        if !is_live(expires, now) {
            // Its life is over before it starts: there is nothing to keep.
            return Ok(Created::Stored);
        }
        let value = encode(record, now);
        let written: Option<String> = self
            .inner
            .connection
            .query(
                redis::cmd("SET")
                    .arg(self.key(id))
                    .arg(value)
                    .arg("PXAT")
                    .arg(expires)
                    .arg("NX"),
                "SET NX",
            )
            .await?;
        Ok(match written {
            Some(_) => {
                self.start_index_reaper();
                Created::Stored
            }
            None => Created::IdTaken,
        })
    }

    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        let key = self.key(id);
        let _turn = self.queue(id).lock().await;
        let now = now_ms();
        let expires = self.expiry(update.record, now);
        let expires_arg = if is_live(expires, now) {
            expires.to_string()
        } else {
            "0".to_owned()
        };
        // What to write over the value `stored`, and the SHA-1 that names it;
        // `None` when that is not a session.
        let rebase = |stored: &[u8]| {
            let mut current = decode(stored).ok()?;
            update.apply_to(&mut current);
            Some((sha1_hex(stored), encode(&current, now)))
        };
        // The first try writes the request's record over the value it loaded.
        // Without a revision (a record this store did not load), or after a
        // conflict, it merges into the value stored now.
        let first = match update.record.revision() {
            Some(revision) => Some((revision.to_owned(), encode(update.record, now))),
            None => {
                let stored: Option<Vec<u8>> = self
                    .inner
                    .connection
                    .query(redis::cmd("GET").arg(&key), "GET")
                    .await?;
                match stored {
                    None => return Ok(Updated::Gone),
                    Some(stored) => rebase(&stored),
                }
            }
        };
        let Some((mut base, mut value)) = first else {
            return Ok(unreadable(id));
        };
        // Made under a lock that can lapse: every try writes only while the
        // lock key still holds the lock's token.
        let fence = update
            .lock
            .and_then(SessionLock::fence)
            .map(|token| (self.lock_key(id), token));
        for attempt in 0..SAVE_ATTEMPTS {
            // The first conflict is most likely with an earlier save of this
            // process's queue: retry at once. Later ones are with other
            // processes: spread out.
            if attempt > 1 {
                backoff(attempt - 1).await;
            }
            let mut invocation = self.inner.save.key(&key);
            if let Some((lock_key, _)) = &fence {
                invocation.key(lock_key);
            }
            invocation.arg(&base).arg(&value).arg(&expires_arg);
            if let Some((_, token)) = &fence {
                invocation.arg(*token);
            }
            match self.inner.connection.invoke(&invocation).await? {
                Value::Int(1) => {
                    self.start_index_reaper();
                    return Ok(Updated::Stored);
                }
                Value::Int(0) => return Ok(Updated::Gone),
                Value::Int(-1) => {
                    return Err(StoreError::new(
                        "redis: this request's lock on the session lapsed (its lease expired) \
                         before the save, and another request may hold it now: the save was \
                         refused, so as not to overwrite that request's",
                    ));
                }
                Value::BulkString(stored) => match rebase(&stored) {
                    Some(next) => (base, value) = next,
                    None => return Ok(unreadable(id)),
                },
                other => {
                    return Err(StoreError::new(format!(
                        "redis: unexpected answer to the save script: {other:?}"
                    )));
                }
            }
        }
        Err(StoreError::new(format!(
            "redis: the session was changed by other requests {SAVE_ATTEMPTS} times while this one saved it"
        )))
    }

    // Not fenced (the contract gives a touch no lock): a touch only moves the
    // key's expiry, and only while the value is the one the request loaded,
    // writing no field, so a stalled holder's touch cannot undo a later
    // holder's save.
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<Updated, StoreError> {
        let (key, expires) = (self.key(id), self.expiry(record, now_ms()));
        let extended = match record.revision() {
            // Loaded here: only if no save has changed it since.
            Some(revision) => {
                let mut invocation = self.inner.touch.key(&key);
                invocation.arg(revision).arg(expires);
                match self.inner.connection.invoke(&invocation).await? {
                    Value::Int(answer) => answer,
                    other => {
                        return Err(StoreError::new(format!(
                            "redis: unexpected answer to the touch script: {other:?}"
                        )));
                    }
                }
            }
            None => {
                self.inner
                    .connection
                    .query(redis::cmd("PEXPIREAT").arg(&key).arg(expires), "PEXPIREAT")
                    .await?
            }
        };
        Ok(if extended == 1 {
            Updated::Stored
        } else {
            Updated::Gone
        })
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        let _removed: i64 = self
            .inner
            .connection
            .query(redis::cmd("DEL").arg(self.key(id)), "DEL")
            .await?;
        Ok(())
    }

    /// Deletes the session only while the lock's key still holds its token
    /// (one script, so nothing can come between the check and the delete).
    async fn destroy_under(&self, id: &SessionId, lock: &SessionLock) -> Result<(), StoreError> {
        let Some(token) = lock.fence() else {
            return SessionStore::destroy(self, id).await;
        };
        let mut invocation = self.inner.destroy.key(self.key(id));
        invocation.key(self.lock_key(id)).arg(token);
        match self.inner.connection.invoke(&invocation).await? {
            Value::Int(1) => Ok(()),
            Value::Int(-1) => Err(StoreError::new(
                "redis: this request's lock on the session lapsed (its lease expired) before it \
                 removed the session, and another request may hold it now: the removal was \
                 refused, so as not to drop that request's save",
            )),
            other => Err(StoreError::new(format!(
                "redis: unexpected answer to the destroy script: {other:?}"
            ))),
        }
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    fn supports_locking(&self) -> bool {
        true
    }

    /// Takes the session in this process (an async lock per session, in the
    /// order requests asked), then in Redis (a lease under
    /// [`lock_key`](RedisStore::lock_key), tried again while another server
    /// holds it): see [exclusive sessions](RedisStore#exclusive-sessions).
    /// The lock carries its token as its fence.
    ///
    /// # Errors
    /// When Redis fails, when no random token can be made, or outside a tokio
    /// runtime (the lease is renewed and released by tasks spawned on it).
    async fn lock(
        &self,
        id: &SessionId,
        wait: Duration,
    ) -> Result<Option<SessionLock>, StoreError> {
        let deadline = Instant::now().checked_add(wait);
        let runtime = Handle::try_current()
            .map_err(|_| StoreError::new("redis: a session lock needs a tokio runtime"))?;
        let Some(local) = self.inner.locks.lock(id.as_str(), wait).await else {
            return Ok(None);
        };
        let token = lock_token()?;
        // Made before the first `SET` is sent: however this future ends (an
        // error, a timeout, dropped mid-`SET`), dropping the lease releases
        // whatever of it Redis may hold, then the lock in this process.
        let mut lease = Lease {
            inner: Arc::clone(&self.inner),
            id: id.clone(),
            key: self.lock_key(id),
            token,
            runtime,
            local: Some(local),
            maybe_ours: false,
            renewal: None,
        };
        let lease_ms = duration_ms(self.inner.lease);
        let mut tries: u32 = 0;
        loop {
            lease.maybe_ours = true;
            let set: Option<String> = self
                .inner
                .connection
                .query(
                    redis::cmd("SET")
                        .arg(&lease.key)
                        .arg(&lease.token)
                        .arg("NX")
                        .arg("PX")
                        .arg(lease_ms),
                    "SET NX PX",
                )
                .await?;
            if set.is_some() {
                break;
            }
            lease.maybe_ours = false;
            let left = deadline.map_or(Duration::MAX, |deadline| {
                deadline.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Ok(None);
            }
            tries = tries.saturating_add(1);
            tokio::time::sleep(lock_poll(tries).min(left)).await;
        }
        lease.renew();
        let fence = lease.token.clone();
        Ok(Some(SessionLock::new(lease).with_fence(fence)))
    }

    fn supports_indexes(&self) -> bool {
        true
    }

    /// Stamps the registry of index keys (and adds the field's key to the
    /// fields'), then the entry, each with Redis's clock: two script calls,
    /// made only by a write that changes an indexed field. See
    /// [indexes](RedisStore#indexes).
    async fn index_insert(&self, entry: IndexEntry<'_>, id: &SessionId) -> Result<(), StoreError> {
        self.insert_index_entry(entry, id).await
    }

    /// `ZREM` on the value's index key.
    async fn index_remove(
        &self,
        entry: IndexEntry<'_>,
        ids: &[SessionId],
    ) -> Result<(), StoreError> {
        self.remove_index_entries(entry, ids).await
    }

    /// `ZRANGE` of the value's index key.
    async fn index_members(&self, entry: IndexEntry<'_>) -> Result<Vec<SessionId>, StoreError> {
        self.index_entry_members(entry).await
    }

    /// `SMEMBERS` of the set of indexed fields' keys.
    async fn index_keys(&self) -> Result<Vec<String>, StoreError> {
        self.indexed_field_keys().await
    }
}

/// A session held in Redis by this process (or about to be): what a
/// [`SessionLock`] from [`RedisStore::lock`] keeps. Dropping it stops the
/// renewal, deletes the lock key if it still holds this token, and then
/// releases the lock in this process.
struct Lease {
    inner: Arc<Inner>,
    /// For log lines (its `Debug` shows a prefix of the id only).
    id: SessionId,
    key: String,
    token: String,
    /// The runtime the lock was taken on: the renewal runs there, and so does
    /// the release, wherever the lock is dropped. When it has shut down, the
    /// lease lapses by itself.
    runtime: Handle,
    /// The lock in this process; released after the lock key is deleted, so
    /// that the next request of this process does not find the lease still
    /// there.
    local: Option<KeyedGuard>,
    /// Whether Redis may hold this token: a `SET` was sent and not answered
    /// "not set".
    maybe_ours: bool,
    renewal: Option<Renewal>,
}

/// The task renewing a held lease.
struct Renewal {
    task: AbortHandle,
    /// Set by the task when it found the lease lost (another token, or none,
    /// under the key): the task has stopped, and there is nothing to delete.
    lost: Arc<AtomicBool>,
}

impl Lease {
    /// Starts renewing the lease every third of its length, for as long as
    /// it holds this token.
    fn renew(&mut self) {
        let lost = Arc::new(AtomicBool::new(false));
        let task = self.runtime.spawn(renew(
            Arc::clone(&self.inner),
            self.id.clone(),
            self.key.clone(),
            self.token.clone(),
            Arc::clone(&lost),
        ));
        self.renewal = Some(Renewal {
            task: task.abort_handle(),
            lost,
        });
    }
}

/// Renews the lease of `key` held with `token` every third of the lease,
/// until it is lost (or the task is aborted when the lock is dropped).
async fn renew(
    inner: Arc<Inner>,
    id: SessionId,
    key: String,
    token: String,
    lost: Arc<AtomicBool>,
) {
    let every = inner.lease / 3;
    let lease_ms = duration_ms(inner.lease);
    loop {
        tokio::time::sleep(every).await;
        let mut invocation = inner.renew.key(&key);
        invocation.arg(&token).arg(lease_ms);
        match inner.connection.invoke(&invocation).await {
            Ok(Value::Int(1)) => {}
            Ok(_) => {
                lost.store(true, Ordering::Release);
                tracing::warn!(
                    ?id,
                    "redis store: a request's lock on its session lapsed while it held it \
                     (it stalled past the lease?); its save will be refused"
                );
                return;
            }
            // Redis unreachable for now: the next renewal tells whether the
            // lease survived.
            Err(error) => {
                tracing::warn!(?id, %error, "redis store: a session lock's renewal failed");
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.task.abort();
            if renewal.lost.load(Ordering::Acquire) {
                self.maybe_ours = false;
            }
        }
        let local = self.local.take();
        if !self.maybe_ours {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let id = self.id.clone();
        let key = std::mem::take(&mut self.key);
        let token = std::mem::take(&mut self.token);
        // On a runtime that has shut down, the task is dropped at once: the
        // lock in this process is released, and the lease lapses in Redis.
        drop(self.runtime.spawn(async move {
            let mut invocation = inner.release.key(&key);
            invocation.arg(&token);
            if let Err(error) = inner.connection.invoke::<Value>(&invocation).await {
                tracing::warn!(
                    ?id,
                    %error,
                    "redis store: releasing a session lock failed; it lapses with its lease"
                );
            }
            drop(local);
        }));
    }
}

/// A fresh lock token: [`TOKEN_BYTES`] from the OS CSPRNG, in base64url.
fn lock_token() -> Result<String, StoreError> {
    let mut bytes = [0_u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|error| {
        StoreError::new(format!(
            "redis: the OS random number generator failed, so no lock token can be made: {error}"
        ))
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// How long to wait before try `tries` + 1 to take a lock another server
/// holds: a random time between half and all of 2, 4, 8, 16, 32, then 50
/// milliseconds (the random spread keeps waiters of several servers from
/// asking in step).
fn lock_poll(tries: u32) -> Duration {
    let ceiling = LOCK_POLL_FIRST
        .saturating_mul(1 << tries.saturating_sub(1).min(5))
        .min(LOCK_POLL_MAX);
    let half = ceiling / 2;
    // Without randomness from the OS, the longest wait.
    let spread = getrandom::u64().map_or(half, |random| {
        Duration::from_micros(random % duration_micros(half).saturating_add(1))
    });
    half.saturating_add(spread.min(half))
}

fn duration_micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The record to store for a request's `record` written at `now`.
fn encode(record: &Record, now: u64) -> String {
    if record.last_access.is_some() {
        return record.to_json();
    }
    let mut stamped = record.clone();
    stamped.last_access = Some(now);
    stamped.to_json()
}

/// The session stored as `bytes`, or why they are not one.
fn decode(bytes: &[u8]) -> Result<Record, String> {
    std::str::from_utf8(bytes)
        .map_err(|_| "not UTF-8".to_owned())
        .and_then(|text| Record::from_json(text).map_err(|error| error.to_string()))
}

/// What a save of a session whose stored value is not a session does: drops
/// the save (as if the session were gone; a load finds none either).
fn unreadable(id: &SessionId) -> Updated {
    tracing::warn!(
        ?id,
        "redis store: the stored value is not a session; this request's changes are dropped"
    );
    Updated::Gone
}

/// The session stored as `bytes`, its key expiring at `expire_time`
/// (`PEXPIRETIME`: milliseconds since the epoch, -1 for no expiry, -2 for a
/// key deleted between the two reads).
///
/// Its `last_access` is when it was last written or touched: its expiry
/// minus its lifetime. A touch extends the key's life without rewriting the
/// value, so the cookie's stored `expires` moves with it.
fn decode_loaded(bytes: &[u8], expire_time: i64, ttl: Duration) -> Option<Record> {
    if expire_time == -2 {
        return None;
    }
    let mut record = match decode(bytes) {
        Ok(record) => record,
        Err(error) => {
            tracing::warn!(
                %error,
                "redis store: the stored value is not a session; treating it as no session"
            );
            return None;
        }
    };
    record.set_revision(sha1_hex(bytes));
    if let Ok(expires_at) = u64::try_from(expire_time) {
        let last = expires_at.saturating_sub(lifetime_ms(&record, ttl));
        if record.last_access != Some(last) {
            record.last_access = Some(last);
            if let (Some(max_age), Some(_)) =
                (record.cookie.original_max_age, record.cookie.expires)
                && max_age > 0
            {
                record.cookie.expires = Some(last.saturating_add(max_age));
            }
        }
    }
    Some(record)
}

/// Waits a random time before try `attempt` (1, 2, …) of a contended save:
/// up to 2, 4, 8, … milliseconds, at most [`MAX_BACKOFF_MS`].
async fn backoff(attempt: u32) {
    let ceiling = (1_u64 << attempt.min(6)).min(MAX_BACKOFF_MS);
    // Any spread will do; without randomness from the OS, no wait.
    let random = getrandom::u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_micros(random % (ceiling * 1_000))).await;
}

/// The SHA-1 of `bytes` in lowercase hex, as Redis's `redis.sha1hex` writes it.
fn sha1_hex(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
}

/// The connection to one server or to a cluster. Both are cheap handles to
/// a shared multiplexed connection; each call works on its own clone.
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd, what: &str) -> Result<T, StoreError> {
        let result: RedisResult<T> = match self {
            Connection::Single(manager) => cmd.query_async(&mut manager.clone()).await,
            Connection::Cluster(cluster) => cmd.query_async(&mut cluster.clone()).await,
        };
        result.map_err(|error| failed(what, error))
    }

    async fn pipeline<T: FromRedisValue>(
        &self,
        pipeline: &Pipeline,
        what: &str,
    ) -> Result<T, StoreError> {
        let result: RedisResult<T> = match self {
            Connection::Single(manager) => pipeline.query_async(&mut manager.clone()).await,
            Connection::Cluster(cluster) => pipeline.query_async(&mut cluster.clone()).await,
        };
        result.map_err(|error| failed(what, error))
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let result: RedisResult<T> = match self {
            Connection::Single(manager) => invocation.invoke_async(&mut manager.clone()).await,
            Connection::Cluster(cluster) => invocation.invoke_async(&mut cluster.clone()).await,
        };
        result.map_err(|error| failed("a script", error))
    }
}

fn failed(what: &str, error: redis::RedisError) -> StoreError {
    StoreError::with_source(format!("redis: {what} failed"), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_hex_is_lowercase_hex_as_redis_writes_it() {
        // `redis-cli EVAL "return redis.sha1hex('abc')" 0`
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn a_touched_session_reports_its_touch_as_its_last_access() {
        let written = r#"{"cookie":{"originalMaxAge":60000,"expires":"2026-01-01T00:01:00.000Z","httpOnly":true,"path":"/"},"n":1,"__lastAccess":1767225600000}"#;
        let written_at: u64 = 1_767_225_600_000;
        let at = |ms: u64| i64::try_from(written_at + ms).unwrap();
        let untouched =
            decode_loaded(written.as_bytes(), at(60_000), DEFAULT_TTL).expect("a session");
        assert_eq!(untouched.last_access, Some(written_at));
        assert_eq!(untouched.cookie.expires, Some(written_at + 60_000));
        let touched =
            decode_loaded(written.as_bytes(), at(90_000), DEFAULT_TTL).expect("a session");
        assert_eq!(touched.last_access, Some(written_at + 30_000));
        assert_eq!(touched.cookie.expires, Some(written_at + 90_000));
        assert!(touched.revision().is_some());
    }

    /// Prefixes that have a lock layout, with and without hash tags.
    const PREFIXES: [&str; 9] = [
        "sess:",
        "myapp:sess:",
        "",
        "{app}:sess:",
        "a{b}c}:",
        "x}y{z}:",
        "a{b",
        "{sess:",
        "sess{",
    ];

    #[test]
    fn a_lock_key_shares_its_sessions_cluster_slot_and_is_no_session_key() {
        use redis::cluster_routing::Slot;
        let ids = ["abc", "x", "0123456789abcdefghijklmnopqrstuv", "A-_z"];
        for prefix in PREFIXES {
            let layout = LockLayout::for_prefix(prefix).expect("a layout");
            for id in ids {
                let key = format!("{prefix}{id}");
                let lock_key = layout.lock_key(&key);
                assert_eq!(
                    Slot::for_key(&lock_key),
                    Slot::for_key(&key),
                    "{lock_key:?} is not in the slot of {key:?}"
                );
                assert_ne!(lock_key, key);
                if !prefix.is_empty() {
                    // connect-redis finds sessions by `SCAN MATCH <prefix>*`.
                    assert!(
                        !lock_key.starts_with(prefix),
                        "{lock_key:?} starts with the prefix {prefix:?}"
                    );
                }
                // Never the key of another session of this store.
                assert!(
                    lock_key
                        .strip_prefix(prefix)
                        .is_none_or(|rest| SessionId::parse(rest).is_none()),
                    "{lock_key:?}"
                );
            }
        }
        let default = LockLayout::for_prefix(DEFAULT_PREFIX).expect("a layout");
        assert_eq!(default.lock_key("sess:abc"), "{sess:abc}:lock");
        let tagged = LockLayout::for_prefix("{app}:sess:").expect("a layout");
        assert_eq!(tagged.lock_key("{app}:sess:abc"), "lock:{app}:sess:abc");
    }

    #[test]
    fn hash_tags_are_read_as_redis_cluster_reads_them() {
        assert_eq!(hash_tag("{user1000}.following"), Some("user1000"));
        assert_eq!(hash_tag("foo{}{bar}"), None);
        assert_eq!(hash_tag("foo{{bar}}zap"), Some("{bar"));
        assert_eq!(hash_tag("foo{bar}{zap}"), Some("bar"));
        assert_eq!(hash_tag("}{a}"), Some("a"));
        assert_eq!(hash_tag("{a"), None);
        assert_eq!(hash_tag("plain"), None);
    }

    #[test]
    fn prefixes_without_a_lock_layout_are_refused() {
        for prefix in ["a}b:", "x{}:", "a}b{", "}", "{", "{{{"] {
            let error = LockLayout::for_prefix(prefix).expect_err(prefix);
            assert!(error.contains(&format!("{prefix:?}")), "{error}");
        }
        let refused = RedisStore::builder().prefix("a}b:").check();
        assert!(refused.is_err());
    }

    #[test]
    fn a_lease_shorter_than_the_minimum_is_refused() {
        let short = RedisStore::builder()
            .lease(Duration::from_millis(99))
            .check();
        assert!(short.unwrap_err().to_string().contains("lease"));
        assert!(RedisStore::builder().lease(MIN_LEASE).check().is_ok());
        assert!(RedisStore::builder().check().is_ok());
    }

    #[test]
    fn lock_polls_grow_from_2_ms_to_50_ms_with_jitter() {
        for tries in 1..40 {
            let ceiling = match tries {
                1 => 2,
                2 => 4,
                3 => 8,
                4 => 16,
                5 => 32,
                _ => 50,
            };
            let ceiling = Duration::from_millis(ceiling);
            for _ in 0..20 {
                let wait = lock_poll(tries);
                assert!(
                    ceiling / 2 <= wait && wait <= ceiling,
                    "try {tries}: {wait:?}"
                );
            }
        }
        assert!(lock_poll(u32::MAX) <= LOCK_POLL_MAX);
        assert!(lock_poll(0) <= LOCK_POLL_FIRST);
    }

    #[test]
    fn lock_tokens_are_random_base64url() {
        let (a, b) = (lock_token().unwrap(), lock_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(SessionId::parse(&a).is_some(), "{a}");
    }

    /// A `redis-server` on a free port, killed when dropped (the integration
    /// tests have the full helper, tests/support/redis.rs; this one is for the
    /// checks that look inside the store).
    struct Server {
        child: std::process::Child,
        port: u16,
    }

    impl Server {
        /// `None`, and the calling test is skipped, without Debian's redis-server.
        fn start() -> Option<Self> {
            const SERVER: &str = "/usr/bin/redis-server";
            if !std::path::Path::new(SERVER).exists() {
                eprintln!("skipped: no {SERVER} (apt-get install redis-server)");
                return None;
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = std::process::Command::new(SERVER)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(std::env::temp_dir())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let server = Server { child, port };
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not start"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Some(server)
        }

        fn url(&self) -> String {
            format!("redis://127.0.0.1:{}", self.port)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    async fn exists(store: &RedisStore, key: &str) -> bool {
        let n: i64 = store
            .inner
            .connection
            .query(redis::cmd("EXISTS").arg(key), "EXISTS")
            .await
            .unwrap();
        n == 1
    }

    /// Polls `done` until it holds, for at most 5 s.
    async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done().await {
            assert!(Instant::now() < deadline, "{what}: not within 5 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Lock futures given up at any point (waiting in this process, polling
    /// Redis, with a `SET` in flight) and locks dropped leave no lock key in
    /// Redis and no entry in the in-process table.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_and_released_locks_leave_nothing_behind() {
        const LONG: Duration = Duration::from_secs(30);
        let Some(server) = Server::start() else {
            return;
        };
        // A long lease: a lock key left behind would outlive the test.
        let url = server.url();
        let connect = || RedisStore::builder().lease(LONG).connect(&url);
        let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
        let id = SessionId::generate();
        let lock_key = a.lock_key(&id);

        let held = a.lock(&id, LONG).await.unwrap().unwrap();
        assert!(exists(&a, &lock_key).await);
        let wait = |store: &RedisStore| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.lock(&id, LONG).await.unwrap().is_some() })
        };
        let (in_process, in_redis) = (wait(&a), wait(&b));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!in_process.is_finished() && !in_redis.is_finished());
        assert_eq!((a.inner.locks.len(), b.inner.locks.len()), (1, 1));
        for waiter in [in_process, in_redis] {
            waiter.abort();
            assert!(waiter.await.unwrap_err().is_cancelled());
        }
        // A waiter given up with its `SET` in flight releases through a
        // task (it may hold the lease): its in-process entry goes once that
        // task has run.
        eventually("the abandoned waiter's release", async || {
            b.inner.locks.len() == 0
        })
        .await;
        assert_eq!(a.inner.locks.len(), 1, "only the held lock has an entry");
        drop(held);
        eventually("the release", async || a.inner.locks.len() == 0).await;
        assert!(!exists(&a, &lock_key).await);

        // Given up at random moments, some of them with the `SET` in flight
        // or just answered.
        for round in 0..50_u64 {
            let taker = wait(&a);
            tokio::time::sleep(Duration::from_micros(round * 37 % 1_500)).await;
            taker.abort();
            let _ = taker.await;
            let next = b.lock(&id, Duration::from_secs(5)).await.unwrap();
            assert!(next.is_some(), "round {round}: the lock was left held");
            drop(next);
        }
        eventually("every release", async || {
            a.inner.locks.len() == 0 && b.inner.locks.len() == 0 && !exists(&a, &lock_key).await
        })
        .await;
    }

    /// The reap lists an index key's settled entries, checks their sessions,
    /// then removes the gone ones: an entry inserted again in between (a
    /// write under way) is spared, however the two interleave.
    #[tokio::test]
    async fn the_reap_removes_an_entry_only_while_it_is_still_settled() {
        let Some(server) = Server::start() else {
            return;
        };
        let store = RedisStore::connect(&server.url()).await.unwrap();
        let entry = IndexEntry::new("user", r#""alice""#);
        let key = store.index_key(entry);
        let (old, again) = (SessionId::generate(), SessionId::generate());
        let mut age = redis::cmd("ZADD");
        age.arg(&key).arg("XX");
        for id in [&old, &again] {
            store.index_insert(entry, id).await.unwrap();
            age.arg(0).arg(id.as_str());
        }
        let _: i64 = store.inner.connection.query(&age, "ZADD").await.unwrap();
        let grace = duration_ms(crate::store::INDEX_GRACE);
        let scripts = &store.inner.index_scripts;
        let mut settled = scripts.settled.key(&key);
        settled.arg(grace).arg(10).arg("-inf");
        let (count, next, mut listed): (i64, String, Vec<String>) =
            store.inner.connection.invoke(&settled).await.unwrap();
        listed.sort();
        let mut both = vec![old.as_str().to_owned(), again.as_str().to_owned()];
        both.sort();
        assert_eq!((count, next.as_str(), listed), (2, "", both));

        store.index_insert(entry, &again).await.unwrap();
        let mut remove = scripts.remove_settled.key(&key);
        remove.arg(grace).arg(old.as_str()).arg(again.as_str());
        let answer: (i64, i64) = store.inner.connection.invoke(&remove).await.unwrap();
        assert_eq!(answer, (1, 1), "removed, left");
        assert_eq!(store.index_members(entry).await.unwrap(), vec![again]);
    }

    #[test]
    fn a_value_that_is_not_a_session_is_no_session() {
        assert!(decode_loaded(b"\xff\xfe", 1, DEFAULT_TTL).is_none());
        assert!(decode_loaded(b"[1,2]", 1, DEFAULT_TTL).is_none());
        assert!(decode_loaded(b"{}", -2, DEFAULT_TTL).is_none());
    }
}
