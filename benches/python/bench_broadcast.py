"""A large input that does not vary per item (a 200 MB NumPy array standing in for a model or a
table), broadcast to a 2,000-item map run in worker processes: it must reach each worker once per
call, not once per chunk. Measured against the same map with a 10-element array, in this process,
after a warm-up call that starts the pool. Goal (issue 9): at most 2x.

Two workloads: trivial nodes (the map itself takes milliseconds, so the one copy of the input into
shared memory, about 0.1 s for 200 MB, dominates) and nodes doing ``--work-ms`` of work per item.

    python benches/python/bench_broadcast.py [--mb 200] [--items 2000] [--work-ms 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from hypernodes import NodeExecutor, Pipeline, node
from hypernodes.daft import DaftExecutor

WORK_S = 0.0


@node(output_name="y")
def use(x: int, model: np.ndarray) -> float:
    if WORK_S:
        time.sleep(WORK_S)
    return float(model[x % len(model)])


def best(ex, p, inputs, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = ex.map(p, inputs, "x")
        times.append(time.perf_counter() - t)
        assert len(out) == len(inputs["x"])
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work-ms", type=float, default=1.0, help="per-item work of the second run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    p = Pipeline([use], name="broadcast")
    big = np.random.default_rng(0).random(args.mb * 1_000_000 // 8)
    tiny = big[:10].copy()
    xs = list(range(args.items))
    global WORK_S
    results = {}
    executors = {
        "node_parallel": NodeExecutor(map_execution="parallel"),
        "daft_processes": DaftExecutor(use_process=True),
    }
    for work in (0.0, args.work_ms):
        WORK_S = work / 1000
        for name, ex in executors.items():
            ex.map(p, {"x": xs[:4], "model": tiny}, "x")  # warm-up: starts the pool
            small = best(ex, p, {"x": xs, "model": tiny}, args.repeat)
            large = best(ex, p, {"x": xs, "model": big}, args.repeat)
            label = f"{name} ({work:g} ms/item)"
            results[label] = {"tiny_s": small, "large_s": large, "ratio": large / small}
    if args.json:
        print(json.dumps({"suite": "broadcast", "mb": args.mb, "items": args.items, **results}))
        return
    for name, r in results.items():
        verdict = "MET" if r["ratio"] <= 2 else "NOT MET"
        print(
            f"{name:<30} tiny {r['tiny_s']:6.3f} s   {args.mb} MB {r['large_s']:6.3f} s   "
            f"ratio {r['ratio']:5.2f}x (goal <= 2x: {verdict})"
        )


if __name__ == "__main__":
    main()
