//! Tests that need more than `cargo test` builds: an example program as a
//! real process, or node with the Express fixture's packages.
//!
//! When one is missing, a plain `cargo test` skips the test with a message
//! that says how to run it; `scripts/test.sh` (which CI runs) prepares
//! everything and sets [`REQUIRE_ALL`], and there a missing prerequisite is a
//! failure, so nothing is skipped silently where it counts.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Set by `scripts/test.sh`: every prerequisite must be present.
pub const REQUIRE_ALL: &str = "TYPED_SESSIONS_REQUIRE_ALL";

/// The binary of example `name`, or `None` after saying why the calling test
/// is skipped. A plain `cargo test` builds it; `cargo test --test NAME` does not.
pub fn example_binary(name: &str) -> Option<PathBuf> {
    // target/<profile>/deps/<test binary> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if binary.is_file() {
        Some(binary)
    } else {
        missing(&format!(
            "the example binary {} is not built (`cargo build --examples` builds it)",
            binary.display()
        ))
    }
}

/// `tests/interop` for its session-file-store app (`app.js`), or `None` after
/// saying why the calling test is skipped: it needs `node` and the packages
/// `npm ci` installs there.
pub fn express_fixture() -> Option<PathBuf> {
    fixture_with(&["express", "express-session", "session-file-store"])
}

/// `tests/interop` for its connect-redis app (`app_redis.js`), or `None` after
/// saying why the calling test is skipped: it needs `node` and the packages
/// `npm ci` installs there, connect-redis and its `redis` client among them.
pub fn express_redis_fixture() -> Option<PathBuf> {
    fixture_with(&["express", "express-session", "connect-redis", "redis"])
}

fn fixture_with(packages: &[&str]) -> Option<PathBuf> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        return missing("`node` is not on PATH");
    }
    for package in packages {
        if !fixture.join("node_modules").join(package).is_dir() {
            return missing(&format!(
                "tests/interop/node_modules/{package} is not installed \
                 (`npm ci --prefix tests/interop` installs it)"
            ));
        }
    }
    Some(fixture)
}

/// `Some(())` when every program in `paths` is installed, or `None` after
/// saying why the calling test is skipped; `how` says what installs them.
pub fn programs(paths: &[&str], how: &str) -> Option<()> {
    let absent: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|path| !Path::new(path).is_file())
        .collect();
    if absent.is_empty() {
        return Some(());
    }
    missing(&format!("{} missing ({how})", absent.join(" and ")))
}

/// Fails under `scripts/test.sh`; elsewhere says on stderr that the current
/// test is skipped, and why.
fn missing<T>(what: &str) -> Option<T> {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    assert!(
        std::env::var_os(REQUIRE_ALL).is_none(),
        "{test}: {what}; {REQUIRE_ALL} is set, so this is a failure, not a skip"
    );
    // Straight to the stderr handle: the test harness captures `eprintln!`.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: {what}; `bash scripts/test.sh` prepares and runs every test"
    );
    None
}
