"""DaftExecutor: hands the whole pipeline to Daft, locally or on a Ray cluster.

``map`` turns the items into the rows of one Daft DataFrame and the nodes into Daft class UDF
columns (``@daft.cls``; consecutive synchronous nodes share one column, each ``async def`` node has
its own), so Daft plans the graph and runs batches of rows in parallel; ``run`` is a one-row map. Results, cache keys and callback events are those of ``NodeExecutor``::

    from hypernodes.daft import DaftExecutor

    Pipeline(nodes=[...], executor=DaftExecutor())            # Daft's native runner
    Pipeline(nodes=[...], executor=DaftExecutor(runner="ray"))  # a Ray cluster (local if no address)

Needs the optional extra: ``pip install 'hypernodes[daft]'`` (``hypernodes[ray]`` for Ray).
See ``docs/guides/choosing-an-executor.md`` for what runs where and what callbacks can see.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from typing import Any

from hypernodes import _core
from hypernodes._daft import columns as _columns
from hypernodes._daft import worker as _w
from hypernodes._daft.plan import Plan, names_arg
from hypernodes.errors import ConfigurationError, TransferError

try:
    import daft as _daft
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "hypernodes.daft needs the 'daft' package: pip install 'hypernodes[daft]'"
    ) from _exc

__all__ = ["DaftExecutor"]

_RUNNERS = ("native", "ray")
_runner_lock = threading.Lock()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class DaftExecutor:
    """Runs pipelines on Daft: one row per map item; consecutive synchronous nodes become one Daft
    UDF column (a batch of rows per call), each ``async def`` node a column of its own.

    - ``runner``: ``"native"`` (Daft's local multithreaded runner, the default) or ``"ray"``.
    - ``address``: the Ray cluster to join (``"ray://host:10001"``, ``"auto"``); ``None`` joins
      the Ray instance of this process, or starts a local one.
    - ``use_process`` (native runner): ``True`` sends each batch of rows of the synchronous
      nodes to HyperNodes' pool of worker processes (one per core, started on first use and
      reused by every later call, the pool ``NodeExecutor(map_execution="parallel")`` uses), for
      true parallelism in CPU-bound Python (values travel as pickles, so identity is not kept);
      ``False`` runs every node in this process on Daft's threads (values untouched, identity
      kept); ``"auto"`` (default) runs the first items here (at least one, up to
      ``probe_items`` or ``probe_seconds``) and uses the worker processes for the rest when it is
      estimated to take longer than ``process_threshold`` seconds (a one-item ``run`` never
      does; a map with a ``DualNode`` is not probed item by item and runs here).
    - A ``DualNode`` in a map runs its batch function once per Daft batch of rows (at least its
      ``batch_size`` rows, split into calls of at most that many); ``@stateful`` objects are
      built once per process that runs them (this one, each pool worker, each Ray UDF actor).
    - ``use_cache`` / ``use_callbacks``: use the pipeline's HyperNodes cache (same keys as
      NodeExecutor) and fire its callbacks (from this process, as results arrive); ``False`` turns
      either off for this executor.
    - ``stateful_udf``: on Ray, options of the Daft class UDF (``@daft.cls``) of each column
      that holds a ``@stateful`` object (a shared input of one of its nodes, or the object whose
      methods a node calls, say a DualNode's): ``gpus``, ``cpus``, ``max_concurrency`` (how many
      actors, so how many copies of the model, at once) and ``ray_options``. Each actor builds
      the object once, on first use.
    - ``max_concurrency``: coroutines of one ``async def`` node in flight at once (default 32;
      on Ray, per Ray worker running the node); a nested mapped pipeline with ``async def``
      nodes runs up to this many of its items at once per row.
    """

    process_threshold: float = 0.5
    """``use_process="auto"``: the estimated time of the map (seconds) above which it is sent to
    worker processes (the first call of a process starts them, about 0.3 s on 2 cores; later calls
    reuse them)."""
    probe_items: int = 32
    """``use_process="auto"``: at most this many items (and an eighth of the map) are timed here."""
    probe_seconds: float = 0.02
    """``use_process="auto"``: timing stops after the item that passes this many seconds."""

    def __init__(
        self,
        runner: str = "native",
        address: str | None = None,
        use_process: bool | str = "auto",
        use_cache: bool = True,
        use_callbacks: bool = True,
        max_concurrency: int | None = None,
        stateful_udf: dict[str, Any] | None = None,
    ) -> None:
        if runner not in _RUNNERS:
            raise ConfigurationError(f"unknown Daft runner '{runner}': expected 'native' or 'ray'")
        if use_process not in (True, False, "auto"):
            raise ConfigurationError(
                f"use_process must be True, False or 'auto', got {use_process!r}"
            )
        if address is not None and runner != "ray":
            raise ConfigurationError("address is a Ray cluster address: use it with runner='ray'")
        if max_concurrency is not None and max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.runner = runner
        self.address = address
        self.use_process = use_process
        self.use_cache = bool(use_cache)
        self.use_callbacks = bool(use_callbacks)
        self.max_concurrency = max_concurrency
        self.stateful_udf = _udf_options(stateful_udf)

    def __reduce__(self):
        return (
            DaftExecutor,
            (
                self.runner,
                self.address,
                self.use_process,
                self.use_cache,
                self.use_callbacks,
                self.max_concurrency,
                self.stateful_udf or None,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"DaftExecutor(runner={self.runner!r}, address={self.address!r}, "
            f"use_process={self.use_process!r}, use_cache={self.use_cache}, "
            f"use_callbacks={self.use_callbacks})"
        )

    # ------------------------------------------------------------------ public API

    def run(
        self,
        pipeline: Any,
        inputs: dict[str, Any],
        output_name: str | list[str] | None = None,
        _ctx: Any = None,
    ) -> dict[str, Any]:
        """Runs ``pipeline`` once (a one-row Daft query); returns every output of every node that
        ran, or those named by ``output_name``."""
        if _ctx is None:  # called directly, not by the engine (which checked the names)
            pipeline._check_inputs(inputs, output_name)
        ctx = _ctx if _ctx is not None else _core.RunContext.root(pipeline, self)
        return _Call(self, pipeline, dict(inputs), None, "zip", output_name, ctx).execute()[0]

    def map(
        self,
        pipeline: Any,
        inputs: dict[str, Any],
        map_over: str | list[str],
        map_mode: str = "zip",
        output_name: str | list[str] | None = None,
        on_error: str = "raise",
        _ctx: Any = None,
    ) -> list[Any]:
        """Maps ``pipeline`` over the inputs named in ``map_over``: one Daft row per item; returns
        one dict per item, in item order (``on_error="continue"``: every item runs, and a failed
        item's place holds its exception)."""
        keep_going = _core.continues_on_error(on_error)
        over = names_arg(map_over) or []
        if _ctx is None:  # called directly, not by the engine (which checked the names)
            pipeline._check_inputs(inputs, output_name, over)
        ctx = _ctx if _ctx is not None else _core.RunContext.root(pipeline, self)
        call = _Call(self, pipeline, dict(inputs), over, map_mode, output_name, ctx)
        return call.execute(keep_going)

    # ------------------------------------------------------------------ runner

    def _ensure_runner(self) -> None:
        from daft.runners import _get_runner

        with _runner_lock:
            current = _get_runner()
            name = getattr(current, "name", None) if current is not None else None
            if name is None:
                if self.runner == "ray":
                    _daft.set_runner_ray(address=self.address, noop_if_initialized=True)
                else:
                    _daft.set_runner_native()
                return
            if name != self.runner:
                raise ConfigurationError(
                    f"DaftExecutor(runner='{self.runner}'): Daft's runner is process-wide and this "
                    f"process already runs Daft on its '{name}' runner; use one runner per process "
                    "(start Ray work in a fresh process, or set DAFT_RUNNER before Daft first runs)"
                )


_UDF_OPTIONS = ("gpus", "cpus", "max_concurrency", "ray_options")


def _udf_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """``stateful_udf`` checked: only the ``@daft.cls`` options HyperNodes leaves to the user."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(_UDF_OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"stateful_udf: unknown option(s) {', '.join(map(repr, unknown))}; "
            f"expected some of {', '.join(_UDF_OPTIONS)}"
        )
    conc = options.get("max_concurrency")
    if conc is not None and (not isinstance(conc, int) or conc < 1):
        raise ConfigurationError(f"stateful_udf: max_concurrency must be at least 1, got {conc!r}")
    return options


class _Call:
    """One run or map of one pipeline level by a DaftExecutor."""

    def __init__(self, ex, pipeline, inputs, map_over, map_mode, output_name, ctx) -> None:
        self.ex = ex
        self.pipeline = pipeline
        self.inputs = inputs
        self.map_over = map_over
        self.map_mode = map_mode
        self.ctx = ctx
        self.is_map = map_over is not None
        # the engine plans, checks map_mode, splits the items and resolves the root inputs, in
        # NodeExecutor's order
        selected = self.selected = names_arg(output_name)
        self.plan = Plan(pipeline, selected)
        # a map over DualNodes may never split its items (see `_daft.columns`)
        self.columns = _columns.mapped_lists(self) if self.is_map else None
        self.items = (
            None
            if self.columns is not None
            else pipeline._map_items(inputs, map_over, map_mode)
            if self.is_map
            else [()]
        )
        later = map_over if self.is_map else []
        self.base = dict(pipeline._root_values(selected, inputs, later))
        self.cache = ctx.cache if ex.use_cache else None
        self.keyed = self.cache is not None
        self.observed = ex.use_callbacks and ctx.observed
        self.mapped = [m for m in (map_over or []) if m in self.plan.inputs]
        self.mapped_pos = [map_over.index(m) for m in self.mapped] if self.is_map else []

    # ------------------------------------------------------------------ rows

    def _key(self, value: Any, name: str) -> bytes | None:
        # None when it cannot be hashed (the engine warns once, naming the input and its type)
        return _core.value_key(value, name)

    def rows(self) -> list[tuple]:
        rows = []
        for i, item in enumerate(self.items):
            vals = {m: item[p] for m, p in zip(self.mapped, self.mapped_pos)}
            keys = {m: self._key(v, m) for m, v in vals.items()} if self.keyed else None
            rows.append((i, vals, keys))
        return rows

    # ------------------------------------------------------------------ jobs

    def jobs(self, cache_spec: tuple | None) -> dict[int, _w.Job]:
        plan = self.plan
        bkeys = {n: self._key(v, n) for n, v in self.base.items()} if self.keyed else {}
        jobs = {}
        varying: set[int] = set()  # nodes whose outputs vary per row
        for i in plan.order:
            spec = plan.specs[i]
            sources: list[tuple] = []
            deps: list[int] = []
            broadcast = {}
            for p in spec.params:
                if p in plan.producer:
                    ni, pos = plan.producer[p]
                    sources.append(("node", ni, pos))
                    if ni not in deps:
                        deps.append(ni)
                elif p in self.mapped:
                    sources.append(("row", p, None))
                else:
                    sources.append(("bc", p, None))
                    broadcast[p] = (self.base[p], bkeys.get(p))
            varies = [kind == "row" or (kind == "node" and a in varying) for kind, a, _ in sources]
            if any(varies):
                varying.add(i)
            jobs[i] = _w.Job(
                spec,
                sources,
                deps,
                broadcast,
                plan.wanted.get(i),
                self.keyed,
                cache_spec,
                self.observed,
                (*self.ctx.origin, self.is_map),
                self.ex.max_concurrency or 32,
                varies if self.is_map and spec.node.batch is not None else None,
            )
        return jobs

    # ------------------------------------------------------------------ execution

    def execute(self, keep_going: bool = False) -> list[Any]:
        """The items' outputs in order; with ``keep_going``, a failed item's exception in its
        place."""
        ctx = self.ctx
        if self.columns is not None:
            if self.cache is None and not self.observed and not keep_going:
                return _columns.run(self, *self.columns)
            self.items = self.pipeline._map_items(self.inputs, self.map_over, self.map_mode)
        emit = ctx.emit if self.observed else None
        rows = self.rows()
        t0 = time.perf_counter()
        if self.is_map and emit:
            emit("on_map_start", (len(rows),))
        results: list[Any] = []
        for i, records in self._records(rows):
            try:
                results.append(self._replay(i, rows[i], records))
            except Exception as exc:
                if not keep_going:
                    raise
                results.append(exc)
        if self.is_map and emit:
            emit("on_map_end", (time.perf_counter() - t0,))
        return results

    def _records(self, rows: list[tuple]):
        """Yields ``(item index, {node index: record})`` in item order."""
        if not rows:
            return
        if _w.in_worker():
            yield from self._inline(rows)
            return
        ex = self.ex
        start = 0
        use_process = ex.use_process
        if ex.runner == "ray":
            use_process = True
        elif use_process == "auto":
            use_process = False
            if len(rows) > 1 and _cpus() > 1 and not self._all_async() and not self._has_dual():
                # Time the first items here (at least one, at most an eighth of the map, until
                # `probe_seconds` have passed) and estimate the rest of the map from them.
                limit = max(1, min(ex.probe_items, len(rows) // 8))
                t = time.perf_counter()
                for got in self._inline(rows[:limit]):
                    yield got
                    start += 1
                    if time.perf_counter() - t >= ex.probe_seconds:
                        break
                per_item = (time.perf_counter() - t) / start
                use_process = per_item * (len(rows) - start) > ex.process_threshold
        if start < len(rows):
            yield from self._daft(rows, start, bool(use_process))

    def segments(self) -> list[tuple[list[int], bool, list[int]]]:
        """The plan's nodes as Daft UDF columns: ``(node indices, is_async, earlier segments
        read)``. Consecutive synchronous nodes (in the plan's topological order) share one column,
        so Daft starts one pool of worker processes for them instead of one per node; each
        ``async def`` node, and each nested pipeline with such nodes, is a column of its own (an
        async UDF)."""
        plan = self.plan
        segs: list[tuple[list[int], bool, list[int]]] = []
        seg_of: dict[int, int] = {}
        for i in plan.order:
            spec = plan.specs[i]
            # a dual node in a map runs batches, awaited in a synchronous column
            is_async = spec.is_async and not (self.is_map and spec.node.batch is not None)
            if is_async or not segs or segs[-1][1]:
                segs.append(([], is_async, []))
            k = len(segs) - 1
            members, _, inputs = segs[k]
            members.append(i)
            seg_of[i] = k
            for p in spec.params:
                if p in plan.producer:
                    d = seg_of[plan.producer[p][0]]
                    if d != k and d not in inputs:
                        inputs.append(d)
        return segs

    def _has_dual(self) -> bool:
        # a map with a dual node is not probed item by item: the batches run in this process
        return self.is_map and any(s.node.batch is not None for s in self.plan.specs.values())

    def _all_async(self) -> bool:
        return all(s.is_async for s in self.plan.specs.values())

    def _inline(self, rows: list[tuple]):
        """Runs rows right here, node by node, with the UDFs' own code (used inside Daft workers,
        where starting another Daft query is not possible, and to time the first item)."""
        jobs = self.jobs(None)
        envs = {}
        for i, job in jobs.items():
            envs[i] = _w.Env(job, self.cache)  # this process's cache object itself
        if any(job.varies is not None for job in jobs.values()):
            # dual nodes: all rows node by node, a dual node's rows in batches
            all_records: list[dict[int, tuple]] = [{} for _ in rows]
            _w.run_batch([(i, envs[i]) for i in self.plan.order], rows, all_records)
            for row, records in zip(rows, all_records):
                yield row[0], records
            return
        for row in rows:
            records: dict[int, tuple] = {}
            for i in self.plan.order:
                records[i] = _w.run_sync(envs[i], row, records)
            yield row[0], records

    def _daft(self, rows: list[tuple], start: int, use_process: bool):
        """Runs ``rows[start:]`` as one Daft query; yields ``(item index, records)`` in item order.

        Native runner: the rows and records stay in this process (a ``RowStore``) and Daft's
        columns carry row positions; each synchronous segment runs on Daft's threads here, or
        (``use_process``) sends each batch of rows to HyperNodes' pool of worker processes,
        started once per process and reused by every query. Ray: rows and records travel as
        pickles in binary columns."""
        ex = self.ex
        ex._ensure_runner()
        on_ray = ex.runner == "ray"
        pooled = use_process and not on_ray
        leaves = on_ray or pooled  # nodes run in other processes
        tokens: list[str] = []
        cache_spec = None
        if self.cache is not None:
            if not leaves:
                tokens.append(_w.register(self.cache))
                cache_spec = ("live", tokens[-1])
            elif isinstance(self.cache, _core.MemoryCache):
                cache_spec = ("seed", self.cache._export())
            else:
                cache_spec = ("object", self.cache)
        jobs = self.jobs(cache_spec)
        if leaves:
            self._check_portable(jobs)
        part = list(range(start, len(rows)))
        shipping: list[str] = []  # directory of the segments shipped to worker processes by file
        try:
            if on_ray:
                encoded = self._encode_rows(rows[start:])
                row_col = _daft.Series.from_pylist(
                    encoded, name="row", dtype=_daft.DataType.binary()
                )
                df = _daft.from_pydict({"row": row_col, "i": part})
            else:
                if pooled:
                    self._check_rows_portable(rows[start:])
                store = _w.RowStore(rows)
                store_token = _w.register(store)
                tokens.append(store_token)
                df = _daft.from_pydict({"i": part})
            segments = self.segments()
            conc = ex.max_concurrency or 32
            query = uuid.uuid4().hex
            for k, (members, is_async, inputs) in enumerate(segments):
                seg = _w.Segment([jobs[i] for i in members], inputs)
                if on_ray:
                    options = ex.stateful_udf if _w.holds_stateful(seg) else {}
                    udf = _w.make_ray_udf_class(is_async, conc, options)(seg)
                    first = _daft.col("row")
                elif pooled and not is_async:
                    source = _w.ship_segment(seg, shipping)
                    outline = [(job.spec.index, job.spec.name) for job in seg.jobs]
                    spec = (f"{query}-{k}", source, store_token, seg.needed, outline)
                    udf = _w.make_pooled_udf_class(_cpus())(spec)
                    first = _daft.col("i")
                else:
                    tokens.append(_w.register(seg))
                    spec = (tokens[-1], store_token)
                    if is_async:
                        tokens.append(_w.register(_w.InFlight(conc)))
                        spec += (tokens[-1],)
                    udf = _w.make_local_udf_class(is_async, conc)(spec)
                    first = _daft.col("i")
                cols = [first] + [_daft.col(f"s{d}") for d in inputs]
                df = df.with_column(f"s{k}", udf(*cols))
            n = len(part)
            morsel = max(1, min(2048, -(-n // (4 * _cpus()))))
            if self._has_dual():
                # a dual node's batch is Daft's batch of rows: as large as its batch size allows
                sizes = [s.node.batch_size for s in self.plan.specs.values() if s.node.batch]
                morsel = max(morsel, min(n, max(sizes)))
            names = [f"s{k}" for k in range(len(segments))]
            with _daft.execution_config_ctx(default_morsel_size=morsel, maintain_order=True):
                df = df.select("i", *names)
                # Items are replayed in item order as their partitions arrive (Ray may deliver
                # partitions out of order: they wait in `pending` until their turn).
                pending: dict[int, dict[int, tuple]] = {}
                k = start
                for chunk in df.iter_partitions():
                    if not hasattr(chunk, "to_pydict"):  # a Ray object reference
                        import ray

                        chunk = ray.get(chunk)
                    data = chunk.to_pydict()
                    if on_ray:
                        for pos, *vals in zip(data["i"], *(data[nm] for nm in names)):
                            records: dict[int, tuple] = {}
                            for v in vals:
                                records.update(_w.loads(v))
                            pending[pos] = records
                    else:
                        for pos in data["i"]:
                            pending[pos] = store.records[pos]
                    while k in pending:
                        yield rows[k][0], pending.pop(k)
                        k += 1
        finally:
            for t in tokens:
                _w.unregister(t)
            if shipping:
                shutil.rmtree(shipping[0], ignore_errors=True)

    def _check_portable(self, jobs: dict[int, _w.Job]) -> None:
        """Before any work starts: everything sent to worker processes or Ray must pickle."""
        import cloudpickle

        for job in jobs.values():
            spec = job.spec
            batch = None if spec.is_pipeline else spec.node.batch
            what = "its function" if not spec.is_pipeline else "its pipeline"
            try:
                cloudpickle.dumps(spec.func if not spec.is_pipeline else spec.wrapper_node)
                if batch is not None:
                    what = "its batch function"
                    cloudpickle.dumps(batch)
            except Exception as exc:
                raise ConfigurationError(
                    f"node '{spec.name}' of pipeline '{self.pipeline.name}' cannot be sent to a "
                    f"Daft worker: {what} cannot be pickled ({type(exc).__name__}: {exc}); use "
                    "DaftExecutor(use_process=False) on the native runner"
                ) from exc
            for name, (value, _key) in job.broadcast.items():
                try:
                    cloudpickle.dumps(value)
                except Exception as exc:
                    raise TransferError(
                        f"input '{name}' of node '{spec.name}' in pipeline "
                        f"'{self.pipeline.name}' cannot be sent to a Daft worker "
                        f"({type(exc).__name__}: {exc}); use DaftExecutor(use_process=False) "
                        "on the native runner"
                    ) from exc

    def _check_rows_portable(self, rows: list[tuple]) -> None:
        """Before any work starts: the rows must pickle (one pass; row by row only to name the
        item at fault)."""
        try:
            _w.dumps(rows)
        except Exception:  # noqa: BLE001
            self._encode_rows(rows)

    def _encode_rows(self, rows: list[tuple]) -> list[bytes]:
        out = []
        for row in rows:
            try:
                out.append(_w.dumps(row))
            except Exception as exc:
                bad = next((m for m, v in row[1].items() if not _w.picklable(v)), ", ".join(row[1]))
                users = [s.name for s in self.plan.specs.values() if bad in s.params]
                raise TransferError(
                    f"item {row[0]} of input '{bad}' (used by node(s) {', '.join(users)} of "
                    f"pipeline '{self.pipeline.name}') cannot be sent to a Daft worker "
                    f"({type(exc).__name__}: {exc}); use DaftExecutor(use_process=False) on the "
                    "native runner"
                ) from exc
        return out

    # ------------------------------------------------------------------ driver side

    def _replay(self, index: int, row: tuple, records: dict[int, tuple]) -> dict[str, Any]:
        """One item's records become NodeExecutor's events, error and outputs: the engine replays
        them (``RunContext.replay_item``: event order, error notes, the item's signature). Fresh
        entries of a worker's MemoryCache copy are merged here first."""
        if self.cache is not None:
            for rec in records.values():
                if rec[0] == "ok" and rec[5]:
                    self.cache._merge(rec[5])
        values = dict(self.base)
        values.update(row[1])
        keys = None
        if self.keyed and self.is_map and row[2] is not None:
            keys = [row[2][m] for m in self.mapped if row[2].get(m) is not None]
        return self.ctx.replay_item(
            self.pipeline,
            self.selected,
            index if self.is_map else None,
            values,
            keys,
            records,
            self.observed,
        )
