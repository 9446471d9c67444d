"""Speed of the canonical value hash behind cache keys (``hypernodes._core.hash_value``).

- ``array_gbps``: GB/s hashing a 128 MB numpy float64 array (best of 5; the goal of issue 4 is at
  least 2 GB/s, where hypernodes 0.4.8 hashes 0.8 GB/s);
- ``small_us``: µs per call for small values (each the best of 5 runs of many calls), including
  the Python call and the hex digest it returns.

    python benches/python/bench_hash.py          # JSON on stdout
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
import timeit

import numpy as np
from hypernodes._core import hash_value

ARRAY_BYTES = 128 * 1024 * 1024
REPEATS = 5


@dataclasses.dataclass
class _Params:
    lr: float
    layers: list
    name: str


def bench_array() -> dict:
    a = np.random.default_rng(0).random(ARRAY_BYTES // 8)
    hash_value(a)  # warm up: page in the array and the code
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        hash_value(a)
        times.append(time.perf_counter() - t)
    best = min(times)
    return {
        "bytes": a.nbytes,
        "best_s": round(best, 5),
        "gbps": round(a.nbytes / best / 1e9, 2),
        "median_gbps": round(a.nbytes / sorted(times)[len(times) // 2] / 1e9, 2),
    }


def bench_small() -> dict:
    values = {
        "int": 12345,
        "str": "hello world",
        "float": 3.14159,
        "none": None,
        "tuple3": (1, "a", 2.5),
        "dict3": {"a": 1, "b": 2, "c": 3},
        "dataclass": _Params(0.01, [64, 64], "mlp"),
        "ndarray_100": np.arange(100, dtype=np.float64),
    }
    out = {}
    for name, v in values.items():
        number = 200_000 if name in ("int", "str", "float", "none") else 20_000
        best = min(timeit.repeat(lambda v=v: hash_value(v), number=number, repeat=REPEATS))
        out[name] = round(best / number * 1e6, 3)
    # The floor: a call to a builtin that does nothing of note, for scale.
    best = min(timeit.repeat(lambda: len("x"), number=200_000, repeat=REPEATS))
    out["baseline_python_call"] = round(best / 200_000 * 1e6, 3)
    return out


def main() -> None:
    result = {
        "benchmark": "hash_value",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "array_128mb": bench_array(),
        "small_us": bench_small(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
