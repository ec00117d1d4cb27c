//! What a session layer adds to a request, with the kernel out of the way
//! (issue #15, bench/README.md):
//!
//! ```text
//! cargo run --release -p session-bench --bin overhead              # about a minute
//! cargo run --release -p session-bench --bin overhead -- --instructions
//! ```
//!
//! Three routers, each driven through `tower::Service::call` on requests
//! built before the clock starts, on a current-thread tokio runtime, no
//! sockets: bare axum (`GET /json`, the counter's answer without a session:
//! the anchor), the counter example on typed sessions' `MemoryStore`, and the
//! same counter on tower-sessions 0.15's `MemoryStore` with signed cookies
//! (as `src/bin/axum-tower-sessions.rs` serves it). Three requests each: a new
//! session (`GET /` without a cookie), a write (`GET /` with one session's
//! cookie: `count += 1`) and a read (`GET /peek`). Each response's body is
//! read to the end, as a server would.
//!
//! For each cell: the time per request (wall clock, and on a CPU in the
//! runtime's thread), the allocations per request (a counting global
//! allocator wraps the system one: every `alloc`, `alloc_zeroed` and
//! `realloc`), and with `--instructions` the instructions per request under
//! callgrind. The *added* cost of an implementation is its cell minus bare
//! axum's in the same round. It asserts nothing about time; it stops with an
//! error if a request does not answer as the counter contract says.

use std::alloc::System;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use session_bench::counter_json;
use session_bench::measure::{
    callgrind, child_or_options, emit, load_average, median, runtime, thread_cpu, utc_now,
};
use session_runtime::{MemoryStore, Session, SessionLayer};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Service, ServiceExt};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The counter example's schema.
#[derive(Session)]
struct Counter {
    #[session(default = 0)]
    count: u64,
}

async fn index(mut session: Session<Counter>) -> impl IntoResponse {
    session.count += 1;
    counter_json(session.count)
}

async fn peek(session: Session<Counter>) -> impl IntoResponse {
    counter_json(session.count)
}

async fn bare_json() -> impl IntoResponse {
    counter_json(1)
}

// ---------------------------------------------------------------- what runs

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Imp {
    Bare,
    Ours,
    Tower,
}

impl Imp {
    const ALL: [Imp; 3] = [Imp::Bare, Imp::Ours, Imp::Tower];

    fn key(self) -> &'static str {
        match self {
            Imp::Bare => "bare",
            Imp::Ours => "ours",
            Imp::Tower => "tower",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Imp::Bare => "axum, no session (`GET /json`)",
            Imp::Ours => "typed sessions, `MemoryStore`",
            Imp::Tower => "tower-sessions 0.15, `MemoryStore`, signed",
        }
    }

    fn router(self) -> Router {
        match self {
            Imp::Bare => Router::new().route("/json", get(bare_json)),
            // The counter example's memory store, as `--store memory` builds it.
            Imp::Ours => Router::new()
                .route("/", get(index))
                .route("/peek", get(peek))
                .layer(
                    SessionLayer::new(MemoryStore::new(), "counter example development secret")
                        .name("_es_demo"),
                ),
            // As src/bin/axum-tower-sessions.rs serves it.
            Imp::Tower => {
                let layer = tower_sessions::SessionManagerLayer::new(
                    tower_sessions::MemoryStore::default(),
                )
                .with_secure(false)
                .with_name("_ts_demo")
                .with_signed(tower_sessions::cookie::Key::from(&[7u8; 64]));
                session_bench::tower_sessions_counter!(tower_sessions::Session, layer)
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    New,
    Write,
    Read,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::New, Scenario::Write, Scenario::Read];

    fn key(self) -> &'static str {
        match self {
            Scenario::New => "new",
            Scenario::Write => "write",
            Scenario::Read => "read",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Scenario::New => "new session `GET /`",
            Scenario::Write => "write `GET /`",
            Scenario::Read => "read `GET /peek`",
        }
    }
}

/// One implementation's router and the cookie of the session its writes and
/// reads use.
struct Target {
    imp: Imp,
    router: Router,
    cookie: Option<String>,
}

impl Target {
    async fn new(imp: Imp) -> Result<Self, String> {
        let mut target = Target {
            imp,
            router: imp.router(),
            cookie: None,
        };
        if imp != Imp::Bare {
            let request = target.request(Scenario::New);
            target.cookie = Some(
                send(&mut target.router, request)
                    .await?
                    .ok_or_else(|| format!("{}: a new session set no cookie", imp.key()))?,
            );
        }
        Ok(target)
    }

    /// The request of `scenario` (bare axum: `GET /json`, whatever the scenario).
    fn request(&self, scenario: Scenario) -> Request<Body> {
        let (uri, cookie) = match (self.imp, scenario) {
            (Imp::Bare, _) => ("/json", None),
            (_, Scenario::New) => ("/", None),
            (_, Scenario::Write) => ("/", self.cookie.as_deref()),
            (_, Scenario::Read) => ("/peek", self.cookie.as_deref()),
        };
        let mut builder = Request::builder().uri(uri);
        if let Some(cookie) = cookie {
            builder = builder.header(COOKIE, cookie);
        }
        builder.body(Body::empty()).expect("a valid request")
    }

    fn requests(&self, scenario: Scenario, n: usize) -> Vec<Request<Body>> {
        (0..n).map(|_| self.request(scenario)).collect()
    }
}

/// Sends `request`, which must answer 200; the session cookie it set, if any
/// (`name=value`).
async fn send(router: &mut Router, request: Request<Body>) -> Result<Option<String>, String> {
    // A `Router` never fails (its error type is `Infallible`).
    let Ok(ready) = ServiceExt::<Request<Body>>::ready(router).await;
    let Ok(response) = ready.call(request).await;
    let status = response.status();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|error| format!("reading a body: {error}"))?;
    if status != StatusCode::OK || !body.starts_with(b"{\"count\": ") {
        return Err(format!(
            "answered {status} {:?}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(cookie)
}

/// Sends each request in turn: the loop the clocks and counters measure.
async fn drive(router: &mut Router, requests: Vec<Request<Body>>) -> Result<(), String> {
    for request in requests {
        send(router, request).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- measuring

struct Plan {
    rounds: usize,
    batch: usize,
    ir_requests: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Plan {
                rounds: 3,
                batch: 2_000,
                ir_requests: 300,
            }
        } else {
            // A batch of about a third of a second: the thread's CPU clock
            // (`schedstat`) moves in scheduler ticks (4 ms here), 1 % of it.
            Plan {
                rounds: 15,
                batch: 50_000,
                ir_requests: 2_000,
            }
        }
    }
}

/// One cell's measures, one value per round.
#[derive(Default)]
struct Cell {
    wall_ns: Vec<f64>,
    cpu_ns: Vec<f64>,
    allocations: Vec<f64>,
    bytes: Vec<f64>,
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn per(total: f64, n: usize) -> f64 {
    total / n as f64
}

/// One batch of `n` requests of `scenario` on `target`, into `cell`.
fn batch(
    runtime: &tokio::runtime::Runtime,
    target: &mut Target,
    scenario: Scenario,
    n: usize,
    cell: &mut Cell,
) -> Result<(), String> {
    let requests = target.requests(scenario, n);
    let region = Region::new(ALLOCATOR);
    let cpu = thread_cpu();
    let start = Instant::now();
    runtime.block_on(drive(&mut target.router, requests))?;
    let wall = start.elapsed();
    let cpu = cpu.zip(thread_cpu()).map(|(before, after)| after - before);
    let change = region.change();
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    {
        cell.wall_ns.push(per(wall.as_nanos() as f64, n));
        cell.cpu_ns
            .extend(cpu.map(|cpu| per(cpu.as_nanos() as f64, n)));
        cell.allocations
            .push(per((change.allocations + change.reallocations) as f64, n));
        cell.bytes.push(per(change.bytes_allocated as f64, n));
    }
    Ok(())
}

/// Every cell, in rounds: each round runs every implementation and scenario
/// once, the order rotated, so that a machine getting busier or calmer shifts
/// all cells alike. Bare axum runs once per scenario and round, so that each
/// added cost is a difference within one round.
fn measure(runtime: &tokio::runtime::Runtime, plan: &Plan) -> Result<Vec<Vec<Cell>>, String> {
    let mut targets = Vec::new();
    for imp in Imp::ALL {
        targets.push(runtime.block_on(Target::new(imp))?);
    }
    let mut cells: Vec<Vec<Cell>> = Imp::ALL
        .iter()
        .map(|_| Scenario::ALL.iter().map(|_| Cell::default()).collect())
        .collect();
    // Warm-up: every path once, at a tenth of a batch.
    for target in &mut targets {
        for scenario in Scenario::ALL {
            let requests = target.requests(scenario, plan.batch / 10);
            runtime.block_on(drive(&mut target.router, requests))?;
        }
    }
    let order: Vec<(usize, usize)> = (0..Imp::ALL.len())
        .flat_map(|i| (0..Scenario::ALL.len()).map(move |s| (i, s)))
        .collect();
    for round in 0..plan.rounds {
        eprintln!("  round {} of {}", round + 1, plan.rounds);
        for k in 0..order.len() {
            let (i, s) = order[(k + round) % order.len()];
            batch(
                runtime,
                &mut targets[i],
                Scenario::ALL[s],
                plan.batch,
                &mut cells[i][s],
            )?;
        }
    }
    Ok(cells)
}

/// The run callgrind counts (`--ir-child IMP SCENARIO N`): `n` requests after
/// a warm-up; only [`measured`] is counted.
fn ir_child(args: &[String]) -> Result<(), String> {
    let [imp, scenario, n] = args else {
        return Err("--ir-child IMP SCENARIO N".to_owned());
    };
    let imp = Imp::ALL
        .into_iter()
        .find(|i| i.key() == imp)
        .ok_or_else(|| format!("unknown implementation {imp:?}"))?;
    let scenario = Scenario::ALL
        .into_iter()
        .find(|s| s.key() == scenario)
        .ok_or_else(|| format!("unknown scenario {scenario:?}"))?;
    let n: usize = n.parse().map_err(|_| format!("not a count: {n:?}"))?;
    let runtime = runtime();
    let mut target = runtime.block_on(Target::new(imp))?;
    let warm_up = target.requests(scenario, 200);
    runtime.block_on(drive(&mut target.router, warm_up))?;
    let requests = target.requests(scenario, n);
    measured(&runtime, &mut target.router, requests)
}

/// The requests callgrind counts (`--toggle-collect=overhead::measured`).
#[inline(never)]
fn measured(
    runtime: &tokio::runtime::Runtime,
    router: &mut Router,
    requests: Vec<Request<Body>>,
) -> Result<(), String> {
    runtime.block_on(drive(router, requests))
}

/// Instructions per request, per implementation and scenario.
fn instructions(n: usize) -> Result<Vec<Vec<f64>>, String> {
    let mut rows = Vec::new();
    for imp in Imp::ALL {
        let mut row = Vec::new();
        for scenario in Scenario::ALL {
            if imp == Imp::Bare && scenario != Scenario::New {
                // The same request whatever the scenario.
                row.push(row[0]);
                continue;
            }
            let args = ["--ir-child", imp.key(), scenario.key(), &n.to_string()].map(str::to_owned);
            let count = callgrind("overhead::measured", &args, n)?;
            eprintln!(
                "  {} {}: {count:.0} instructions per request",
                imp.key(),
                scenario.key()
            );
            row.push(count);
        }
        rows.push(row);
    }
    Ok(rows)
}

// ---------------------------------------------------------------- report

/// Which measure of a cell a table shows.
type Pick = fn(&Cell) -> &Vec<f64>;

/// The added cost of implementation `i` over bare axum, per round.
fn added(cells: &[Vec<Cell>], i: usize, s: usize, pick: Pick) -> Vec<f64> {
    let bare = pick(&cells[0][s]);
    pick(&cells[i][s])
        .iter()
        .zip(bare)
        .map(|(value, bare)| value - bare)
        .collect()
}

fn ratio_verdict(ratio: f64, goal: f64) -> &'static str {
    if ratio <= goal { "met" } else { "**missed**" }
}

fn report(
    plan: &Plan,
    cells: &[Vec<Cell>],
    instructions: Option<&Result<Vec<Vec<f64>>, String>>,
    started: &str,
    load_before: &str,
) -> String {
    let ours = Imp::ALL.iter().position(|&i| i == Imp::Ours).unwrap_or(1);
    let tower = Imp::ALL.iter().position(|&i| i == Imp::Tower).unwrap_or(2);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## In process: what each layer adds to a request (`overhead`)\n\n\
         Started {started}, load average {load_before} before and {} after. \
         {} rounds of {} requests per cell, the order rotated each round; \
         medians of the rounds. *Added* is the cell minus bare axum's in the \
         same round (bare axum answers `GET /json` in every column).\n",
        load_average(),
        plan.rounds,
        plan.batch,
    );
    let measures: [(&str, Pick, &str); 4] = [
        ("time per request, wall clock", |c| &c.wall_ns, "ns"),
        (
            "time per request, on a CPU in the runtime's thread",
            |c| &c.cpu_ns,
            "ns",
        ),
        (
            "allocations per request (alloc and realloc calls)",
            |c| &c.allocations,
            "",
        ),
        ("bytes allocated per request", |c| &c.bytes, "B"),
    ];
    for (title, pick, unit) in measures {
        if pick(&cells[0][0]).is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title}\n");
        let _ = writeln!(
            out,
            "| implementation | {} |\n|---|--:|--:|--:|",
            Scenario::ALL.map(Scenario::describe).join(" | ")
        );
        for (i, imp) in Imp::ALL.iter().enumerate() {
            let mut row = format!("| {} |", imp.describe());
            for s in 0..Scenario::ALL.len() {
                let value = median(pick(&cells[i][s]));
                if i == 0 {
                    let _ = write!(row, " {value:.0} {unit} |");
                } else {
                    let more = median(&added(cells, i, s, pick));
                    let _ = write!(row, " {value:.0} {unit} (+{more:.0}) |");
                }
            }
            let _ = writeln!(out, "{row}");
        }
        let mut row = "| ours' added ÷ tower-sessions' added |".to_owned();
        for s in 0..Scenario::ALL.len() {
            let r = median(&added(cells, ours, s, pick)) / median(&added(cells, tower, s, pick));
            let _ = write!(row, " {r:.2}× |");
        }
        let _ = writeln!(out, "{row}\n");
    }
    match instructions {
        None => {}
        Some(Err(message)) => {
            let _ = writeln!(
                out,
                "### Instructions per request (callgrind)\n\n{message}\n"
            );
        }
        Some(Ok(rows)) => {
            let _ = writeln!(
                out,
                "### Instructions per request (callgrind)\n\n\
                 One run per cell under `valgrind --tool=callgrind`, counting only the \
                 requests (`--toggle-collect`) after 200 of warm-up; steady on a busy \
                 machine. valgrind runs SHA-256 without SHA-NI, so the HMAC weighs more \
                 here than on the real CPU.\n\n\
                 | implementation | {} |\n|---|--:|--:|--:|",
                Scenario::ALL.map(Scenario::describe).join(" | ")
            );
            let bare = &rows[0];
            for (i, imp) in Imp::ALL.iter().enumerate() {
                let mut row = format!("| {} |", imp.describe());
                for (value, bare) in rows[i].iter().zip(bare) {
                    if i == 0 {
                        let _ = write!(row, " {value:.0} |");
                    } else {
                        let _ = write!(row, " {value:.0} (+{:.0}) |", value - bare);
                    }
                }
                let _ = writeln!(out, "{row}");
            }
            let mut row = "| ours' added ÷ tower-sessions' added |".to_owned();
            for ((ours, tower), bare) in rows[ours].iter().zip(&rows[tower]).zip(bare) {
                let r = (ours - bare) / (tower - bare);
                let _ = write!(row, " {r:.2}× |");
            }
            let _ = writeln!(out, "{row}\n");
        }
    }
    let _ = writeln!(
        out,
        "### Goals (issue #15, in process)\n\n| goal | measured | verdict |\n|---|--:|---|"
    );
    let goals: [(&str, Pick); 3] = [
        ("added time (CPU)", |c| &c.cpu_ns),
        ("added time (wall)", |c| &c.wall_ns),
        ("added allocations", |c| &c.allocations),
    ];
    for (name, pick) in goals {
        if pick(&cells[0][0]).is_empty() {
            continue;
        }
        for (s, scenario) in Scenario::ALL.iter().enumerate() {
            let r = median(&added(cells, ours, s, pick)) / median(&added(cells, tower, s, pick));
            let _ = writeln!(
                out,
                "| {name}, {}: ≤ 0.5× tower-sessions' | {r:.2}× | {} |",
                scenario.key(),
                ratio_verdict(r, 0.5)
            );
        }
    }
    let totals = Scenario::ALL.iter().enumerate().map(|(s, scenario)| {
        let r = median(&cells[ours][s].allocations) / median(&cells[tower][s].allocations);
        format!("{} {r:.2}×", scenario.key())
    });
    let _ = writeln!(
        out,
        "\nAllocations per request in all (not only added), ours ÷ tower-sessions': {}.",
        totals.collect::<Vec<_>>().join(", ")
    );
    out
}

// ---------------------------------------------------------------- main

struct Options {
    quick: bool,
    instructions: bool,
    out: Option<PathBuf>,
}

const USAGE: &str = "usage: overhead [--quick] [--instructions] [--out FILE]

  --quick         3 rounds of 2 000 requests per cell (a smoke run)
  --instructions  also count instructions per request under valgrind's callgrind
  --out FILE      also write the markdown report to FILE";

fn options() -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        instructions: false,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--instructions" => options.instructions = true,
            "--out" => options.out = Some(args.next().ok_or(USAGE)?.into()),
            _ => return Err(USAGE.to_owned()),
        }
    }
    Ok(options)
}

fn main() {
    let options = child_or_options(ir_child, options);
    let plan = Plan::new(options.quick);
    let started = utc_now();
    let load_before = load_average();
    eprintln!("overhead: in process (load average {load_before})");
    let runtime = runtime();
    let cells = match measure(&runtime, &plan) {
        Ok(cells) => cells,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(1);
        }
    };
    let instructions = options.instructions.then(|| {
        eprintln!("instructions per request, under callgrind");
        let rows = instructions(plan.ir_requests);
        if let Err(message) = &rows {
            eprintln!("  {message}");
        }
        rows
    });
    let text = report(&plan, &cells, instructions.as_ref(), &started, &load_before);
    emit(&text, options.out.as_deref());
}
