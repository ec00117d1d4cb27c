#!/usr/bin/env bash
# The full test suite on a fresh machine: unit, integration, trybuild and doc tests.
# .ci/run calls this after its lint steps.
set -euo pipefail
cd "$(dirname "$0")/.."

# A plain `cargo test` skips the tests whose example binary or node packages
# are missing; here, after preparing them, a missing one fails the run
# (tests/support/prerequisites.rs).
export TYPED_SESSIONS_REQUIRE_ALL=1

# The Express fixtures of tests/interop.rs and tests/redis_interop.rs (express,
# express-session, session-file-store, connect-redis, redis), pinned by its package-lock.json.
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error

# The example programs: tests run them as real processes, and
# `cargo test --all-targets` builds examples only as test harnesses.
cargo build --examples --all-features

# From Debian, when missing: headless Chromium and chromedriver for
# tests/browser.rs; redis-server and redis-cli for the Redis store's tests
# (they start their own servers on free ports).
packages=()
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    packages+=(chromium chromium-driver)
fi
if [ ! -x /usr/bin/redis-server ] || [ ! -x /usr/bin/redis-cli ]; then
    packages+=(redis-server)
fi
if [ ${#packages[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${packages[@]}" >/dev/null
fi
cargo test --workspace --all-targets --all-features
cargo test --workspace --doc --all-features
