"""DaftExecutor against NodeExecutor ("sequential" and "parallel") on a map of 10,000 items over a
small CPU-bound 3-node pipeline, and the fixed start-up cost of one call (a one-item run).

    python benches/python/bench_daft.py [--items N] [--work W] [--json out.json]

Prints JSON and a table with ratios. Each configuration is timed once after a warm-up call (worker
pools and Daft's runner are started by the warm-up, as in a long-lived process)."""

from __future__ import annotations

import argparse
import json
import os
import time

from hypernodes import NodeExecutor, Pipeline, node
from hypernodes.daft import DaftExecutor

WORK = 1500


def spin(x: int, n: int) -> int:
    s = 0
    for i in range(n):
        s += (x * i) % 7
    return s


@node(output_name="a")
def stage_a(x, work):
    return spin(x, work)


@node(output_name="b")
def stage_b(a, work):
    return spin(a + 1, work)


@node(output_name="c")
def stage_c(b, work):
    return spin(b + 2, work)


PIPE = Pipeline([stage_a, stage_b, stage_c], name="cpu3")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--work", type=int, default=WORK)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    xs = list(range(args.items))
    inputs = {"x": xs, "work": args.work}
    configs = {
        "node_sequential": NodeExecutor(),
        "node_parallel": NodeExecutor(map_execution="parallel"),
        "daft_auto": DaftExecutor(),
        "daft_threads": DaftExecutor(use_process=False),
        "daft_processes": DaftExecutor(use_process=True),
    }
    res: dict[str, dict[str, float]] = {}
    expected = None
    for name, ex in configs.items():
        ex.map(PIPE, {"x": xs[:8], "work": args.work}, "x")  # warm-up
        startups = []
        for _ in range(3):
            t = time.perf_counter()
            ex.run(PIPE, {"x": 1, "work": 1})
            startups.append(time.perf_counter() - t)
        startup = min(startups)
        t0 = time.perf_counter()
        out = ex.map(PIPE, inputs, "x")
        t = time.perf_counter() - t0
        if expected is None:
            expected = out
        assert out == expected, name
        res[name] = {"map_s": round(t, 3), "startup_s": round(startup, 4)}
    base = res["node_sequential"]["map_s"]
    for r in res.values():
        r["speedup_vs_sequential"] = round(base / r["map_s"], 2)
    report = {"items": args.items, "work": args.work, "cpus": os.cpu_count(), "results": res}
    print(json.dumps(report, indent=2))
    print(f"\n{'executor':<16} {'map (s)':>9} {'vs sequential':>14} {'start-up (s)':>13}")
    for name, r in res.items():
        print(
            f"{name:<16} {r['map_s']:>9.2f} {r['speedup_vs_sequential']:>13.2f}x "
            f"{r['startup_s']:>13.4f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
