#!/usr/bin/env bash
# The full test suite on a fresh machine: unit, integration, trybuild and doc tests.
# .ci/run calls this after its lint steps.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets --all-features
cargo test --workspace --doc --all-features
