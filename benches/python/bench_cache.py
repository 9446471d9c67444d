"""The disk cache (issues 4 and 13): a hit per node, a cold write per node as the cache grows (to
1,000,000 entries), the key of a 128 MB numpy array and a 128 MB numpy value stored and read back,
for this project's DiskCache against hypernodes 0.4.8's DiskCache, pipefunc's disk cache and the
``diskcache`` package (its ``Cache.memoize``).

    python benches/python/bench_cache.py            # a table
    python benches/python/bench_cache.py --json     # the results as JSON on stdout

This project is measured in-process; each peer by its own script (peer_*_cache.py) in its venv. All
of them call :func:`measure` of this module (stdlib only at import time) with an adapter:

- ``hit``: a chain of 10 trivial nodes (``x{i} + 1``) with a disk cache in a new directory, run once
  (10 misses), then run again and again with the same input: time per run / 10 = a hit per node.
  Every library here also keeps recent entries in memory, so a second row, ``hit_fresh``, times the
  first run of new pipeline objects with new cache objects on the same (filled) directory: the
  entries come from disk (the OS page cache, in practice) as after a restart. ``nocache``: the same
  chain without a cache, so that what a hit adds over running the nodes is the difference.
- ``writes``: a 1-node pipeline (``inc(x) = x + 1``) with a disk cache, fed distinct items so that
  each is a miss and a write. One cache per size is filled to 100, 1,000, 10,000, 100,000 and
  1,000,000 entries; then 5 rounds of timed batches of new items (a tenth of the size: 20 to 100
  items for this project, hypernodes 0.4.8 and pipefunc, to 1,000 for diskcache) go round the
  sizes: (time of the batch) / items = a cold write per node (the whole miss: key, lookup, node
  call, store). This project and hypernodes 0.4.8 use ``map``; pipefunc
  caches ``run`` only (its ``map`` has storage of its own), so it runs the items one by one. A peer
  stops climbing when the growth seen so far predicts that the next size overruns its time budget.
- ``array``: a 128 MiB float64 array as the input of a 1-node pipeline with a disk cache, run once,
  then timed on hits: GB/s = bytes / time of a hit run (the node does not run on a hit, so this is
  the key, plus a lookup). ``hash``: the library's hashing function alone on the same array
  (this project: ``hypernodes._core.hash_value``; hypernodes 0.4.8: ``hypernodes.cache.hash_value``).
- ``value``: a 1-node pipeline whose node returns a 128 MiB float64 array (made once, outside the
  node): the first run on a new directory stores it (GB/s = bytes / time of that run), then the
  first run of new pipeline and cache objects on that directory reads it back from disk.
- ``fs_floor_s`` (this project only, in each round next to each size's batch): creating, writing
  and renaming one 60-byte file from Python in a small directory: the file system's own cost for
  one file per entry at that moment (on a shared disk it drifts by several times within a minute).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import run_peer

HERE = Path(__file__).resolve().parent
BENCHES = HERE.parent
CHAIN = 10
LEVELS = (100, 1_000, 10_000, 100_000, 1_000_000)
ARRAY_BYTES = 128 * 1024 * 1024

PEERS = {
    "hypernodes": (
        "hypernodes 0.4.8",
        "peer_hypernodes_048_cache.py",
        BENCHES / ".peer-venv-hn" / "bin" / "python",
    ),
    "pipefunc": ("pipefunc", "peer_pipefunc_cache.py", BENCHES / ".peer-venv" / "bin" / "python"),
    "diskcache": (
        "diskcache",
        "peer_diskcache_cache.py",
        BENCHES / ".peer-venv" / "bin" / "python",
    ),
}


# --- node functions (module-level, so that every library can read their source) -----------------


def inc(x):
    return x + 1


def array_len(a):
    return len(a)


VALUE: dict = {}  # the 128 MiB value, made once per process (not in the node's code)


def big_value(seed):
    return VALUE["a"]


# --- helpers ---------------------------------------------------------------------------------

_dirs: list[str] = []


def new_dir(tag: str) -> str:
    """A new, empty cache directory (removed at exit). On the same file system as the system's temp
    directory; ``HN_BENCH_CACHE_DIR`` picks another parent."""
    parent = os.environ.get("HN_BENCH_CACHE_DIR") or None
    d = tempfile.mkdtemp(prefix=f"hn-bench-cache-{tag}-", dir=parent)
    if not _dirs:
        atexit.register(lambda: [shutil.rmtree(x, True) for x in _dirs])
    _dirs.append(d)
    return d


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def budget_arg(default: float) -> float:
    argv = sys.argv
    if "--budget" in argv:
        return float(argv[argv.index("--budget") + 1])
    return default


# --- the measurements ------------------------------------------------------------------------


def measure_hit(adapter: Any, quick: bool) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from _common import calibrate, make_chain, sample

    funcs, outputs, _ = make_chain(CHAIN, "cache")
    d = new_dir("hit")
    nodes = adapter.declare(funcs, outputs)
    p = adapter.chain(nodes, d)
    got = adapter.run_chain(p, 1)
    if got != 1 + CHAIN:
        raise AssertionError(f"{adapter.name}: run returned {got!r}, expected {1 + CHAIN}")
    if adapter.run_chain(p, 1) != 1 + CHAIN:
        raise AssertionError(f"{adapter.name}: a cached run returned a wrong value")
    number = calibrate(lambda: adapter.run_chain(p, 1), 0.03 if quick else 0.12)
    runs = sample(lambda: adapter.run_chain(p, 1), number, 3 if quick else 7)
    # the same chain without a cache: a hit's cost over running the nodes is the difference
    bare = adapter.chain(adapter.declare(funcs, outputs), None)
    if adapter.run_chain(bare, 1) != 1 + CHAIN:
        raise AssertionError(f"{adapter.name}: the chain without a cache returned a wrong value")
    number = calibrate(lambda: adapter.run_chain(bare, 1), 0.03 if quick else 0.12)
    bare_runs = sample(lambda: adapter.run_chain(bare, 1), number, 3 if quick else 7)
    # new pipeline and cache objects (same node objects) on the filled directory: the entries
    # come from disk
    k = adapter.fresh_objects(quick)
    fresh = [adapter.chain(nodes, d) for _ in range(k)]
    fresh_runs = [timed(lambda q=q: adapter.run_chain(q, 1)) for q in fresh]
    del fresh
    # as after a restart: declare the nodes, build the pipeline and run it, on the filled directory
    restart = [
        timed(lambda: adapter.run_chain(adapter.chain(adapter.declare(funcs, outputs), d), 1))
        for _ in range(max(3, k // 3))
    ]
    return {
        "nodes": CHAIN,
        "run_s": {"median": med(runs), "best": min(runs)},
        "per_node_s": {"median": med(runs) / CHAIN, "best": min(runs) / CHAIN},
        "nocache_per_node_s": {"median": med(bare_runs) / CHAIN, "best": min(bare_runs) / CHAIN},
        "fresh_per_node_s": {
            "median": med(fresh_runs) / CHAIN,
            "best": min(fresh_runs) / CHAIN,
            "objects": len(fresh_runs),
        },
        "restart_per_node_s": {
            "median": med(restart) / CHAIN,
            "best": min(restart) / CHAIN,
            "samples": len(restart),
        },
    }


def measure_writes(
    adapter: Any, quick: bool, budget_s: float | None, floor: FsFloor | None = None
) -> dict[str, Any]:
    """Per-write time at each cache size of LEVELS, climbing while the budget allows.

    Each size gets a cache of its own, filled first; then the timed batches go round the sizes
    (a batch at 100 entries, one at 1,000, ..., then again), so that the disk's drifting speed hits
    every size alike. With ``floor``, the file system alone is timed in each round too: plain files
    in a small directory."""
    levels = LEVELS[:2] if quick else LEVELS
    max_batch = 200 if quick else adapter.write_batch_size
    repeat = 5
    spent = 0.0
    caches: list[dict[str, Any]] = []  # per size: its pipeline, directory, next item, samples
    stopped = None
    for level in levels:
        # a tenth of the size (so that the batches do not change the size much), 20 at least
        batch = max(20, min(max_batch, level // 10))
        if caches and budget_s is not None:
            points = [
                {"entries": c["level"], "per_write_s": {"median": c["probe"]}} for c in caches
            ]
            est = _predict_fill(points, 0, level) + _predict_fill(
                points, level, level + (repeat + 1) * batch
            ) * (1 + len(caches))
            if est > budget_s - spent:
                stopped = {"next_level": level, "predicted_s": est, "spent_s": spent}
                break
        d = new_dir(f"writes{level}")
        p = adapter.one(d)
        t0 = time.perf_counter()
        entries = 0
        while entries < level:  # fill (untimed per item; it counts against the budget)
            n = min(level - entries, 10_000 if budget_s is None else 10 * batch)
            adapter.write_batch(p, list(range(entries, entries + n)))
            entries += n
            if budget_s is not None and spent + time.perf_counter() - t0 > budget_s:
                break
        if entries < level:
            spent += time.perf_counter() - t0
            stopped = {"next_level": level, "filled_to": entries, "spent_s": spent}
            break
        probe = None
        if budget_s is not None:  # a probe batch (not reported) predicts the next size's cost
            xs = list(range(entries, entries + batch))
            probe = timed(lambda xs=xs, p=p: adapter.write_batch(p, xs)) / batch
            entries += batch
        spent += time.perf_counter() - t0
        caches.append(
            {
                "level": level,
                "batch": batch,
                "pipeline": p,
                "dir": d,
                "next": entries,
                "probe": probe,
                "samples": [],
                "floor": [],
            }
        )
    t0 = time.perf_counter()
    for _ in range(repeat):
        for c in caches:
            xs = list(range(c["next"], c["next"] + c["batch"]))
            c["next"] += c["batch"]
            c["samples"].append(timed(lambda xs=xs, c=c: adapter.write_batch(c["pipeline"], xs)))
            c["samples"][-1] /= c["batch"]
            if floor is not None:
                c["floor"].append(floor.per_file(c["batch"]))
    spent += time.perf_counter() - t0
    points_out = []
    for c in caches:
        pt: dict[str, Any] = {
            "entries": c["level"],
            "batch": c["batch"],
            "per_write_s": {
                "median": med(c["samples"]),
                "best": min(c["samples"]),
                "samples": c["samples"],
            },
        }
        if c["floor"]:
            pt["fs_floor_s"] = {"median": med(c["floor"]), "samples": c["floor"]}
        points_out.append(pt)
        shutil.rmtree(c["dir"], ignore_errors=True)  # now, not at exit: up to 100,000 files
    if hasattr(os, "sync"):
        os.sync()  # flush the writes before the next measurement
    # the same items without a cache, for reference (what the cache adds is the difference)
    nocache = adapter.one(None)
    xs = list(range(max_batch))
    got = adapter.write_batch(nocache, xs)
    if list(got) != [x + 1 for x in xs]:
        raise AssertionError(f"{adapter.name}: wrong outputs {list(got)[:5]!r}")
    nc = [timed(lambda: adapter.write_batch(nocache, xs)) / len(xs) for _ in range(3)]
    return {
        "levels": points_out,
        "complete": stopped is None,
        "stopped": stopped,
        "nocache_per_item_s": med(nc),
        "spent_s": spent,
    }


def _predict_fill(points: list[dict[str, Any]], start: int, end: int) -> float:
    """Seconds to write entries ``start..end``, from the per-write times seen so far, assuming
    they keep growing as between the last two sizes (at least flat, at most linearly; flat when only
    one size is known: the fill stops anyway once it has spent the budget)."""
    import math

    if end <= start:
        return 0.0
    last = points[-1]
    t1, n1 = last["per_write_s"]["median"], last["entries"]
    k = 0.0
    if len(points) >= 2:
        t0, n0 = points[-2]["per_write_s"]["median"], points[-2]["entries"]
        if t0 > 0 and t1 > 0 and n1 > n0:
            k = min(1.0, max(0.0, math.log(t1 / t0) / math.log(n1 / n0)))
    # integral of t1 * (n / n1)^k from start to end
    if k == 0:
        return t1 * (end - start)
    return t1 / n1**k * (end ** (k + 1) - start ** (k + 1)) / (k + 1)


def measure_array(adapter: Any, quick: bool) -> dict[str, Any]:
    import numpy as np

    a = np.random.default_rng(0).random(ARRAY_BYTES // 8)
    repeat = 3 if quick else 7
    out: dict[str, Any] = {"bytes": a.nbytes}
    adapter.hash_array(a)  # warm-up: pages the array in
    p = adapter.one_array(new_dir("array"))
    if adapter.run_array(p, a) != len(a):  # the miss: runs the node, stores its output
        raise AssertionError(f"{adapter.name}: wrong output for the array pipeline")
    hs, runs = [], []
    for _ in range(repeat):  # alternating, so that the machine's load hits both alike
        hs.append(timed(lambda: adapter.hash_array(a)))
        runs.append(timed(lambda: adapter.run_array(p, a)))
    out["hash_s"] = {"median": med(hs), "best": min(hs)}
    out["hash_gbps"] = a.nbytes / med(hs) / 1e9
    out["pipeline_hit_s"] = {"median": med(runs), "best": min(runs)}
    out["pipeline_hit_gbps"] = a.nbytes / med(runs) / 1e9
    return out


def measure_value(adapter: Any, quick: bool) -> dict[str, Any]:
    """A 128 MiB numpy value stored (the first run on a new directory) and read back (the first run
    of new pipeline and cache objects on it), alternating, on a new directory each time."""
    import numpy as np

    VALUE["a"] = np.random.default_rng(1).random(ARRAY_BYTES // 8)
    n = VALUE["a"].nbytes
    stores, reads = [], []
    for _ in range(2 if quick else 5):
        d = new_dir("value")
        stores.append(timed(lambda d=d: adapter.run_value(adapter.one_value(d))))
        box: list = []
        reads.append(
            timed(lambda d=d, box=box: box.append(adapter.run_value(adapter.one_value(d))))
        )
        if not np.array_equal(box[0], VALUE["a"]) or box[0] is VALUE["a"]:
            raise AssertionError(f"{adapter.name}: the value read back differs")
        del box
        shutil.rmtree(d, ignore_errors=True)
    return {
        "bytes": n,
        "store_s": {"median": med(stores), "best": min(stores)},
        "read_s": {"median": med(reads), "best": min(reads)},
        "store_gbps": n / med(stores) / 1e9,
        "read_gbps": n / med(reads) / 1e9,
    }


class FsFloor:
    """Creates, writes and renames 60-byte files into 256 subdirectories from Python: the file
    system's own cost for one file per entry, measured next to each cache size (a shared disk's
    speed drifts a lot)."""

    def __init__(self) -> None:
        self.dir = new_dir("fs")
        os.makedirs(os.path.join(self.dir, "tmp"))
        for i in range(256):
            os.makedirs(os.path.join(self.dir, f"{i:02x}"))
        self.next = 0

    def per_file(self, n: int) -> float:
        import hashlib

        payload = b"x" * 60
        d = self.dir

        def write(start: int) -> None:
            for i in range(start, start + n):
                h = hashlib.blake2b(str(i).encode(), digest_size=16).hexdigest()
                tmp = os.path.join(d, "tmp", h)
                with open(tmp, "wb") as f:
                    f.write(payload)
                os.rename(tmp, os.path.join(d, h[:2], h[2:]))

        start, self.next = self.next, self.next + n
        return timed(lambda: write(start)) / n


def measure(
    adapter: Any, quick: bool = False, budget_s: float | None = None, only: set[str] | None = None
) -> dict[str, Any]:
    """Every measurement the adapter supports, as a JSON-ready dict (times in seconds). Each failing
    measurement is reported as an error without stopping the others."""
    result: dict[str, Any] = {
        "impl": adapter.name,
        "version": adapter.version,
        "python": platform.python_version(),
    }
    floor = FsFloor() if getattr(adapter, "measure_fs_floor", False) else None
    parts: list[tuple[str, Callable[[], Any]]] = [("hit", lambda: measure_hit(adapter, quick))]
    if hasattr(adapter, "hash_array"):
        parts.append(("array", lambda: measure_array(adapter, quick)))
    if hasattr(adapter, "one_value"):
        parts.append(("value", lambda: measure_value(adapter, quick)))
    parts.append(("writes", lambda: measure_writes(adapter, quick, budget_s, floor)))
    for key, fn in parts:
        if only and key not in only:
            continue
        try:
            result[key] = fn()
        except Exception as exc:  # noqa: BLE001 - reported in the table
            traceback.print_exc(file=sys.stderr)
            result[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


class HypernodesCache:
    """The adapter for this project and for hypernodes 0.4.8. Both declare ``node(output_name=...)``,
    build ``Pipeline(nodes=[...])`` and map with ``map(inputs=..., map_over=...)``; this project takes
    ``cache=DiskCache(path)``, hypernodes 0.4.8 ``engine=SeqEngine(cache=DiskCache(path))``."""

    # 100 items per timed batch at every size from 1,000 up, as for hypernodes 0.4.8 and pipefunc:
    # a map's own cost (about 200-400 µs here, most of it cold caches after the collection
    # `timed` runs first) is then the same share of every size's figure, so that the sizes compare
    # like with like (with 1,000-item batches above 1,000 entries, the 1,000-entry figure carried
    # ten times the share of the others)
    write_batch_size = 100

    def __init__(self, name: str, legacy: bool) -> None:
        import hypernodes

        self.hn = hypernodes
        self.name = name
        self.legacy = legacy
        try:
            from importlib.metadata import version

            self.version = version("hypernodes")
        except Exception:  # noqa: BLE001
            self.version = getattr(hypernodes, "__version__", "?")
        if legacy:
            from hypernodes.cache import hash_value
        else:
            from hypernodes._core import hash_value
        self.hash_array = hash_value

    def fresh_objects(self, quick: bool) -> int:
        return 10 if quick else 30

    def _pipeline(self, nodes: list[Any], cache_dir: str | None) -> Any:
        hn = self.hn
        cache = hn.DiskCache(cache_dir) if cache_dir else None
        if self.legacy:
            return hn.Pipeline(nodes=nodes, engine=hn.SeqEngine(cache=cache))
        return hn.Pipeline(nodes=nodes, cache=cache)

    def declare(self, funcs: list[Callable[..., Any]], outputs: list[str]) -> list[Any]:
        return [self.hn.node(output_name=o)(f) for f, o in zip(funcs, outputs)]

    def chain(self, nodes: list[Any], cache_dir: str) -> Any:
        return self._pipeline(nodes, cache_dir)

    def run_chain(self, pipeline: Any, x0: int) -> Any:
        return pipeline.run(inputs={"x0": x0})[f"x{CHAIN}"]

    def one(self, cache_dir: str | None) -> Any:
        return self._pipeline([self.hn.node(output_name="y")(inc)], cache_dir)

    def write_batch(self, pipeline: Any, xs: list[int]) -> list[Any]:
        return [r["y"] for r in pipeline.map(inputs={"x": xs}, map_over="x")]

    def one_array(self, cache_dir: str) -> Any:
        return self._pipeline([self.hn.node(output_name="n")(array_len)], cache_dir)

    def one_value(self, cache_dir: str) -> Any:
        return self._pipeline([self.hn.node(output_name="v")(big_value)], cache_dir)

    def run_value(self, pipeline: Any) -> Any:
        return pipeline.run(inputs={"seed": 1})["v"]

    def run_array(self, pipeline: Any, a: Any) -> Any:
        return pipeline.run(inputs={"a": a})["n"]


# --- the driver (this project in-process, peers as subprocesses) ----------------------------------


def measure_ours(quick: bool, only: set[str]) -> dict[str, Any]:
    try:
        import hypernodes

        if not hasattr(hypernodes, "NodeExecutor"):
            raise RuntimeError(
                f"`import hypernodes` found {getattr(hypernodes, '__file__', '?')}, which is not "
                "this project; run from the project venv after `maturin develop --release`"
            )
        adapter = HypernodesCache("this project", legacy=False)
        adapter.measure_fs_floor = True
        return measure(adapter, quick, None, only)
    except Exception as exc:  # noqa: BLE001 - reported in the table; peers still run
        traceback.print_exc(file=sys.stderr)
        return {"impl": "this project", "error": f"{type(exc).__name__}: {exc}"}


def measure_peer(
    key: str, python: str, quick: bool, budget: float, only: set[str], timeout: float
) -> dict[str, Any]:
    label, script, _ = PEERS[key]
    args = ["--budget", str(budget)] + (["--quick"] if quick else [])
    if only:
        args += ["--only", ",".join(sorted(only))]
    return run_peer(label, python, HERE / script, args, timeout)


def peer_main(adapter: Any) -> None:
    """The body of a peer script: measure with ``adapter`` and print one JSON line."""
    argv = sys.argv
    only = set()
    if "--only" in argv:
        only = set(filter(None, argv[argv.index("--only") + 1].split(",")))
    print(json.dumps(measure(adapter, "--quick" in argv, budget_arg(15.0), only)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--quick", action="store_true", help="short runs, small sizes (noisy)")
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated measurements: hit, writes, array, value (default all)",
    )
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers ('' for none)")
    ap.add_argument("--no-ours", action="store_true", help="measure the peers only")
    for key, (label, _, default) in PEERS.items():
        ap.add_argument(
            f"--{key}-python", default=str(default), help=f"interpreter of the {label} venv"
        )
    ap.add_argument(
        "--budget",
        type=float,
        default=15.0,
        help="seconds each peer may spend filling its cache for the write measurement (default 15)",
    )
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per peer subprocess")
    args = ap.parse_args(argv)
    only = set(filter(None, args.only.split(",")))

    results = []
    if not args.no_ours:
        results.append({**measure_ours(args.quick, only), "role": "ours"})
    for key in filter(None, args.peers.split(",")):
        if key not in PEERS:
            ap.error(f"unknown peer {key!r}; known: {', '.join(PEERS)}")
        python = getattr(args, f"{key}_python")
        peer = measure_peer(key, python, args.quick, args.budget, only, args.timeout)
        results.append({**peer, "role": "peer"})
    doc = {"suite": "python-cache", "quick": args.quick, "results": results}
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        import report

        print(report.render_all({"cache": doc}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
