"""Orchestration overhead of this project's Python API, side by side with hypernodes 0.4.8 and pipefunc.

This project is measured in-process, with the interpreter running this script (it must be able to
`import hypernodes`, i.e. run it from the project's venv after `maturin develop --release`). Each peer
is measured by its own small script (peer_*.py) run as a subprocess in the peer's own venv, since
hypernodes 0.4.8 shares our import name. Every script measures the same workload with _common.measure.

    python benches/python/bench_overhead.py            # a table
    python benches/python/bench_overhead.py --json     # the results as JSON on stdout

`benches/run` creates the peer venvs and calls this with --json, then prints the combined table.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from _common import run_peer

HERE = Path(__file__).resolve().parent
BENCHES = HERE.parent

PEERS = {
    # key: (label, script, default python)
    "hypernodes": (
        "hypernodes 0.4.8",
        "peer_hypernodes_048.py",
        BENCHES / ".peer-venv-hn" / "bin" / "python",
    ),
    "pipefunc": ("pipefunc", "peer_pipefunc.py", BENCHES / ".peer-venv" / "bin" / "python"),
}


def measure_ours(quick: bool, build_budget: float) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    try:
        import _common
        import hypernodes

        if not hasattr(hypernodes, "NodeExecutor"):
            raise RuntimeError(
                f"`import hypernodes` found {getattr(hypernodes, '__file__', '?')}, which is not this project "
                "(no NodeExecutor); run from the project venv after `maturin develop --release`"
            )
        result = _common.measure(
            _common.HypernodesStyle("this project"), quick=quick, build_budget_s=build_budget
        )
        result["version"] = getattr(hypernodes, "__version__", result["version"])
        return result
    except Exception as exc:  # noqa: BLE001 - any failure is reported in the table; peers still run
        traceback.print_exc(file=sys.stderr)
        return {"impl": "this project", "error": f"{type(exc).__name__}: {exc}"}


def measure_peer(
    key: str, python: str, quick: bool, build_budget: float, timeout: float
) -> dict[str, Any]:
    label, script, _ = PEERS[key]
    args = (["--quick"] if quick else []) + ["--build-budget", str(build_budget)]
    return run_peer(label, python, HERE / script, args, timeout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--json", action="store_true", help="print the results as JSON instead of a table"
    )
    ap.add_argument(
        "--quick", action="store_true", help="short runs, for a smoke test (noisy numbers)"
    )
    ap.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma-separated peers to measure (default: {','.join(PEERS)})",
    )
    ap.add_argument("--no-ours", action="store_true", help="measure the peers only")
    for key, (label, _, default) in PEERS.items():
        ap.add_argument(
            f"--{key}-python", default=str(default), help=f"interpreter of the {label} venv"
        )
    ap.add_argument(
        "--build-budget",
        type=float,
        default=20.0,
        help="seconds each implementation may spend on the 10,000-node build measurement (default 20)",
    )
    ap.add_argument(
        "--timeout", type=float, default=240.0, help="seconds allowed per peer subprocess"
    )
    args = ap.parse_args(argv)

    results = []
    if not args.no_ours:
        results.append({**measure_ours(args.quick, args.build_budget), "role": "ours"})
    for key in filter(None, args.peers.split(",")):
        if key not in PEERS:
            ap.error(f"unknown peer {key!r}; known: {', '.join(PEERS)}")
        python = getattr(args, f"{key}_python")
        results.append(
            {
                **measure_peer(key, python, args.quick, args.build_budget, args.timeout),
                "role": "peer",
            }
        )

    doc = {"suite": "python-overhead", "quick": args.quick, "results": results}
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        import report

        print(report.render(doc, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
