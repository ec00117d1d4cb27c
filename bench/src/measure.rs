//! What the in-process benchmarks (`src/bin/index-bench.rs`,
//! `src/bin/overhead.rs`) share: the runtime they drive a `Router` on, the
//! clocks they read, callgrind, and the few statistics they report.

use std::time::Duration;

/// A current-thread tokio runtime with I/O and timers: the requests, the
/// layer and the store all run on the calling thread (the file store's I/O on
/// tokio's blocking pool).
///
/// # Panics
/// When the runtime cannot be built.
#[must_use]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The time on a CPU of the calling thread so far
/// (`/proc/thread-self/schedstat`): unlike the wall clock, it leaves out the
/// time other processes had the CPU. `None` where that file does not exist.
#[must_use]
pub fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// The median of `values` (NaN when empty).
#[must_use]
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The 1, 5 and 15-minute load averages, as `/proc/loadavg` gives them.
#[must_use]
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Now, in UTC, to the second (`2026-11-29 17:33:00 UTC`).
#[must_use]
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days.cast_signed() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Instructions per request: runs this program again under
/// `valgrind --tool=callgrind`, with `child_args` (which must make it serve
/// `n` requests inside the function `toggle`, e.g. `overhead::measured`, and
/// nothing else there), and divides callgrind's count inside `toggle` by `n`.
///
/// # Errors
/// When valgrind is missing (the message starts with "not available") or the
/// child fails.
pub fn callgrind(toggle: &str, child_args: &[String], n: usize) -> Result<f64, String> {
    let exe =
        std::env::current_exe().map_err(|error| format!("cannot find this program: {error}"))?;
    let dir = std::env::temp_dir().join(format!("callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| format!("cannot create {dir:?}: {error}"))?;
    let output = std::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!(
            "--callgrind-out-file={}",
            dir.join("out.%p").display()
        ))
        .arg(format!("--toggle-collect={toggle}"))
        .arg(&exe)
        .args(child_args)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => "not available: valgrind is not installed".to_owned(),
        _ => format!("not available: valgrind: {error}"),
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(format!("callgrind run failed: {}", tail.join(" / ")));
    }
    let collected = stderr
        .lines()
        .find_map(|line| line.split("Collected :").nth(1))
        .and_then(|count| count.trim().parse::<f64>().ok())
        .ok_or("callgrind printed no count")?;
    Ok(collected / n as f64)
}

/// The start of a benchmark's `main`: runs the callgrind child when the
/// arguments begin with `--ir-child` (then exits), else parses the options,
/// exiting with status 2 and the message (the usage) when they do not parse.
pub fn child_or_options<O>(
    ir_child: fn(&[String]) -> Result<(), String>,
    options: fn() -> Result<O, String>,
) -> O {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--ir-child") {
        if let Err(message) = ir_child(args.get(2..).unwrap_or_default()) {
            eprintln!("{message}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    options().unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    })
}

/// Prints a benchmark's markdown report, and writes it to `out` too when
/// given, exiting with status 1 when it cannot.
pub fn emit(text: &str, out: Option<&std::path::Path>) {
    print!("{text}");
    if let Some(path) = out
        && let Err(error) = std::fs::write(path, text)
    {
        eprintln!("cannot write {}: {error}", path.display());
        std::process::exit(1);
    }
}
