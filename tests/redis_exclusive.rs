//! `RedisStore::lock` on real `redis-server`s, one node and a three-master
//! cluster: several store instances (separate connections, as separate app
//! servers have) take turns on a session, a dropped lock or lock future
//! frees it, a held lease is renewed, and a holder stalled past its lease
//! cannot overwrite the save of the request that took the session after it.
//!
//! Ordering is shown through shared state (a flag set before a release, a
//! counter whose read-modify-writes would lose increments unlocked); time
//! appears only as generous bounds.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use session_runtime::store::redis::RedisStore;
use session_runtime::store::{Created, Update, Updated};
use session_runtime::{Record, SessionId, SessionStore};
use support::redis::{RedisCluster, RedisServer};

/// Longer than any wait of these tests should take: a hang fails, slowly.
const LONG: Duration = Duration::from_secs(30);

/// A lease short enough to lapse within a test.
const SHORT_LEASE: Duration = Duration::from_millis(300);

/// Where the stores connect: one server or a cluster.
#[derive(Clone)]
enum Redis {
    Single(String),
    Cluster(Vec<String>),
}

impl Redis {
    /// A new store instance, with its own connection, and `lease`.
    async fn store(&self, lease: Duration) -> RedisStore {
        let builder = RedisStore::builder().lease(lease);
        match self {
            Redis::Single(url) => builder.connect(url).await,
            Redis::Cluster(urls) => builder.connect_cluster(urls).await,
        }
        .unwrap()
    }
}

fn server() -> (RedisServer, Redis) {
    let server = RedisServer::start().expect("redis-server and redis-cli are installed");
    let redis = Redis::Single(server.url());
    (server, redis)
}

/// A session whose field `n` is `n`.
fn counter(n: u64) -> Record {
    let mut record = Record::default();
    set_n(&mut record, n);
    record.last_access = Some(support::clock::now_ms());
    record.cookie.original_max_age = Some(600_000);
    record
}

fn n(record: &Record) -> u64 {
    record.fields.get("n").unwrap().get().parse().unwrap()
}

fn set_n(record: &mut Record, n: u64) {
    record
        .fields
        .set("n", RawValue::from_string(n.to_string()).unwrap());
}

async fn new_session(store: &RedisStore) -> SessionId {
    let id = SessionId::generate();
    assert_eq!(
        store.create(&id, &counter(0)).await.unwrap(),
        Created::Stored
    );
    id
}

async fn stored_n(store: &RedisStore, id: &SessionId) -> u64 {
    n(&store.load(id).await.unwrap().unwrap())
}

/// Adds one to `n` under `store`'s lock: a read-modify-write of one field,
/// which loses increments when two run at once.
async fn increment(store: &RedisStore, id: &SessionId) {
    let lock = store
        .lock(id, LONG)
        .await
        .unwrap()
        .expect("taken within 30 s");
    let mut record = store.load(id).await.unwrap().unwrap();
    let next = n(&record) + 1;
    // Let the other tasks run between the read and the write.
    tokio::time::sleep(Duration::from_millis(1)).await;
    set_n(&mut record, next);
    let saved = store
        .update(id, Update::new(&record, &["n"]).under(Some(&lock)))
        .await
        .unwrap();
    assert_eq!(saved, Updated::Stored);
    drop(lock);
}

/// While instance A holds a session, instance B cannot take it: not within
/// a short wait, and with a long one only after A drops it.
async fn a_holder_keeps_other_instances_waiting(redis: &Redis) {
    let (a, b) = (
        redis.store(SHORT_LEASE).await,
        redis.store(SHORT_LEASE).await,
    );
    let id = SessionId::generate();
    let held = a.lock(&id, LONG).await.unwrap().unwrap();
    assert!(
        b.lock(&id, Duration::from_millis(50))
            .await
            .unwrap()
            .is_none(),
        "B took a session A holds"
    );
    let released = Arc::new(AtomicBool::new(false));
    let waiter = tokio::spawn({
        let (b, id, released) = (b.clone(), id.clone(), Arc::clone(&released));
        async move {
            let lock = b.lock(&id, LONG).await.unwrap();
            assert!(
                released.load(Ordering::SeqCst),
                "B took the session before A released it"
            );
            lock.is_some()
        }
    });
    // Past the lease: A's renewal keeps it.
    tokio::time::sleep(SHORT_LEASE * 2).await;
    assert!(!waiter.is_finished(), "B did not wait for A");
    released.store(true, Ordering::SeqCst);
    drop(held);
    assert!(waiter.await.unwrap(), "B got the session once A dropped it");
}

/// Two instances × `tasks` tasks each increment one session's counter under
/// the lock: every increment counts.
async fn no_increment_is_lost(redis: &Redis, tasks: u64) {
    let (a, b) = (
        redis.store(SHORT_LEASE).await,
        redis.store(SHORT_LEASE).await,
    );
    let id = new_session(&a).await;
    let mut running = Vec::new();
    for store in [&a, &b] {
        for _ in 0..tasks {
            let (store, id) = (store.clone(), id.clone());
            running.push(tokio::spawn(async move { increment(&store, &id).await }));
        }
    }
    for task in running {
        task.await.unwrap();
    }
    assert_eq!(stored_n(&a, &id).await, 2 * tasks);
}

/// Holder A (lease 300 ms) loads the session, then its runtime stalls (its
/// only thread blocks) past the lease, so its renewal cannot run. B takes
/// the session once the lease has lapsed and saves `n`. A wakes: its save
/// under its lapsed lock is refused with an error, and B's value stays.
async fn a_stalled_holder_cannot_overwrite(redis: &Redis) {
    let b = redis.store(SHORT_LEASE).await;
    let id = new_session(&b).await;
    let (held, a_holds) = std::sync::mpsc::channel();
    let (wake, stalled) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn({
        let (redis, id) = (redis.clone(), id.clone());
        move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let a = redis.store(SHORT_LEASE).await;
                let lock = a.lock(&id, LONG).await.unwrap().unwrap();
                let mut record = a.load(&id).await.unwrap().unwrap();
                set_n(&mut record, 100);
                held.send(()).unwrap();
                // The stall: a blocking wait on the runtime's only thread.
                stalled.recv().unwrap();
                let saved = a
                    .update(&id, Update::new(&record, &["n"]).under(Some(&lock)))
                    .await;
                drop(lock);
                saved
            })
        }
    });
    tokio::task::spawn_blocking(move || a_holds.recv().unwrap())
        .await
        .unwrap();
    let lock = b
        .lock(&id, Duration::from_secs(10))
        .await
        .unwrap()
        .expect("the stalled holder's lease lapses");
    let mut record = b.load(&id).await.unwrap().unwrap();
    set_n(&mut record, 7);
    let saved = b
        .update(&id, Update::new(&record, &["n"]).under(Some(&lock)))
        .await
        .unwrap();
    assert_eq!(saved, Updated::Stored);

    wake.send(()).unwrap();
    let late = tokio::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
    let error = late.expect_err("the stalled holder's save must be refused");
    let message = error.to_string();
    assert!(
        message.contains("lapsed") && message.contains("refused"),
        "{message}"
    );
    assert_eq!(stored_n(&b, &id).await, 7, "B's save was overwritten");
    drop(lock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_held_by_one_instance_waits_in_another() {
    let (_server, redis) = server();
    a_holder_keeps_other_instances_waiting(&redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_times_sixteen_increments_lose_none() {
    let (_server, redis) = server();
    no_increment_is_lost(&redis, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_stalled_past_its_lease_cannot_overwrite() {
    let (_server, redis) = server();
    a_stalled_holder_cannot_overwrite(&redis).await;
}

/// Lock futures given up while waiting (in Redis, for another instance; in
/// this process, behind a request of the same instance) leave nothing: once
/// the holder drops its lock the key is gone and the session is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_futures_dropped_mid_wait_leave_nothing_behind() {
    let (server, redis) = server();
    let (a, b) = (redis.store(LONG).await, redis.store(LONG).await);
    let id = SessionId::generate();
    let lock_key = a.lock_key(&id);
    let held = a.lock(&id, LONG).await.unwrap().unwrap();
    assert_eq!(server.int(&["EXISTS", &lock_key]), 1);
    let mut waiters = Vec::new();
    for store in [&b, &a, &b] {
        let (store, id) = (store.clone(), id.clone());
        waiters.push(tokio::spawn(async move {
            store.lock(&id, LONG).await.unwrap().is_some()
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for waiter in waiters {
        assert!(!waiter.is_finished());
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
    }
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.int(&["EXISTS", &lock_key]) == 1 {
        assert!(Instant::now() < deadline, "the lock key outlived its lock");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The lease is 30 s: anything left held would fail these waits.
    for store in [&a, &b] {
        let lock = store.lock(&id, Duration::from_secs(5)).await.unwrap();
        assert!(lock.is_some(), "the session was left held");
    }
}

/// A lock held for three leases keeps its session: its renewal extends the
/// lease, and a save under it is still accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_is_renewed_past_its_lease() {
    let (server, redis) = server();
    let (a, b) = (
        redis.store(SHORT_LEASE).await,
        redis.store(SHORT_LEASE).await,
    );
    let id = new_session(&a).await;
    let held = a.lock(&id, LONG).await.unwrap().unwrap();
    let started = Instant::now();
    while started.elapsed() < SHORT_LEASE * 3 {
        tokio::time::sleep(SHORT_LEASE / 4).await;
        assert!(
            b.lock(&id, Duration::ZERO).await.unwrap().is_none(),
            "B took a held session after {:?}",
            started.elapsed()
        );
    }
    let pttl = server.int(&["PTTL", &a.lock_key(&id)]);
    assert!(
        (1..=300).contains(&pttl),
        "the lease was not renewed: PTTL {pttl}"
    );
    let mut record = a.load(&id).await.unwrap().unwrap();
    set_n(&mut record, 1);
    let saved = a
        .update(&id, Update::new(&record, &["n"]).under(Some(&held)))
        .await
        .unwrap();
    assert_eq!(saved, Updated::Stored);
    drop(held);
    assert!(b.lock(&id, Duration::from_secs(5)).await.unwrap().is_some());
}

/// A dropped lock frees its session at once, not when its lease (10 s) runs
/// out: another instance takes it within a wait of half the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_lock_is_released_long_before_its_lease_ends() {
    let lease = Duration::from_secs(10);
    let (_server, redis) = server();
    let (a, b) = (redis.store(lease).await, redis.store(lease).await);
    let id = SessionId::generate();
    for _ in 0..3 {
        drop(a.lock(&id, LONG).await.unwrap().unwrap());
        let next = b.lock(&id, lease / 2).await.unwrap();
        assert!(next.is_some(), "not released within half the lease");
        drop(next);
        // And back: the same instance's next request too.
        let again = a.lock(&id, lease / 2).await.unwrap();
        assert!(again.is_some(), "not released within half the lease");
    }
}

/// The same on a three-master cluster: the lock key shares its session's
/// slot (as Redis computes it), so the fenced save, one script on both keys,
/// runs there; holders wait for each other, no increment is lost, and a
/// stalled holder cannot overwrite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_sessions_on_a_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let redis = Redis::Cluster(cluster.urls());
    let node = &cluster.nodes[0];
    let keyslot = |key: &str| node.int(&["CLUSTER", "KEYSLOT", key]);

    let plain = redis.store(SHORT_LEASE).await;
    let tagged = RedisStore::builder()
        .prefix("{app}:sess:")
        .connect_cluster(cluster.urls())
        .await
        .unwrap();
    for store in [&plain, &tagged] {
        let mut slots = std::collections::HashSet::new();
        for _ in 0..20 {
            let id = new_session(store).await;
            let (key, lock_key) = (store.key(&id), store.lock_key(&id));
            assert_eq!(keyslot(&key), keyslot(&lock_key), "{key} and {lock_key}");
            slots.insert(keyslot(&key));
            // One script over both keys: a fenced save.
            let lock = store.lock(&id, LONG).await.unwrap().unwrap();
            let mut record = store.load(&id).await.unwrap().unwrap();
            set_n(&mut record, 5);
            let saved = store
                .update(&id, Update::new(&record, &["n"]).under(Some(&lock)))
                .await
                .unwrap();
            assert_eq!(saved, Updated::Stored);
            drop(lock);
            assert_eq!(stored_n(store, &id).await, 5);
        }
        // The default prefix spreads sessions over the slots; a hash tag
        // keeps them in one.
        let spread = slots.len();
        if std::ptr::eq(store, &tagged) {
            assert_eq!(spread, 1);
        } else {
            assert!(spread > 1);
        }
    }

    a_holder_keeps_other_instances_waiting(&redis).await;
    no_increment_is_lost(&redis, 8).await;
    a_stalled_holder_cannot_overwrite(&redis).await;
}
