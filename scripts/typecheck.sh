#!/usr/bin/env bash
# Type checks: mypy's stubtest of python/hypernodes/_core.pyi against the compiled module, pyright
# (basic) and mypy over the runnable Python examples and python/tests/typing/usage.py (correct use:
# nothing may be reported), and python/tests/typing/mistakes.py (every deliberate mistake, marked
# with an expect-error comment, must be reported by both checkers, and nothing else).
#
#   ./scripts/typecheck.sh      # needs the extension built into .venv (scripts/test.sh builds it)
#
# Installs pyright (its Node.js comes as a wheel) and mypy into .venv. Takes seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$ROOT"

ensure_venv "pyright[nodejs]==1.1.414" "mypy>=1.20,<1.21"
"$VPY" -c "import hypernodes._core" 2>/dev/null || build

# modal_example.py needs Modal (not installed here): left out.
FILES=(examples/python/quickstart.py examples/python/stdlib_stats.py
    examples/python/daft_example.py python/tests/typing/usage.py)

step "stubtest hypernodes._core" "$VPY" -m mypy.stubtest hypernodes._core
step "pyright (basic)" "$VENV/bin/pyright" --pythonpath "$VPY" "${FILES[@]}"
step "mypy" "$VPY" -m mypy "${FILES[@]}"
step "pyright reports the deliberate mistakes" \
    "$VPY" scripts/_expect_errors.py pyright python/tests/typing/mistakes.py
step "mypy reports the deliberate mistakes" \
    "$VPY" scripts/_expect_errors.py mypy python/tests/typing/mistakes.py

finish scripts/typecheck.sh
