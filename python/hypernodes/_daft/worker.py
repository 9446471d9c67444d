"""What runs inside Daft UDFs: the nodes of a plan for one row, with the cache and keys of
NodeExecutor.

A row is ``(index, {mapped input: value}, {mapped input: key} | None)``. Consecutive synchronous
nodes form a *segment*, run by one Daft UDF column over a batch of rows per call; an ``async def``
node is a segment of its own. Running a segment gives, per row, ``{node index: record}``, a record
being:

- ``("hit", outputs, output_keys, signature)``: read from the cache;
- ``("ok", outputs, output_keys, duration, events, fresh)``: computed (``events``: the callback
  events a nested pipeline raised, for replay in the driver; ``fresh``: cache entries to merge into
  the driver's MemoryCache when the worker had a copy of it);
- ``("err", error, events, duration, noted)``: the node raised (or could not run); ``noted``: the
  error is the engine's own (a wrong number of outputs), which names its node already;
- ``("skip",)``: a node it depends on failed, so it did not run.

On Daft's native runner the rows and records stay in the driver's process in a ``RowStore`` and the
columns carry row positions: a segment runs on Daft's threads here (``make_local_udf_class``) or
sends each batch to HyperNodes' pool of worker processes (``make_pooled_udf_class``). On Ray the
columns hold the rows and records as pickles (``make_ray_udf_class``), so Daft moves opaque bytes
and never converts a value to Arrow.
"""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any

from hypernodes import _core, _portable
from hypernodes.errors import RemoteError

SKIP = ("skip",)
WRAPPER = "__hypernodes_daft__"
"""Name of the one-node pipeline a worker runs a nested pipeline node in (replaced in events/notes)."""


class _Depth(threading.local):
    depth = 0  # nodes this thread is inside of, for DaftExecutor


_local = _Depth()
_registry: dict[str, Any] = {}
_registry_lock = threading.Lock()


def in_worker() -> bool:
    """Whether this thread is running a node for DaftExecutor (a nested DaftExecutor then runs its
    rows right here instead of starting a Daft query inside a Daft query)."""
    return _local.depth > 0


def register(obj: Any) -> str:
    """Keeps `obj` in this process under a token (UDFs running in this process look it up)."""
    token = f"{id(obj):x}-{time.perf_counter_ns():x}"
    with _registry_lock:
        _registry[token] = obj
    return token


def unregister(token: str) -> None:
    with _registry_lock:
        _registry.pop(token, None)


def lookup(token: str) -> Any:
    with _registry_lock:
        return _registry[token]


dumps = _portable.dumps
loads = pickle.loads


class Job:
    """Everything one node's UDF needs: the node, where each argument comes from, the broadcast
    values it reads, and the cache settings of the level it runs at."""

    def __init__(
        self,
        spec: Any,
        sources: list[tuple],
        deps: list[int],
        broadcast: dict[str, tuple[Any, bytes | None]],
        wanted: list[int] | None,
        keyed: bool,
        cache: tuple | None,
        observed: bool,
        origin: tuple = ((), (), 0, False),
        nested_workers: int = 32,
        varies: list[bool] | None = None,
    ) -> None:
        self.spec = spec
        # per parameter: ("node", dep, pos) | ("row", name, None) | ("bc", name, None)
        self.sources = sources
        self.deps = deps  # node indices whose records the UDF receives, in argument order
        self.broadcast = broadcast
        self.wanted = wanted
        self.keyed = keyed  # a cache is in effect: keys are computed
        self.cache = cache  # ("live", token) | ("object", cache) | ("seed", entries) | None
        self.observed = observed
        # (path, enclosing item indices, map depth, is a map) of the level the node runs at: a
        # nested pipeline resumes there, so its events and error notes name the caller's place
        self.origin = origin
        # items of a nested map with async nodes in flight at once, per row
        self.nested_workers = nested_workers
        # a dual node (batched): per parameter, whether it varies per row (None: not a dual node)
        self.varies = varies


class Env:
    """A job resolved in the process that runs it (the cache handle opened once per worker)."""

    def __init__(self, job: Job, cache: Any = None) -> None:
        """``cache``: the cache object itself, when the job runs in the caller's process (the
        job's cache spec is then not used)."""
        self.job = job
        self.cache = cache
        self.fresh = False
        kind = job.cache[0] if job.cache and cache is None else None
        if kind == "live":
            self.cache = lookup(job.cache[1])
        elif kind == "object":
            self.cache = job.cache[1]
        elif kind == "seed":
            from hypernodes import MemoryCache

            self.cache = MemoryCache()
            if job.cache[1]:
                self.cache._merge(job.cache[1])
            self.fresh = True
        cache = self.cache if job.keyed else None
        self.step = _core.NodeStep(job.spec.node, job.wanted, cache, job.spec.identity)


def prepare(env: Env, row: tuple, records: dict[int, tuple]) -> tuple:
    """Gathers a node's arguments (``records``: the row's records so far, by node index) and tries
    the cache. Returns a final record (hit, skip) or ``("call", args, key)`` for the caller to
    compute."""
    job = env.job
    args: list[Any] = []
    if not job.keyed:  # no cache in effect: values only
        for kind, a, b in job.sources:
            if kind == "node":
                rec = records[a]
                if rec[0] == "err" or rec[0] == "skip":
                    return SKIP
                args.append(rec[1][b])
            elif kind == "row":
                args.append(row[1][a])
            else:
                args.append(job.broadcast[a][0])
        return ("call", args, None)
    keys: list[bytes | None] = []
    for kind, a, b in job.sources:
        if kind == "node":
            rec = records[a]
            if rec[0] == "err" or rec[0] == "skip":
                return SKIP
            args.append(rec[1][b])
            keys.append(rec[2][b] if rec[2] is not None else None)
        elif kind == "row":
            args.append(row[1][a])
            keys.append(row[2].get(a) if row[2] is not None else None)
        else:
            value, key = job.broadcast[a]
            args.append(value)
            keys.append(key)
    key, hit = env.step.lookup(keys)
    if hit is not None:
        outs, okeys, signature = hit
        return ("hit", list(outs), list(okeys), signature)
    return ("call", args, (key, keys))


def finish(env: Env, keys: tuple | None, outs: list[Any], duration: float, events: list) -> tuple:
    """Stores computed outputs and derives their keys (the engine's step, ``NodeStep.store``);
    ``keys``: the call's key and its inputs' keys from ``prepare`` (None: not keyed)."""
    key, in_keys = keys if keys is not None else (None, None)
    okeys, stored = env.step.store(in_keys, outs)
    fresh = None
    if stored and env.fresh:
        wanted = env.job.wanted
        fresh = {key: [v for p, v in enumerate(outs) if wanted is None or p in wanted]}
    return ("ok", outs, okeys, duration, events, fresh)


def _recorder():
    from hypernodes._parallel import _make_recorder_class

    return _make_recorder_class()()


def call_pipeline(
    env: Env, args: list[Any], index: int
) -> tuple[list[Any] | None, list, Exception | None]:
    """Runs a nested pipeline node for one row in this worker, as NodeExecutor runs it (its own
    executor when it has one, sequential otherwise), recording the callback events. Returns the
    outputs (``None`` when it failed), the events and the exception it raised (or ``None``)."""
    from hypernodes._pickle import rebuild_pipeline

    job = env.job
    spec = job.spec
    recorder = _recorder() if job.observed else None
    settings = {
        "cache": env.cache if (job.keyed and env.cache is not None) else False,
        "callbacks": [recorder] if recorder is not None else [],
    }
    executor = None
    if spec.is_async:
        # a nested map of async nodes overlaps its items, as NodeExecutor(map_execution="async")
        from hypernodes import NodeExecutor

        executor = NodeExecutor(map_execution="async", max_workers=job.nested_workers)
    wrapper = rebuild_pipeline([spec.wrapper_node], WRAPPER, executor, {}, settings)
    selected = None
    if job.wanted is not None:
        selected = [spec.outputs[p] for p in job.wanted]
    inputs = dict(zip(spec.params, args))
    path, items, depth, is_map = job.origin
    # Daft spreads the rows itself: a nested map in a row is at the caller's map depth, so it gets
    # the wrapper's workers in full (the engine's nesting rule would divide them again)
    origin = (list(path), [*items, index] if is_map else list(items), depth)
    _local.depth += 1
    try:
        try:
            out = wrapper._run_at(inputs, selected, origin)
        finally:
            _local.depth -= 1
    except Exception as exc:  # noqa: BLE001 - recorded with the events it raised
        return None, _inner_events(recorder, len(path)), exc
    return [out.get(o) for o in spec.outputs], _inner_events(recorder, len(path)), None


def _inner_events(recorder: Any, level: int) -> list:
    """The nested pipeline's own events, with paths relative to the caller's level (``level``
    names on the path; the wrapper's events, the node's start/end and nesting, are fired by the
    driver itself), each with the map items it happened in."""
    if recorder is None:
        return []
    return [
        (hook, a, path[level:], items)
        for hook, a, path, items in recorder.events
        if len(path) > level
    ]


def error_record(
    exc: BaseException, duration: float, events: list | None = None, noted: bool = False
) -> tuple:
    """The record of a node that failed (see the module's doc)."""
    return ("err", exc, events or [], duration, noted)


def node_record(env: Env, key: Any, out: Any, started: float) -> tuple:
    """The record of a function node's return value ``out``: its outputs, or the engine's arity
    error (returned by ``NodeStep.unpack``, naming the node already)."""
    outs = env.step.unpack(out)
    if isinstance(outs, BaseException):
        return error_record(outs, time.perf_counter() - started, noted=True)
    return finish(env, key, list(outs), time.perf_counter() - started, [])


def pipeline_record(env: Env, key: Any, called: tuple, started: float) -> tuple:
    """The record of a nested pipeline node's call (``call_pipeline``'s result)."""
    outs, events, exc = called
    if exc is not None:
        return error_record(exc, time.perf_counter() - started, events)
    return finish(env, key, outs, time.perf_counter() - started, events)


def run_sync(env: Env, row: tuple, records: dict[int, tuple]) -> tuple:
    """One node for one row (synchronous nodes, and async ones run to completion here)."""
    rec = prepare(env, row, records)
    if rec[0] != "call":
        return rec
    _, args, key = rec
    spec = env.job.spec
    t = time.perf_counter()
    if spec.is_pipeline:
        return pipeline_record(env, key, call_pipeline(env, args, row[0]), t)
    try:
        _local.depth += 1
        try:
            out = spec.func(*args)
            if spec.is_async:
                from hypernodes._aio import run_coroutine

                out = run_coroutine(out)
        finally:
            _local.depth -= 1
    except Exception as exc:  # noqa: BLE001
        return error_record(exc, time.perf_counter() - t)
    return node_record(env, key, out, t)


def run_dual(env: Env, rows: list[tuple], records: list[dict[int, tuple]]) -> list[tuple]:
    """A dual node for a batch of rows: cache hits (and rows whose inputs failed) as usual, the
    other rows through the node's batch function, at most its batch size per call (the engine's
    ``call_batch``). A failing call gives each of its rows the error."""
    recs = [prepare(env, row, recs) for row, recs in zip(rows, records)]
    calls = [i for i, rec in enumerate(recs) if rec[0] == "call"]
    size = env.step.batch_size
    for start in range(0, len(calls), size):
        part = calls[start : start + size]
        t = time.perf_counter()
        _local.depth += 1
        try:
            outs = env.step.call_batch([recs[i][1] for i in part], env.job.varies)
        except Exception as exc:  # noqa: BLE001
            for i in part:
                recs[i] = error_record(exc, time.perf_counter() - t)
            continue
        finally:
            _local.depth -= 1
        if isinstance(outs, BaseException):  # the engine's error: a wrong length (names the node)
            for i in part:
                recs[i] = error_record(outs, time.perf_counter() - t, noted=True)
            continue
        took = time.perf_counter() - t
        for i, outputs in zip(part, outs):
            recs[i] = finish(env, recs[i][2], list(outputs), took, [])
    return recs


async def run_async(env: Env, row: tuple, records: dict[int, tuple]) -> tuple:
    """One ``async def`` node (or a nested pipeline with such nodes) for one row, awaited on
    Daft's event loop."""
    rec = prepare(env, row, records)
    if rec[0] != "call":
        return rec
    _, args, key = rec
    spec = env.job.spec
    t = time.perf_counter()
    if spec.is_pipeline:
        # a nested pipeline with async nodes: rows overlap on threads, each row's own nested
        # map overlapping its items (see call_pipeline)
        import asyncio

        pool = _nested_pool(env.job.nested_workers)
        loop = asyncio.get_running_loop()
        called = await loop.run_in_executor(pool, call_pipeline, env, args, row[0])
        return pipeline_record(env, key, called, t)
    try:
        out = await spec.func(*args)
    except Exception as exc:  # noqa: BLE001
        return error_record(exc, time.perf_counter() - t)
    return node_record(env, key, out, t)


_nested_pools: dict[int, Any] = {}


def _nested_pool(workers: int) -> Any:
    """The thread pool (one per size, per process) running rows of nested async pipelines."""
    with _registry_lock:
        pool = _nested_pools.get(workers)
        if pool is None:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hypernodes-nested")
            _nested_pools[workers] = pool
        return pool


def encode_record(env: Env, rec: tuple) -> Any:
    """A record as a pickle that can leave this process (a value that cannot be pickled becomes an
    error naming the node)."""
    if rec[0] == "err":
        return dumps(portable_err(rec))
    if rec[0] == "ok" and rec[4]:
        from hypernodes._parallel import sendable_events

        rec = (*rec[:4], sendable_events(rec[4]), rec[5])
    try:
        return dumps(rec)
    except Exception as exc:  # noqa: BLE001
        from hypernodes.errors import TransferError

        spec = env.job.spec
        outputs = dict(zip(spec.outputs, rec[1])) if rec[0] in ("ok", "hit") else {}
        output, reason = _portable.first_unpicklable(outputs) or (
            ", ".join(spec.outputs),
            f"{type(exc).__name__}: {exc}",
        )
        err = TransferError(
            f"output '{output}' of node '{spec.name}' cannot be sent back from a worker process "
            f"({reason}); run with DaftExecutor(use_process=False) on the native runner, or "
            "return a picklable value"
        )
        return dumps(error_record(err, 0.0))


def portable_err(rec: tuple) -> tuple:
    """An error record that travels from a worker process (exceptions by type and attributes, an
    event value that cannot be pickled named by its type)."""
    if isinstance(rec[1], (_portable.Carried, RemoteError)):
        return rec
    from hypernodes._parallel import sendable_events

    return ("err", _portable.carry(rec[1]), sendable_events(rec[2]), rec[3], rec[4])


def _portable_errors(out: dict[int, tuple]) -> None:
    """Replaces, in one row's records, each error record by one that can leave this process."""
    for i, rec in out.items():
        if rec[0] == "err":
            out[i] = portable_err(rec)


def picklable(value: Any) -> bool:
    """Whether ``dumps`` can pickle ``value``."""
    try:
        dumps(value)
        return True
    except Exception:  # noqa: BLE001
        return False


class Segment:
    """Consecutive synchronous nodes of a plan run by ONE Daft UDF column (a batch of rows per
    call); ``inputs`` are the earlier segments whose records they read."""

    def __init__(self, jobs: list[Job], inputs: list[int]) -> None:
        self.jobs = jobs
        self.inputs = inputs
        own = {job.spec.index for job in jobs}
        self.needed = sorted({d for job in jobs for d in job.deps if d not in own})
        """Nodes of earlier segments whose records this segment reads."""


class RowStore:
    """A native-runner query's rows and records, kept in this process: Daft's columns carry only
    row positions (values never become Daft Python-object cells, which Daft pickles to size them),
    and the segment columns' dependencies order the nodes."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows
        self.records: list[dict[int, tuple]] = [{} for _ in rows]

    def inputs_of(self, needed: list[int], positions: list[int]) -> tuple[list[tuple], list[dict]]:
        """The rows at ``positions`` and the records of the earlier nodes ``needed`` (a failed
        node's record as a skip: its dependents skip, and its exception stays here)."""
        rows = [self.rows[p] for p in positions]
        deps = []
        for p in positions:
            recs = self.records[p]
            deps.append({d: (recs[d] if recs[d][0] != "err" else SKIP) for d in needed})
        return rows, deps


def run_batch(
    envs: list[tuple[int, Env]], rows: list[tuple], records: list[dict[int, tuple]]
) -> list[dict[int, tuple]]:
    """Nodes (``envs``: ``(node index, Env)`` in plan order) for a batch of rows, node by node: a
    dual node once per batch (``run_dual``), the others row by row. Reads and adds to each row's
    ``records``; returns each row's records of these nodes."""
    outs: list[dict[int, tuple]] = [{} for _ in rows]
    for i, env in envs:
        if env.job.varies is not None:
            got = run_dual(env, rows, records)
        else:
            got = [run_sync(env, row, recs) for row, recs in zip(rows, records)]
        for out, recs, rec in zip(outs, records, got):
            out[i] = recs[i] = rec
    return outs


class SegmentEnv:
    """A segment resolved in the process that runs it (one Env per node, opened once per worker)."""

    def __init__(self, seg: Segment) -> None:
        self.seg = seg
        self.envs = [(job.spec.index, Env(job)) for job in seg.jobs]

    def run_records(self, row: tuple, records: dict[int, tuple]) -> dict[int, tuple]:
        """The segment's nodes for one row, in plan order, reading and adding to ``records``;
        returns the segment's own records."""
        out: dict[int, tuple] = {}
        for i, env in self.envs:
            out[i] = records[i] = run_sync(env, row, records)
        return out

    def run_batch(self, rows: list[tuple], records: list[dict[int, tuple]]) -> list[dict]:
        """The segment's nodes for a batch of rows (see ``run_batch``)."""
        if not any(env.job.varies is not None for _, env in self.envs):
            return [self.run_records(row, recs) for row, recs in zip(rows, records)]
        return run_batch(self.envs, rows, records)

    async def run_records_async(self, row: tuple, records: dict[int, tuple]) -> dict[int, tuple]:
        out: dict[int, tuple] = {}
        for i, env in self.envs:
            out[i] = records[i] = await run_async(env, row, records)
        return out

    def encode(self, out: dict[int, tuple]) -> bytes:
        """One row's records as a pickle that can leave this process: exceptions travel by type and
        attributes, and a value that cannot be pickled becomes an error naming its node."""
        _portable_errors(out)
        try:
            return dumps(out)
        except Exception:  # noqa: BLE001 - a value cannot travel: name its node
            return dumps({i: loads(encode_record(env, out[i])) for i, env in self.envs})

    def encode_batch(self, outs: list[dict[int, tuple]]) -> bytes:
        """A batch of rows' records as one pickle (row by row only when something cannot travel)."""
        for out in outs:
            _portable_errors(out)
        try:
            return dumps(outs)
        except Exception:  # noqa: BLE001
            return dumps([loads(self.encode(out)) for out in outs])

    def run_row(self, row: bytes, deps: Any) -> bytes:
        """Ray: one encoded row and its earlier segments' encoded records; returns the segment's
        records, encoded."""
        records: dict[int, tuple] = {}
        for d in deps:
            records.update(loads(d))
        return self.encode(self.run_records(loads(row), records))

    def run_rows(self, rows: list[bytes], deps: list[list[bytes]]) -> list[bytes]:
        """Ray: a batch of encoded rows and, per earlier segment, their encoded records; returns
        each row's segment records, encoded."""
        records: list[dict[int, tuple]] = [{} for _ in rows]
        for column in deps:
            for recs, d in zip(records, column):
                recs.update(loads(d))
        outs = self.run_batch([loads(r) for r in rows], records)
        return [self.encode(out) for out in outs]

    async def run_row_async(self, row: bytes, deps: Any) -> bytes:
        records: dict[int, tuple] = {}
        for d in deps:
            records.update(loads(d))
        return self.encode(await self.run_records_async(loads(row), records))


# ---------------------------------------------------------------- HyperNodes' worker processes

_pooled: dict[str, SegmentEnv] = {}
"""In a pool worker process: the segments of recent queries, each opened once per worker."""
_POOLED_KEPT = 8


def ship_segment(seg: Segment, directory: list[str]) -> tuple:
    """How a segment travels to pool workers (it carries the inputs that are not mapped, say a
    model): as the shared part of a parallel map does (``hypernodes._parallel.ship``), once per
    worker and query, a large one by a file in ``directory`` that workers map without a copy."""
    from hypernodes import _parallel

    return _parallel.ship(seg, directory)[1]


def run_pooled(token: str, source: tuple[str, Any], payload: bytes) -> bytes:
    """In a HyperNodes pool worker process: runs a segment (``source``: see ``ship_segment``;
    opened once per worker and query ``token``) over a batch of rows (``payload``: the rows and,
    per row, the records of earlier nodes it reads); returns the batch's records as one pickle."""
    env = _pooled.get(token)
    if env is None:
        from hypernodes import _parallel

        env = SegmentEnv(_parallel.load_shared(source))
        while len(_pooled) >= _POOLED_KEPT:
            _pooled.pop(next(iter(_pooled)))
        _pooled[token] = env
    rows, deps = loads(payload)
    out = env.encode_batch(env.run_batch(rows, deps))
    # what this batch stored in a disk cache is committed before the caller sees its records, as
    # the engine does at the end of every run (a next map then hits, in any process)
    _core._flush_disk_caches()
    return out


def lost_worker_records(
    nodes: list[tuple[int, str]], n: int, exc: BaseException
) -> list[dict[int, tuple]]:
    """Records for a batch whose worker process died: an error naming the segment's ``nodes``
    (index, name) on its first node (the others skipped), for each of the ``n`` rows."""
    from hypernodes.errors import HyperNodesError

    names = ", ".join(f"'{name}'" for _, name in nodes)
    err = HyperNodesError(
        f"a worker process died while running node(s) {names} "
        f"({type(exc).__name__}: {exc}); the pool is started anew on the next call"
    )
    out = {index: SKIP for index, _ in nodes}
    out[nodes[0][0]] = error_record(err, 0.0)
    return [dict(out) for _ in range(n)]


# ---------------------------------------------------------------- Daft UDF classes


class InFlight:
    """At most ``limit`` coroutines of one ``async def`` node in flight in this process, whatever
    number of UDF instances Daft creates (Daft's own ``max_concurrency`` counts instances, and each
    instance keeps several rows in flight). One ``asyncio.Semaphore`` per event loop."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_loop: dict[int, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def semaphore(self) -> Any:
        """The running event loop's semaphore."""
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            got = self._by_loop.get(id(loop))
            if got is None or got[0] is not loop:  # the id of a closed loop may be reused
                got = (loop, asyncio.Semaphore(self.limit))
                self._by_loop[id(loop)] = got
            return got[1]


def make_local_udf_class(is_async: bool, max_concurrency: int | None):
    """The Daft class UDF running a segment on Daft's threads in this process (``__init__`` gets
    tokens naming the segment and the query's RowStore). It reads and writes the store and
    returns the row positions it was given."""
    import daft

    dtype = daft.DataType.int64()
    if is_async:

        @daft.cls(use_process=False, max_concurrency=max_concurrency)
        class AsyncLocalUDF:
            def __init__(self, spec: tuple) -> None:
                self.env = SegmentEnv(lookup(spec[0]))
                self.store = lookup(spec[1])
                self.in_flight = lookup(spec[2])  # one InFlight per node, shared by instances

            @daft.method(return_dtype=dtype)
            async def __call__(self, pos, *deps):
                async with self.in_flight.semaphore():
                    await self.env.run_records_async(self.store.rows[pos], self.store.records[pos])
                return pos

        return AsyncLocalUDF

    @daft.cls(use_process=False)
    class LocalUDF:
        def __init__(self, spec: tuple) -> None:
            self.env = SegmentEnv(lookup(spec[0]))
            self.store = lookup(spec[1])

        @daft.method.batch(return_dtype=dtype)
        def __call__(self, positions, *deps):
            rows, records = self.store.rows, self.store.records
            pos = positions.to_pylist()
            self.env.run_batch([rows[p] for p in pos], [records[p] for p in pos])
            return positions

    return LocalUDF


def make_pooled_udf_class(workers: int):
    """The Daft class UDF running a segment in HyperNodes' pool of ``workers`` worker processes
    (started once per process and reused by every query, unlike Daft's own UDF processes, which
    are started for every query). Daft calls it on its threads in this process; each batch of
    rows goes to a pool worker as one pickle while the calling thread waits without the
    interpreter lock, and its records come back into the query's RowStore."""
    import daft

    dtype = daft.DataType.int64()

    @daft.cls(use_process=False)
    class PooledUDF:
        def __init__(self, spec: tuple) -> None:
            # the segment itself stays shipped (it may hold a large input): its outline suffices
            self.token, self.source, store, self.needed, self.nodes = spec
            self.store = lookup(store)

        @daft.method.batch(return_dtype=dtype)
        def __call__(self, positions, *deps):
            from concurrent.futures.process import BrokenProcessPool

            from hypernodes import _parallel

            pos = positions.to_pylist()
            payload = dumps(self.store.inputs_of(self.needed, pos))
            fut = _parallel.submit(workers, run_pooled, self.token, self.source, payload)
            try:
                outs = loads(_parallel.result(fut))
            except BrokenProcessPool as exc:
                outs = lost_worker_records(self.nodes, len(pos), exc)
            records = self.store.records
            for p, out in zip(pos, outs):
                records[p].update(out)
            return positions

    return PooledUDF


def holds_stateful(seg: Segment) -> bool:
    """Whether a segment's nodes use a ``@stateful`` object: as a shared input, or as the object
    whose (lazily) bound methods a node calls (a DualNode's singular and batch)."""
    from hypernodes.stateful import is_stateful

    for job in seg.jobs:
        if any(is_stateful(value) for value, _ in job.broadcast.values()):
            return True
        node = job.spec.node
        for f in (node.func, node.batch):
            if f is not None and is_stateful(getattr(f, "__self__", None)):
                return True
    return False


def make_ray_udf_class(
    is_async: bool, max_concurrency: int | None, options: dict[str, Any] | None = None
):
    """The Daft class UDF running a segment on Ray: rows and records travel as pickles in binary
    columns (Daft moves opaque bytes and never converts a value to Arrow). ``options``: more
    ``@daft.cls`` options for a synchronous segment (``DaftExecutor(stateful_udf=...)``)."""
    import daft

    dtype = daft.DataType.binary()
    if is_async:

        @daft.cls(use_process=False, max_concurrency=max_concurrency)
        class AsyncRayUDF:
            def __init__(self, seg: Segment) -> None:
                self.env = SegmentEnv(seg)
                self.in_flight = InFlight(max_concurrency or 1)  # per instance (Ray worker)

            @daft.method(return_dtype=dtype)
            async def __call__(self, row, *deps):
                async with self.in_flight.semaphore():
                    out = await self.env.run_row_async(row, deps)
                _core._flush_disk_caches()  # committed before the driver sees the row
                return out

        return AsyncRayUDF

    @daft.cls(use_process=True, **(options or {}))
    class RayUDF:
        def __init__(self, seg: Segment) -> None:
            self.env = SegmentEnv(seg)

        @daft.method.batch(return_dtype=dtype)
        def __call__(self, rows, *deps):
            dep_lists = [d.to_pylist() for d in deps]
            out = self.env.run_rows(rows.to_pylist(), dep_lists)
            _core._flush_disk_caches()  # committed before the driver sees the rows
            return daft.Series.from_pylist(out, name=rows.name(), dtype=dtype)

    return RayUDF
