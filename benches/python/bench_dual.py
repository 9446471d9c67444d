"""A DualNode whose ``batch`` is a vectorized NumPy expression, against the same node called per
item (``singular``: the same expression on one value), over a map of 100,000 items (issue 14; goal:
the batch path at least 20x faster), in NodeExecutor (sequential) and DaftExecutor (its threads,
in this process). The best of ``--repeat`` calls counts, each after a full-size warm-up call and a
``gc.collect()`` (so neither path pays for the process's first large map). Same process, same
node, same inputs, same result check for both paths.

The expression is ``--terms`` rounds of ``v = tanh(v * w + 0.1)`` (three NumPy operations each).
The batch path is the columnar one (no cache, no callbacks: the mapped list is sliced into
batches, the results stay lists). Both paths return a list of 100,000 dicts, and building them is
a floor under the batch path's time: the "dicts alone" line times ``[{"score": v} for v in
values]`` here, so the best speedup a light expression (``--terms 1``) can reach is about
per-item time / that floor. Both expression weights are reported.

    python benches/python/bench_dual.py [--items 100000] [--repeat 3] [--terms 1,20] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import numpy as np
from hypernodes import DualNode, NodeExecutor, Pipeline, node
from hypernodes.daft import DaftExecutor

TERMS = 1


def score_one(x: float, w: float) -> float:
    """The NumPy expression on one value (what the node does per item)."""
    v = np.float64(x)
    for _ in range(TERMS):
        v = np.tanh(v * w + 0.1)
    return float(v)


def score_many(x, w: float):
    """The same NumPy expression, vectorized over the batch."""
    v = np.asarray(x, dtype=np.float64)
    for _ in range(TERMS):
        v = np.tanh(v * w + 0.1)
    return v


batched = DualNode("score", score_one, score_many, batch_size=8192)
per_item = node(score_one, output_name="score", name="score")


def best(p, inputs: dict, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()  # each timed call starts from the same collector state (not timed)
        t = time.perf_counter()
        out = p.map(inputs=inputs, map_over="x")
        times.append(time.perf_counter() - t)
        assert len(out) == len(inputs["x"])
        assert abs(out[3]["score"] - score_one(inputs["x"][3], 0.5)) < 1e-12
    return min(times)


def main() -> None:
    global TERMS
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--terms", default="1,20", help="comma-separated rounds of the expression")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    inputs = {"x": [i / args.items for i in range(args.items)], "w": 0.5}
    executors = {
        "node_sequential": NodeExecutor(),
        "daft_threads": DaftExecutor(use_process=False),
    }
    results = {}
    for terms in [int(t) for t in args.terms.split(",")]:
        TERMS = terms
        for name, ex in executors.items():
            times = {}
            for kind, n in (("per_item", per_item), ("batch", batched)):
                p = Pipeline(nodes=[n], executor=ex)
                # warm-up at full size: the first large map of a process pays for growing the
                # heap (and the collector's first passes over it), whichever path runs first
                p.map(inputs=inputs, map_over="x")
                times[kind] = best(p, inputs, args.repeat)
            results[f"{name}, {terms} terms"] = {
                **times,
                "speedup": times["per_item"] / times["batch"],
            }
    values = [score_one(x, 0.5) for x in inputs["x"]]
    floor, dicts = [], None
    for _ in range(args.repeat):  # the previous list is alive meanwhile, as in `best`
        t = time.perf_counter()
        dicts = [{"score": v} for v in values]
        floor.append(time.perf_counter() - t)
    del dicts
    results["dicts alone"] = {"seconds": min(floor)}
    if args.json:
        print(json.dumps({"suite": "dual", "items": args.items, **results}))
        return
    print(f"{'result dicts alone':<28} {min(floor):7.3f} s (a floor under both paths)")
    del results["dicts alone"]
    for name, r in results.items():
        verdict = "MET" if r["speedup"] >= 20 else "NOT MET"
        print(
            f"{name:<28} per item {r['per_item']:7.3f} s   batch {r['batch']:7.3f} s   "
            f"speedup {r['speedup']:6.1f}x (goal >= 20x: {verdict})"
        )


if __name__ == "__main__":
    main()
