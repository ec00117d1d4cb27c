//! FileStore: session-file-store's format, and what session-file-store gets wrong.
//!
//! The crash and two-process tests run this test binary again as a child
//! process (`child_process_entry`, selected by the `FILE_STORE_CHILD` variable).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::value::RawValue;
use session_runtime::store::file::ReapStats;
use session_runtime::store::{Created, Update, Updated};
use session_runtime::{FileStore, Record, Session, SessionId, SessionLayer, SessionStore};
use support::clock::now_ms;
use support::{ChildGuard, Client, TempDir, get_with_cookie};

/// Stores `record` under `sid` whether or not a session is stored there: an
/// update of the `changed` fields of a live session, else a create.
async fn upsert(
    store: &FileStore,
    sid: &SessionId,
    record: &Record,
    changed: &[&str],
) -> Result<(), session_runtime::StoreError> {
    loop {
        if store.update(sid, Update::new(record, changed)).await? == Updated::Stored
            || store.create(sid, record).await? == Created::Stored
        {
            return Ok(());
        }
    }
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

fn id(text: &str) -> SessionId {
    SessionId::parse(text).unwrap()
}

fn file_of(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// A record as the layer saves it: a one-day cookie, last access now.
fn record(fields: &[(&str, &str)]) -> Record {
    let mut record = Record::default();
    record.cookie.original_max_age = Some(86_400_000);
    record.cookie.expires = Some(now_ms() + 86_400_000);
    record.last_access = Some(now_ms());
    for (key, value) in fields {
        record.fields.set(key, raw(value));
    }
    record
}

fn session_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn reads_and_writes_session_file_stores_exact_format() {
    let temp = TempDir::new("format");
    let store = FileStore::new(temp.path());
    // Section 4.6 of the reference: a file written by session-file-store 1.5,
    // plus a key this app's schema does not know.
    let written_by_express = format!(
        r#"{{"cookie":{{"originalMaxAge":86400000,"expires":"2099-11-28T09:29:11.249Z","httpOnly":true,"path":"/"}},"views":1,"user":{{"name":"bob","tags":["a","b"]}},"passport":{{"user":7}},"__lastAccess":{}}}"#,
        now_ms()
    );
    let sid = "mWhV7O00Zsg3SN5Too8g3uj9plEE9sS_";
    std::fs::write(file_of(temp.path(), sid), &written_by_express).unwrap();

    let loaded = store.load(&id(sid)).await.unwrap().expect("a live session");
    assert_eq!(loaded.cookie.original_max_age, Some(86_400_000));
    assert_eq!(loaded.fields.get("views").unwrap().get(), "1");
    // `cookie` and `__lastAccess` are not fields.
    assert!(loaded.fields.get("cookie").is_none());
    assert!(loaded.fields.get("__lastAccess").is_none());

    let mut changed = loaded.clone();
    changed.fields.set("views", raw("2"));
    changed.last_access = Some(now_ms());
    upsert(&store, &id(sid), &changed, &["views"])
        .await
        .unwrap();
    let text = std::fs::read_to_string(file_of(temp.path(), sid)).unwrap();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(
        text.starts_with(r#"{"cookie":{"originalMaxAge":86400000,"expires":""#),
        "{text}"
    );
    assert!(
        text.contains(
            r#""views":2,"user":{"name":"bob","tags":["a","b"]},"passport":{"user":7},"__lastAccess":"#
        ),
        "unknown keys survive, in place: {text}"
    );
    // Nothing else is left in the directory but the lock files.
    let names: Vec<String> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&".locks".to_owned()), "{names:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_by_default_and_mode_is_configurable() {
    use std::os::unix::fs::PermissionsExt as _;
    let temp = TempDir::new("mode");
    let store = FileStore::new(temp.path().join("new-dir"));
    upsert(&store, &id("a"), &record(&[]), &[]).await.unwrap();
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(file_of(&temp.path().join("new-dir"), "a")), 0o600);
    assert_eq!(mode(temp.path().join("new-dir")), 0o700);

    let store = FileStore::new(temp.path())
        .with_mode(0o640)
        .with_extension(".session")
        .with_fsync(false);
    upsert(&store, &id("b"), &record(&[]), &[]).await.unwrap();
    assert_eq!(mode(temp.path().join("b.session")), 0o640);
    assert!(store.load(&id("b")).await.unwrap().is_some());
}

#[tokio::test]
async fn expiry_is_last_access_plus_max_age_or_ttl_even_before_a_reap() {
    let temp = TempDir::new("expiry");
    let store = FileStore::new(temp.path())
        .with_ttl(Duration::from_secs(60))
        .with_reap_interval(None);
    let now = now_ms();
    let write = |sid: &str, max_age: &str, last_access: u64| {
        let text = format!(
            r#"{{"cookie":{{"originalMaxAge":{max_age},"expires":null,"httpOnly":true,"path":"/"}},"n":1,"__lastAccess":{last_access}}}"#
        );
        std::fs::write(file_of(temp.path(), sid), text).unwrap();
    };
    write("maxage-live", "10000", now - 5_000);
    write("maxage-dead", "10000", now - 15_000);
    write("ttl-live", "null", now - 50_000);
    write("ttl-dead", "null", now - 70_000);
    assert!(store.load(&id("maxage-live")).await.unwrap().is_some());
    assert!(store.load(&id("maxage-dead")).await.unwrap().is_none());
    assert!(store.load(&id("ttl-live")).await.unwrap().is_some());
    assert!(store.load(&id("ttl-dead")).await.unwrap().is_none());
    // Not reaped: the files are still there, and still never returned.
    assert_eq!(session_files(temp.path()).len(), 4);
    assert_eq!(store.ttl(), Duration::from_secs(60));
    assert_eq!(
        FileStore::new(temp.path()).ttl(),
        session_runtime::store::DEFAULT_TTL,
        "every store's default ttl (session-file-store's is an hour)"
    );
}

#[tokio::test]
async fn a_missing_file_is_no_session_at_once() {
    let temp = TempDir::new("missing");
    let store = FileStore::new(temp.path());
    let start = Instant::now();
    for n in 0..50 {
        let sid = id(&format!("missing{n}"));
        assert!(store.load(&sid).await.unwrap().is_none());
    }
    // session-file-store spends ~250 ms per miss on retries; this is no timing
    // assertion, just a sanity bound far above what 50 misses cost.
    assert!(start.elapsed() < Duration::from_secs(5));
    // A missing directory is no session too.
    let store = FileStore::new(temp.path().join("does-not-exist"));
    assert!(store.load(&id("x")).await.unwrap().is_none());
    store.destroy(&id("x")).await.unwrap();
    assert_eq!(
        store.touch(&id("x"), &record(&[])).await.unwrap(),
        Updated::Gone
    );
    assert!(
        !temp.path().join("does-not-exist").exists(),
        "only a save creates the directory"
    );
}

const CORRUPT: &[(&str, &[u8])] = &[
    ("empty", b""),
    ("truncated", br#"{"cookie":{"originalMaxAge":1000,"#),
    ("array", b"[1,2,3]"),
    ("number", b"42"),
    ("binary", &[0xff, 0xfe, 0x00, 0x01, 0x80]),
    ("badcookie", br#"{"cookie":7,"__lastAccess":1}"#),
    ("nolastaccess", br#"{"cookie":{"originalMaxAge":null},"count":3}"#),
    (
        "encrypted",
        br#"{"hmac":"ab","ct":"cd","iv":{"type":"Buffer","data":[1]},"salt":{"type":"Buffer","data":[2]},"aad":"x","at":{"type":"Buffer","data":[3]}}"#,
    ),
];

#[tokio::test]
async fn corrupt_or_foreign_files_are_no_session_and_the_next_save_replaces_them() {
    let temp = TempDir::new("corrupt");
    let store = FileStore::new(temp.path());
    for (name, bytes) in CORRUPT {
        std::fs::write(file_of(temp.path(), name), bytes).unwrap();
        assert!(
            store.load(&id(name)).await.unwrap().is_none(),
            "{name} is no session"
        );
        // A save that names changed fields does not try to merge into it.
        upsert(&store, &id(name), &record(&[("count", "1")]), &["count"])
            .await
            .unwrap();
        let loaded = store.load(&id(name)).await.unwrap().expect(name);
        assert_eq!(loaded.fields.get("count").unwrap().get(), "1", "{name}");
        assert_eq!(loaded.fields.len(), 1, "{name}");
    }
    // A directory where a session file should be.
    std::fs::create_dir(file_of(temp.path(), "adir")).unwrap();
    assert!(store.load(&id("adir")).await.unwrap().is_none());
}

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

async fn count(mut session: Session<Counter>) -> String {
    session.count += 1;
    session.count.to_string()
}

fn app(store: FileStore) -> Router {
    Router::new()
        .route("/", get(count))
        .layer(SessionLayer::new(store, "file store test secret").name("_fs_demo"))
}

#[tokio::test]
async fn through_the_layer_a_corrupt_file_is_a_new_session_never_a_500() {
    let temp = TempDir::new("layer-corrupt");
    let app = app(FileStore::new(temp.path()));
    let mut client = Client::new(app.clone());
    let first = client.get("/").await;
    assert_eq!((first.status, first.body.as_str()), (StatusCode::OK, "1"));
    let cookie = client.cookie.clone().unwrap();
    assert_eq!(client.get("/").await.body, "2");
    let files = session_files(temp.path());
    assert_eq!(files.len(), 1);
    for (name, bytes) in CORRUPT {
        std::fs::write(&files[0], bytes).unwrap();
        let reply = get_with_cookie(&app, "/", &cookie).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (StatusCode::OK, "1"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn restart_keeps_sessions() {
    let temp = TempDir::new("restart");
    let cookie = {
        let mut client = Client::new(app(FileStore::new(temp.path())));
        client.get("/").await;
        assert_eq!(client.get("/").await.body, "2");
        client.cookie.unwrap()
    };
    // A new store on the same directory, as after a restart.
    let app = app(FileStore::new(temp.path()));
    assert_eq!(get_with_cookie(&app, "/", &cookie).await.body, "3");
}

#[test]
fn ids_that_could_leave_the_directory_are_never_session_ids() {
    for bad in [
        "..",
        "../x",
        "a/b",
        "a\\b",
        "/etc/passwd",
        "a.json",
        "",
        "a\0",
        "é",
    ] {
        assert!(SessionId::parse(bad).is_none(), "{bad:?}");
    }
    assert!(SessionId::parse(&"a".repeat(129)).is_none());
}

#[tokio::test]
async fn ids_stay_inside_the_directory() {
    let temp = TempDir::new("escape");
    let dir = temp.path().join("sessions");
    let store = FileStore::new(&dir);
    // The longest and the most dot-like valid ids are plain file names.
    for sid in ["-", "_", "--", &"a".repeat(128)] {
        upsert(&store, &id(sid), &record(&[]), &[]).await.unwrap();
        assert!(file_of(&dir, sid).is_file());
        store.destroy(&id(sid)).await.unwrap();
    }
    // Nothing was written outside `dir`.
    let outside: Vec<_> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("sessions")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_saves_of_different_fields_keep_each_other() {
    let temp = TempDir::new("merge");
    let store = FileStore::new(temp.path()).with_fsync(false);
    let sid = id("shared");
    upsert(&store, &sid, &record(&[("base", "true")]), &[])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..16 {
        let store = store.clone();
        let sid = sid.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("field{n}");
            for round in 0..10 {
                // Each request saw only the base record, and changed one field.
                let changed = record(&[("base", "true"), (&key, &round.to_string())]);
                upsert(&store, &sid, &changed, &[&key]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let loaded = store.load(&sid).await.unwrap().unwrap();
    for n in 0..16 {
        assert_eq!(
            loaded.fields.get(&format!("field{n}")).unwrap().get(),
            "9",
            "field{n}"
        );
    }
}

#[tokio::test]
async fn touch_refreshes_only_cookie_and_last_access_and_never_resurrects() {
    let temp = TempDir::new("touch");
    let store = FileStore::new(temp.path());
    let sid = id("touched");
    let mut old = record(&[("count", "1")]);
    old.last_access = Some(now_ms() - 60_000);
    upsert(&store, &sid, &old, &[]).await.unwrap();
    // Another request changes the count meanwhile.
    upsert(&store, &sid, &record(&[("count", "5")]), &["count"])
        .await
        .unwrap();
    // A read-only request that loaded count 1 touches the session.
    let mut touched = old.clone();
    let at = now_ms() + 1;
    touched.last_access = Some(at);
    assert_eq!(store.touch(&sid, &touched).await.unwrap(), Updated::Stored);
    let loaded = store.load(&sid).await.unwrap().unwrap();
    assert_eq!(loaded.fields.get("count").unwrap().get(), "5");
    assert_eq!(loaded.last_access, Some(at));
    // A touch after a logout does not bring the session back.
    store.destroy(&sid).await.unwrap();
    assert_eq!(store.touch(&sid, &touched).await.unwrap(), Updated::Gone);
    assert!(store.load(&sid).await.unwrap().is_none());
    assert!(!file_of(temp.path(), "touched").exists());
}

#[tokio::test]
async fn reap_removes_expired_files_and_rereads_only_changed_ones() {
    let temp = TempDir::new("reap");
    let store = FileStore::new(temp.path())
        .with_ttl(Duration::from_secs(60))
        .with_reap_interval(None);
    for n in 0..20 {
        upsert(&store, &id(&format!("live{n}")), &record(&[]), &[])
            .await
            .unwrap();
    }
    let mut dead = record(&[]);
    dead.cookie.original_max_age = Some(1000);
    dead.last_access = Some(now_ms() - 5000);
    for n in 0..5 {
        upsert(&store, &id(&format!("dead{n}")), &dead, &[])
            .await
            .unwrap();
    }
    // Written by another process: the store has never seen these.
    std::fs::write(
        file_of(temp.path(), "foreign-dead"),
        format!(
            r#"{{"cookie":{{"originalMaxAge":null}},"__lastAccess":{}}}"#,
            now_ms() - 120_000
        ),
    )
    .unwrap();
    std::fs::write(file_of(temp.path(), "corrupt-new"), "{").unwrap();
    std::fs::write(temp.path().join("not-a-session.txt"), "x").unwrap();
    std::fs::write(temp.path().join(".interrupted.json.1.2.tmp"), "{").unwrap();

    let stats: ReapStats = store.remove_expired().await.unwrap();
    assert_eq!(stats.scanned, 27);
    assert_eq!(stats.read, 2, "only the files this store has not written");
    assert_eq!(stats.removed, 6);
    assert_eq!(
        stats.stale_temp_removed, 0,
        "a fresh temp file may be a write in progress"
    );
    for n in 0..20 {
        assert!(file_of(temp.path(), &format!("live{n}")).exists());
    }
    for n in 0..5 {
        assert!(!file_of(temp.path(), &format!("dead{n}")).exists());
    }
    assert!(!file_of(temp.path(), "foreign-dead").exists());
    // A corrupt file is removed once it has not changed for the ttl; not yet.
    assert!(file_of(temp.path(), "corrupt-new").exists());
    assert!(temp.path().join("not-a-session.txt").exists());

    // The second reap reads nothing: every file is as the store last saw it.
    let stats = store.remove_expired().await.unwrap();
    assert_eq!((stats.scanned, stats.read, stats.removed), (21, 0, 0));

    // Another process refreshes a session the store thinks is live; then one it
    // last saw as live turns out expired on disk.
    let mut stale = record(&[]);
    stale.cookie.original_max_age = Some(1000);
    stale.last_access = Some(now_ms() - 5000);
    std::fs::write(file_of(temp.path(), "live0"), stale.to_json()).unwrap();
    let stats = store.remove_expired().await.unwrap();
    assert_eq!((stats.read, stats.removed), (1, 1));
}

#[tokio::test]
async fn a_file_rewritten_in_place_at_the_same_length_is_read_again_by_the_reap() {
    let temp = TempDir::new("same-length");
    let store = FileStore::new(temp.path())
        .with_reap_interval(None)
        .with_ttl(Duration::from_secs(3600));
    let written = now_ms();
    let mut live = record(&[]);
    live.last_access = Some(written);
    upsert(&store, &id("s"), &live, &[]).await.unwrap();
    let stats = store.remove_expired().await.unwrap();
    assert_eq!(
        (stats.read, stats.removed),
        (0, 0),
        "the store knows what it wrote"
    );

    // Another process rewrites the file in place (the same inode), two days
    // older and so expired, at exactly the same length: only the
    // modification time tells the store that it changed.
    let path = file_of(temp.path(), "s");
    let on_disk = std::fs::read_to_string(&path).unwrap();
    let older = on_disk.replace(
        &format!("\"__lastAccess\":{written}"),
        &format!("\"__lastAccess\":{}", written - 172_800_000),
    );
    assert_ne!(older, on_disk);
    assert_eq!(older.len(), on_disk.len());
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, older.as_bytes()).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(10))
        .unwrap();
    drop(file);
    let stats = store.remove_expired().await.unwrap();
    assert_eq!((stats.read, stats.removed), (1, 1));
    assert!(!path.exists());
}

#[tokio::test]
async fn reaping_starts_in_the_background() {
    let temp = TempDir::new("reaper");
    let store = FileStore::new(temp.path()).with_reap_interval(Some(Duration::from_millis(50)));
    let mut dead = record(&[]);
    dead.cookie.original_max_age = Some(1000);
    dead.last_access = Some(now_ms() - 5000);
    upsert(&store, &id("dead"), &dead, &[]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while file_of(temp.path(), "dead").exists() {
        assert!(Instant::now() < deadline, "the background reap did not run");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The background reap says what it removed, once per reap that removed
/// something (an expired session, or a temporary file a crash left), and
/// nothing for the reaps that removed nothing.
#[tokio::test(flavor = "current_thread")]
async fn the_background_reap_logs_only_what_it_removed() {
    const SAID: &str = "file store removed expired sessions";
    let logs = support::LogCapture::install();
    let temp = TempDir::new("reaper-log");
    let store = FileStore::new(temp.path()).with_reap_interval(Some(Duration::from_millis(20)));
    let mut dead = record(&[]);
    dead.cookie.original_max_age = Some(1000);
    dead.last_access = Some(now_ms() - 5000);
    upsert(&store, &id("dead"), &dead, &[]).await.unwrap();
    let said = || logs.contents().matches(SAID).count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while said() == 0 {
        assert!(
            Instant::now() < deadline,
            "the reap that removed a session said nothing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Several reaps that remove nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(said(), 1, "{}", logs.contents());
    // A temporary file an interrupted write left two hours ago: removed, and said.
    let leftover = temp
        .path()
        .join(format!(".dead.json.{}.7.tmp", std::process::id()));
    let file = std::fs::File::create(&leftover).unwrap();
    file.set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    drop(file);
    while leftover.exists() || said() < 2 {
        assert!(
            Instant::now() < deadline,
            "the reap that removed a leftover said nothing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(said(), 2, "{}", logs.contents());
}

// ---- Child processes ----------------------------------------------------

/// Runs this test binary again as a child doing `role` on `dir`.
fn spawn_child(role: &str, dir: &Path, extra: &[(&str, &str)]) -> ChildGuard {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_process_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FILE_STORE_CHILD", role)
        .env("FILE_STORE_DIR", dir);
    for (key, value) in extra {
        command.env(key, value);
    }
    let name = format!("{role}{}", extra.first().map_or("", |e| e.1));
    ChildGuard::spawn(&name, command)
}

/// The child processes' body; as an ordinary test (no `FILE_STORE_CHILD`) it does nothing.
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var("FILE_STORE_CHILD") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("FILE_STORE_DIR").unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        match role.as_str() {
            "writer" => {
                // Saves forever, with fsync off to write as fast as possible.
                let store = FileStore::new(&dir).with_fsync(false);
                let payload = format!("\"{}\"", "x".repeat(20_000));
                std::fs::write(dir.join("ready"), "").unwrap();
                for round in 0u64.. {
                    let sid = id(&format!("crash{}", round % 8));
                    let n = round.to_string();
                    let r = record(&[("round", &n), ("payload", &payload)]);
                    upsert(&store, &sid, &r, &["round", "payload"])
                        .await
                        .unwrap();
                }
            }
            "field" => {
                let key = std::env::var("FILE_STORE_FIELD").unwrap();
                let rounds: u64 = std::env::var("FILE_STORE_ROUNDS").unwrap().parse().unwrap();
                let store = FileStore::new(&dir).with_fsync(false);
                let sid = id("two-processes");
                for round in 0..rounds {
                    let r = record(&[(&key, &round.to_string())]);
                    upsert(&store, &sid, &r, &[&key]).await.unwrap();
                }
            }
            other => panic!("unknown child role {other}"),
        }
    });
}

#[test]
fn kill_9_during_a_write_loop_leaves_every_file_whole() {
    let temp = TempDir::new("crash");
    let dir = temp.path().join("sessions");
    std::fs::create_dir(&dir).unwrap();
    for attempt in 0..5 {
        let _ = std::fs::remove_file(dir.join("ready"));
        let mut child = spawn_child("writer", &dir, &[]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !dir.join("ready").exists() {
            assert!(
                child.child.try_wait().unwrap().is_none(),
                "writer exited:\n{}",
                child.output()
            );
            assert!(Instant::now() < deadline, "writer did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Readers during the write loop see whole files only.
        let until = Instant::now() + Duration::from_millis(100 + attempt * 37);
        while Instant::now() < until {
            check_every_file_parses(&dir, "while the writer runs");
        }
        child.kill(); // SIGKILL, mid-write in all likelihood
        assert!(
            check_every_file_parses(&dir, "after kill -9") > 0,
            "the writer wrote nothing"
        );
    }
}

/// Parses every `.json` file in `dir`; returns how many there were.
fn check_every_file_parses(dir: &Path, when: &str) -> usize {
    let mut parsed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // Reading a name while it is being replaced is fine; a missing file is not torn.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{name}: {e}"),
        };
        let record =
            Record::from_json(&text).unwrap_or_else(|e| panic!("{name} is torn {when}: {e}"));
        assert!(record.fields.get("round").is_some(), "{name} {when}");
        assert!(record.last_access.is_some(), "{name} {when}");
        parsed += 1;
    }
    parsed
}

#[test]
fn two_processes_saving_different_fields_of_one_session_lose_nothing() {
    let temp = TempDir::new("two-processes");
    let dir = temp.path().join("sessions");
    let rounds = "300";
    let mut a = spawn_child(
        "field",
        &dir,
        &[("FILE_STORE_FIELD", "a"), ("FILE_STORE_ROUNDS", rounds)],
    );
    let mut b = spawn_child(
        "field",
        &dir,
        &[("FILE_STORE_FIELD", "b"), ("FILE_STORE_ROUNDS", rounds)],
    );
    for child in [&mut a, &mut b] {
        let status = child.wait_for_exit(Duration::from_secs(120));
        assert!(status.success(), "child failed:\n{}", child.output());
    }
    let text = std::fs::read_to_string(file_of(&dir, "two-processes")).unwrap();
    let record = Record::from_json(&text).unwrap();
    assert_eq!(
        record.fields.get("a").map(|v| v.get()),
        Some("299"),
        "{text}"
    );
    assert_eq!(
        record.fields.get("b").map(|v| v.get()),
        Some("299"),
        "{text}"
    );
}

// ---- Hostile input, faults and limits -------------------------------------

#[tokio::test]
async fn a_huge_session_file_is_no_session_and_is_never_read_whole() {
    let temp = TempDir::new("huge");
    let store = FileStore::new(temp.path()).with_reap_interval(None);
    // Sparse: a terabyte on paper, nothing on the disk.
    let file = std::fs::File::create(file_of(temp.path(), "huge")).unwrap();
    file.set_len(1 << 40).unwrap();
    drop(file);
    assert!(store.load(&id("huge")).await.unwrap().is_none());
    // The reap neither reads it nor removes it: it cannot tell whose it is.
    let stats = store.remove_expired().await.unwrap();
    assert_eq!((stats.scanned, stats.removed), (1, 0));
    assert!(file_of(temp.path(), "huge").exists());
    // A save under its id replaces it.
    upsert(&store, &id("huge"), &record(&[("n", "1")]), &["n"])
        .await
        .unwrap();
    assert!(store.load(&id("huge")).await.unwrap().is_some());
}

#[tokio::test]
async fn a_save_larger_than_the_limit_fails_and_writes_nothing() {
    let temp = TempDir::new("limit");
    let store = FileStore::new(temp.path())
        .with_reap_interval(None)
        .with_max_file_size(1000);
    let small = record(&[("n", "1")]);
    upsert(&store, &id("capped"), &small, &["n"]).await.unwrap();
    let before = std::fs::read(file_of(temp.path(), "capped")).unwrap();
    let big_value = format!("\"{}\"", "x".repeat(1000));
    let big = record(&[("n", "1"), ("big", &big_value)]);
    let error = store
        .update(&id("capped"), Update::new(&big, &["big"]))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("`with_max_file_size`"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(file_of(temp.path(), "capped")).unwrap(),
        before
    );
    assert!(store.create(&id("fresh"), &big).await.is_err());
    assert!(!file_of(temp.path(), "fresh").exists());
    // No temporary file is left behind either.
    assert_eq!(session_files(temp.path()).len(), 1);
    // A file just over the limit, written by someone else, is no session.
    std::fs::write(file_of(temp.path(), "over"), big.to_json()).unwrap();
    assert!(store.load(&id("over")).await.unwrap().is_none());
    assert!(
        FileStore::new(temp.path())
            .load(&id("over"))
            .await
            .unwrap()
            .is_some(),
        "within the default limit"
    );
}

/// Writes `bytes` to `path`, last modified an hour ago.
fn write_an_hour_ago(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

#[tokio::test]
async fn the_reap_removes_only_files_that_are_recognisably_sessions() {
    for extension in ["", ".json"] {
        let temp = TempDir::new("reap-foreign");
        let store = FileStore::new(temp.path())
            .with_extension(extension)
            .with_ttl(Duration::from_secs(60))
            .with_reap_interval(None);
        let path = |name: &str| temp.path().join(format!("{name}{extension}"));
        // Never session-shaped: kept, however old, whatever their names.
        let foreign: &[(&str, &[u8])] = &[
            ("notes", b"buy milk"),
            ("README", b"# my app"),
            ("package", br#"{"name":"app","version":"1.0.0"}"#),
            ("empty", b""),
            ("binary", &[0xff, 0xfe, 0x00, 0x01]),
            ("array", b"[1,2,3]"),
        ];
        for (name, bytes) in foreign {
            write_an_hour_ago(&path(name), bytes);
        }
        write_an_hour_ago(&temp.path().join(".gitignore"), b"*");
        write_an_hour_ago(&temp.path().join(".backup.tmp"), b"mine");
        // Session files that no longer parse (begun as every session file
        // begins), an expired session, and a leftover temporary file: removed.
        let dead: &[(&str, &[u8])] = &[
            ("truncated", br#"{"cookie":{"originalMaxAge":1000,"#),
            (
                "nolastaccess",
                br#" { "cookie" :{"originalMaxAge":null},"n":3}"#,
            ),
        ];
        for (name, bytes) in dead {
            write_an_hour_ago(&path(name), bytes);
        }
        let expired = format!(
            r#"{{"cookie":{{"originalMaxAge":null}},"__lastAccess":{}}}"#,
            now_ms() - 120_000
        );
        std::fs::write(path("expired"), expired).unwrap();
        let leftover = temp.path().join(format!(".abc{extension}.12.3.tmp"));
        write_an_hour_ago(&leftover, b"{");
        // A broken session file modified within the ttl: not yet.
        std::fs::write(path("fresh"), br#"{"cookie":{"#).unwrap();

        let stats = store.remove_expired().await.unwrap();
        assert_eq!(
            (stats.removed, stats.stale_temp_removed),
            (3, 1),
            "{extension:?}"
        );
        for (name, _) in foreign {
            assert!(path(name).exists(), "{name}{extension} was removed");
        }
        assert!(temp.path().join(".gitignore").exists());
        assert!(temp.path().join(".backup.tmp").exists());
        assert!(path("fresh").exists());
        for name in ["truncated", "nolastaccess", "expired"] {
            assert!(!path(name).exists(), "{name}{extension} was kept");
        }
        assert!(!leftover.exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_forever_fails_the_call_within_the_lock_timeout() {
    let temp = TempDir::new("held-lock");
    let store = FileStore::new(temp.path())
        .with_reap_interval(None)
        .with_lock_timeout(Duration::from_millis(300));
    upsert(&store, &id("a"), &record(&[]), &[]).await.unwrap();
    // Another process (here: another open file) holds the lock file of the
    // stripe of "a": FNV-1a of the id mod 64, the cross-process protocol.
    let held = std::fs::File::options()
        .read(true)
        .write(true)
        .open(temp.path().join(".locks").join("12"))
        .unwrap();
    held.lock().unwrap();
    let changed = record(&[("n", "2")]);
    let start = Instant::now();
    let saved = tokio::time::timeout(
        Duration::from_secs(5),
        store.update(&id("a"), Update::new(&changed, &["n"])),
    )
    .await
    .expect("the save hung on the held lock");
    let error = saved.unwrap_err();
    assert!(error.to_string().contains("`with_lock_timeout`"), "{error}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(store.destroy(&id("a")).await.is_err());
    // Sessions on other stripes are not held up.
    upsert(&store, &id("foobar"), &changed, &["n"])
        .await
        .unwrap();
    // Released, the session is saved again.
    drop(held);
    let updated = store.update(&id("a"), Update::new(&changed, &["n"])).await;
    assert_eq!(updated.unwrap(), Updated::Stored);
}

/// The layer and routes `examples/counter.rs --store file` builds.
fn counter_demo(store: FileStore, configure: impl FnOnce(SessionLayer) -> SessionLayer) -> Router {
    async fn peek(session: Session<Counter>) -> String {
        session.count.to_string()
    }
    let layer = SessionLayer::new(store, "counter example development secret")
        .name("_fs_demo")
        .max_age(Duration::from_millis(1000 * 60 * 60 * 24 * 365 * 5));
    Router::new()
        .route("/", get(count))
        .route("/peek", get(peek))
        .layer(configure(layer))
}

async fn get_cookieless(app: &Router, path: &str) -> StatusCode {
    support::get_with(app, path, &[]).await.status
}

/// Every entry in `dir`, lock files included, or none when it does not exist.
fn everything_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries.map(|e| e.unwrap().path()).collect()
}

#[tokio::test]
async fn a_bot_without_cookies_cannot_fill_the_disk_of_the_file_store_demo() {
    let temp = TempDir::new("bot");
    let dir = temp.path().join("session-store");
    let app = counter_demo(FileStore::new(&dir), |layer| layer);
    let start = Instant::now();
    for _ in 0..10_000 {
        assert_eq!(get_cookieless(&app, "/peek").await, StatusCode::OK);
    }
    assert!(
        everything_in(&dir).is_empty(),
        "10 000 cookieless GET /peek stored {:?}",
        everything_in(&dir)
    );
    assert!(start.elapsed() < Duration::from_secs(30));

    // What the README says an anonymous client can store: one file per
    // request that modifies its new session (the demo's `GET /`)...
    for _ in 0..20 {
        get_cookieless(&app, "/").await;
    }
    assert_eq!(session_files(&dir).len(), 20);
    // ...and with `save_uninitialized(true)`, one per cookieless request.
    let dir = temp.path().join("save-uninitialized");
    let app = counter_demo(FileStore::new(&dir), |layer| layer.save_uninitialized(true));
    for _ in 0..20 {
        get_cookieless(&app, "/peek").await;
    }
    assert_eq!(session_files(&dir).len(), 20);
}

/// Every log line of this test binary from the first call on: the file store
/// logs from blocking threads, which a thread-local subscriber would miss.
fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOGS: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static std::sync::Mutex<Vec<u8>> =
            Box::leak(Box::new(std::sync::Mutex::new(Vec::new())));
        struct Writer(&'static std::sync::Mutex<Vec<u8>>);
        impl std::io::Write for Writer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Writer(logs))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}

#[tokio::test]
async fn a_file_that_does_not_parse_is_logged_without_its_content() {
    let logs = captured_logs();
    let temp = TempDir::new("log-content");
    let store = FileStore::new(temp.path()).with_reap_interval(None);
    // serde's messages quote the value of a wrong type.
    let files: &[(&str, &str)] = &[
        ("string", r#""hunter2-top-secret""#),
        ("number", "31337424242"),
        (
            "truncated",
            r#"{"cookie":{},"password":"hunter2-top-secret""#,
        ),
    ];
    for (name, content) in files {
        std::fs::write(file_of(temp.path(), name), content).unwrap();
        assert!(store.load(&id(name)).await.unwrap().is_none());
    }
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("31337424242"), "{text}");
    // What is logged: the kind of failure and where.
    assert!(text.contains("line 1, column"), "{text}");
}
