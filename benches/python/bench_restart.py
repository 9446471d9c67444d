"""Cheap after a restart (issue 12, item 3): a fresh process declares a chain of 10 trivial nodes,
builds the pipeline and runs it once against a warm DiskCache. Time per node, from the first
``@node`` to the end of that first run, for this project and for hypernodes 0.4.8 side by side.

    python benches/python/bench_restart.py            # a table
    python benches/python/bench_restart.py --json     # the results as JSON on stdout
    python benches/python/bench_restart.py --quick    # 5 fresh processes each instead of 15

Each measurement is a new interpreter (``python -c``) that imports the library and a module holding
the 10 functions (``f{i}(x{i}) -> x{i} + 1``, a real file, so that a library reading source finds
it) before the clock starts; then ``node(output_name=...)`` on each function, ``Pipeline`` with a
``DiskCache`` on a directory filled by an earlier process, and ``run``; the run must be all hits
(the child checks that no node function was called). This project runs in this interpreter's
environment, hypernodes 0.4.8 in ``benches/.peer-venv-hn`` (see benches/README.md). Goal: this
project's time per node at most 1/10 of hypernodes 0.4.8's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = HERE.parent
CHAIN = 10
GOAL_RATIO = 0.1

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    legacy, cache_dir, mod_dir = sys.argv[1] == "legacy", sys.argv[2], sys.argv[3]
    sys.path.insert(0, mod_dir)
    import hypernodes
    import restart_chain as m
    funcs = [getattr(m, f"f{i}") for i in range(m.CHAIN)]
    t0 = time.perf_counter()
    nodes = [hypernodes.node(output_name=f"x{i + 1}")(f) for i, f in enumerate(funcs)]
    cache = hypernodes.DiskCache(cache_dir)
    if legacy:
        p = hypernodes.Pipeline(nodes=nodes, engine=hypernodes.SeqEngine(cache=cache))
    else:
        p = hypernodes.Pipeline(nodes=nodes, cache=cache)
    out = p.run(inputs={"x0": 0})[f"x{m.CHAIN}"]
    t1 = time.perf_counter()
    print(json.dumps({"seconds": t1 - t0, "out": out, "calls": list(m.CALLS)}))
    """
)


def _module_source() -> str:
    funcs = "".join(
        f"def f{i}(x{i}):\n    CALLS.append({i})\n    return x{i} + 1\n\n\n" for i in range(CHAIN)
    )
    # A deque (a library type, not followed by code identity, so no warning) counts the calls.
    return f"import collections\n\nCHAIN = {CHAIN}\nCALLS = collections.deque()\n\n\n{funcs}"


def _child(python: str, legacy: bool, cache_dir: str, mod_dir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    if legacy:
        env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(
        [python, "-c", _CHILD, "legacy" if legacy else "ours", cache_dir, mod_dir],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "no output")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(label: str, python: str, legacy: bool, runs: int, work: Path) -> dict:
    """Fills a cache in one process, then times `runs` fresh processes against it."""
    mod_dir = work / label.replace(" ", "_")
    mod_dir.mkdir()
    (mod_dir / "restart_chain.py").write_text(_module_source())
    cache_dir = str(mod_dir / "cache")
    try:
        first = _child(python, legacy, cache_dir, str(mod_dir))
        if first["out"] != CHAIN or len(first["calls"]) != CHAIN:
            raise RuntimeError(f"the filling run computed {first}")
        times = []
        for _ in range(runs):
            r = _child(python, legacy, cache_dir, str(mod_dir))
            if r["calls"]:
                raise RuntimeError(f"a run after a restart called nodes {r['calls']}: not all hits")
            times.append(r["seconds"])
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return {"impl": label, "error": f"{type(exc).__name__}: {exc}"}
    median = statistics.median(times)
    return {
        "impl": label,
        "runs": runs,
        "per_node_us": median / CHAIN * 1e6,
        "min_per_node_us": min(times) / CHAIN * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="fewer fresh processes")
    ap.add_argument(
        "--hypernodes-python",
        default=str(BENCHES / ".peer-venv-hn" / "bin" / "python"),
        help="the interpreter of a venv with hypernodes 0.4.8",
    )
    ap.add_argument("--no-peer", action="store_true", help="measure this project only")
    ap.add_argument("--save", metavar="PATH", help="also write the results as JSON to PATH")
    args = ap.parse_args()
    runs = 5 if args.quick else 15
    results = []
    with tempfile.TemporaryDirectory(prefix="hn-restart-") as tmp:
        work = Path(tmp)
        results.append(measure("hypernodes (this project)", sys.executable, False, runs, work))
        if not args.no_peer:
            if Path(args.hypernodes_python).exists():
                results.append(
                    measure("hypernodes 0.4.8", args.hypernodes_python, True, runs, work)
                )
            else:
                results.append(
                    {"impl": "hypernodes 0.4.8", "error": f"{args.hypernodes_python} not found"}
                )
    ours, peer = results[0], results[-1] if len(results) > 1 else {}
    summary = {"suite": "restart", "chain": CHAIN, "goal_ratio": GOAL_RATIO, "results": results}
    if "per_node_us" in ours and "per_node_us" in peer:
        ratio = ours["per_node_us"] / peer["per_node_us"]
        summary["ratio"] = ratio
        summary["goal_met"] = ratio <= GOAL_RATIO
    if args.save:
        Path(args.save).write_text(json.dumps(summary))
    if args.json:
        print(json.dumps(summary))
        return
    print(f"restart: declare + build + first run of a {CHAIN}-node chain on a warm DiskCache")
    for r in results:
        if "error" in r:
            print(f"  {r['impl']:<28} error: {r['error']}")
        else:
            print(
                f"  {r['impl']:<28} {r['per_node_us']:8.1f} us/node (median of {r['runs']} "
                f"processes; best {r['min_per_node_us']:.1f})"
            )
    if "ratio" in summary:
        verdict = "MET" if summary["goal_met"] else "NOT MET"
        print(f"  ratio {summary['ratio']:.3f} (goal <= {GOAL_RATIO}): {verdict}")


if __name__ == "__main__":
    main()
