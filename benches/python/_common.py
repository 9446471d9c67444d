"""Shared pieces of the Python benchmarks: the workload, the timing and the JSON result.

This module has no dependencies beyond the standard library, so that the peer scripts can import it
from inside their own virtual environments (they run with this directory first on ``sys.path``).

Every implementation (this project, hypernodes 0.4.8, pipefunc) is measured by :func:`measure` with
an *adapter*: an object with four methods,

- ``declare(funcs, outputs, mapped)``: turn plain functions into the library's nodes,
- ``build(nodes)``: build a pipeline from them,
- ``run(pipeline, x0)``: run the chain once and return the last output,
- ``map(pipeline, xs)``: map the chain over ``x0`` and return the last output of each item,

so the workload and the arithmetic are the same for everyone; only the four calls differ.
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

CHAIN = 10  # nodes in the chain that `run` and `map` execute
MAP_ITEMS = 2_000  # items in the map
BUILD_NODES = 10_000  # nodes in the pipeline whose construction is timed

_tmpdir: str | None = None


class Adapter(Protocol):
    name: str
    version: str

    def declare(
        self, funcs: list[Callable[..., Any]], outputs: list[str], mapped: bool
    ) -> list[Any]: ...
    def build(self, nodes: list[Any]) -> Any: ...
    def run(self, pipeline: Any, x0: int) -> Any: ...
    def map(self, pipeline: Any, xs: list[int]) -> list[Any]: ...


def build_budget() -> float:
    """The build time budget in seconds: ``--build-budget S`` on the command line, else 20."""
    argv = sys.argv
    if "--build-budget" in argv:
        return float(argv[argv.index("--build-budget") + 1])
    return 20.0


def make_chain(
    n: int, tag: str
) -> tuple[list[Callable[[int], int]], list[str], Callable[[int], int]]:
    """``n`` trivial functions ``f{i}(x{i}) -> x{i} + 1`` wired as a chain ``x0 -> x1 -> ... -> x{n}``.

    They are written to a real module file and imported, so that libraries which read a function's
    source (``inspect.getsource``) see ordinary functions. Returns the functions, the output name of
    each (``x{i+1}``), and ``direct(x0)``, which calls the same functions one after another by hand.
    """
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix="hn-bench-")
        atexit.register(shutil.rmtree, _tmpdir, True)
    lines = [f"def f{i}(x{i}):\n    return x{i} + 1\n" for i in range(n)]
    body = "".join(f"    x{i + 1} = f{i}(x{i})\n" for i in range(n))
    lines.append(f"def direct(x0):\n{body}    return x{n}\n")
    mod_name = f"_hn_bench_chain_{tag}_{n}"
    path = os.path.join(_tmpdir, mod_name + ".py")
    with open(path, "w") as fh:
        fh.write("\n\n".join(lines))
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    funcs = [getattr(module, f"f{i}") for i in range(n)]
    return funcs, [f"x{i + 1}" for i in range(n)], module.direct


def sample(fn: Callable[[], Any], number: int, repeat: int) -> list[float]:
    """Seconds per call of ``fn``: ``repeat`` samples, each the mean over ``number`` calls.

    As in :mod:`timeit`, the garbage collector is off while a sample is timed (and run between
    samples), for every implementation alike.
    """
    out = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            out.append((time.perf_counter() - t0) / number)
        finally:
            gc.enable()
    return out


def calibrate(fn: Callable[[], Any], target_s: float) -> int:
    """How many calls of ``fn`` take about ``target_s`` seconds (at least 1)."""
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target_s / 4 or number >= 1 << 24:
            return max(1, int(number * target_s / max(dt, 1e-9)))
        number *= 4


def stats(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "best": min(samples)}


def overhead(total: dict[str, float], direct: dict[str, float], calls: int) -> dict[str, float]:
    """Per-call overhead: (time of the orchestrated work - time of the same calls made by hand) / calls."""
    return {k: (total[k] - direct[k]) / calls for k in ("median", "best")}


def measure(adapter: Adapter, quick: bool = False, build_budget_s: float = 20.0) -> dict[str, Any]:
    """Runs the three measurements for one implementation and returns them as a JSON-ready dict.

    Times are in seconds. ``quick`` shortens every measurement (for smoke tests; numbers get noisier).
    ``build_budget_s`` caps the time spent on the build measurement (see below).
    """
    repeat = 3 if quick else 7
    target = 0.02 if quick else 0.15
    result: dict[str, Any] = {
        "impl": adapter.name,
        "version": adapter.version,
        "python": platform.python_version(),
    }

    # (a) run: one run of a 10-node chain, against calling the same 10 functions by hand.
    funcs, outputs, direct = make_chain(CHAIN, "run")
    pipeline = adapter.build(adapter.declare(funcs, outputs, mapped=False))
    got = adapter.run(pipeline, 1)
    if got != 1 + CHAIN:
        raise AssertionError(f"{adapter.name}: run returned {got!r}, expected {1 + CHAIN}")
    n_direct = calibrate(lambda: direct(1), target)
    n_run = calibrate(lambda: adapter.run(pipeline, 1), target)
    direct_s = stats(sample(lambda: direct(1), n_direct, repeat))
    run_s = stats(sample(lambda: adapter.run(pipeline, 1), n_run, repeat))
    result["run"] = {
        "nodes": CHAIN,
        "direct_s": direct_s,
        "run_s": run_s,
        "overhead_per_node_s": overhead(run_s, direct_s, CHAIN),
    }

    # (b) map: the same chain mapped over MAP_ITEMS values of its first input.
    items = 200 if quick else MAP_ITEMS
    funcs, outputs, direct = make_chain(CHAIN, "map")
    pipeline = adapter.build(adapter.declare(funcs, outputs, mapped=True))
    xs = list(range(items))
    got_list = adapter.map(pipeline, xs)
    if list(got_list) != [x + CHAIN for x in xs]:
        raise AssertionError(
            f"{adapter.name}: map returned wrong values: {list(got_list)[:5]!r}..."
        )

    def by_hand() -> list[int]:
        return [direct(x) for x in xs]

    direct_s = stats(sample(by_hand, max(1, calibrate(by_hand, target)), repeat))
    map_s = stats(sample(lambda: adapter.map(pipeline, xs), 1, max(3, repeat - 2)))
    result["map"] = {
        "nodes": CHAIN,
        "items": items,
        "direct_s": direct_s,
        "map_s": map_s,
        "overhead_per_node_call_s": overhead(map_s, direct_s, CHAIN * items),
    }

    # (c) build: declaring N chained nodes, then building (and validating) the pipeline, N = 10,000.
    # Some libraries build in quadratic time, so sizes are climbed (1 sample each) while the next
    # size is predicted, from the growth seen so far, to fit the time budget; when 10,000 does not
    # fit, the largest size measured is reported with "complete": false (a lower bound at 10,000).
    target_n = 1_000 if quick else BUILD_NODES
    budget = 3.0 if quick else build_budget_s
    ladder = [n for n in (250, 500, 1_000, 2_000, 5_000, 10_000) if n < target_n] + [target_n]
    spent = 0.0
    points: list[tuple[int, float, float]] = []  # (nodes, declare_s, build_s)
    for n in ladder:
        if points:
            est = _predict(points, n)
            if est > budget - spent:
                break
        funcs, outputs, _ = make_chain(n, "build")
        d, b = _time_build(adapter, funcs, outputs)
        spent += d + b
        points.append((n, d, b))
    n, d, b = points[-1]
    declare_samples, build_samples = [d], [b]
    if n == target_n:
        # Cheap enough: two more samples at the full size.
        while len(build_samples) < 3 and (d + b) * 1.2 <= budget - spent:
            d2, b2 = _time_build(adapter, funcs, outputs)
            spent += d2 + b2
            declare_samples.append(d2)
            build_samples.append(b2)
    result["build"] = {
        "nodes": n,
        "target_nodes": target_n,
        "complete": n == target_n,
        "declare_s": stats(declare_samples),
        "build_s": stats(build_samples),
        "ladder": [{"nodes": p[0], "declare_s": p[1], "build_s": p[2]} for p in points],
    }
    if n != target_n:
        result["build"]["estimate_at_target_s"] = _predict(points, target_n)
        result["build"]["estimate_exponent"] = _exponent(points)
    return result


def _time_build(
    adapter: Adapter, funcs: list[Callable[..., Any]], outputs: list[str]
) -> tuple[float, float]:
    gc.collect()
    t0 = time.perf_counter()
    nodes = adapter.declare(funcs, outputs, mapped=False)
    t1 = time.perf_counter()
    pipeline = adapter.build(nodes)
    t2 = time.perf_counter()
    del pipeline, nodes
    return t1 - t0, t2 - t1


def _exponent(points: list[tuple[int, float, float]]) -> float:
    """Growth exponent of declare + build time between the last two sizes measured, clamped to
    [1, 3]; 2 (quadratic) when only one size is known."""
    if len(points) < 2:
        return 2.0
    (n0, d0, b0), (n1, d1, b1) = points[-2], points[-1]
    t0, t1 = d0 + b0, d1 + b1
    if t0 <= 0 or t1 <= 0:
        return 2.0
    return min(3.0, max(1.0, math.log(t1 / t0) / math.log(n1 / n0)))


def _predict(points: list[tuple[int, float, float]], n: int) -> float:
    """Seconds to declare and build ``n`` nodes, extrapolated from the last size measured."""
    n1, d1, b1 = points[-1]
    return (d1 + b1) * (n / n1) ** _exponent(points)


class HypernodesStyle:
    """The adapter for this project and for hypernodes 0.4.8: both have the same API shape,
    ``node(output_name=...)``, ``Pipeline(nodes=[...])``, ``run(inputs={...})`` and
    ``map(inputs={...}, map_over=...)``. ``run`` returns every output; we read the last one."""

    def __init__(self, name: str) -> None:
        import hypernodes

        self.name = name
        self.version = _dist_version("hypernodes") or getattr(hypernodes, "__version__", "?")
        self._hn = hypernodes
        self._last = f"x{CHAIN}"

    def declare(
        self, funcs: list[Callable[..., Any]], outputs: list[str], mapped: bool
    ) -> list[Any]:
        node = self._hn.node
        return [node(output_name=o)(f) for f, o in zip(funcs, outputs)]

    def build(self, nodes: list[Any]) -> Any:
        return self._hn.Pipeline(nodes=nodes)

    def run(self, pipeline: Any, x0: int) -> Any:
        return pipeline.run(inputs={"x0": x0})[self._last]

    def map(self, pipeline: Any, xs: list[int]) -> list[Any]:
        last = self._last
        return [r[last] for r in pipeline.map(inputs={"x0": xs}, map_over="x0")]


def _dist_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def run_peer(label: str, python: str, script: Path, args: list[str], timeout: float) -> dict:
    """Runs a peer's bench script in its own venv's ``python`` (with this project's venv variables
    removed) and returns the JSON object it prints last, tagged ``impl: label``; a failure is
    returned as ``{"impl": label, "error": ...}`` (its stderr is passed on)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    cmd = [python, str(script), *args]
    try:
        proc = subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            env=env,
            cwd=script.parent,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"impl": label, "error": f"{type(exc).__name__}: {exc}"}
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return {"impl": label, "error": f"exit {proc.returncode}: {tail[0]}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["impl"] = label
    return result
