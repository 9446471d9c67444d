#!/usr/bin/env bash
# Builds everything and runs every test: the Rust test suites (cargo test, with the docs' Rust blocks
# as doc tests), the runnable Python examples as smoke tests, the pytest suite (python/tests), and
# the docs' Python blocks (scripts/run_doc_blocks.py).
#
#   ./scripts/test.sh               # any arguments are passed to pytest
#
# Makes ./.venv if absent and installs the test dependencies into it. Exits non-zero if any step
# fails; every step runs even after an earlier one failed, and the failures are listed at the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$ROOT"

# daft/ray: DaftExecutor tests (native runner and a local Ray cluster); networkx: Pipeline.graph;
# selenium: the interactive page's browser test; pyarrow: DualNode batches as Arrow arrays
ensure_venv pytest "hypothesis>=6.100,<7" numpy "pydantic>=2" "ruff>=0.17,<0.18" cloudpickle tqdm opentelemetry-api opentelemetry-sdk \
    "daft[ray]>=0.7,<0.8" "ray>=2.11,<2.60" networkx selenium pyarrow
build
# Graphviz and Chromium for the visualization tests (a failure here is reported, tests still run).
step "graphviz and chromium" ensure_viz_tools

# The runnable Python examples (modal_example.py needs Modal and an account: not run here).
step "example quickstart.py" "$VPY" examples/python/quickstart.py
step "example stdlib_stats.py" "$VPY" examples/python/stdlib_stats.py
step "example daft_example.py" "$VPY" examples/python/daft_example.py
step "example batch_model.py" "$VPY" examples/python/batch_model.py
step "example visualize_example.py" "$VPY" examples/python/visualize_example.py
step "docs pictures are current" "$VPY" scripts/docs_pictures.py --check
# The code layout list for a fresh process (crates/hypernodes-python/build.rs) matches this build.
step "symbol order is current" "$VPY" scripts/symbol_order.py --check

# hypernodes-python has no Rust tests and links libpython only as an extension module: excluded.
step "cargo test" cargo test --workspace --exclude hypernodes-python --quiet

step "pytest" "$VPY" -m pytest -q python/tests "$@"

# Every Python block of README.md and docs/ (the Rust blocks run as doc tests in cargo test).
step "docs code blocks" "$VPY" scripts/run_doc_blocks.py

finish scripts/test.sh
