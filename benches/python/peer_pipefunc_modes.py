"""Measures pipefunc's parallel map of a trivial node and prints the result as JSON. Runs inside
benches/.peer-venv (see bench_modes.py, which runs this script and measures this project alike).

``pipeline.map({"x": xs}, parallel=True, executor=ProcessPoolExecutor(2), storage="dict",
show_progress=False)`` with ``mapspec="x[i] -> y[i]"``; the executor is made once and kept across
calls, so the worker processes are warm, as they are for this project.
"""

from __future__ import annotations

import json
import platform
import sys
from concurrent.futures import ProcessPoolExecutor

import bench_modes as wl  # the same node functions, imported by name in the worker processes
import pipefunc


def main() -> None:
    quick = "--quick" in sys.argv
    pipeline = pipefunc.Pipeline(
        [pipefunc.pipefunc(output_name="y", mapspec="x[i] -> y[i]")(wl.inc)]
    )
    with ProcessPoolExecutor(wl.OVERHEAD_WORKERS) as executor:

        def parallel_inc(xs: list[int]) -> list[int]:
            res = pipeline.map(
                {"x": xs}, parallel=True, executor=executor, storage="dict", show_progress=False
            )
            return list(res["y"].output)

        overhead = wl.measure_overhead(parallel_inc, wl.inc, quick)
    print(
        json.dumps(
            {
                "impl": "pipefunc",
                "version": pipefunc.__version__,
                "python": platform.python_version(),
                "parallel_overhead": overhead,
            }
        )
    )


if __name__ == "__main__":
    main()
