#!/usr/bin/env bash
# The full test suite on a fresh machine: unit, integration, trybuild and doc tests.
# .ci/run calls this after its lint steps.
set -euo pipefail
cd "$(dirname "$0")/.."

# The example programs first: tests run them as real processes.
cargo build --examples --all-features
cargo test --workspace --all-targets --all-features
cargo test --workspace --doc --all-features
