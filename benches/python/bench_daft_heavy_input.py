"""A large input that is not mapped (a 100 MB NumPy "model") with trivial nodes over 2,000 items:
how long worker processes take to get it, DaftExecutor(use_process=True) against
NodeExecutor(map_execution="parallel"), after a warm-up call each (the worker pool is started).

    python benches/python/bench_daft_heavy_input.py [--mb 100] [--items 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from hypernodes import NodeExecutor, Pipeline, node
from hypernodes.daft import DaftExecutor


@node(output_name="y")
def use(x, model):
    return float(model[x % 1000])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--items", type=int, default=2000)
    args = ap.parse_args()
    p = Pipeline([use], name="heavy")
    model = np.random.default_rng(0).random(args.mb * 1_000_000 // 8)
    xs = list(range(args.items))
    expected = [{"y": float(model[x % 1000])} for x in xs]
    configs = {
        "daft_processes": DaftExecutor(use_process=True),
        "node_parallel": NodeExecutor(map_execution="parallel"),
    }
    for name, ex in configs.items():
        ex.map(p, {"x": xs[:4], "model": model[:10]}, "x")  # warm-up: starts the pool
        t = time.perf_counter()
        out = ex.map(p, {"x": xs, "model": model}, "x")
        print(
            f"{name:<16} {time.perf_counter() - t:6.2f} s  ({args.mb} MB input, {args.items} items)"
        )
        assert out == expected, name


if __name__ == "__main__":
    main()
