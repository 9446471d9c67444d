"""A ``@stateful`` object that takes 0.5 s to build, used by a parallel map of 1,000 items on 2
worker processes, called 3 times in a row (issue 14): it must be built twice in all (once per
worker, kept on the reused pool), and the map time must stay within 10% of the same map with a
prebuilt plain object (which is pickled to the workers on each call instead).

Reports the builds (counted through a file, one line per construction, so worker processes count)
and the times: all three calls, the later two alone (after the first call has built the objects),
and all three calls with each side's build counted once (the plain object's build in the caller,
timed here, is added to its calls; the ``@stateful`` builds already run inside its first call, in
both workers at once). The first call of ``@stateful`` cannot be within 10% of the plain object's:
each worker needs its model before its first item, so that call is at least build + work.

    python benches/python/bench_stateful.py [--items 1000] [--build-s 0.5] [--work-ms 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
from hypernodes import NodeExecutor, Pipeline, node, stateful

LOG = os.path.join(tempfile.mkdtemp(prefix="hn-bench-stateful-"), "builds")


class Model:
    """Stands in for a model: slow to build, 8 MB of weights, a little work per call."""

    build_s = 0.5
    work_s = 0.001

    def __init__(self, seed: int):
        time.sleep(self.build_s)
        with open(LOG, "a") as f:
            f.write(f"{os.getpid()}\n")
        self.weights = np.random.default_rng(seed).random(1_000_000)

    def predict(self, x: int) -> float:
        time.sleep(self.work_s)
        return float(self.weights[x % len(self.weights)])


LazyModel = stateful(Model)


@node(output_name="y")
def predict(x: int, model) -> float:
    return model.predict(x)


def timed(p, model, xs, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        out = p.map(inputs={"x": xs, "model": model}, map_over="x")
        times.append(time.perf_counter() - t)
        assert len(out) == len(xs)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--build-s", type=float, default=0.5)
    ap.add_argument("--work-ms", type=float, default=1.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    Model.build_s, Model.work_s = args.build_s, args.work_ms / 1000
    xs = list(range(args.items))
    p = Pipeline(nodes=[predict], executor=NodeExecutor(map_execution="parallel", max_workers=2))
    # warm-up: start the pool with another input, so neither side pays for it
    warm = Pipeline(nodes=[node(lambda x: x, output_name="y")], executor=p.executor)
    warm.map(inputs={"x": xs[:8]}, map_over="x")

    t = time.perf_counter()
    plain = Model(1)  # built here once, before the timed calls (as a user would)
    plain_build = time.perf_counter() - t
    with open(LOG, "w"):
        pass  # counts start here
    plain_t = timed(p, plain, xs, 3)
    lazy_t = timed(p, LazyModel(1), xs, 3)
    with open(LOG) as f:
        builds = len(f.read().split())
    result = {
        "builds": builds,
        "plain_s": plain_t,
        "stateful_s": lazy_t,
        "ratio_all": sum(lazy_t) / sum(plain_t),
        "ratio_later": sum(lazy_t[1:]) / sum(plain_t[1:]),
        "plain_build_s": plain_build,
        "ratio_with_builds": sum(lazy_t) / (plain_build + sum(plain_t)),
    }
    if args.json:
        print(json.dumps({"suite": "stateful", **result}))
        return
    fmt = ", ".join
    print(f"plain object      {fmt(f'{t:.3f}' for t in plain_t)} s")
    print(f"@stateful object  {fmt(f'{t:.3f}' for t in lazy_t)} s")
    print(f"builds: {builds} (goal: 2, once per worker: {'MET' if builds == 2 else 'NOT MET'})")
    print(f"plain object's build in the caller {plain_build:.3f} s")
    rows = (
        ("all 3 calls", "ratio_all"),
        ("calls 2-3", "ratio_later"),
        ("all 3 calls + the plain build", "ratio_with_builds"),
    )
    for label, key in rows:
        r = result[key]
        verdict = "MET" if r <= 1.1 else "NOT MET"
        print(f"{label:<30} stateful / plain {r:5.2f}x (goal <= 1.10x: {verdict})")


if __name__ == "__main__":
    main()
