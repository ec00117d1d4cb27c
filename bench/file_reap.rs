//! FileStore reap benchmark: how long a reap of many session files takes, and
//! what it does to request latency meanwhile.
//!
//! ```text
//! cargo bench --bench file_reap               # 100 000 files
//! cargo bench --bench file_reap -- 20000      # another count
//! ```
//!
//! `cargo test --all-targets` runs it as a smoke test with 1 000 files. It
//! prints numbers and asserts none: timings depend on the machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use axum::routing::get;
use session_runtime::{FileStore, Session, SessionLayer};
use tower::ServiceExt as _;

#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

async fn count(mut session: Session<Counter>) -> String {
    session.count += 1;
    session.count.to_string()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `files` session files as another process would have written them; one in ten expired.
fn populate(dir: &Path, files: usize) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    let now = now_ms();
    let mut expired = 0;
    for n in 0..files {
        let dead = n % 10 == 0;
        expired += usize::from(dead);
        let last_access = if dead { now - 7_200_000 } else { now - 60_000 };
        let text = format!(
            r#"{{"cookie":{{"originalMaxAge":3600000,"expires":null,"httpOnly":true,"path":"/"}},"count":{n},"user":{{"name":"user{n}","tags":["a","b"]}},"__lastAccess":{last_access}}}"#
        );
        std::fs::write(dir.join(format!("bench{n:0>27}.json")), text).unwrap();
    }
    expired
}

async fn request(app: &Router, cookie: Option<&str>) -> (Duration, Option<String>) {
    let mut builder = Request::get("/");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    let start = Instant::now();
    let response = app
        .clone()
        .oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(response.status().is_success());
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let _ = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (start.elapsed(), cookie)
}

struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&mut self, p: f64) -> Duration {
        self.0.sort();
        let index = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[index]
    }

    fn summary(&mut self) -> String {
        format!(
            "{:>5} requests  p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
            self.0.len(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(1.0)
        )
    }
}

/// Requests one after another, cycling through `cookies`, until `done` (or `count` requests).
async fn load(app: &Router, cookies: &[String], done: impl Fn(usize) -> bool) -> Latencies {
    let mut latencies = Vec::new();
    let mut n = 0;
    while !done(n) {
        let (elapsed, _) = request(app, Some(&cookies[n % cookies.len()])).await;
        latencies.push(elapsed);
        n += 1;
    }
    Latencies(latencies)
}

async fn reap_under_load(label: &str, store: &FileStore, app: &Router, cookies: &[String]) {
    let reaper = store.clone();
    let reap = tokio::spawn(async move {
        let start = Instant::now();
        let stats = reaper.remove_expired().await.unwrap();
        (start.elapsed(), stats)
    });
    let mut latencies = load(app, cookies, |_| reap.is_finished()).await;
    let (took, stats) = reap.await.unwrap();
    println!(
        "{label}: reap {took:>9.2?}  (scanned {}, read {}, removed {})",
        stats.scanned, stats.read, stats.removed
    );
    if latencies.0.is_empty() {
        println!("{label}: no request completed during the reap");
    } else {
        println!("{label}: during the reap {}", latencies.summary());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|a| a == "--bench");
    let files = args
        .iter()
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(if benching { 100_000 } else { 1_000 });
    let dir: PathBuf = std::env::temp_dir().join(format!("file-reap-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let start = Instant::now();
    let expired = populate(&dir, files);
    println!(
        "{files} session files ({expired} expired) written in {:.2?} to {}",
        start.elapsed(),
        dir.display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Defaults (fsync on), no background reap: the benchmark starts the reaps.
        let store = FileStore::new(&dir).with_reap_interval(None);
        let app = Router::new().route("/", get(count)).layer(
            SessionLayer::new(store.clone(), "bench secret")
                .name("_fs_demo")
                .max_age(Duration::from_secs(3600)),
        );
        let mut cookies = Vec::new();
        for _ in 0..32 {
            cookies.push(request(&app, None).await.1.unwrap());
        }
        let idle_requests = if benching { 2_000 } else { 200 };
        let mut idle = load(&app, &cookies, |n| n >= idle_requests).await;
        println!("idle: {}", idle.summary());
        reap_under_load(
            "first reap (cold: reads every file)",
            &store,
            &app,
            &cookies,
        )
        .await;
        reap_under_load("second reap (warm: stat only)", &store, &app, &cookies).await;
        let mut idle = load(&app, &cookies, |n| n >= idle_requests).await;
        println!("idle again: {}", idle.summary());
    });
    let _ = std::fs::remove_dir_all(&dir);
}
