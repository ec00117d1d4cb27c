//! The in-process test suites as one test binary, for `cargo mutants`
//! (tests/MUTANTS.md): each mutant then rebuilds and links one test crate
//! instead of fifteen, and their tests run in parallel. Not run by `cargo
//! test` (`test = false` in Cargo.toml); every suite also runs on its own.
//!
//! Three suites stay binaries of their own: `tests/file_store.rs` re-runs
//! itself as a child process by test name, `tests/express_parity/` names its
//! modules from the crate root, and `tests/secrets.rs` swaps the process's
//! panic hook and checks the file a panic names.

#![allow(dead_code, unused_imports)]

#[path = "../app_helpers.rs"]
mod app_helpers;
#[path = "../beyond_express.rs"]
mod beyond_express;
#[path = "../encode_errors.rs"]
mod encode_errors;
#[path = "../exclusive.rs"]
mod exclusive;
#[path = "../flash.rs"]
mod flash;
#[path = "../hostile_input.rs"]
mod hostile_input;
#[path = "../indexes.rs"]
mod indexes;
#[path = "../interleavings.rs"]
mod interleavings;
#[path = "../limits.rs"]
mod limits;
#[path = "../nested_layers.rs"]
mod nested_layers;
#[path = "../out_of_scope.rs"]
mod out_of_scope;
#[path = "../session.rs"]
mod session;
#[path = "../store_faults.rs"]
mod store_faults;
#[path = "../store_kit.rs"]
mod store_kit;
#[path = "../views.rs"]
mod views;
