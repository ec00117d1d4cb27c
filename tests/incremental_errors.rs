//! "One error per mistake" under a normal `cargo check`, whose dev profile
//! compiles incrementally. trybuild turns incremental compilation off, and
//! rustc merges same-span errors only then (with it, spans also record their
//! parent item): a derive that raises the same error twice passes the ui suite
//! and still shows the user two errors.
//!
//! Each `tests/ui/fail/*.rs` case must give as many errors here as its
//! `.stderr` shows; each `tests/incremental/*.rs` case gives the count in its
//! first line (`// expected errors: N`): they need serde's derive, which the
//! ui suite's crate lacks. All cases are the bins of one scratch crate under
//! `target/tmp`, checked by one `cargo check --keep-going`, with its own target
//! directory so that reruns only recheck the cases.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Case {
    expected: usize,
    /// Where the expectation comes from, for the failure message.
    source: PathBuf,
}

#[test]
fn every_mistake_is_one_error_with_incremental_compilation() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("incremental-errors");
    let bins = scratch.join("src/bin");
    // Cases removed since the last run must not linger as bins.
    let _ = fs::remove_dir_all(&bins);
    fs::create_dir_all(&bins).unwrap();

    let mut cases = BTreeMap::new();
    for path in rust_files("tests/ui/fail") {
        let stderr = fs::read_to_string(path.with_extension("stderr")).unwrap();
        let expected = stderr.lines().filter(|line| is_error_line(line)).count();
        cases.insert(
            add_bin(&bins, &path),
            Case {
                expected,
                source: path.with_extension("stderr"),
            },
        );
    }
    for path in rust_files("tests/incremental") {
        let source = fs::read_to_string(&path).unwrap();
        let expected = source
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("// expected errors: "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("{} starts with `// expected errors: N`", path.display()));
        cases.insert(
            add_bin(&bins, &path),
            Case {
                expected,
                source: path,
            },
        );
    }
    write_if_changed(&scratch.join("Cargo.toml"), &manifest());
    // The workspace's lock: the same dependency versions, and no registry lookup.
    if !scratch.join("Cargo.lock").exists() {
        fs::copy(
            Path::new(ROOT).join("Cargo.lock"),
            scratch.join("Cargo.lock"),
        )
        .unwrap();
    }

    let output = Command::new(env!("CARGO"))
        .args([
            "check",
            "--bins",
            "--keep-going",
            "--quiet",
            "--message-format=json",
        ])
        .current_dir(&scratch)
        .env("CARGO_INCREMENTAL", "1")
        .env("CARGO_TARGET_DIR", scratch.join("target"))
        .output()
        .unwrap();

    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-message" || message["message"]["level"] != "error" {
            continue;
        }
        let text = message["message"]["message"].as_str().unwrap_or_default();
        if text.starts_with("aborting due to") {
            continue;
        }
        let bin = message["target"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let rendered = message["message"]["rendered"]
            .as_str()
            .unwrap_or(text)
            .to_owned();
        errors.entry(bin).or_default().push(rendered);
    }

    let mut failures = Vec::new();
    for (bin, case) in &cases {
        let found = errors.remove(bin).unwrap_or_default();
        if found.len() != case.expected {
            failures.push(format!(
                "{bin}: {} errors with incremental compilation, {} expected ({})\n{}",
                found.len(),
                case.expected,
                case.source.display(),
                found.join("\n"),
            ));
        }
    }
    for (bin, found) in errors {
        failures.push(format!(
            "{bin}: errors outside the cases\n{}",
            found.join("\n")
        ));
    }
    assert!(
        failures.is_empty(),
        "{}\n\ncargo's stderr:\n{}",
        failures.join("\n\n"),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// A line that starts an error in a `.stderr` file, as trybuild writes them.
fn is_error_line(line: &str) -> bool {
    line.starts_with("error[") || line.starts_with("error:")
}

fn rust_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    files
}

/// Copies the case into the scratch crate; its bin name is its file name.
fn add_bin(bins: &Path, case: &Path) -> String {
    let name = case.file_stem().unwrap().to_str().unwrap().to_owned();
    fs::copy(case, bins.join(format!("{name}.rs"))).unwrap();
    name
}

fn manifest() -> String {
    let runtime = Path::new(ROOT).join("session-runtime");
    format!(
        r#"[package]
name = "incremental-errors"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
session-runtime = {{ path = {runtime:?} }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

[workspace]
"#
    )
}

fn write_if_changed(path: &Path, contents: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(contents) {
        fs::write(path, contents).unwrap();
    }
}
