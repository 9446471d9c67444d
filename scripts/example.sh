#!/usr/bin/env bash
# Builds HyperNodes into ./.venv and runs the main example (examples/python/stdlib_stats.py):
# a nested map over the Python standard library's source files that prints a short summary.
#
#   ./scripts/example.sh            # any arguments are passed to the example
#
# Needs only Rust, Python 3.11 with pip, and gcc. The first run takes a few minutes (release build).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

ensure_venv
build
say "running examples/python/stdlib_stats.py"
exec "$VPY" "$ROOT/examples/python/stdlib_stats.py" "$@"
