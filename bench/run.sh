#!/usr/bin/env bash
# The load benchmark in one command (bench/README.md):
#   bench/run.sh [--quick] [--runs N] [--duration S] [--only KEYS] [--skip-build]
set -euo pipefail
exec python3 "$(dirname "$0")/run.py" "$@"
