//! FileStore's exclusive sessions (`SessionStore::lock`) across processes:
//! two processes on one directory serialise on a session, never both hold
//! it, and a holder that is killed blocks nobody.
//!
//! Like tests/file_store.rs, the tests run this test binary again as child
//! processes (`child_process_entry`, selected by the `FILE_LOCK_CHILD` variable).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use session_runtime::{FileStore, SessionId, SessionStore};
use support::{ChildGuard, TempDir};

/// How long a task waits for the session: far longer than the test takes.
const WAIT: Duration = Duration::from_secs(120);

fn id(text: &str) -> SessionId {
    SessionId::parse(text).unwrap()
}

/// The store as every process opens it: no background reap (the tests reap
/// when they mean to), fsync off (lock files are never fsynced anyway).
fn store(dir: &Path) -> FileStore {
    FileStore::new(dir)
        .with_reap_interval(None)
        .with_fsync(false)
}

/// The lock files of `dir`, sorted; none when there is no such directory.
fn held_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join(".locks/held")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

// ---- Child processes ----------------------------------------------------

/// Runs this test binary again as the child `name` doing `role` on `dir`.
fn spawn_child(role: &str, name: &str, dir: &Path, extra: &[(&str, &str)]) -> ChildGuard {
    let name = format!("{role}-{name}");
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_process_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FILE_LOCK_CHILD", role)
        .env("FILE_LOCK_NAME", &name)
        .env("FILE_LOCK_DIR", dir);
    for (key, value) in extra {
        command.env(key, value);
    }
    ChildGuard::spawn(&name, command)
}

/// Waits until the children have each written `ready-<name>`, then writes
/// `go`, so that they start their work together.
fn start_together(dir: &Path, children: &mut [&mut ChildGuard]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for child in children.iter_mut() {
        let ready = dir.join(format!("ready-{}", child.name));
        while !ready.exists() {
            if let Some(status) = child.child.try_wait().unwrap() {
                panic!("{} exited with {status}:\n{}", child.name, child.output());
            }
            assert!(Instant::now() < deadline, "{} did not start", child.name);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::fs::write(dir.join("go"), "").unwrap();
}

fn env_number(key: &str) -> usize {
    std::env::var(key).unwrap().parse().unwrap()
}

/// The children's body; as an ordinary test (no `FILE_LOCK_CHILD`) it does nothing.
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var("FILE_LOCK_CHILD") else {
        return;
    };
    let name = std::env::var("FILE_LOCK_NAME").unwrap();
    let dir = PathBuf::from(std::env::var("FILE_LOCK_DIR").unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let ready = async || {
            std::fs::write(dir.join(format!("ready-{name}")), "").unwrap();
            while !dir.join("go").exists() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        match role.as_str() {
            "count" => {
                let locked = std::env::var("FILE_LOCK_LOCKED").unwrap() == "1";
                count(&dir, env_number("FILE_LOCK_TASKS"), locked, ready).await;
            }
            "inside" => {
                let (tasks, rounds) = (
                    env_number("FILE_LOCK_TASKS"),
                    env_number("FILE_LOCK_ROUNDS"),
                );
                never_two_inside(&dir, tasks, rounds, ready).await;
            }
            "hold" => {
                let store = store(&dir);
                let mut held = Vec::new();
                for session in ["killed1", "killed2"] {
                    held.push(store.lock(&id(session), WAIT).await.unwrap().unwrap());
                }
                ready().await;
                // Holds them until it is killed.
                std::future::pending::<()>().await;
            }
            other => panic!("unknown child role {other}"),
        }
    });
}

/// `tasks` tasks each add one to the number in `<dir>/counter` by reading
/// it, pausing, and writing it back: a non-atomic read-modify-write, under
/// the lock of one session when `locked`.
async fn count(dir: &Path, tasks: usize, locked: bool, ready: impl AsyncFnOnce()) {
    let store = store(dir);
    let counter = Arc::new(dir.join("counter"));
    ready().await;
    let mut running = Vec::new();
    for _ in 0..tasks {
        let (store, counter) = (store.clone(), Arc::clone(&counter));
        running.push(tokio::spawn(async move {
            let _held = match locked {
                true => Some(store.lock(&id("counter"), WAIT).await.unwrap().unwrap()),
                false => None,
            };
            let text = std::fs::read_to_string(&*counter).unwrap();
            let count: u64 = match text.parse() {
                Ok(count) => count,
                // Unlocked, a read can land between another writer's truncate and its write.
                Err(_) if !locked => 0,
                Err(error) => panic!("{text:?} under the lock: {error}"),
            };
            tokio::time::sleep(Duration::from_millis(1)).await;
            std::fs::write(&*counter, (count + 1).to_string()).unwrap();
        }));
    }
    for task in running {
        task.await.unwrap();
    }
}

/// `tasks` tasks, on two stores (whose in-process locks know nothing of
/// each other), each take one session `rounds` times and, inside, create
/// and remove `<dir>/inside`, which fails if another holder is inside. A
/// reap runs in a loop meanwhile, removing lock files nobody holds.
async fn never_two_inside(dir: &Path, tasks: usize, rounds: usize, ready: impl AsyncFnOnce()) {
    let stores = [store(dir), store(dir)];
    let inside = Arc::new(dir.join("inside"));
    ready().await;
    let done = Arc::new(AtomicBool::new(false));
    let reaper = tokio::spawn({
        let (store, done) = (stores[0].clone(), Arc::clone(&done));
        async move {
            while !done.load(Ordering::Relaxed) {
                store.remove_expired().await.unwrap();
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        }
    });
    let mut running = Vec::new();
    for n in 0..tasks {
        let (store, inside) = (stores[n % 2].clone(), Arc::clone(&inside));
        running.push(tokio::spawn(async move {
            for _ in 0..rounds {
                let _held = store.lock(&id("one"), WAIT).await.unwrap().unwrap();
                std::fs::File::create_new(&*inside).expect("two holders at once");
                tokio::task::yield_now().await;
                std::fs::remove_file(&*inside).unwrap();
            }
        }));
    }
    for task in running {
        task.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    reaper.await.unwrap();
}

/// Two processes of `tasks` tasks each count in `<dir>/counter`; the count they reach.
fn count_in_two_processes(tasks: usize, locked: bool) -> u64 {
    let temp = TempDir::new("count");
    let dir = temp.path();
    std::fs::write(dir.join("counter"), "0").unwrap();
    let env = [
        ("FILE_LOCK_TASKS", tasks.to_string()),
        ("FILE_LOCK_LOCKED", u8::from(locked).to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut a = spawn_child("count", "a", dir, &env);
    let mut b = spawn_child("count", "b", dir, &env);
    start_together(dir, &mut [&mut a, &mut b]);
    for child in [&mut a, &mut b] {
        let status = child.wait_for_exit(Duration::from_secs(120));
        assert!(status.success(), "child failed:\n{}", child.output());
    }
    if locked {
        assert!(held_files(dir).is_empty(), "left: {:?}", held_files(dir));
    }
    std::fs::read_to_string(dir.join("counter"))
        .unwrap()
        .parse()
        .unwrap()
}

// ---- Tests ----------------------------------------------------------------

#[test]
fn two_processes_counting_under_the_lock_lose_no_increment() {
    let tasks = 100;
    assert_eq!(count_in_two_processes(tasks, true), 2 * tasks as u64);
}

/// Not a test: how many increments the count above loses without the lock
/// (`cargo test --test file_lock -- --ignored --nocapture`). It depends on
/// a race, so it asserts nothing. Measured on a 2-core Linux machine: the
/// 200 increments ended at a count of 1 or 2.
#[test]
#[ignore = "a measurement of a race, not a test"]
fn without_the_lock_the_same_count_loses_increments() {
    let tasks = 100;
    let reached = count_in_two_processes(tasks, false);
    println!("without the lock: {reached} of {}", 2 * tasks);
}

#[test]
fn two_processes_never_hold_one_session_at_once() {
    let temp = TempDir::new("inside");
    let dir = temp.path();
    let env = [("FILE_LOCK_TASKS", "16"), ("FILE_LOCK_ROUNDS", "25")];
    let mut a = spawn_child("inside", "a", dir, &env);
    let mut b = spawn_child("inside", "b", dir, &env);
    start_together(dir, &mut [&mut a, &mut b]);
    for child in [&mut a, &mut b] {
        let status = child.wait_for_exit(Duration::from_secs(120));
        assert!(status.success(), "child failed:\n{}", child.output());
    }
    assert!(!dir.join("inside").exists());
    assert!(held_files(dir).is_empty(), "left: {:?}", held_files(dir));
}

#[tokio::test]
async fn a_killed_holder_blocks_nobody_and_its_lock_files_go() {
    let temp = TempDir::new("killed");
    let dir = temp.path();
    let mut holder = spawn_child("hold", "a", dir, &[]);
    start_together(dir, &mut [&mut holder]);
    let store = store(dir);
    // Held by the other process.
    let start = Instant::now();
    assert!(
        store
            .lock(&id("killed1"), Duration::from_millis(50))
            .await
            .unwrap()
            .is_none()
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(store.remove_expired().await.unwrap().stale_locks_removed, 0);

    holder.kill();
    assert_eq!(held_files(dir), ["killed1", "killed2"], "left behind");
    let lock = store.lock(&id("killed1"), Duration::ZERO).await.unwrap();
    assert!(lock.is_some(), "a dead holder's lock file blocks nobody");
    drop(lock);
    assert_eq!(held_files(dir), ["killed2"]);
    let stats = store.remove_expired().await.unwrap();
    assert_eq!(stats.stale_locks_removed, 1);
    assert!(held_files(dir).is_empty());
}
