"""A DualNode whose ``batch`` is a vectorized NumPy expression, against the same node called per
item, over a map of 100,000 items (issue 14): the batch path must be at least 20x faster, in
NodeExecutor (sequential) and in DaftExecutor (its threads, in this process). Each configuration
is timed after a warm-up call; the best of ``--repeat`` calls counts.

    python benches/python/bench_dual.py [--items 100000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from hypernodes import DualNode, NodeExecutor, Pipeline, node
from hypernodes.daft import DaftExecutor


def score_one(x: float, w: float) -> float:
    """The NumPy expression on one value (what the node does per item)."""
    return float(np.tanh(x * w) + np.log1p(np.abs(x)))


def score_many(x, w: float):
    """The same NumPy expression, vectorized over the batch."""
    a = np.asarray(x)
    return np.tanh(a * w) + np.log1p(np.abs(a))


batched = DualNode("score", score_one, score_many, batch_size=8192)
per_item = node(score_one, output_name="score", name="score")


def best(p, inputs: dict, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = p.map(inputs=inputs, map_over="x")
        times.append(time.perf_counter() - t)
        assert len(out) == len(inputs["x"])
        assert abs(out[3]["score"] - score_one(3.0, 0.5)) < 1e-12
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    inputs = {"x": [float(i) for i in range(args.items)], "w": 0.5}
    small = {"x": inputs["x"][:100], "w": 0.5}
    results = {}
    for name, ex in {"node_sequential": NodeExecutor(), "daft_threads": DaftExecutor(use_process=False)}.items():
        times = {}
        for kind, n in (("per_item", per_item), ("batch", batched)):
            p = Pipeline(nodes=[n], executor=ex)
            p.map(inputs=small, map_over="x")  # warm-up
            times[kind] = best(p, inputs, args.repeat)
        results[name] = {**times, "speedup": times["per_item"] / times["batch"]}
    if args.json:
        print(json.dumps({"suite": "dual", "items": args.items, **results}))
        return
    for name, r in results.items():
        verdict = "MET" if r["speedup"] >= 20 else "NOT MET"
        print(
            f"{name:<16} per item {r['per_item']:7.3f} s   batch {r['batch']:7.3f} s   "
            f"speedup {r['speedup']:6.1f}x (goal >= 20x: {verdict})"
        )


if __name__ == "__main__":
    main()
