//! Indexed fields (issue #14), measured: what `#[session(index)]` costs a
//! request, and whether listing and ending one user's sessions stays in
//! proportion to that user's sessions as the store grows (bench/README.md).
//!
//! ```text
//! cargo run --release -p session-bench --bin index-bench -- --stores memory,file
//! cargo run --release -p session-bench --features redis --bin index-bench -- --url redis://127.0.0.1:6379
//! ```
//!
//! Everything runs in this process, on a current-thread tokio runtime (the
//! file store's I/O on tokio's blocking pool), through an axum `Router` with
//! the session layer, driven by `tower::Service::call`: no sockets. It asserts
//! nothing about time; it checks that every request answered as expected and
//! that every list and `destroy_all` found the user's five sessions.

use std::fmt::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use session_bench::measure::{
    callgrind, child_or_options, emit, load_average, median, runtime, thread_cpu, utc_now,
};
use session_runtime::store::{Created, SessionLock, StoreError, Update, Updated};
use session_runtime::{
    FileStore, MemoryStore, Record, Session, SessionId, SessionLayer, SessionStore, Sessions,
};
use tower::{Service, ServiceExt};

const SECRET: &str = "index-bench secret, not for production";

/// The schema under test: `user` indexed.
#[derive(Session)]
struct Indexed {
    #[session(index)]
    user: Option<String>,
    count: u64,
}

/// The same fields, no index.
#[derive(Session)]
struct Plain {
    user: Option<String>,
    count: u64,
}

/// The routes of one schema:
/// - `GET /count`: `count += 1` (the hot path: `user` unchanged; without a
///   cookie, a new anonymous session);
/// - `POST /login/{name}`: a login, as the README writes it: `cycle_id`, then
///   `user = Some(name)`;
/// - `POST /new/{name}`: `user = Some(name)` on a new session (no cookie);
/// - `POST /logout`: `destroy`.
macro_rules! app {
    ($module:ident, $schema:ident) => {
        mod $module {
            use super::*;

            async fn count(mut session: Session<$schema>) -> String {
                session.count += 1;
                session.count.to_string()
            }

            async fn login(Path(name): Path<String>, mut session: Session<$schema>) -> StatusCode {
                if session.cycle_id().await.is_err() {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                session.user = Some(name);
                StatusCode::OK
            }

            async fn new(Path(name): Path<String>, mut session: Session<$schema>) -> StatusCode {
                session.user = Some(name);
                StatusCode::OK
            }

            async fn logout(session: Session<$schema>) -> StatusCode {
                session.destroy();
                StatusCode::OK
            }

            pub(super) fn router(layer: SessionLayer) -> Router {
                Router::new()
                    .route("/count", get(count))
                    .route("/login/{name}", post(login))
                    .route("/new/{name}", post(new))
                    .route("/logout", post(logout))
                    .layer(layer)
            }
        }
    };
}

app!(indexed, Indexed);
app!(plain, Plain);

// ---------------------------------------------------------------- options

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Memory,
    File,
    Redis,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Memory => "memory",
            Kind::File => "file (fsync)",
            Kind::Redis => "Redis",
        }
    }
}

struct Options {
    quick: bool,
    stores: Vec<Kind>,
    url: Option<String>,
    out: Option<PathBuf>,
    instructions: bool,
}

const USAGE: &str = "usage: index-bench [--quick] [--stores memory,file,redis] [--url redis://HOST:PORT] [--out FILE] [--instructions]

  --quick    fewer rounds and runs, 1 000 and 10 000 sessions (a smoke run)
  --stores   which stores (default: memory,file,redis)
  --url      the Redis server (default: $REDIS_URL; Redis is skipped without one)
  --out      also write the markdown report to FILE
  --instructions
             also count the instructions per request of the write path on the
             memory store, under valgrind's callgrind (steady on a busy machine)";

fn options() -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        stores: vec![Kind::Memory, Kind::File, Kind::Redis],
        url: std::env::var("REDIS_URL")
            .ok()
            .filter(|url| !url.is_empty()),
        out: None,
        instructions: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--stores" => {
                options.stores = value("--stores")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|store| match store {
                        "memory" => Ok(Kind::Memory),
                        "file" => Ok(Kind::File),
                        "redis" => Ok(Kind::Redis),
                        other => Err(format!("unknown store {other:?}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--url" => options.url = Some(value("--url")?),
            "--out" => options.out = Some(value("--out")?.into()),
            "--instructions" => options.instructions = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(options)
}

/// How much of everything: the full run or `--quick`.
struct Plan {
    /// Interleaved rounds of the write-path measurement.
    rounds: usize,
    /// What one batch of requests should take, for its size.
    batch_time: Duration,
    /// The most requests in one batch.
    max_batch: usize,
    /// The two store sizes.
    sizes: [usize; 2],
    /// Rounds of `list`, each a chunk of calls on one store then the other.
    list_rounds: usize,
    list_chunk: usize,
    /// Runs of `destroy_all` on each store, alternating.
    destroy_runs: usize,
    /// Requests counted under callgrind, per path and variant.
    ir_requests: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Plan {
                rounds: 3,
                batch_time: Duration::from_millis(20),
                max_batch: 500,
                sizes: [1_000, 10_000],
                list_rounds: 6,
                list_chunk: 5,
                destroy_runs: 7,
                ir_requests: 300,
            }
        } else {
            Plan {
                rounds: 15,
                batch_time: Duration::from_millis(60),
                max_batch: 3_000,
                sizes: [10_000, 100_000],
                list_rounds: 30,
                list_chunk: 10,
                destroy_runs: 41,
                ir_requests: 2_000,
            }
        }
    }
}

// ---------------------------------------------------------------- stores

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("index-bench-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &FsPath {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One store, behind two layers: `measure` as configured for production
/// (the file store with fsync), and `fill`, which only fills it faster (the
/// file store's fill skips fsync; the others are the same store).
struct Built {
    measure: SessionLayer,
    fill: SessionLayer,
    _dir: Option<TempDir>,
}

/// The stores' reaps are kept out of the measurement (the memory store's
/// first reap would come after a day; the file store's is off): they are
/// measured by `file_reap` and the stores' own tests.
const NO_REAP: Duration = Duration::from_secs(24 * 3600);

/// The absolute timeout of [`Setup::PlainStamped`]: long enough never to end a session here.
const A_YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// A store as the layer sees one that keeps no indexes: `S`'s sessions, the
/// trait's default index methods (`supports_indexes()` false). The baseline
/// of an application that indexes nothing.
#[derive(Clone)]
struct Indexless<S>(S);

impl<S: SessionStore> SessionStore for Indexless<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.0.load(id).await
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        self.0.create(id, record).await
    }

    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        self.0.update(id, update).await
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<Updated, StoreError> {
        self.0.touch(id, record).await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.0.destroy(id).await
    }

    async fn destroy_under(&self, id: &SessionId, lock: &SessionLock) -> Result<(), StoreError> {
        self.0.destroy_under(id, lock).await
    }

    fn ttl(&self) -> Duration {
        self.0.ttl()
    }

    fn supports_locking(&self) -> bool {
        self.0.supports_locking()
    }

    async fn lock(
        &self,
        id: &SessionId,
        wait: Duration,
    ) -> Result<Option<SessionLock>, StoreError> {
        self.0.lock(id, wait).await
    }
}

fn layer(store: impl SessionStore + Clone, indexless: bool) -> Result<SessionLayer, String> {
    if indexless {
        return Ok(SessionLayer::new(Indexless(store), SECRET));
    }
    if !store.supports_indexes() {
        return Err(format!(
            "not available: {} keeps no indexes on this build (`supports_indexes()` is false)",
            std::any::type_name_of_val(&store)
        ));
    }
    Ok(SessionLayer::new(store, SECRET))
}

/// The store `kind` (`indexless`: behind [`Indexless`]).
async fn build(kind: Kind, tag: &str, url: Option<&str>, indexless: bool) -> Result<Built, String> {
    match kind {
        Kind::Memory => {
            let store = MemoryStore::new().with_reap_interval(NO_REAP);
            Ok(Built {
                measure: layer(store.clone(), indexless)?,
                fill: layer(store, indexless)?,
                _dir: None,
            })
        }
        Kind::File => {
            let dir = TempDir::new(tag)?;
            let store = FileStore::new(dir.path()).with_reap_interval(None);
            Ok(Built {
                measure: layer(store.clone(), indexless)?,
                fill: layer(store.with_fsync(false), indexless)?,
                _dir: Some(dir),
            })
        }
        Kind::Redis => redis(tag, url, indexless).await,
    }
}

#[cfg(feature = "redis")]
async fn redis(tag: &str, url: Option<&str>, indexless: bool) -> Result<Built, String> {
    use session_runtime::RedisStore;
    let Some(url) = url else {
        return Err("skipped: no Redis URL (`--url` or `REDIS_URL`)".to_owned());
    };
    // Keys of this run only; they expire within an hour.
    let store = RedisStore::builder()
        .prefix(format!("index-bench:{}:{tag}:", std::process::id()))
        .ttl(Duration::from_secs(3600))
        .connect_timeout(Duration::from_secs(2))
        .connect(url)
        .await
        .map_err(|error| format!("not available: {url}: {error}"))?;
    if !store.supports_indexes() {
        // Checked here too, for the indexless variant of the comparison.
        return Err(
            "not available: RedisStore keeps no indexes on this build (`supports_indexes()` is false)"
                .to_owned(),
        );
    }
    Ok(Built {
        measure: layer(store.clone(), indexless)?,
        fill: layer(store, indexless)?,
        _dir: None,
    })
}

#[cfg(not(feature = "redis"))]
async fn redis(_tag: &str, _url: Option<&str>, _indexless: bool) -> Result<Built, String> {
    Err("not available: built without the `redis` feature (`--features redis`)".to_owned())
}

// ---------------------------------------------------------------- requests

struct Reply {
    status: StatusCode,
    /// `name=value` of the session cookie the response set, unless it cleared it.
    cookie: Option<String>,
}

fn request(method: &str, uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::empty()).expect("a valid request")
}

async fn send(router: &mut Router, request: Request<Body>) -> Result<Reply, String> {
    // A `Router` never fails (its error type is `Infallible`).
    let Ok(ready) = ServiceExt::<Request<Body>>::ready(router).await;
    let Ok(response) = ready.call(request).await;
    let status = response.status();
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .next_back()
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.contains("Expires=Thu, 01 Jan 1970"))
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|error| format!("reading a body: {error}"))?;
    Ok(Reply { status, cookie })
}

/// Sends `request`, which must answer 200 (and set a cookie when `new_cookie`).
async fn expect_ok(
    router: &mut Router,
    request: Request<Body>,
    new_cookie: bool,
) -> Result<Option<String>, String> {
    let what = format!("{} {}", request.method(), request.uri());
    let reply = send(router, request).await?;
    if reply.status != StatusCode::OK {
        return Err(format!("{what} answered {}", reply.status));
    }
    if new_cookie && reply.cookie.is_none() {
        return Err(format!("{what} set no session cookie"));
    }
    Ok(reply.cookie)
}

// ---------------------------------------------------------------- write path

#[derive(Clone, Copy, Debug)]
enum WritePath {
    /// A loaded session whose `count` changes, `user` unchanged.
    Hot,
    /// An anonymous session logs in: `cycle_id`, then `user` set.
    Login,
    /// A new session stored with `user` set.
    New,
}

impl WritePath {
    const ALL: [WritePath; 3] = [WritePath::Hot, WritePath::Login, WritePath::New];

    fn describe(self) -> &'static str {
        match self {
            WritePath::Hot => "hot: loaded session, `count += 1`, `user` unchanged",
            WritePath::Login => "login: loaded anonymous session, `cycle_id`, `user` set",
            WritePath::New => "new session stored with `user` set",
        }
    }

    /// Its name on the command line of a callgrind child.
    fn key(self) -> &'static str {
        match self {
            WritePath::Hot => "hot",
            WritePath::Login => "login",
            WritePath::New => "new",
        }
    }
}

/// The routers of the comparison, each on its own store.
const VARIANTS: [(&str, Setup); 4] = [
    ("with", Setup::Indexed),
    ("without", Setup::Plain),
    ("control", Setup::Plain),
    ("indexless", Setup::PlainIndexless),
];
const WITH: usize = 0;
const WITHOUT: usize = 1;
const CONTROL: usize = 2;
const INDEXLESS: usize = 3;

#[derive(Clone, Copy)]
enum Setup {
    /// The schema with `#[session(index)]`.
    Indexed,
    /// The schema without it.
    Plain,
    /// The schema without it, on a store that keeps no indexes.
    PlainIndexless,
    /// The schema without it, on a layer with an absolute timeout, which
    /// stores each session's creation time (`__created`) as a layer with an
    /// indexed field does.
    PlainStamped,
}

/// What a batch took: on the wall clock, and on a CPU in the runtime's thread.
struct Took {
    wall: Duration,
    cpu: Option<Duration>,
}

/// One router of the comparison, on its own store.
struct Variant {
    router: Router,
    /// The cookie of the session the hot path writes.
    hot: String,
    next_user: u64,
    _built: Built,
}

impl Variant {
    async fn new(kind: Kind, tag: &str, url: Option<&str>, setup: Setup) -> Result<Self, String> {
        let indexless = matches!(setup, Setup::PlainIndexless);
        let built = build(kind, tag, url, indexless).await?;
        let layer = built.measure.clone();
        let mut router = match setup {
            Setup::Indexed => indexed::router(layer),
            Setup::Plain | Setup::PlainIndexless => plain::router(layer),
            Setup::PlainStamped => plain::router(layer.absolute_timeout(A_YEAR)),
        };
        let hot = expect_ok(&mut router, request("POST", "/new/alice", None), true)
            .await?
            .unwrap_or_default();
        Ok(Variant {
            router,
            hot,
            next_user: 0,
            _built: built,
        })
    }

    /// A fixed-width user name never used before by this variant.
    fn user(&mut self) -> String {
        self.next_user += 1;
        format!("user{:08}", self.next_user)
    }

    /// `k` requests of `path`, one after another; only they are timed (the
    /// anonymous sessions a login starts from are made before, the sessions
    /// the batch made are logged out after).
    async fn batch(&mut self, path: WritePath, k: usize) -> Result<Took, String> {
        let requests = self.prepare(path, k).await?;
        let cpu = thread_cpu();
        let start = Instant::now();
        let made = run(&mut self.router, requests, path).await?;
        let wall = start.elapsed();
        let cpu = cpu.zip(thread_cpu()).map(|(before, after)| after - before);
        self.clean_up(made).await?;
        Ok(Took { wall, cpu })
    }

    /// The `k` requests of a batch of `path` (for a login, each with the
    /// cookie of an anonymous session made now).
    async fn prepare(&mut self, path: WritePath, k: usize) -> Result<Vec<Request<Body>>, String> {
        let mut requests = Vec::with_capacity(k);
        for _ in 0..k {
            requests.push(match path {
                WritePath::Hot => request("GET", "/count", Some(&self.hot)),
                WritePath::Login => {
                    let anonymous =
                        expect_ok(&mut self.router, request("GET", "/count", None), true)
                            .await?
                            .unwrap_or_default();
                    request("POST", &format!("/login/{}", self.user()), Some(&anonymous))
                }
                WritePath::New => request("POST", &format!("/new/{}", self.user()), None),
            });
        }
        Ok(requests)
    }

    /// Logs out the sessions a batch made.
    async fn clean_up(&mut self, made: Vec<String>) -> Result<(), String> {
        for cookie in made {
            expect_ok(
                &mut self.router,
                request("POST", "/logout", Some(&cookie)),
                false,
            )
            .await?;
        }
        Ok(())
    }
}

/// Sends `requests` one after another; returns the cookies of the sessions
/// they made (none on the hot path).
async fn run(
    router: &mut Router,
    requests: Vec<Request<Body>>,
    path: WritePath,
) -> Result<Vec<String>, String> {
    let new_cookie = !matches!(path, WritePath::Hot);
    let mut made = Vec::new();
    for request in requests {
        let cookie = expect_ok(router, request, new_cookie).await?;
        made.extend(cookie.filter(|_| new_cookie));
    }
    Ok(made)
}

/// Per variant (in [`VARIANTS`]' order), ns per request in each round.
type PerVariant = [Vec<f64>; 4];

struct WriteRow {
    path: WritePath,
    batch: usize,
    rounds: usize,
    wall: PerVariant,
    /// Empty when the thread's CPU time cannot be read.
    cpu: PerVariant,
}

/// The ratio of the medians of variants `a` and `b`.
fn ratio(times: &PerVariant, a: usize, b: usize) -> f64 {
    median(&times[a]) / median(&times[b])
}

/// Each round's ratio of variant `a` to `b`.
fn round_ratios(times: &PerVariant, a: usize, b: usize) -> Vec<f64> {
    times[a].iter().zip(&times[b]).map(|(a, b)| a / b).collect()
}

/// Each path: the batch size from a calibration, then `rounds` rounds of one
/// batch per variant, the order rotated each round.
async fn write_paths(kind: Kind, url: Option<&str>, plan: &Plan) -> Result<Vec<WriteRow>, String> {
    let mut variants = Vec::new();
    for (tag, setup) in VARIANTS {
        variants.push(Variant::new(kind, tag, url, setup).await?);
    }
    let mut rows = Vec::new();
    for path in WritePath::ALL {
        for variant in &mut variants {
            variant.batch(path, 5).await?;
        }
        // Double the probe until it takes a quarter of a batch's time.
        let mut probe = 10;
        let per_request = loop {
            let took = variants[WITHOUT].batch(path, probe).await?.wall;
            if took * 4 >= plan.batch_time || probe >= plan.max_batch {
                break took.as_secs_f64() / probe as f64;
            }
            probe *= 2;
        };
        let batch = ((plan.batch_time.as_secs_f64() / per_request.max(1e-9)) as usize)
            .clamp(10, plan.max_batch);
        eprintln!(
            "  {}: ~{} per request, batches of {batch}",
            path.describe(),
            duration(per_request * 1e9)
        );
        let mut wall: PerVariant = Default::default();
        let mut cpu: PerVariant = Default::default();
        let n = variants.len();
        for round in 0..plan.rounds {
            for offset in 0..n {
                let which = (round + offset) % n;
                let took = variants[which].batch(path, batch).await?;
                wall[which].push(took.wall.as_nanos() as f64 / batch as f64);
                if let Some(on_cpu) = took.cpu {
                    cpu[which].push(on_cpu.as_nanos() as f64 / batch as f64);
                }
            }
        }
        if cpu.iter().any(Vec::is_empty) {
            cpu = Default::default();
        }
        rows.push(WriteRow {
            path,
            batch,
            rounds: plan.rounds,
            wall,
            cpu,
        });
    }
    Ok(rows)
}

// ---------------------------------------------------------------- instructions

/// The comparison of instruction counts (callgrind, memory store).
const IR_VARIANTS: [(&str, Setup); 4] = [
    ("with", Setup::Indexed),
    ("without", Setup::Plain),
    ("stamped", Setup::PlainStamped),
    ("indexless", Setup::PlainIndexless),
];
const IR_STAMPED: usize = 2;
const IR_INDEXLESS: usize = 3;

/// The run callgrind counts (`--ir-child PATH VARIANT N`): `n` requests of
/// `path` on a memory store, after a warm-up; only [`measured`] is counted.
fn ir_child(args: &[String]) -> Result<(), String> {
    let [path, variant, n] = args else {
        return Err("--ir-child PATH VARIANT N".to_owned());
    };
    let path = WritePath::ALL
        .into_iter()
        .find(|p| p.key() == path)
        .ok_or_else(|| format!("unknown path {path:?}"))?;
    let (_, setup) = IR_VARIANTS
        .into_iter()
        .find(|(name, _)| name == variant)
        .ok_or_else(|| format!("unknown variant {variant:?}"))?;
    let n: usize = n.parse().map_err(|_| format!("not a count: {n:?}"))?;
    let runtime = runtime();
    let mut variant = runtime.block_on(Variant::new(Kind::Memory, "ir", None, setup))?;
    runtime.block_on(variant.batch(path, 100))?;
    let requests = runtime.block_on(variant.prepare(path, n))?;
    let made = measured(&runtime, &mut variant.router, requests, path)?;
    runtime.block_on(variant.clean_up(made))
}

/// The requests callgrind counts (`--toggle-collect=index_bench::measured`).
#[inline(never)]
fn measured(
    runtime: &tokio::runtime::Runtime,
    router: &mut Router,
    requests: Vec<Request<Body>>,
    path: WritePath,
) -> Result<Vec<String>, String> {
    runtime.block_on(run(router, requests, path))
}

/// Per path, the instructions per request of each of [`IR_VARIANTS`]:
/// callgrind's count over a child's `n` requests.
type Instructions = Vec<(WritePath, [f64; 4])>;

fn instructions(n: usize) -> Result<Instructions, String> {
    let mut rows = Vec::new();
    for path in WritePath::ALL {
        let mut counts = [0.0; 4];
        for (i, (name, _)) in IR_VARIANTS.iter().enumerate() {
            let args = ["--ir-child", path.key(), name, &n.to_string()].map(str::to_owned);
            counts[i] = callgrind("index_bench::measured", &args, n)?;
            eprintln!(
                "  {} {name}: {:.0} instructions per request",
                path.key(),
                counts[i]
            );
        }
        rows.push((path, counts));
    }
    Ok(rows)
}

// ---------------------------------------------------------------- list and destroy_all

const TARGET: &str = "target";
const VICTIM: &str = "victim";

struct ScaleRow {
    stored: usize,
    fill_secs: f64,
    list: Vec<Duration>,
    destroy: Vec<Duration>,
}

/// Creates the sessions `users` yields (one `POST /new/{user}` each, a
/// new session) through `router`, up to 32 at a time.
async fn fill(router: &Router, users: impl Iterator<Item = String>) -> Result<usize, String> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut made = 0;
    for user in users {
        if tasks.len() >= 32
            && let Some(done) = tasks.join_next().await
        {
            done.map_err(|error| format!("a fill task failed: {error}"))??;
            made += 1;
        }
        let mut router = router.clone();
        tasks.spawn(async move {
            expect_ok(
                &mut router,
                request("POST", &format!("/new/{user}"), None),
                true,
            )
            .await
            .map(drop)
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|error| format!("a fill task failed: {error}"))??;
        made += 1;
    }
    Ok(made)
}

/// The fill's users from session `from` to `to` (exclusive): user `k` has
/// `1 + k % 5` sessions (three on average), in a row.
fn users(from: usize, to: usize) -> impl Iterator<Item = String> {
    (0..)
        .flat_map(|k: usize| std::iter::repeat_n(k, 1 + k % 5))
        .skip(from)
        .take(to - from)
        .map(|k| format!("user{k:08}"))
}

/// A store filled to its size, and its own index's view of it.
struct Filled {
    fill_router: Router,
    sessions: Sessions,
    row: ScaleRow,
    _built: Built,
}

async fn filled(kind: Kind, tag: &str, url: Option<&str>, size: usize) -> Result<Filled, String> {
    let built = build(kind, tag, url, false).await?;
    let fill_router = indexed::router(built.fill.clone());
    let start = Instant::now();
    let mut filled = fill(&fill_router, std::iter::repeat_n(TARGET.to_owned(), 5)).await?;
    filled += fill(&fill_router, users(0, size - 5)).await?;
    let fill_secs = start.elapsed().as_secs_f64();
    eprintln!("  {filled} sessions stored in {fill_secs:.1} s through the layer");
    Ok(Filled {
        fill_router,
        sessions: built.measure.sessions(),
        row: ScaleRow {
            stored: filled,
            fill_secs,
            list: Vec::new(),
            destroy: Vec::new(),
        },
        _built: built,
    })
}

impl Filled {
    async fn list(&self) -> Result<Duration, String> {
        let target = Some(TARGET.to_owned());
        let start = Instant::now();
        let found = self
            .sessions
            .list(Indexed::user_index(), &target)
            .await
            .map_err(|error| format!("list: {error}"))?;
        let took = start.elapsed();
        if found.len() != 5 {
            return Err(format!(
                "list found {} sessions of {TARGET}, not 5",
                found.len()
            ));
        }
        Ok(took)
    }

    /// Makes the 5 sessions of `victim` (not timed), then ends them.
    async fn destroy_all(&self) -> Result<Duration, String> {
        fill(&self.fill_router, std::iter::repeat_n(VICTIM.to_owned(), 5)).await?;
        let victim = Some(VICTIM.to_owned());
        let start = Instant::now();
        let ended = self
            .sessions
            .destroy_all(Indexed::user_index(), &victim)
            .await
            .map_err(|error| format!("destroy_all: {error}"))?;
        let took = start.elapsed();
        if ended != 5 {
            return Err(format!(
                "destroy_all ended {ended} sessions of {VICTIM}, not 5"
            ));
        }
        Ok(took)
    }
}

/// Two stores of the kind, filled to the plan's two sizes, then measured in
/// interleaved rounds (the order rotated), so that a machine that gets
/// busier or calmer meanwhile moves both alike.
async fn scale(kind: Kind, url: Option<&str>, plan: &Plan) -> Result<Vec<ScaleRow>, String> {
    let [small, large] = plan.sizes;
    let mut stores = [
        filled(kind, "small", url, small).await?,
        filled(kind, "large", url, large).await?,
    ];
    for store in &stores {
        for _ in 0..3 {
            store.list().await?;
        }
        store.destroy_all().await?;
    }
    for round in 0..plan.list_rounds {
        for offset in 0..2 {
            let store = &mut stores[(round + offset) % 2];
            for _ in 0..plan.list_chunk {
                let took = store.list().await?;
                store.row.list.push(took);
            }
        }
    }
    for run in 0..plan.destroy_runs {
        for offset in 0..2 {
            let store = &mut stores[(run + offset) % 2];
            let took = store.destroy_all().await?;
            store.row.destroy.push(took);
        }
    }
    Ok(stores.map(|store| store.row).into())
}

// ---------------------------------------------------------------- report

fn nanos(durations: &[Duration]) -> Vec<f64> {
    durations.iter().map(|d| d.as_nanos() as f64).collect()
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// `ns` nanoseconds, in the unit that reads best.
fn duration(ns: f64) -> String {
    if ns < 10_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000.0 {
        format!("{:.0} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The A/A control bounds the noise: the index costs nothing measurable if
/// its ratio is no further above 1 than the control's is from 1 (or 3 %);
/// with a control off by more than 10 %, the run cannot tell.
fn hot_verdict(times: &PerVariant) -> String {
    let cost = ratio(times, WITH, WITHOUT) - 1.0;
    let noise = (ratio(times, CONTROL, WITHOUT) - 1.0).abs().max(0.03);
    if noise > 0.10 {
        format!("inconclusive (A/A noise ±{:.0} %)", noise * 100.0)
    } else if cost <= noise {
        format!("met (within the A/A noise, ±{:.0} %)", noise * 100.0)
    } else {
        format!(
            "missed (+{:.0} %, A/A noise ±{:.0} %)",
            cost * 100.0,
            noise * 100.0
        )
    }
}

/// The instruction counts of the write path (`--instructions`).
fn instruction_table(out: &mut String, instructions: &Result<Instructions, String>, n: usize) {
    let _ = writeln!(
        out,
        "\n### Instructions per request (callgrind, memory store)\n\n\
         Each cell is one run under `valgrind --tool=callgrind` of this program on a memory \
         store: {n} requests after 100 of warm-up, counted alone (`--toggle-collect`), over {n}. \
         Other load does not move the count. Beside the schema with and without the index: \
         without it on a layer with an absolute timeout (a year), which stores each session's \
         creation time (`__created`) as a layer with an indexed field does; and without it on \
         the store that keeps no indexes. Kernel time is not counted.\n"
    );
    let rows = match instructions {
        Ok(rows) => rows,
        Err(message) => {
            let _ = writeln!(out, "{message}");
            return;
        }
    };
    let _ = writeln!(
        out,
        "| request | without index | with index | with / without | without index, `__created` stored / without | indexless store / without |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|");
    for (path, counts) in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | **{:.3}×** | {:.3}× | {:.3}× |",
            path.describe(),
            counts[WITHOUT],
            counts[WITH],
            counts[WITH] / counts[WITHOUT],
            counts[IR_STAMPED] / counts[WITHOUT],
            counts[IR_INDEXLESS] / counts[WITHOUT],
        );
    }
}

/// One table of the write path, from the wall-clock or the CPU times.
fn write_table(out: &mut String, stores: &[StoreReport], cpu: bool) {
    let _ = writeln!(
        out,
        "| store | request | without index | with index | with / without | per-round ratio, median (range) | A/A control | indexless store / without | batch × rounds | verdict |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|---|");
    for store in stores {
        match &store.writes {
            Err(message) => {
                let _ = writeln!(out, "| {} | {message} | | | | | | | | |", store.kind.name());
            }
            Ok(rows) => {
                for row in rows {
                    let times = if cpu { &row.cpu } else { &row.wall };
                    if times[WITH].is_empty() {
                        continue;
                    }
                    let rounds = round_ratios(times, WITH, WITHOUT);
                    let verdict = match row.path {
                        WritePath::Hot => hot_verdict(times),
                        _ => "(one index write)".to_owned(),
                    };
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | **{:.2}×** | {:.2}× ({:.2}–{:.2}) | {:.2}× | {:.2}× | {} × {} | {} |",
                        store.kind.name(),
                        row.path.describe(),
                        duration(median(&times[WITHOUT])),
                        duration(median(&times[WITH])),
                        ratio(times, WITH, WITHOUT),
                        median(&rounds),
                        quantile(&rounds, 0.0),
                        quantile(&rounds, 1.0),
                        ratio(times, CONTROL, WITHOUT),
                        ratio(times, INDEXLESS, WITHOUT),
                        row.batch,
                        row.rounds,
                        verdict,
                    );
                }
            }
        }
    }
}

struct StoreReport {
    kind: Kind,
    load_before: String,
    load_after: String,
    writes: Result<Vec<WriteRow>, String>,
    scale: Result<Vec<ScaleRow>, String>,
}

fn report(
    options: &Options,
    plan: &Plan,
    stores: &[StoreReport],
    instructions: Option<&Result<Instructions, String>>,
    started: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Indexed fields (issue #14): write-path cost, list and `destroy_all`\n"
    );
    let _ = writeln!(
        out,
        "Run started {started}{}; build: {}; current-thread tokio runtime, in process \
         (a `Router` with the session layer driven by `tower::Service::call`, no sockets).\n",
        if options.quick { ", `--quick`" } else { "" },
        if cfg!(debug_assertions) {
            "**debug** (use `--release`)"
        } else {
            "release"
        },
    );
    let _ = writeln!(
        out,
        "| store | load average (1, 5, 15 min) before | after |"
    );
    let _ = writeln!(out, "|---|---|---|");
    for store in stores {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            store.kind.name(),
            store.load_before,
            store.load_after
        );
    }

    let _ = writeln!(
        out,
        "\n## Write path: time per request, with `#[session(index)]` on `user` and without\n"
    );
    let _ = writeln!(
        out,
        "Four routers, each on its own store of the kind: the schema with the index; the same \
         schema without it; without it again (the A/A control: how far two identical setups \
         differ in this run); and without it on the store wrapped so that it keeps no indexes \
         (`supports_indexes()` false: an application on a store without indexes). Each round \
         runs one batch on each, the order rotated; a cell is the median over the rounds of the \
         batch's time per request. Only the requests are timed: the anonymous sessions the \
         logins start from are made before, and every session a batch made is logged out \
         after it.\n"
    );
    let _ = writeln!(out, "### Wall clock\n");
    write_table(&mut out, stores, false);
    let _ = writeln!(
        out,
        "\n### On a CPU, in the runtime's thread\n\n\
         The thread's run time (`/proc/thread-self/schedstat`) over the batch, per request: \
         it leaves out the time other processes had the CPU, so it is the steadier measure of \
         the in-memory work on a busy machine. It leaves out what other threads do: the file \
         store's I/O on tokio's blocking pool, and the time spent waiting for a disk or a \
         server.\n"
    );
    write_table(&mut out, stores, true);
    if let Some(instructions) = instructions {
        instruction_table(&mut out, instructions, plan.ir_requests);
    }

    let [small, large] = plan.sizes;
    let _ = writeln!(
        out,
        "\n## `Sessions::list` and `Sessions::destroy_all` among N stored sessions\n"
    );
    let _ = writeln!(
        out,
        "Two stores per kind, one filled to {} sessions and one to {}, through the layer \
         (`POST /new/{{user}}`: a new session stored with `user` set, `index_insert` then \
         `create`; 32 requests in flight; the file store's fill on a handle with fsync off, the \
         measurement on one with fsync on, both on one directory): users with 1 to 5 sessions \
         each (3 on average), and the user `{TARGET}` with 5. Then {} rounds of {} calls of \
         `list` of `{TARGET}` on each store in turn (each found its 5 sessions), and {} runs of \
         `destroy_all` of `{VICTIM}` on each in turn, whose 5 sessions are made again through \
         the layer before each run (each ended 5); only the calls are timed, after a warm-up. \
         Reaps are off. Goal: {} / {} ≤ 1.2× (the work is the user's sessions, not the \
         store's).\n",
        thousands(small),
        thousands(large),
        plan.list_rounds,
        plan.list_chunk,
        plan.destroy_runs,
        thousands(large),
        thousands(small),
    );
    let _ = writeln!(
        out,
        "| store | sessions stored | fill through the layer | `list` (5 sessions), median (p90) | `destroy_all` (5 sessions), median (p90) |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|");
    let mut goals = Vec::new();
    for store in stores {
        match &store.scale {
            Err(message) => {
                let _ = writeln!(out, "| {} | {message} | | | |", store.kind.name());
            }
            Ok(rows) => {
                for row in rows {
                    let list = nanos(&row.list);
                    let destroy = nanos(&row.destroy);
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.1} s ({:.0}/s) | {} ({}) | {} ({}) |",
                        store.kind.name(),
                        thousands(row.stored),
                        row.fill_secs,
                        row.stored as f64 / row.fill_secs,
                        duration(median(&list)),
                        duration(quantile(&list, 0.9)),
                        duration(median(&destroy)),
                        duration(quantile(&destroy, 0.9)),
                    );
                }
                if let [first, last] = &rows[..] {
                    let ratio =
                        |a: &[Duration], b: &[Duration]| median(&nanos(b)) / median(&nanos(a));
                    goals.push((
                        store.kind.name(),
                        ratio(&first.list, &last.list),
                        ratio(&first.destroy, &last.destroy),
                    ));
                }
            }
        }
    }
    if !goals.is_empty() {
        let verdict = |ratio: f64| if ratio <= 1.2 { "met" } else { "missed" };
        let _ = writeln!(
            out,
            "\n| store | `list`: {} / {} | `destroy_all`: {} / {} |",
            thousands(large),
            thousands(small),
            thousands(large),
            thousands(small)
        );
        let _ = writeln!(out, "|---|--:|--:|");
        for (name, list, destroy) in goals {
            let _ = writeln!(
                out,
                "| {name} | **{list:.2}×** ({}) | **{destroy:.2}×** ({}) |",
                verdict(list),
                verdict(destroy)
            );
        }
    }
    out
}

// ---------------------------------------------------------------- main

fn main() {
    let options = child_or_options(ir_child, options);
    let plan = Plan::new(options.quick);
    let runtime = runtime();
    let started = utc_now();
    let mut stores = Vec::new();
    for &kind in &options.stores {
        let load_before = load_average();
        eprintln!("{}: write path (load average {load_before})", kind.name());
        let url = options.url.as_deref();
        let writes = runtime.block_on(write_paths(kind, url, &plan));
        if let Err(message) = &writes {
            eprintln!("  {message}");
        }
        eprintln!("{}: list and destroy_all", kind.name());
        let scale = match &writes {
            // The same store would fail the same way.
            Err(message) => Err(message.clone()),
            Ok(_) => runtime.block_on(scale(kind, url, &plan)),
        };
        if let Err(message) = &scale {
            eprintln!("  {message}");
        }
        stores.push(StoreReport {
            kind,
            load_before,
            load_after: load_average(),
            writes,
            scale,
        });
    }
    let instructions = options.instructions.then(|| {
        let load_before = load_average();
        eprintln!("memory: instructions per request, under callgrind (load average {load_before})");
        let counts = instructions(plan.ir_requests);
        if let Err(message) = &counts {
            eprintln!("  {message}");
        }
        counts
    });
    let text = report(&options, &plan, &stores, instructions.as_ref(), &started);
    emit(&text, options.out.as_deref());
}
