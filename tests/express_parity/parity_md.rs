//! tests/PARITY.md stays complete and truthful: it maps all 160 express
//! cases, every test it names is a test of this crate (as the harness lists
//! them, so a misspelt or `cfg`'d-out name fails), every test of this crate
//! is named there, and each express block's own tests live in one module that
//! is that block's alone.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const PARITY: &str = include_str!("../PARITY.md");

/// The tests of this crate by path (`options::rolling::default_to_false`), as
/// the test harness lists them; with `ignored`, only the `#[ignore]`d ones.
fn listed(ignored: bool) -> BTreeSet<String> {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--list");
    if ignored {
        command.arg("--ignored");
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?} failed: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

/// The test paths named in `text`: backticked, snake_case, with a `::`.
fn test_names(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| {
            name.contains("::")
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b':')
        })
        .collect()
}

/// The module of a test path: all but its last segment.
fn module_of(test: &str) -> &str {
    test.rsplit_once("::").unwrap().0
}

#[test]
fn maps_every_express_case() {
    let tests = listed(false);
    let ignored = listed(true);
    let mut counts = BTreeMap::<&str, usize>::new();
    let mut numbers = Vec::new();
    // express block → the module of the tests that are the block's own.
    let mut module_of_block = BTreeMap::<&str, &str>::new();
    for line in PARITY.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | # | block | case | status | ours |
        let Some(number) = cells.get(1).and_then(|c| c.parse::<usize>().ok()) else {
            continue;
        };
        numbers.push(number);
        let (block, status, ours) = (cells[2], cells[4], cells[5]);
        *counts.entry(status).or_default() += 1;
        assert!(!ours.is_empty(), "row {number} says nothing");
        let named = test_names(ours);
        if status == "test" {
            assert!(
                ours.starts_with('`') && !named.is_empty(),
                "row {number} is `test` but does not start with the test's name"
            );
        }
        for name in &named {
            assert!(
                tests.contains(*name),
                "row {number} names `{name}`, which is not a test of tests/express_parity/"
            );
        }
        // A row that starts with a test's name is that test's case: it lives
        // in its block's module.
        if let Some(own) = named
            .first()
            .filter(|name| ours.starts_with(&format!("`{name}`")))
        {
            let module = module_of(own);
            let first = *module_of_block.entry(block).or_insert(module);
            assert_eq!(
                module, first,
                "row {number}: `{own}` is not in the module of block {block:?}"
            );
        }
        if ours.contains("[ignored: bug]") {
            let name = named.first().expect("an ignored bug names its test");
            assert!(
                ignored.contains(*name),
                "row {number}: `{name}` is listed as an ignored bug but is not ignored"
            );
        }
    }
    assert_eq!(
        numbers,
        (1..=160).collect::<Vec<_>>(),
        "rows 1 to 160, in order"
    );
    let expected = BTreeMap::from([("differs", 19), ("n/a", 23), ("test", 118)]);
    assert_eq!(
        counts, expected,
        "update the totals at the top of PARITY.md too"
    );
    assert!(PARITY.contains("**118 test**, **19 differs**, **23 n/a**"));

    // One module per block: no two blocks share one.
    let mut block_of_module = BTreeMap::new();
    for (block, module) in &module_of_block {
        if let Some(other) = block_of_module.insert(*module, *block) {
            panic!("blocks {other:?} and {block:?} share the module `{module}`");
        }
    }
    // And nothing here that PARITY.md does not account for.
    let named: BTreeSet<&str> = test_names(PARITY).into_iter().collect();
    let unnamed: Vec<&String> = tests
        .iter()
        .filter(|test| !named.contains(test.as_str()))
        .collect();
    assert!(
        unnamed.is_empty(),
        "tests that tests/PARITY.md does not name: {unnamed:?}"
    );
}
