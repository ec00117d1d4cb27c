//! Compile-time behaviour of `#[derive(Session)]`: every misuse is one error on
//! the user's own token (`tests/ui/fail`), and the supported shapes compile
//! (`tests/ui/pass`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
