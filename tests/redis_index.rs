//! `RedisStore`'s indexes (`#[session(index)]`) on real `redis-server`s: the
//! reap removes the entries of sessions that are gone once they are older
//! than the grace, and never a young entry or a stored session's; an index
//! key never expires under a live session, however long it is kept alive;
//! on a cluster, many values work without a cross-slot error; and through
//! the layer, a user's sessions are listed and ended while a write that
//! changes no indexed field costs Redis what it did.
//!
//! An entry's score is when it was inserted (milliseconds, by Redis's
//! clock): the tests age an entry by writing its score with `redis-cli`,
//! rather than wait out the one-minute grace.

mod support;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::value::RawValue;
use session_runtime::store::redis::RedisStore;
use session_runtime::store::{Created, IndexEntry, Update, Updated};
use session_runtime::{Record, Session, SessionId, SessionLayer, SessionStore, Sessions};
use support::Client;
use support::redis::{RedisCluster, RedisServer};

/// The registry of index keys and the set of indexed fields' keys, for the
/// default prefix `sess:`.
const REGISTRY: &str = "index:sess:{registry}:values";
const FIELDS: &str = "index:sess:{registry}:fields";

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;

fn server() -> RedisServer {
    RedisServer::start().expect("redis-server and redis-cli are installed")
}

async fn store_on(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&server.url()).await.unwrap()
}

/// A session whose field `user` holds `user` (a JSON text), living `max_age`
/// milliseconds from now.
fn session(user: &str, max_age: u64) -> Record {
    let now = support::clock::now_ms();
    let mut record = Record::default();
    record
        .fields
        .set("user", RawValue::from_string(user.to_owned()).unwrap());
    record.last_access = Some(now);
    record.cookie.original_max_age = Some(max_age);
    record.cookie.expires = Some(now + max_age);
    record
}

/// Stores a new session as the layer does: its entry first, then the session.
async fn store_new(store: &RedisStore, entry: IndexEntry<'_>, id: &SessionId, record: &Record) {
    store.index_insert(entry, id).await.unwrap();
    assert_eq!(store.create(id, record).await.unwrap(), Created::Stored);
}

/// Makes the entries of `ids` under `key` look inserted at the epoch, long
/// past the grace (`-c`: on a cluster, wherever the key lives).
fn age(redis: &RedisServer, key: &str, ids: &[&SessionId]) {
    let mut args = vec!["-c", "ZADD", key, "XX"];
    for id in ids {
        args.extend(["0", id.as_str()]);
    }
    redis.cli(&args);
}

async fn members(store: &RedisStore, entry: IndexEntry<'_>) -> Vec<SessionId> {
    sorted(store.index_members(entry).await.unwrap())
}

fn sorted(mut ids: Vec<SessionId>) -> Vec<SessionId> {
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

fn ids<const N: usize>() -> [SessionId; N] {
    std::array::from_fn(|_| SessionId::generate())
}

/// Whether `member` is in the registry of index keys.
fn registered(redis: &RedisServer, key: &str) -> bool {
    !redis
        .cli(&["-c", "ZSCORE", REGISTRY, key])
        .trim()
        .is_empty()
}

/// The entries of sessions that expired, that were destroyed by a process
/// that died before it removed their entries, or whose create never came,
/// are removed by the reap once older than the grace, and only those: a
/// stored session's entry stays. An index key left empty disappears, and
/// leaves the registry once its stamp there is old too.
#[tokio::test]
async fn the_reap_removes_the_entries_of_gone_sessions_once_past_the_grace() {
    let redis = server();
    let store = store_on(&redis).await;
    let alice = IndexEntry::new("user", r#""alice""#);
    let key = store.index_key(alice);
    assert_eq!(key, r#"index:sess:"user":"alice""#);
    let [live, expired, destroyed, never, switched] = ids();
    store_new(&store, alice, &live, &session(r#""alice""#, HOUR)).await;
    // Stored with alice's entry, then holding bob: a session that moved on.
    store_new(&store, alice, &switched, &session(r#""bob""#, HOUR)).await;
    store_new(&store, alice, &expired, &session(r#""alice""#, 300)).await;
    store_new(&store, alice, &destroyed, &session(r#""alice""#, HOUR)).await;
    store.destroy(&destroyed).await.unwrap();
    store.index_insert(alice, &never).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(redis.int(&["EXISTS", &store.key(&expired)]), 0);

    assert_eq!(
        store.reap_indexes().await.unwrap(),
        0,
        "the reap removed entries younger than the grace"
    );
    let everyone = sorted(vec![
        live.clone(),
        expired.clone(),
        destroyed.clone(),
        never.clone(),
        switched.clone(),
    ]);
    assert_eq!(members(&store, alice).await, everyone);

    age(
        &redis,
        &key,
        &[&live, &expired, &destroyed, &never, &switched],
    );
    assert_eq!(store.reap_indexes().await.unwrap(), 4);
    assert_eq!(members(&store, alice).await, vec![live.clone()]);
    assert_eq!(store.reap_indexes().await.unwrap(), 0);

    // The last session goes too, its entry left behind, then reaped.
    store.destroy(&live).await.unwrap();
    assert_eq!(store.reap_indexes().await.unwrap(), 1);
    assert_eq!(redis.int(&["EXISTS", &key]), 0, "an empty index key stays");
    assert!(
        registered(&redis, &key),
        "an index key stamped in the registry within the grace left it"
    );
    redis.cli(&["ZADD", REGISTRY, "XX", "0", &key]);
    assert_eq!(store.reap_indexes().await.unwrap(), 0);
    assert!(!registered(&redis, &key));
    assert_eq!(redis.int(&["EXISTS", REGISTRY]), 0);
    // The fields' keys are never pruned: a few names, one per indexed field.
    assert_eq!(store.index_keys().await.unwrap(), vec!["user".to_owned()]);
}

/// An entry younger than the grace stays though its session is not stored
/// (yet): the write it comes before may be under way. Inserted again, its
/// grace starts again; once its session is stored it stays however old; and
/// once that session is gone, the background reap removes it unasked.
#[tokio::test]
async fn a_young_entry_stays_though_its_session_is_not_stored_yet() {
    let redis = server();
    let store = RedisStore::builder()
        .index_reap_interval(Duration::from_millis(20))
        .connect(&redis.url())
        .await
        .unwrap();
    let alice = IndexEntry::new("user", r#""alice""#);
    let key = store.index_key(alice);
    let [id] = ids();

    // The insert starts the background reap, which runs many times here.
    store.index_insert(alice, &id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.reap_indexes().await.unwrap(), 0);
    assert_eq!(members(&store, alice).await, vec![id.clone()]);

    age(&redis, &key, &[&id]);
    store.index_insert(alice, &id).await.unwrap();
    assert_eq!(
        store.reap_indexes().await.unwrap(),
        0,
        "an entry inserted again lost it to its old stamp"
    );

    assert_eq!(
        store
            .create(&id, &session(r#""alice""#, HOUR))
            .await
            .unwrap(),
        Created::Stored
    );
    age(&redis, &key, &[&id]);
    assert_eq!(store.reap_indexes().await.unwrap(), 0);
    assert_eq!(members(&store, alice).await, vec![id.clone()]);

    store.destroy(&id).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.int(&["EXISTS", &key]) == 1 {
        assert!(
            Instant::now() < deadline,
            "the background reap did not remove the entry of a destroyed session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The rule that makes index keys safe to keep without an expiry, tried:
/// a session indexed with a two-second life, kept alive by touches past
/// it, then given a day ("remember me", a save that changes no indexed
/// field and so writes no entry). At every step the index key outlives the
/// session (it has no expiry), and however old its entry, the reap keeps it.
#[tokio::test]
async fn an_index_key_never_expires_while_a_live_session_is_in_it() {
    let redis = server();
    let store = store_on(&redis).await;
    let alice = IndexEntry::new("user", r#""alice""#);
    let key = store.index_key(alice);
    let [id] = ids();
    let outlives_the_session = |step: &str| {
        let session_pttl = redis.int(&["PTTL", &store.key(&id)]);
        assert!(session_pttl > 0, "{step}: the session is gone");
        for index_key in [key.as_str(), REGISTRY, FIELDS] {
            let pttl = redis.int(&["PTTL", index_key]);
            assert!(
                pttl == -1 || pttl >= session_pttl,
                "{step}: {index_key} expires in {pttl} ms, the session it lists in {session_pttl} ms"
            );
        }
    };

    store_new(&store, alice, &id, &session(r#""alice""#, 2_000)).await;
    outlives_the_session("created");
    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut touched = store.load(&id).await.unwrap().expect("kept alive");
        let now = support::clock::now_ms();
        touched.last_access = Some(now);
        touched.cookie.expires = Some(now + 2_000);
        assert_eq!(store.touch(&id, &touched).await.unwrap(), Updated::Stored);
        outlives_the_session(&format!("touch {round}"));
    }

    let mut remembered = store.load(&id).await.unwrap().expect("kept alive");
    let now = support::clock::now_ms();
    remembered.last_access = Some(now);
    remembered.cookie.original_max_age = Some(DAY);
    remembered.cookie.expires = Some(now + DAY);
    let saved = store
        .update(&id, Update::new(&remembered, &[]))
        .await
        .unwrap();
    assert_eq!(saved, Updated::Stored);
    assert!(redis.int(&["PTTL", &store.key(&id)]) > (DAY - HOUR) as i64);
    outlives_the_session("remembered for a day");

    age(&redis, &key, &[&id]);
    redis.cli(&["ZADD", REGISTRY, "XX", "0", &key]);
    for _ in 0..3 {
        assert_eq!(store.reap_indexes().await.unwrap(), 0);
    }
    assert_eq!(members(&store, alice).await, vec![id.clone()]);
    assert!(registered(&redis, &key));
    outlives_the_session("reaped with its entry and registry stamp long settled");
}

/// A value with more entries than a reap lists at once (256), their stamps
/// tied in groups that straddle pages, or all one: the reap pages through
/// every entry and removes exactly those of sessions not stored.
#[tokio::test]
async fn the_reap_pages_through_a_value_with_many_entries() {
    let redis = server();
    let store = store_on(&redis).await;
    for (value, ties) in [(r#""crowd""#, 4_u64), (r#""tied""#, 1)] {
        let entry = IndexEntry::new("team", value);
        let key = store.index_key(entry);
        let all: Vec<SessionId> = (0..600).map(|_| SessionId::generate()).collect();
        let mut kept = Vec::new();
        for (n, id) in all.iter().enumerate() {
            store.index_insert(entry, id).await.unwrap();
            if n % 3 == 0 {
                // A session holding the value under the entry's field.
                let mut record = session(r#""someone""#, HOUR);
                let team = RawValue::from_string(value.to_owned()).unwrap();
                record.fields.set("team", team);
                assert_eq!(store.create(id, &record).await.unwrap(), Created::Stored);
                kept.push(id.clone());
            }
        }
        // Scores 0, 1, 2, 3, 0, …: 150 entries to each, pages of 256 end
        // inside a group; or 600 entries stamped alike.
        let scores: Vec<String> = (0..all.len() as u64)
            .map(|n| (n % ties).to_string())
            .collect();
        let mut args = vec!["ZADD", key.as_str(), "XX"];
        for (id, score) in all.iter().zip(&scores) {
            args.extend([score.as_str(), id.as_str()]);
        }
        redis.cli(&args);

        assert_eq!(store.reap_indexes().await.unwrap(), 400, "{value}");
        assert_eq!(members(&store, entry).await, sorted(kept), "{value}");
    }
}

/// On a three-master cluster: entries under many values (their keys spread
/// over every node), inserted, listed, reaped and removed, never cross a
/// slot; nor does a prefix with a hash tag, which keeps everything on one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_values_on_a_cluster_without_cross_slot_errors() {
    const VALUES: usize = 90;
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let node = &cluster.nodes[0];
    let store = RedisStore::builder()
        .connect_cluster(cluster.urls())
        .await
        .unwrap();
    let users: Vec<String> = (0..VALUES).map(|n| format!("\"user-{n}\"")).collect();
    let mut pairs = Vec::new();
    for user in &users {
        let [stored, never] = ids();
        store_new(&store, entry(user), &stored, &session(user, HOUR)).await;
        store.index_insert(entry(user), &never).await.unwrap();
        pairs.push((stored, never));
    }
    for (n, node) in cluster.nodes.iter().enumerate() {
        let keys = node.cli(&["--scan", "--pattern", "index:sess:\"*"]);
        assert!(keys.lines().count() > 0, "node {n} holds no index key");
    }
    for (user, (stored, never)) in users.iter().zip(&pairs) {
        let both = sorted(vec![stored.clone(), never.clone()]);
        assert_eq!(members(&store, entry(user)).await, both);
    }
    assert_eq!(store.index_keys().await.unwrap(), vec!["user".to_owned()]);

    for (user, (stored, never)) in users.iter().zip(&pairs) {
        age(node, &store.index_key(entry(user)), &[stored, never]);
    }
    assert_eq!(store.reap_indexes().await.unwrap(), VALUES);
    for (user, (stored, _)) in users.iter().zip(&pairs) {
        assert_eq!(members(&store, entry(user)).await, vec![stored.clone()]);
        store
            .index_remove(entry(user), std::slice::from_ref(stored))
            .await
            .unwrap();
        store.destroy(stored).await.unwrap();
        assert!(members(&store, entry(user)).await.is_empty());
    }

    let keys: Vec<String> = users.iter().map(|u| store.index_key(entry(u))).collect();
    let mut args = vec!["-c", "ZADD", REGISTRY, "XX"];
    for key in &keys {
        args.extend(["0", key.as_str()]);
    }
    node.cli(&args);
    assert_eq!(store.reap_indexes().await.unwrap(), 0);
    assert_eq!(
        node.int(&["-c", "EXISTS", REGISTRY]),
        0,
        "the registry kept emptied keys"
    );
    for node in &cluster.nodes {
        assert_eq!(node.cli(&["--scan", "--pattern", "index:*\"*"]), "");
    }

    // A prefix with a hash tag: every key of the store in one slot.
    let tagged = RedisStore::builder()
        .prefix("{app}:sess:")
        .connect_cluster(cluster.urls())
        .await
        .unwrap();
    let alice = entry(r#""alice""#);
    assert_eq!(
        tagged.index_key(alice),
        r#"index:{app}:sess:"user":"alice""#
    );
    let [stored, never] = ids();
    store_new(&tagged, alice, &stored, &session(r#""alice""#, HOUR)).await;
    tagged.index_insert(alice, &never).await.unwrap();
    age(node, &tagged.index_key(alice), &[&stored, &never]);
    assert_eq!(tagged.reap_indexes().await.unwrap(), 1);
    assert_eq!(members(&tagged, alice).await, vec![stored]);
}

/// The entry of `user` (a JSON text) under the field `user`.
fn entry(user: &str) -> IndexEntry<'_> {
    IndexEntry::new("user", user)
}

#[derive(Session)]
struct Account {
    #[session(index)]
    user: Option<String>,
    #[session(default = 0)]
    n: u64,
}

async fn login(Path(user): Path<String>, mut account: Session<Account>) -> &'static str {
    account.cycle_id().await.unwrap();
    account.user = Some(user);
    "in"
}

async fn increment(mut account: Session<Account>) -> String {
    account.n += 1;
    account.n.to_string()
}

async fn devices(account: Session<Account>, sessions: Sessions) -> String {
    let listed = sessions
        .list(Account::user_index(), &account.user)
        .await
        .unwrap();
    listed.len().to_string()
}

async fn logout_everywhere(account: Session<Account>, sessions: Sessions) -> String {
    let ended = sessions
        .destroy_all(Account::user_index(), &account.user)
        .await
        .unwrap();
    account.destroy();
    ended.to_string()
}

/// Through the layer on Redis: a user's sessions are listed and ended
/// together, and a write that changes no indexed field costs Redis exactly
/// what a write costs without indexes (a pipelined `GET` + `PEXPIRETIME`,
/// and one save script, counted with its `GET` and `SET`).
#[tokio::test]
async fn a_users_sessions_are_listed_and_ended_and_other_writes_cost_what_they_did() {
    let redis = server();
    let layer = SessionLayer::new(store_on(&redis).await, "redis index secret");
    let router = Router::new()
        .route("/login/{user}", get(login))
        .route("/inc", get(increment))
        .route("/devices", get(devices))
        .route("/logout-everywhere", get(logout_everywhere))
        .layer(layer);
    let (mut phone, mut laptop, mut bob) = (
        Client::new(router.clone()),
        Client::new(router.clone()),
        Client::new(router),
    );
    phone.get("/login/alice").await;
    laptop.get("/login/alice").await;
    bob.get("/login/bob").await;
    assert_eq!(phone.get("/devices").await.body, "2");
    assert_eq!(bob.get("/devices").await.body, "1");

    redis.cli(&["CONFIG", "RESETSTAT"]);
    assert_eq!(phone.get("/inc").await.body, "1");
    let mut counts: Vec<(String, u64)> = redis
        .command_counts()
        .into_iter()
        .filter(|(name, _)| !matches!(name.as_str(), "info" | "config|resetstat"))
        .collect();
    counts.sort();
    let expected: Vec<(String, u64)> = [("evalsha", 1), ("get", 2), ("pexpiretime", 1), ("set", 1)]
        .iter()
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect();
    assert_eq!(counts, expected);

    assert_eq!(laptop.get("/logout-everywhere").await.body, "2");
    assert_eq!(
        phone.get("/devices").await.body,
        "0",
        "the phone is logged out"
    );
    assert_eq!(bob.get("/devices").await.body, "1");
    assert_eq!(redis.int(&["EXISTS", r#"index:sess:"user":"alice""#]), 0);
}
