"""The "parallel" mode of NodeExecutor in Python: worker processes.

Pipelines and items travel by cloudpickle (functions defined in ``__main__``, in a notebook or inside
another function included). Maps go in chunks; workers are reused across calls; results come back in
item order. A failing item raises in the caller with its original type, and the pool stays usable.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import multiprocessing
import pickle
import sys
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import cloudpickle

from hypernodes._core import MemoryCache

_lock = threading.Lock()
_pools: dict[int, ProcessPoolExecutor] = {}
_worker_pipelines: dict[str, Any] = {}


@contextlib.contextmanager
def _main_hidden():
    """Keeps spawned workers from re-running the caller's ``__main__`` script: everything they need
    arrives by cloudpickle, so they never import it."""
    main = sys.modules.get("__main__")
    saved = {k: getattr(main, k) for k in ("__file__", "__spec__") if hasattr(main, k)}
    try:
        for k in saved:
            if k == "__file__":
                delattr(main, k)
            else:
                setattr(main, k, None)
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


def _pool(workers: int) -> ProcessPoolExecutor:
    pool = _pools.get(workers)
    if pool is None:
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )
        _pools[workers] = pool
    return pool


def submit(workers: int, fn, *args):
    """Runs ``fn(*args)`` in the pool of ``workers`` worker processes (started on first use and
    reused; a broken pool is replaced); returns its future, to be read with ``result``."""
    with _lock, _main_hidden():
        try:
            return _pool(workers).submit(_forwarding, fn, *args)
        except BrokenProcessPool:
            _pools.pop(workers, None)
            return _pool(workers).submit(_forwarding, fn, *args)


def _forwarding(fn, *args) -> tuple[Any, list[tuple]]:
    """In a worker process: ``fn(*args)`` and the warnings it raised (each distinct one once), for
    the caller to raise again (a worker's stderr is easy to miss)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    seen: dict[tuple, None] = {}
    for w in caught:
        category = w.category
        try:
            pickle.dumps(category)
        except Exception:  # noqa: BLE001 - a class the caller cannot import by name
            category = UserWarning
        seen.setdefault((str(w.message), category, w.filename, w.lineno), None)
    return out, list(seen)


_forwarded: dict = {}
"""The warning registry of forwarded warnings (the "default" filter shows each one once)."""


def result(future) -> Any:
    """The result of a ``submit`` future; the warnings the worker raised are raised here."""
    out, caught = future.result()
    for text, category, filename, lineno in caught:
        warnings.warn_explicit(text, category, filename, lineno, registry=_forwarded)
    return out


def shutdown() -> None:
    """Stops every worker process (they are restarted on the next parallel call)."""
    with _lock:
        for pool in _pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        _pools.clear()


def _reraise(result: tuple[str, bytes]) -> Any:
    status, payload = result
    value = cloudpickle.loads(payload)
    if status == "error":
        raise value
    return value


def check_picklable(pipeline: Any) -> str | None:
    """Returns why the pipeline cannot be sent to a worker process (naming the node), or None."""
    for n in pipeline.nodes:
        if n.is_pipeline:
            reason = check_picklable(n.pipeline)
            if reason:
                return reason
            continue
        try:
            cloudpickle.dumps(n.func)
        except Exception as exc:  # noqa: BLE001 - any pickling failure is reported
            return (
                f"node '{n.name}' of pipeline '{pipeline.name}' cannot be sent to a worker "
                f"process: its function cannot be pickled ({type(exc).__name__}: {exc})"
            )
    for name, value in pipeline.bound.items():
        try:
            cloudpickle.dumps(value)
        except Exception as exc:  # noqa: BLE001
            return (
                f"bound input '{name}' of pipeline '{pipeline.name}' cannot be sent to a worker "
                f"process ({type(exc).__name__}: {exc})"
            )
    return None


def _run_chunk(key: str, blob: bytes, payload: bytes) -> tuple[str, bytes]:
    from hypernodes import NodeExecutor
    from hypernodes import callbacks as _callbacks

    events: list[tuple[str, tuple, list[str]]] = []
    try:
        pipeline = _worker_pipelines.get(key)
        if pipeline is None:  # first chunk of this pipeline in this worker
            pipeline = cloudpickle.loads(blob)
            _worker_pipelines.clear()
            _worker_pipelines[key] = pipeline
        inputs, map_over, output_name, node_execution, observe, seed_blob = cloudpickle.loads(
            payload
        )
        seed = cloudpickle.loads(seed_blob)
        memory = pipeline.cache if seed is not None else None
        if memory is not None:
            memory.clear()
            memory._merge(seed)
        executor = NodeExecutor(node_execution=node_execution, map_execution="sequential")
        run = pipeline
        if observe:
            # every event of the items (nested pipelines with their own callbacks included) is
            # recorded by the dispatcher; the root needs a listener for its events to be emitted
            from hypernodes._pickle import rebuild_pipeline

            settings = {"cache": pipeline.cache, "callbacks": [_callbacks.Callback()]}
            run = rebuild_pipeline(pipeline.nodes, pipeline.name, None, pipeline.bound, settings)
            _callbacks._recording = events
        try:
            out = executor.map(run, inputs, map_over, "zip", output_name)
        finally:
            _callbacks._recording = None
        fresh = {}
        if memory is not None:
            fresh = {k: v for k, v in memory._export().items() if k not in seed}
        return ("ok", cloudpickle.dumps((out, events, fresh, None)))
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller, with the events so far
        return ("error", cloudpickle.dumps(([], events, {}, exc)))


def _has_own_callbacks(pipeline: Any) -> bool:
    """Whether a pipeline nested (at any depth) in ``pipeline`` sets callbacks of its own."""
    for n in pipeline.nodes:
        if n.is_pipeline and (n.pipeline.callbacks or _has_own_callbacks(n.pipeline)):
            return True
    return False


def _memory_seed(cache: Any) -> dict[bytes, list[Any]]:
    """The entries of a MemoryCache that can travel to worker processes (others are recomputed
    there, with one warning)."""
    seed: dict[bytes, list[Any]] = {}
    skipped = 0
    for key, values in cache._export().items():
        try:
            cloudpickle.dumps(values)
        except Exception:  # noqa: BLE001 - any value that cannot travel stays behind
            skipped += 1
            continue
        seed[key] = values
    if skipped:
        from hypernodes.errors import CacheWarning

        warnings.warn(
            f"{skipped} MemoryCache entries cannot be sent to worker processes (not picklable); "
            "the workers recompute them",
            CacheWarning,
            stacklevel=2,
        )
    return seed


def map_items(
    pipeline: Any,
    inputs: dict[str, Any],
    map_over: list[str],
    map_mode: str,
    output_name: list[str] | None,
    workers: int,
    pool_size: int,
    node_execution: str,
    cache: Any = None,
    observe: bool = False,
) -> tuple[list[dict[str, Any]], list[tuple[str, tuple, list[str]]], BaseException | None]:
    """Maps ``pipeline`` over ``map_over`` in the pool of ``pool_size`` worker processes, in chunks
    sized for ``workers`` busy workers. Returns one dict per item, in order,
    and (when ``observe``) the callback events the items raised, to be replayed in the caller:
    ``(hook, args, hierarchy_path)`` with item indices counted over the whole map, and the
    exception of the first failing chunk (None when all succeeded)."""
    from hypernodes._pickle import rebuild_pipeline

    # Workers run with the cache in effect here (a DiskCache travels as its path) and record events
    # instead of calling the caller's callbacks.
    settings = {"cache": cache if cache is not None else False, "callbacks": []}
    pipeline = rebuild_pipeline(pipeline.nodes, pipeline.name, None, pipeline.bound, settings)
    lists = [list(inputs[name]) for name in map_over]
    if map_mode == "product":
        combos = list(itertools.product(*lists))
        lists = [[c[i] for c in combos] for i in range(len(map_over))]
    n = len(lists[0]) if lists else 0
    if n == 0:
        return [], [], None
    # A MemoryCache lives in this process: its entries travel to the workers with each chunk and
    # the entries the workers add come back and are merged (use a DiskCache for large caches).
    observe = observe or _has_own_callbacks(pipeline)
    seed = _memory_seed(cache) if isinstance(cache, MemoryCache) else None
    seed_blob = cloudpickle.dumps(seed)
    blob = cloudpickle.dumps(pipeline)
    key = hashlib.blake2b(blob, digest_size=16).hexdigest()
    chunk = max(1, -(-n // (workers * 4)))
    futures = []
    for start in range(0, n, chunk):
        part = dict(inputs)
        for name, values in zip(map_over, lists):
            part[name] = values[start : start + chunk]
        payload = cloudpickle.dumps(
            (part, map_over, output_name, node_execution, observe, seed_blob)
        )
        futures.append((start, submit(pool_size, _run_chunk, key, blob, payload)))
    results: list[dict[str, Any]] = []
    events: list[tuple[str, tuple, list[str]]] = []
    for start, fut in futures:
        _status, chunk = result(fut)
        out, chunk_events, fresh, error = cloudpickle.loads(chunk)
        if fresh:
            cache._merge(fresh)
        results.extend(out)
        for hook, args, path in chunk_events:
            if len(path) == 1 and hook in ("on_map_start", "on_map_end"):
                continue  # the caller reports the whole map once
            if len(path) == 1 and hook.startswith("on_map_item"):
                args = (args[0] + start, *args[1:])
            events.append((hook, args, path))
        if error is not None:
            # the caller replays the events so far (the failing item's included), then raises
            return results, events, error
    return results, events, None


def _call_node(blob: bytes, args: list[Any]) -> tuple[str, bytes]:
    try:
        node = cloudpickle.loads(blob)
        out = node.func(*cloudpickle.loads(args))
        if hasattr(out, "__await__"):
            from hypernodes._aio import run_coroutine

            out = run_coroutine(out)
        return ("ok", cloudpickle.dumps(out))
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller
        return ("error", cloudpickle.dumps(exc))


def call_node(node: Any, args: list[Any], workers: int) -> Any:
    """Calls one function node in a worker process and returns what the function returned."""
    fut = submit(workers, _call_node, cloudpickle.dumps(node), cloudpickle.dumps(args))
    return _reraise(result(fut))


__all__ = ["call_node", "check_picklable", "map_items", "result", "shutdown", "submit"]


def _make_recorder_class():
    """A Callback class whose instances record every event as ``(hook, args, hierarchy_path)`` in
    ``.events`` (used where events must be carried back to the caller, as by the Daft worker)."""
    from hypernodes.callbacks import Callback

    class Recorder(Callback):
        def __init__(self) -> None:
            self.events: list[tuple[str, tuple, list[str]]] = []

        def __getattribute__(self, name: str):
            if not name.startswith("on_"):
                return object.__getattribute__(self, name)
            events = object.__getattribute__(self, "events")

            def record(*args):
                *payload, ctx = args
                events.append((name, tuple(payload), list(ctx.hierarchy_path)))

            return record

    return Recorder
