//! Micro-benchmarks of the per-request pieces of a session (bench/README.md).
//!
//! ```text
//! cargo bench -p session-bench --bench pieces
//! ```
//!
//! `cargo test --all-targets` runs each once as a smoke test, with the
//! 1M-session store filled to 10k only (the name keeps its argument).

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use divan::Bencher;
use http::{HeaderMap, HeaderValue, header::COOKIE};
use serde_json::value::RawValue;
use session_runtime::__bench::{self, Snapshot};
use session_runtime::store::{Created, Update};
use session_runtime::{
    CookieMeta, MemoryStore, Record, Secrets, Session, SessionId, SessionSchema, SessionStore,
};

fn main() {
    divan::main();
}

/// Whether this is a real run (`cargo bench`) rather than `cargo test`'s smoke run.
fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

const NAME: &str = "_es_demo";

fn secrets() -> Secrets {
    Secrets::new("counter example development secret")
}

/// A request's `Cookie` header carrying a signed session cookie among others,
/// as a browser sends it.
fn cookie_headers(secrets: &Secrets) -> HeaderMap {
    let signed = __bench::sign(secrets, SessionId::generate().as_str());
    let mut value = String::from("theme=dark; _ga=GA1.1.123456789.1700000000; ");
    value.push_str(NAME);
    value.push('=');
    // encodeURIComponent of `s:…`: the colon becomes %3A, as browsers send it back.
    value.push_str(
        &signed
            .replace(':', "%3A")
            .replace('+', "%2B")
            .replace('/', "%2F"),
    );
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(&value).unwrap());
    headers
}

/// Every request with a cookie: find it, percent-decode, verify the HMAC, parse
/// the id, through the function the layer calls.
#[divan::bench]
fn cookie_parse_and_verify(bencher: Bencher) {
    let secrets = secrets();
    let headers = cookie_headers(&secrets);
    bencher.bench_local(|| __bench::verify_cookie(&secrets, black_box(&headers), NAME).unwrap());
}

/// Every new session: a random id, its signature, and the `Set-Cookie` header.
#[divan::bench]
fn id_generate_sign_set_cookie(bencher: Bencher) {
    let secrets = secrets();
    let meta = CookieMeta::default();
    bencher.bench_local(|| {
        let id = SessionId::generate();
        let signed = __bench::sign(&secrets, id.as_str());
        __bench::set_cookie(NAME, &signed, &meta)
    });
}

#[derive(Session)]
struct One {
    #[session(default = 0)]
    count: u64,
}

#[derive(Session, Default)]
struct Twenty {
    count: u64,
    user: Option<u64>,
    name: String,
    email: String,
    role: String,
    locale: String,
    theme: String,
    cart: Vec<String>,
    flags: Vec<u32>,
    visits: u64,
    last_page: String,
    referrer: Option<String>,
    csrf: String,
    tz_offset: i32,
    verified: bool,
    admin: bool,
    score: f64,
    tags: Vec<String>,
    plan: String,
    seen: u64,
}

fn twenty() -> Twenty {
    Twenty {
        user: Some(42),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        role: "member".into(),
        locale: "en-GB".into(),
        theme: "dark".into(),
        cart: vec!["sku-1".into(), "sku-2".into(), "sku-3".into()],
        flags: vec![1, 2, 3, 4],
        last_page: "/account/settings".into(),
        csrf: "b3f1c2d4e5f60718293a4b5c6d7e8f90".into(),
        score: 3.5,
        tags: vec!["beta".into(), "newsletter".into()],
        plan: "pro".into(),
        ..Twenty::default()
    }
}

/// A write request on a 1-field session: snapshot at the first `&mut`, change, diff.
#[divan::bench]
fn snapshot_diff_1_field(bencher: Bencher) {
    let mut value = One::default_session();
    bencher.bench_local(|| {
        let snapshot = Snapshot::take(black_box(&value));
        value.count += 1;
        snapshot.diff(&value)
    });
}

/// The same on a 20-field session where one field changes.
#[divan::bench]
fn snapshot_diff_20_fields(bencher: Bencher) {
    let mut value = twenty();
    bencher.bench_local(|| {
        let snapshot = Snapshot::take(black_box(&value));
        value.count += 1;
        snapshot.diff(&value)
    });
}

fn counter_record(count: u64) -> Record {
    let mut record = Record::default();
    record.last_access = Some(1_764_000_000_000);
    record
        .fields
        .set("count", RawValue::from_string(count.to_string()).unwrap());
    record
}

/// What a store writes for the counter session.
#[divan::bench]
fn record_encode(bencher: Bencher) {
    let record = counter_record(41);
    bencher.bench_local(|| black_box(&record).to_json());
}

/// What a store reads back, then the typed view of it (the load path).
#[divan::bench]
fn record_decode(bencher: Bencher) {
    let json = counter_record(41).to_json();
    bencher.bench_local(|| {
        let record = Record::from_json(black_box(&json)).unwrap();
        One::decode_session(&record.fields).count
    });
}

/// A store holding `n` counter sessions, and their ids.
fn filled_store(rt: &tokio::runtime::Runtime, n: usize) -> (MemoryStore, Vec<SessionId>) {
    let n = if benching() { n } else { n.min(10_000) };
    let store = MemoryStore::new();
    let ids: Vec<SessionId> = (0..n).map(|_| SessionId::generate()).collect();
    rt.block_on(async {
        for (i, id) in ids.iter().enumerate() {
            let created = store.create(id, &counter_record(i as u64)).await.unwrap();
            assert_eq!(created, Created::Stored);
        }
    });
    (store, ids)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// The next id to touch: a scattered walk, so a big store misses the cache as real traffic does.
fn next<'a>(ids: &'a [SessionId], cursor: &AtomicUsize) -> &'a SessionId {
    let i = cursor.fetch_add(7_919, Ordering::Relaxed);
    &ids[i % ids.len()]
}

/// `load` of an existing session from a store holding `n`.
#[divan::bench(args = [1_000, 1_000_000], sample_count = 50)]
fn memory_store_get(bencher: Bencher, n: usize) {
    let rt = runtime();
    let (store, ids) = filled_store(&rt, n);
    let cursor = AtomicUsize::new(0);
    bencher.bench_local(|| rt.block_on(store.load(next(&ids, &cursor))).unwrap());
}

/// `update` of one changed field of an existing session (the counter's write) in a store holding `n`.
#[divan::bench(args = [1_000, 1_000_000], sample_count = 50)]
fn memory_store_put(bencher: Bencher, n: usize) {
    let rt = runtime();
    let (store, ids) = filled_store(&rt, n);
    let cursor = AtomicUsize::new(0);
    let record = counter_record(99);
    bencher.bench_local(|| {
        let update = Update::new(&record, &["count"]);
        rt.block_on(store.update(next(&ids, &cursor), update))
            .unwrap()
    });
}
