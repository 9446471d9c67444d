"""What runs inside Daft UDFs: the nodes of a plan for one row, with the cache and keys of
NodeExecutor.

A row is ``(index, {mapped input: value}, {mapped input: key} | None)``. Consecutive synchronous
nodes form a *segment*, run by one Daft UDF column over a batch of rows per call (so Daft starts one
pool of worker processes for them, not one per node); an ``async def`` node is a segment of its own.
A segment's column holds, per row, ``{node index: record}``, a record being:

- ``("hit", outputs, output_keys, signature)``: read from the cache;
- ``("ok", outputs, output_keys, duration, events, fresh)``: computed (``events``: the callback
  events a nested pipeline raised, for replay in the driver; ``fresh``: cache entries to merge into
  the driver's MemoryCache when the worker had a copy of it);
- ``("err", error, events, duration)``: the node raised (or could not run);
- ``("skip",)``: a node it depends on failed, so it did not run.

Columns hold these dicts as Python objects (in the driver's process) or as pickles (``binary``: for
worker processes and Ray, so Daft moves opaque bytes and never converts a value to Arrow).
"""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any

import cloudpickle

from hypernodes import _core

SKIP = ("skip",)
WRAPPER = "__hypernodes_daft__"
"""Name of the one-node pipeline a worker runs a nested pipeline node in (replaced in events/notes)."""

_local = threading.local()
_registry: dict[str, Any] = {}
_registry_lock = threading.Lock()
_warned: set[str] = set()


def in_worker() -> bool:
    """Whether this thread is running a node for DaftExecutor (a nested DaftExecutor then runs its
    rows right here instead of starting a Daft query inside a Daft query)."""
    return getattr(_local, "depth", 0) > 0


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


def dumps(obj: Any) -> bytes:
    """Pickles with the standard pickler, falling back to cloudpickle (lambdas, local classes)."""
    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:  # noqa: BLE001
        return cloudpickle.dumps(obj, protocol=5)


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
        binary: bool,
    ) -> None:
        self.spec = spec
        self.sources = sources  # per parameter: ("node", dep, pos) | ("row", name) | ("bc", name)
        self.deps = deps  # node indices whose records the UDF receives, in argument order
        self.broadcast = broadcast
        self.wanted = wanted
        self.keyed = keyed  # a cache is in effect: keys are computed
        self.cache = cache  # ("live", token) | ("object", cache) | ("seed", entries) | None
        self.observed = observed
        self.binary = binary


class Env:
    """A job resolved in the process that runs it (the cache handle opened once per worker)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.cache = None
        self.fresh = False
        kind = job.cache[0] if job.cache else None
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


def _warn_once(name: str, msg: str) -> None:
    if name in _warned:
        return
    _warned.add(name)
    import warnings

    from hypernodes.errors import CacheWarning

    warnings.warn(msg, CacheWarning, stacklevel=2)


def prepare(env: Env, row: tuple, deps: list[Any]) -> tuple:
    """Gathers a node's arguments and tries the cache. Returns a final record (hit, skip) or
    ``("call", args, key)`` for the caller to compute."""
    job = env.job
    spec = job.spec
    args: list[Any] = []
    keys: list[bytes | None] = []
    by_dep = dict(zip(job.deps, deps))
    for src in job.sources:
        if src[0] == "node":
            rec = by_dep[src[1]]
            if rec[0] in ("err", "skip"):
                return SKIP
            args.append(rec[1][src[2]])
            keys.append(rec[2][src[2]] if rec[2] is not None else None)
        elif src[0] == "row":
            args.append(row[1][src[1]])
            keys.append(row[2].get(src[1]) if row[2] is not None else None)
        else:
            value, key = job.broadcast[src[1]]
            args.append(value)
            keys.append(key)
    key = None
    if job.keyed and spec.cache and spec.identity is not None and all(k is not None for k in keys):
        key = _core.call_key(spec.identity, keys, job.wanted)
        if env.cache is not None:
            n = len(job.wanted) if job.wanted is not None else len(spec.outputs)
            stored = _core.cache_get(env.cache, key, n)
            if stored is not None:
                it = iter(stored)
                outs = [
                    next(it, None) if job.wanted is None or p in job.wanted else None
                    for p in range(len(spec.outputs))
                ]
                okeys = [_core.out_key(key, p) for p in range(len(spec.outputs))]
                return ("hit", outs, okeys, key.hex())
    return ("call", args, key)


def unpack(spec: Any, out: Any) -> list[Any]:
    """A function's return value as the node's outputs (the engine's rule and arity check)."""
    if spec.multi and isinstance(out, (tuple, list)):
        outs = list(out)
    else:
        outs = [out]
    if len(outs) != len(spec.outputs):
        from hypernodes.errors import OutputArityError

        err = OutputArityError(
            f"node '{spec.name}' declares {len(spec.outputs)} outputs "
            f"({', '.join(spec.outputs)}) but returned {len(outs)}"
        )
        err._hypernodes_engine = True  # type: ignore[attr-defined]
        raise err
    return outs


def finish(env: Env, key: bytes | None, outs: list[Any], duration: float, events: list) -> tuple:
    """Stores computed outputs and derives their keys, as the engine's step does."""
    job = env.job
    spec = job.spec
    wanted = job.wanted
    fresh = None
    if key is not None and env.cache is not None:
        kept = [v for p, v in enumerate(outs) if wanted is None or p in wanted]
        err = _core.cache_put(env.cache, key, kept)
        if err is not None:
            _warn_once(spec.name, f"node '{spec.name}': result not cached: {err}")
        elif env.fresh:
            fresh = {key: kept}
    okeys = None
    if key is not None:
        okeys = [_core.out_key(key, p) for p in range(len(outs))]
    elif job.keyed:
        okeys = []
        for p, v in enumerate(outs):
            k = None
            if wanted is None or p in wanted:
                try:
                    k = _core.value_key(v)
                except Exception:  # noqa: BLE001
                    k = None
            okeys.append(k)
    return ("ok", outs, okeys, duration, events, fresh)


def _recorder():
    from hypernodes._parallel import _make_recorder_class

    return _make_recorder_class()()


def call_pipeline(env: Env, args: list[Any]) -> tuple[list[Any], list]:
    """Runs a nested pipeline node for one row in this worker, as NodeExecutor runs it (its own
    executor when it has one, sequential otherwise), recording the callback events."""
    from hypernodes._pickle import rebuild_pipeline

    job = env.job
    spec = job.spec
    recorder = _recorder() if job.observed else None
    settings = {
        "cache": env.cache if (job.keyed and env.cache is not None) else False,
        "callbacks": [recorder] if recorder is not None else [],
    }
    wrapper = rebuild_pipeline([spec.wrapper_node], WRAPPER, None, {}, settings)
    selected = None
    if job.wanted is not None:
        selected = [spec.outputs[p] for p in job.wanted]
    inputs = dict(zip(spec.params, args))
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        try:
            out = wrapper.run(inputs=inputs, output_name=selected)
        finally:
            _local.depth -= 1
    except BaseException as exc:
        exc._hypernodes_events = _inner_events(recorder)  # type: ignore[attr-defined]
        raise
    return [out.get(o) for o in spec.outputs], _inner_events(recorder)


def _inner_events(recorder: Any) -> list:
    """The nested pipeline's own events, with paths relative to the caller's level (the wrapper's
    events, the node's start/end and nesting, are fired by the driver itself)."""
    if recorder is None:
        return []
    return [(hook, a, path[1:]) for hook, a, path in recorder.events if len(path) > 1]


def _rebuild_error(cls: type, args: tuple, state: dict, notes: list) -> BaseException:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    for n in notes:
        exc.add_note(n)
    return exc


class _ErrorBox:
    """Carries an exception from a worker by its class, args and attributes (exceptions whose
    ``__init__`` takes other arguments than ``args`` do not unpickle the usual way)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __reduce__(self):
        e = self.exc
        state = {k: v for k, v in e.__dict__.items() if k != "__notes__"}
        return (_rebuild_error, (type(e), e.args, state, list(getattr(e, "__notes__", []))))


def portable_error(exc: BaseException) -> Any:
    """What travels back from a worker process for `exc`: the exception rebuilt with its own type
    and attributes, or (when even that cannot be pickled) a stand-in with the same message."""
    box = _ErrorBox(exc)
    try:
        pickle.loads(dumps(box))
        return box
    except Exception:  # noqa: BLE001
        stand_in = RuntimeError(f"{type(exc).__name__}: {exc}")
        for note in getattr(exc, "__notes__", []):
            stand_in.add_note(note)
        return stand_in


def error_record(exc: BaseException, duration: float) -> tuple:
    events = getattr(exc, "_hypernodes_events", None) or []
    return ("err", exc, events, duration)


def run_sync(env: Env, row: tuple, deps: list[Any]) -> tuple:
    """One node for one row (synchronous nodes, and async ones run to completion here)."""
    rec = prepare(env, row, deps)
    if rec[0] != "call":
        return rec
    _, args, key = rec
    spec = env.job.spec
    t = time.perf_counter()
    try:
        if spec.is_pipeline:
            outs, events = call_pipeline(env, args)
        else:
            _local.depth = getattr(_local, "depth", 0) + 1
            try:
                out = spec.func(*args)
                if spec.is_async:
                    from hypernodes._aio import run_coroutine

                    out = run_coroutine(out)
            finally:
                _local.depth -= 1
            outs, events = unpack(spec, out), []
    except Exception as exc:  # noqa: BLE001
        return error_record(exc, time.perf_counter() - t)
    return finish(env, key, outs, time.perf_counter() - t, events)


async def run_async(env: Env, row: tuple, deps: list[Any]) -> tuple:
    """One ``async def`` node for one row, awaited on Daft's event loop."""
    rec = prepare(env, row, deps)
    if rec[0] != "call":
        return rec
    _, args, key = rec
    spec = env.job.spec
    t = time.perf_counter()
    try:
        outs = unpack(spec, await spec.func(*args))
    except Exception as exc:  # noqa: BLE001
        return error_record(exc, time.perf_counter() - t)
    return finish(env, key, outs, time.perf_counter() - t, [])


def encode_record(env: Env, rec: tuple) -> Any:
    """A record as the column stores it: itself, or a pickle for worker processes and Ray (a value
    that cannot be pickled becomes an error naming the node)."""
    if not env.job.binary:
        return rec
    if rec[0] == "err":
        return dumps(portable_err(rec))
    try:
        return dumps(rec)
    except Exception as exc:  # noqa: BLE001
        from hypernodes.errors import ConfigurationError

        name = env.job.spec.name
        err = ConfigurationError(
            f"node '{name}' returned a value that cannot be sent back from a Daft worker "
            f"process ({type(exc).__name__}: {exc}); run with DaftExecutor(use_process=False) "
            "on the native runner, or return a picklable value"
        )
        return dumps(("err", err, [], 0.0))


def portable_err(rec: tuple) -> tuple:
    """An error record that travels from a worker process (exception by type and attributes,
    events that cannot be pickled dropped)."""
    if isinstance(rec[1], _ErrorBox):
        return rec
    events = [(h, a, p) for h, a, p in rec[2] if _picklable(a)]
    return ("err", portable_error(rec[1]), events, rec[3])


def _picklable(value: Any) -> bool:
    try:
        dumps(value)
        return True
    except Exception:  # noqa: BLE001
        return False


class Segment:
    """Consecutive synchronous nodes of a plan run by ONE Daft UDF column (one pool of worker
    processes per query instead of one per node). The column holds, per row, ``{node index:
    record}`` for the segment's nodes; ``inputs`` are the earlier segments whose records they read."""

    def __init__(self, jobs: list[Job], inputs: list[int], binary: bool) -> None:
        self.jobs = jobs
        self.inputs = inputs
        self.binary = binary


class SegmentEnv:
    """A segment resolved in the process that runs it (one Env per node, opened once per worker)."""

    def __init__(self, seg: Segment) -> None:
        self.seg = seg
        self.envs = [(job.spec.index, Env(job)) for job in seg.jobs]

    def _gather(self, row: Any, deps: Any) -> tuple[tuple, dict[int, tuple]]:
        binary = self.seg.binary
        records: dict[int, tuple] = {}
        for d in deps:
            records.update(loads(d) if binary else d)
        return (loads(row) if binary else row), records

    def _encode(self, out: dict[int, tuple]) -> Any:
        if not self.seg.binary:
            return out
        for i, rec in out.items():
            if rec[0] == "err":
                out[i] = portable_err(rec)
        try:
            return dumps(out)
        except Exception:  # noqa: BLE001 - a value cannot travel: name its node
            return dumps({i: loads(encode_record(env, out[i])) for i, env in self.envs})

    def run_row(self, row: Any, deps: Any) -> Any:
        """The segment's nodes for one row, in plan order: ``{node index: record}``."""
        row, records = self._gather(row, deps)
        out: dict[int, tuple] = {}
        for i, env in self.envs:
            out[i] = records[i] = run_sync(env, row, [records[d] for d in env.job.deps])
        return self._encode(out)

    async def run_row_async(self, row: Any, deps: Any) -> Any:
        row, records = self._gather(row, deps)
        out: dict[int, tuple] = {}
        for i, env in self.envs:
            out[i] = records[i] = await run_async(env, row, [records[d] for d in env.job.deps])
        return self._encode(out)


def make_segment_udf_class(
    is_async: bool, binary: bool, use_process: bool, max_concurrency: int | None
):
    """The Daft class UDF running a segment: built once per worker (``__init__`` gets the
    segment, or a token naming it in this process). Synchronous nodes take a batch of rows per
    call; an ``async def`` node (alone in its segment) is awaited row by row on Daft's event loop."""
    import daft

    dtype = daft.DataType.binary() if binary else daft.DataType.python()
    if is_async:

        @daft.cls(use_process=False, max_concurrency=max_concurrency)
        class AsyncNodeUDF:
            def __init__(self, seg: Any) -> None:
                self.env = SegmentEnv(lookup(seg) if isinstance(seg, str) else seg)

            @daft.method(return_dtype=dtype)
            async def __call__(self, row, *deps):
                return await self.env.run_row_async(row, deps)

        return AsyncNodeUDF

    @daft.cls(use_process=use_process)
    class SegmentUDF:
        def __init__(self, seg: Any) -> None:
            self.env = SegmentEnv(lookup(seg) if isinstance(seg, str) else seg)

        @daft.method.batch(return_dtype=dtype)
        def __call__(self, rows, *deps):
            run_row = self.env.run_row
            dep_lists = [d.to_pylist() for d in deps]
            out = [run_row(r, ds) for r, *ds in zip(rows.to_pylist(), *dep_lists)]
            return daft.Series.from_pylist(out, name=rows.name(), dtype=dtype)

    return SegmentUDF
