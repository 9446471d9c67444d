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


class Impl:
    """One library under test: its interpreter, its module directory and its warm cache."""

    def __init__(self, label: str, python: str, legacy: bool, work: Path) -> None:
        self.label, self.python, self.legacy = label, python, legacy
        self.mod_dir = work / label.replace(" ", "_").replace("(", "").replace(")", "")
        self.mod_dir.mkdir()
        (self.mod_dir / "restart_chain.py").write_text(_module_source())
        self.cache_dir = str(self.mod_dir / "cache")
        self.times: list[float] = []
        self.error: str | None = None

    def fill(self) -> None:
        """The first process: computes every node and fills the cache."""
        first = _child(self.python, self.legacy, self.cache_dir, str(self.mod_dir))
        if first["out"] != CHAIN or len(first["calls"]) != CHAIN:
            raise RuntimeError(f"the filling run computed {first}")

    def restart(self) -> None:
        """One fresh process against the warm cache (all hits)."""
        r = _child(self.python, self.legacy, self.cache_dir, str(self.mod_dir))
        if r["calls"]:
            raise RuntimeError(f"a run after a restart called nodes {r['calls']}: not all hits")
        self.times.append(r["seconds"])

    def result(self) -> dict:
        if self.error is not None:
            return {"impl": self.label, "error": self.error}
        return {
            "impl": self.label,
            "runs": len(self.times),
            "per_node_us": statistics.median(self.times) / CHAIN * 1e6,
            "min_per_node_us": min(self.times) / CHAIN * 1e6,
        }


def measure(impls: list[Impl], runs: int) -> None:
    """Fills each cache, then times `runs` fresh processes of each, interleaved (so that a busy
    moment of a shared machine falls on both alike)."""
    for impl in impls:
        try:
            impl.fill()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            impl.error = f"{type(exc).__name__}: {exc}"
    for _ in range(runs):
        for impl in impls:
            if impl.error is not None:
                continue
            try:
                impl.restart()
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                impl.error = f"{type(exc).__name__}: {exc}"


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
    runs = 5 if args.quick else 21
    results = []
    with tempfile.TemporaryDirectory(prefix="hn-restart-") as tmp:
        work = Path(tmp)
        impls = [Impl("hypernodes (this project)", sys.executable, False, work)]
        missing = None
        if not args.no_peer:
            if Path(args.hypernodes_python).exists():
                impls.append(Impl("hypernodes 0.4.8", args.hypernodes_python, True, work))
            else:
                missing = {
                    "impl": "hypernodes 0.4.8",
                    "error": f"{args.hypernodes_python} not found",
                }
        measure(impls, runs)
        results = [impl.result() for impl in impls] + ([missing] if missing else [])
    ours, peer = results[0], results[-1] if len(results) > 1 else {}
    summary = {"suite": "restart", "chain": CHAIN, "goal_ratio": GOAL_RATIO, "results": results}
    if "per_node_us" in ours and "per_node_us" in peer:
        ratio = ours["per_node_us"] / peer["per_node_us"]
        summary["ratio"] = ratio
        summary["ratio_of_best"] = ours["min_per_node_us"] / peer["min_per_node_us"]
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
        print(
            f"  ratio of medians {summary['ratio']:.3f} (goal <= {GOAL_RATIO}): {verdict}; "
            f"ratio of bests {summary['ratio_of_best']:.3f}"
        )


if __name__ == "__main__":
    main()
