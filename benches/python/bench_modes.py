"""Execution modes of this project's NodeExecutor (issue 3): map speedups over sequential, and the
per-item overhead of the "parallel" map against pipefunc's parallel map.

    python benches/python/bench_modes.py            # a table
    python benches/python/bench_modes.py --json     # the results as JSON on stdout

What is measured (this project in-process; pipefunc in its venv, by peer_pipefunc_modes.py):

- ``cpu_parallel``: a pure-Python loop of about 20 ms per item (calibrated at start-up), mapped over
  40 items with ``NodeExecutor(map_execution="parallel", max_workers=2)`` against
  ``map_execution="sequential"``. *Warm*: the worker processes already run (one map first); the
  sequential and parallel samples alternate, speedup = median(sequential) / median(parallel).
  *Cold*: the first parallel map after ``hypernodes._parallel.shutdown()``, which starts the
  processes. A control runs the same items without HyperNodes, by hand and on a plain
  ``ProcessPoolExecutor(2)``, in the same rounds: what this machine allows at that moment.
- ``io_threaded`` / ``io_async``: 64 items sleeping 50 ms each (``time.sleep`` in a plain function
  for "threaded", ``await asyncio.sleep`` in an ``async def`` node for "async"), ``max_workers=16``,
  against the same node mapped sequentially.
- ``parallel_overhead``: a trivial node (``x + 1``) mapped over 2,000 items in 2 worker processes,
  warm; overhead per item = (time of the map - the same calls by hand) / items. pipefunc:
  ``pipeline.map(..., parallel=True, executor=ProcessPoolExecutor(2), storage="dict")`` with one
  executor kept across calls (warm, as ours).

The node functions below live in this module (stdlib only), so that worker processes import them by
name; the loop count and the sleep time travel as broadcast inputs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from _common import run_peer

HERE = Path(__file__).resolve().parent
BENCHES = HERE.parent

CPU_ITEMS = 40
CPU_ITEM_S = 0.020
CPU_WORKERS = 2
IO_ITEMS = 64
IO_SLEEP_S = 0.050
IO_WORKERS = 16
OVERHEAD_ITEMS = 2_000
OVERHEAD_WORKERS = 2

PEERS = {
    "pipefunc": ("pipefunc", "peer_pipefunc_modes.py", BENCHES / ".peer-venv" / "bin" / "python")
}


# --- the node functions (imported by name in worker processes) ---------------------------------


def burn(x: int, loops: int) -> int:
    """CPU-bound pure Python: ``loops`` steps of an integer hash."""
    h = x
    for i in range(loops):
        h = (h * 31 + i) & 0xFFFFFFFF
    return h


def nap(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x


async def anap(x: int, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return x


def inc(x: int) -> int:
    return x + 1


def calibrate_burn(target_s: float) -> int:
    """Loops of :func:`burn` that take about ``target_s`` seconds here (median of 3 tries)."""
    loops = 10_000
    while True:
        t0 = time.perf_counter()
        burn(1, loops)
        dt = time.perf_counter() - t0
        if dt >= 0.005:
            break
        loops *= 4
    tries = []
    for _ in range(3):
        t0 = time.perf_counter()
        burn(1, loops)
        tries.append(time.perf_counter() - t0)
    return max(1, int(loops * target_s / statistics.median(tries)))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def med(samples: list[float]) -> float:
    return statistics.median(samples)


# --- this project ----------------------------------------------------------------------------


def _map(hn, fn, mode: str, workers: int, xs: list[int], **broadcast: Any) -> list[Any]:
    p = hn.Pipeline(
        nodes=[hn.node(output_name="y")(fn)],
        executor=hn.NodeExecutor(
            node_execution="sequential", map_execution=mode, max_workers=workers
        ),
    )
    return [r["y"] for r in p.map(inputs={"x": xs, **broadcast}, map_over="x")]


def measure_cpu(hn, wl, quick: bool) -> dict[str, Any]:
    from concurrent.futures import ProcessPoolExecutor

    import hypernodes._parallel as par

    items = 12 if quick else CPU_ITEMS
    repeat = 2 if quick else 5
    loops = calibrate_burn(CPU_ITEM_S)
    xs = list(range(items))
    expected = [wl.burn(x, loops) for x in xs]

    def run(mode: str) -> list[int]:
        return _map(hn, wl.burn, mode, CPU_WORKERS, xs, loops=loops)

    # cold: the first parallel map starts the worker processes
    cold = []
    for _ in range(1 if quick else 2):
        par.shutdown()
        t0 = time.perf_counter()
        got = run("parallel")
        cold.append(time.perf_counter() - t0)
        if got != expected:
            raise AssertionError("parallel map returned wrong values")
    if run("sequential") != expected:
        raise AssertionError("sequential map returned wrong values")
    # rounds: sequential, parallel, then the control (by hand; a plain process pool, warm)
    seq, parallel, hand, pool_s = [], [], [], []
    with ProcessPoolExecutor(CPU_WORKERS) as pool:
        chunk = max(1, items // (CPU_WORKERS * 4))

        def by_pool() -> list[int]:
            return list(pool.map(wl.burn, xs, [loops] * items, chunksize=chunk))

        if by_pool() != expected:
            raise AssertionError("the control returned wrong values")
        for _ in range(repeat):
            seq.append(timed(lambda: run("sequential")))
            parallel.append(timed(lambda: run("parallel")))
            hand.append(timed(lambda: [wl.burn(x, loops) for x in xs]))
            pool_s.append(timed(by_pool))
    return {
        "items": items,
        "workers": CPU_WORKERS,
        "item_s": med(hand) / items,
        "sequential_s": {"median": med(seq), "samples": seq},
        "parallel_s": {"median": med(parallel), "samples": parallel},
        "speedup": med(seq) / med(parallel),
        "cold_parallel_s": {"median": med(cold), "samples": cold},
        "cold_speedup": med(seq) / med(cold),
        "control": {
            "by_hand_s": med(hand),
            "process_pool_s": med(pool_s),
            "speedup": med(hand) / med(pool_s),
        },
    }


def measure_io(hn, wl, mode: str, quick: bool) -> dict[str, Any]:
    items = 32 if quick else IO_ITEMS
    sleep_s = 0.02 if quick else IO_SLEEP_S
    fn = wl.anap if mode == "async" else wl.nap
    xs = list(range(items))

    def run(m: str) -> list[int]:
        return _map(hn, fn, m, IO_WORKERS, xs, seconds=sleep_s)

    if run(mode) != xs:  # warm-up, and a check
        raise AssertionError(f"{mode} map returned wrong values")
    seq, conc = [], []
    # the sequential map is slow (items x sleep) and steady: fewer samples of it
    for i in range(3 if quick else 4):
        conc.append(timed(lambda: run(mode)))
        if i < (1 if quick else 2):
            seq.append(timed(lambda: run("sequential")))
    return {
        "mode": mode,
        "items": items,
        "sleep_s": sleep_s,
        "workers": IO_WORKERS,
        "sequential_s": {"median": med(seq), "samples": seq},
        "mode_s": {"median": med(conc), "samples": conc},
        "speedup": med(seq) / med(conc),
        "ideal_speedup": items / -(-items // IO_WORKERS),
    }


def measure_overhead(map_fn, inc_fn, quick: bool) -> dict[str, Any]:
    """Per-item overhead of a parallel map of ``inc``; ``map_fn(xs)`` returns the outputs."""
    items = 500 if quick else OVERHEAD_ITEMS
    repeat = 3 if quick else 7
    xs = list(range(items))
    if list(map_fn(xs)) != [x + 1 for x in xs]:  # warm-up (starts the workers), and a check
        raise AssertionError("parallel map returned wrong values")
    maps = [timed(lambda: map_fn(xs)) for _ in range(repeat)]
    hand = min(timed(lambda: [inc_fn(x) for x in xs]) for _ in range(5))
    return {
        "items": items,
        "workers": OVERHEAD_WORKERS,
        "map_s": {"median": med(maps), "best": min(maps), "samples": maps},
        "by_hand_s": hand,
        "overhead_per_item_s": {
            "median": (med(maps) - hand) / items,
            "best": (min(maps) - hand) / items,
        },
    }


def measure_ours(quick: bool, only: set[str]) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    result: dict[str, Any] = {"impl": "this project", "python": platform.python_version()}
    try:
        import bench_modes as wl  # by name, so that worker processes import the nodes
        import hypernodes as hn

        if not hasattr(hn, "NodeExecutor"):
            raise RuntimeError(
                f"`import hypernodes` found {getattr(hn, '__file__', '?')}, which is not this "
                "project; run from the project venv after `maturin develop --release`"
            )
        from importlib.metadata import version

        result["version"] = version("hypernodes")
    except Exception as exc:  # noqa: BLE001 - reported in the table
        traceback.print_exc(file=sys.stderr)
        return {**result, "error": f"{type(exc).__name__}: {exc}"}

    def trap(key: str, fn) -> None:
        if only and key not in only:
            return
        try:
            result[key] = fn()
        except Exception as exc:  # noqa: BLE001 - one failing measurement does not stop the rest
            traceback.print_exc(file=sys.stderr)
            result[key] = {"error": f"{type(exc).__name__}: {exc}"}

    def parallel_inc(xs: list[int]) -> list[int]:
        return _map(hn, wl.inc, "parallel", OVERHEAD_WORKERS, xs)

    trap("cpu_parallel", lambda: measure_cpu(hn, wl, quick))
    trap("parallel_overhead", lambda: measure_overhead(parallel_inc, wl.inc, quick))
    trap("io_threaded", lambda: measure_io(hn, wl, "threaded", quick))
    trap("io_async", lambda: measure_io(hn, wl, "async", quick))
    return result


def measure_peer(key: str, python: str, quick: bool, timeout: float) -> dict[str, Any]:
    label, script, _ = PEERS[key]
    return run_peer(label, python, HERE / script, ["--quick"] if quick else [], timeout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--quick", action="store_true", help="short runs (noisy numbers)")
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated measurements of ours: cpu_parallel, parallel_overhead, io_threaded, "
        "io_async (default: all)",
    )
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers ('' for none)")
    ap.add_argument("--no-ours", action="store_true", help="measure the peers only")
    for key, (label, _, default) in PEERS.items():
        ap.add_argument(
            f"--{key}-python", default=str(default), help=f"interpreter of the {label} venv"
        )
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per peer subprocess")
    args = ap.parse_args(argv)
    only = set(filter(None, args.only.split(",")))

    results = []
    if not args.no_ours:
        results.append({**measure_ours(args.quick, only), "role": "ours"})
    if not only or "parallel_overhead" in only:
        for key in filter(None, args.peers.split(",")):
            if key not in PEERS:
                ap.error(f"unknown peer {key!r}; known: {', '.join(PEERS)}")
            python = getattr(args, f"{key}_python")
            results.append({**measure_peer(key, python, args.quick, args.timeout), "role": "peer"})
    doc = {"suite": "python-modes", "quick": args.quick, "cpus": os.cpu_count(), "results": results}
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        import report

        print(report.render_all({"modes": doc}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
