"""The "parallel" mode of NodeExecutor in Python: worker processes.

Pipelines and items travel by cloudpickle (functions defined in ``__main__``, in a notebook or inside
another function included). Maps go in chunks; workers are reused across calls; results come back in
item order. A failing item raises in the caller with its original type, and the pool stays usable.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import multiprocessing
import pickle
import sys
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import cloudpickle

from hypernodes import _portable
from hypernodes._core import MemoryCache

_lock = threading.Lock()
_pools: dict[int, ProcessPoolExecutor] = {}


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


def _worker_init() -> None:
    """In a new worker process: Ctrl-C is the caller's to handle (it stops the workers it needs
    to), and the worker exits within half a second of its parent's death, whatever killed it (a
    watcher thread sees the parent change; Linux's parent-death signal is not used: it fires when
    the thread that started the worker ends, and engine threads are short-lived)."""
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        import time

        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="hypernodes-parent-watch", daemon=True).start()


def _pool(workers: int) -> ProcessPoolExecutor:
    pool = _pools.get(workers)
    if pool is None:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
        )
        _pools[workers] = pool
    return pool


GRACE = 0.5
"""Seconds that workers still busy when a call is interrupted get to finish before they are
stopped (the next call starts new ones)."""


def stop_call(futures: list, workers: int) -> bool:
    """After an interrupt: gives the call's chunks that are running ``GRACE`` seconds to finish
    (what they compute is cached), then, if any of the call's work is left, stops the pool's
    workers, dropping the queued work with them (the next call starts a new pool). Returns whether
    the pool was stopped (its futures then must not be cancelled: the pool fails them itself)."""
    import concurrent.futures

    running = [f for f in futures if f.running()]
    if running:
        concurrent.futures.wait(running, timeout=GRACE)
    if all(f.done() for f in futures):
        return False
    with _lock:
        pool = _pools.pop(workers, None)
    if pool is not None:
        _terminate(pool)
    return True


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stops a pool's workers at once; the pool fails the futures it still holds. Waits (briefly)
    for the pool's manager thread to end, so that interpreter exit finds no stale pool to wake."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    for p in processes:
        with contextlib.suppress(Exception):
            p.terminate()
    # no cancel_futures: a cancelled future that the pool then fails raises in its own thread
    pool.shutdown(wait=False)
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(timeout=GRACE)
    if manager is not None and manager is not threading.current_thread():
        manager.join(timeout=2 * GRACE)


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


def _at_exit() -> None:
    """At interpreter exit: queued work is dropped and workers are stopped, so exiting never waits
    for work nobody will read (and a second Ctrl-C never hangs in the pool's own exit hook)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        _terminate(pool)


# The pools' own exit hook (concurrent.futures) waits for the workers' queued work at interpreter
# shutdown, through threading's exit hooks, which run last-registered first: this one runs before.
_register = getattr(threading, "_register_atexit", atexit.register)
_register(_at_exit)


def check_picklable(pipeline: Any) -> str | None:
    """Returns why the pipeline cannot be sent to a worker process (naming the node or bound
    input), or None."""
    for n in pipeline.nodes:
        if n.is_pipeline:
            reason = check_picklable(n.pipeline)
            if reason:
                return reason
            continue
        for what, f in (("function", n.func), ("batch function", n.batch)):
            why = None if f is None else _portable.why_not(f)
            if why is not None:
                return (
                    f"node '{n.name}' of pipeline '{pipeline.name}' cannot be sent to a worker "
                    f"process: its {what} cannot be pickled ({why})"
                )
    bad = _portable.first_unpicklable(dict(pipeline.bound))
    if bad is not None:
        return (
            f"bound input '{bad[0]}' of pipeline '{pipeline.name}' cannot be sent to a worker "
            f"process ({bad[1]})"
        )
    return None


SHIP_BY_FILE = 1 << 20
"""A call whose shared part (the pipeline and the inputs every item shares, say a model or a
table) pickles larger than this reaches the workers through a temporary file (in ``/dev/shm``
where there is one), written once per call and mapped by each worker without a copy, instead of
travelling with every chunk."""

_envs: dict[str, tuple] = {}
"""In a worker process: the shared part of recent calls, each loaded once (see ``_env``)."""
_ENVS_KEPT = 4


def load_shared(source: tuple) -> Any:
    """In a worker: the object a ``ship`` source carries (large buffers mapped, not copied)."""
    if source[0] == "bytes":
        return _portable.loads_out_of_band(source[1], source[2])
    import mmap

    _kind, path, blob_len, spans = source
    with open(path, "rb") as f:
        # a private (copy-on-write) mapping: arrays read the file's pages and stay writable
        view = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY))
    return _portable.loads_out_of_band(view[:blob_len], [view[o : o + n] for o, n in spans])


def _env(token: str, source: tuple) -> tuple:
    """In a worker: ``(pipeline, run, inputs, seed)`` of call ``token``, loaded from ``source``
    the first time this worker sees the call. ``run`` is the pipeline with a listener when events
    are recorded (so the root's events are fired; ``_run_chunk`` has them recorded)."""
    env = _envs.get(token)
    if env is not None:
        return env
    pipeline, inputs, observe, seed = load_shared(source)
    run = pipeline
    if observe:
        # every event of the items (nested pipelines with their own callbacks included) is
        # recorded by the run (see _run_chunk); the root needs a listener for its events to be emitted
        from hypernodes import callbacks as _callbacks
        from hypernodes._pickle import rebuild_pipeline

        settings = {"cache": pipeline.cache, "callbacks": [_callbacks.Callback()]}
        run = rebuild_pipeline(pipeline.nodes, pipeline.name, None, pipeline.bound, settings)
    env = (pipeline, run, inputs, seed)
    if source[0] == "file":
        # a large call's memory is let go once a later large call arrives
        for old in [t for t, e in _envs.items() if e[4]]:
            del _envs[old]
    while len(_envs) >= _ENVS_KEPT:
        _envs.pop(next(iter(_envs)))
    _envs[token] = (*env, source[0] == "file")
    return env


def _producer(pipeline: Any, output: str) -> str:
    found = pipeline._producers().get(output)
    return pipeline.nodes[found[0]].name if found is not None else "?"


def _where(path: list[str], items: list[int]) -> str:
    """``pipeline 'a > b', item 3``: the engine's wording of a place."""
    from hypernodes._core import place_note

    return place_note(list(path), list(items))


def _unsendable_result(pipeline: Any, out: list[dict], first: int, origin: tuple) -> Exception:
    """The error for results of a chunk that cannot be pickled: names the node, the output and
    the item."""
    from hypernodes.errors import TransferError

    path, items, _depth = origin
    for i, outputs in enumerate(out):
        bad = _portable.first_unpicklable(outputs)
        if bad is not None:
            name, reason = bad
            return TransferError(
                f"node '{_producer(pipeline, name)}' of {_where(path, [*items, first + i])}: its "
                f"output '{name}' cannot be sent back from a worker process ({reason})"
            )
    return TransferError("the results of a worker process cannot be pickled")


def _sendable(value: Any) -> Any:
    if isinstance(value, BaseException):
        return _portable.carry(value)
    if _portable.why_not(value) is None:
        return value
    if isinstance(value, dict):
        return {k: _sendable(v) for k, v in value.items()}
    return f"<{type(value).__name__} that cannot leave its worker process>"


def sendable_events(events: list) -> list:
    """Events that can travel back: an exception (``on_error``'s) is carried as the raised error
    is (``_portable.carry``: it unpickles even when its ``__init__`` takes other arguments), a
    value that cannot be pickled is named by its type instead."""
    carries = any(isinstance(a, BaseException) for _, args, *_ in events for a in args)
    if not carries and _portable.why_not(events) is None:
        return events
    return [(hook, tuple(_sendable(a) for a in args), *where) for hook, args, *where in events]


def _run_chunk(token: str, source: tuple[str, Any], payload: bytes) -> tuple[str, bytes]:
    """In a worker: runs the items of one chunk with the engine (``resume_items``), so events,
    error notes and cache keys are those of the caller's own run."""
    from hypernodes import NodeExecutor

    events: list[tuple[str, tuple, list[str], list[int]]] = []
    try:
        pipeline, run, inputs, seed = _env(token, source)[:4]
        first, items, map_over, output_name, node_execution, origin, on_error = _portable.loads(
            payload
        )
        memory = pipeline.cache if seed is not None else None
        if memory is not None:
            memory.clear()
            memory._merge(seed)
        executor = NodeExecutor(node_execution=node_execution, map_execution="sequential")
        # with callbacks, the run records its events into `events` (the binding holds the list
        # for this run only), to be replayed in the caller's process
        record = events if run is not pipeline else None
        out = executor._resume_items(
            run, inputs, map_over, items, first, output_name, origin, on_error, record
        )
        # a failed item's exception (on_error="continue") travels as itself
        out = [_portable.carry(o) if isinstance(o, BaseException) else o for o in out]
        fresh = {}
        if memory is not None:
            fresh = {k: v for k, v in memory._export().items() if k not in seed}
        try:
            return ("ok", _portable.dumps((out, sendable_events(events), fresh, None)))
        except Exception:  # noqa: BLE001 - named below
            error = _unsendable_result(pipeline, out, first, origin)
            return (
                "error",
                _portable.dumps(([], sendable_events(events), {}, _portable.carry(error))),
            )
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller, with the events so far
        return ("error", _portable.dumps(([], sendable_events(events), {}, _portable.carry(exc))))


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


def ship(obj: Any, directory: list[str]) -> tuple[str, tuple]:
    """How an object that every worker of a call needs travels (the shared part of a map, a Daft
    segment): its token and ``("bytes", pickle, buffers)``, or, when large, ``("file", path,
    pickle length, buffer spans)`` of one file holding the pickle and its buffers (NumPy arrays'
    data: not copied until written there), read by ``load_shared``. ``directory`` receives the
    temporary directory to remove after the call."""
    blob, buffers = _portable.dumps_out_of_band(obj)
    size = len(blob) + sum(b.nbytes for b in buffers)
    if size < SHIP_BY_FILE:
        digest = hashlib.blake2b(blob, digest_size=16)
        for b in buffers:
            digest.update(b)
        return digest.hexdigest(), ("bytes", blob, [bytes(b) for b in buffers])
    import os
    import tempfile
    import uuid

    if not directory:
        shm = "/dev/shm"
        where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
        directory.append(tempfile.mkdtemp(prefix="hypernodes-call-", dir=where))
    fd, path = tempfile.mkstemp(prefix="shared-", suffix=".pickle", dir=directory[0])
    spans = []
    with os.fdopen(fd, "wb") as f:
        f.write(blob)
        offset = len(blob)
        for b in buffers:
            pad = -offset % 64  # aligned, as NumPy prefers
            f.write(b"\0" * pad)
            offset += pad
            f.write(b)
            spans.append((offset, b.nbytes))
            offset += b.nbytes
    return uuid.uuid4().hex, ("file", path, len(blob), spans)


def _ship(shared: tuple, origin: tuple, directory: list[str]) -> tuple[str, tuple]:
    """``ship`` for the shared part of a map (``(pipeline, inputs, observe, seed)``), naming an
    input that cannot be pickled before any work starts."""
    try:
        return ship(shared, directory)
    except Exception:
        _check_inputs(shared[1], origin)
        raise


def _check_inputs(inputs: dict[str, Any], origin: tuple) -> None:
    """Names a shared input that cannot be sent to a worker."""
    bad = _portable.first_unpicklable(inputs)
    if bad is not None:
        from hypernodes.errors import TransferError

        name, reason = bad
        raise TransferError(
            f"input '{name}' of {_where(origin[0], origin[1])} cannot be sent to a worker "
            f"process ({reason})"
        )


def _chunk_payload(part: list[tuple], first: int, rest: tuple, map_over: list[str], origin: tuple):
    try:
        return _portable.dumps((first, part, *rest))
    except Exception:
        from hypernodes.errors import TransferError

        for i, item in enumerate(part):
            bad = _portable.first_unpicklable(dict(zip(map_over, item)))
            if bad is not None:
                name, reason = bad
                raise TransferError(
                    f"item {first + i} of input '{name}' of {_where(origin[0], origin[1])} cannot "
                    f"be sent to a worker process ({reason})"
                ) from None
        raise


def map_items(
    pipeline: Any,
    inputs: dict[str, Any],
    map_over: list[str],
    items: list[tuple],
    output_name: list[str] | None,
    workers: tuple[int, int],
    node_execution: str,
    cache: Any = None,
    observe: bool = False,
    origin: tuple = ((), (), 0),
    on_error: str = "raise",
) -> tuple[list[Any], list[tuple[str, tuple, list[str], list[int]]], BaseException | None]:
    """Runs the ``items`` the engine built for a map of ``pipeline`` (one value per ``map_over``
    name each; ``inputs``: the inputs every item shares) in the pool of worker processes, in chunks
    sized for ``workers = (busy, pool size)``. ``origin`` is where the caller's map is (path,
    enclosing items, map depth): each worker resumes the items there, so events and error notes
    read as the caller's own. Returns one dict per item, in order (with ``on_error="continue"``, a
    failed item's exception in its place), the callback events to replay (when observed), and the
    exception of the first failing chunk (None when all succeeded). On an interrupt, queued work is
    dropped and busy workers are stopped (``stop_call``)."""
    from hypernodes._pickle import rebuild_pipeline

    n = len(items)
    if n == 0:
        return [], [], None
    busy, pool_size = workers
    # Workers run with the cache in effect here (a DiskCache travels as its path) and record events
    # instead of calling the caller's callbacks.
    settings = {"cache": cache if cache is not None else False, "callbacks": []}
    pipeline = rebuild_pipeline(pipeline.nodes, pipeline.name, None, pipeline.bound, settings)
    observe = observe or _has_own_callbacks(pipeline)
    # A MemoryCache lives in this process: its entries travel to the workers once per call and
    # the entries the workers add come back and are merged (use a DiskCache for large caches).
    seed = _memory_seed(cache) if isinstance(cache, MemoryCache) else None
    chunk = max(1, -(-n // (busy * 4)))
    sizes = [nd.batch_size for nd in pipeline.nodes if nd.batch_size is not None]
    if sizes:
        # dual nodes batch within a chunk: chunks as large as their batch size, spread on workers
        chunk = max(chunk, min(-(-n // busy), max(sizes)))
    rest = (list(map_over), output_name, node_execution, tuple(origin), on_error)
    payloads = [
        (start, _chunk_payload(items[start : start + chunk], start, rest, map_over, origin))
        for start in range(0, n, chunk)
    ]
    tmp: list[str] = []
    futures = []
    try:
        token, source = _ship((pipeline, inputs, observe, seed), origin, tmp)
        futures = [
            (start, submit(pool_size, _run_chunk, token, source, p)) for start, p in payloads
        ]
        results: list[dict[str, Any]] = []
        events: list[tuple[str, tuple, list[str], list[int]]] = []
        for _start, fut in futures:
            _status, blob = result(fut)
            out, chunk_events, fresh, error = _portable.loads(blob)
            if fresh:
                cache._merge(fresh)
            results.extend(out)
            events.extend(chunk_events)
            if error is not None:
                # the caller replays the events so far (the failing item's included), then raises
                return results, events, error
        return results, events, None
    except BaseException:
        # an interrupt (or the caller's own error): nothing more of this call is wanted
        if stop_call([f for _s, f in futures], pool_size):
            futures = []
        raise
    finally:
        for _start, fut in futures:
            fut.cancel()
        if tmp:
            import shutil

            shutil.rmtree(tmp[0], ignore_errors=True)


def _call_node(blob: bytes, args: bytes) -> tuple[str, bytes]:
    try:
        node = _portable.loads(blob)
        out = node.func(*_portable.loads(args))
        if hasattr(out, "__await__"):
            from hypernodes._aio import run_coroutine

            out = run_coroutine(out)
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller
        return ("error", _portable.dumps_error(exc))
    try:
        return ("ok", _portable.dumps(out))
    except Exception as exc:  # noqa: BLE001 - the output is named
        from hypernodes.errors import TransferError

        names = list(node.outputs)
        values = list(out) if len(names) > 1 and isinstance(out, (tuple, list)) else [out]
        bad = _portable.first_unpicklable(dict(zip(names, values)))
        name, reason = (
            bad if bad is not None else (", ".join(names), f"{type(exc).__name__}: {exc}")
        )
        error = TransferError(
            f"output '{name}' of node '{node.name}' cannot be sent back from a worker process "
            f"({reason})"
        )
        return ("error", _portable.dumps_error(error))


def call_node(node: Any, args: list[Any], workers: int) -> Any:
    """Calls one function node in a worker process and returns what the function returned."""
    try:
        blob_args = _portable.dumps(args)
    except Exception:
        from hypernodes.errors import TransferError

        bad = _portable.first_unpicklable(dict(zip(node.inputs, args)))
        if bad is None:
            raise
        name, reason = bad
        raise TransferError(
            f"input '{name}' of node '{node.name}' cannot be sent to a worker process ({reason})"
        ) from None
    fut = submit(workers, _call_node, _portable.dumps(node), blob_args)
    status, payload = result(fut)
    value = _portable.loads(payload)
    if status == "error":
        raise value
    return value


__all__ = ["call_node", "check_picklable", "map_items", "result", "shutdown", "submit"]


def _make_recorder_class():
    """A Callback class whose instances record every event as ``(hook, args, hierarchy_path,
    items)`` in ``.events``, the shape worker processes record too (used where events must be
    carried back to the caller, as by the Daft worker)."""
    from hypernodes.callbacks import Callback

    class Recorder(Callback):
        def __init__(self) -> None:
            self.events: list[tuple[str, tuple, list[str], list[int]]] = []

        def __getattribute__(self, name: str):
            if not name.startswith("on_"):
                return object.__getattribute__(self, name)
            events = object.__getattribute__(self, "events")

            def record(*args):
                *payload, ctx = args
                events.append((name, tuple(payload), list(ctx.hierarchy_path), list(ctx.items)))

            return record

    return Recorder
