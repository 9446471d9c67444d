"""``RunReport``: a callback that records what a ``run`` or ``map`` did, and draws it.

Per node (keyed by the pipeline names from the root and the node's name): calls, cache hits, errors,
total and slowest time. Per node call: a span (start and end in seconds from the report's first
event, the map item it belonged to, the worker thread, and whether it ran, was a cache hit or
failed). Draw it as the pipeline picture with nodes coloured by time (``visualize``) or as a
timeline of spans per item and worker (``timeline``). ``to_json``/``from_json`` keep a report.

Spans are timed when the node's end is delivered (its start is the end minus its duration). Events
of process workers are delivered to the caller after the item ran, so in a ``parallel`` map the
spans keep their true lengths but not their true start times.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from hypernodes.callbacks import Callback, CallbackContext


@dataclass
class NodeStats:
    """What one node did over a run or map."""

    path: tuple[str, ...]
    """Pipeline names from the root to the node's pipeline."""
    node: str
    """The node's name."""
    calls: int = 0
    """Completions: computed, cache hits and failures."""
    cache_hits: int = 0
    """Calls answered by the cache."""
    errors: int = 0
    """Calls that raised."""
    total_time: float = 0.0
    """Seconds spent computing (cache hits count as 0)."""
    slowest: float = 0.0
    """The longest single call, in seconds."""


@dataclass
class Span:
    """One node call."""

    path: tuple[str, ...]
    node: str
    start: float
    """Seconds since the report's first event."""
    end: float
    status: str
    """"ran", "cached" or "error"."""
    item: int | None
    """The index of the top-level map item it belonged to (None outside a map)."""
    worker: str
    """The thread that delivered it."""


@dataclass
class _State:
    t0: float | None = None
    items: dict[int, list[int]] = field(default_factory=dict)  # thread id -> open item stack
    starts: dict[tuple, float] = field(default_factory=dict)
    workers: dict[int, str] = field(default_factory=dict)


class RunReport(Callback):
    """Records runs and maps of the pipelines it is attached to (``callbacks=[report]``), summed
    over every run until :meth:`reset`. ``nodes`` maps ``(path, node)`` to :class:`NodeStats`;
    ``spans`` lists :class:`Span`; ``duration`` is the time from the first to the last event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forgets everything recorded."""
        self.nodes: dict[tuple[tuple[str, ...], str], NodeStats] = {}
        self.spans: list[Span] = []
        self.duration = 0.0
        self._st = _State()

    # -- recording -------------------------------------------------------------------------
    def _now(self) -> float:
        now = time.perf_counter()
        if self._st.t0 is None:
            self._st.t0 = now
        t = now - self._st.t0
        self.duration = max(self.duration, t)
        return t

    def _stats(self, ctx: CallbackContext, node: str) -> tuple[NodeStats, tuple[str, ...]]:
        path = tuple(ctx.hierarchy_path)
        st = self.nodes.get((path, node))
        if st is None:
            st = self.nodes[(path, node)] = NodeStats(path, node)
        return st, path

    def _item(self) -> int | None:
        stack = self._st.items.get(threading.get_ident())
        if stack:
            return stack[0]
        open_items = {s[0] for s in self._st.items.values() if s}
        return open_items.pop() if len(open_items) == 1 else None

    def _worker(self) -> str:
        """The current thread's name; threads the engine started (unnamed in Python) are numbered
        in order of first appearance."""
        t = threading.current_thread()
        if not t.name.startswith("Dummy-"):
            return t.name
        names = self._st.workers
        return names.setdefault(threading.get_ident(), f"worker-{len(names) + 1}")

    def _span(
        self, path: tuple[str, ...], node: str, start: float, end: float, status: str
    ) -> None:
        worker = self._worker()
        self.spans.append(Span(path, node, start, end, status, self._item(), worker))

    def on_pipeline_start(self, pipeline_id: str, inputs: dict, ctx: CallbackContext) -> None:
        with self._lock:
            self._now()

    def on_node_start(self, node_id: str, inputs: dict, ctx: CallbackContext) -> None:
        with self._lock:
            key = (tuple(ctx.hierarchy_path), node_id, threading.get_ident())
            self._st.starts[key] = self._now()

    def on_node_end(
        self, node_id: str, outputs: dict, duration: float, ctx: CallbackContext
    ) -> None:
        with self._lock:
            end = self._now()
            st, path = self._stats(ctx, node_id)
            st.calls += 1
            st.total_time += duration
            st.slowest = max(st.slowest, duration)
            self._st.starts.pop((path, node_id, threading.get_ident()), None)
            self._span(path, node_id, max(end - duration, 0.0), end, "ran")

    def on_node_cached(self, node_id: str, signature: str, ctx: CallbackContext) -> None:
        with self._lock:
            t = self._now()
            st, path = self._stats(ctx, node_id)
            st.calls += 1
            st.cache_hits += 1
            self._span(path, node_id, t, t, "cached")

    def on_error(self, node_id: str, error: BaseException, ctx: CallbackContext) -> None:
        with self._lock:
            t = self._now()
            st, path = self._stats(ctx, node_id)
            st.calls += 1
            st.errors += 1
            start = self._st.starts.pop((path, node_id, threading.get_ident()), t)
            self._span(path, node_id, start, t, "error")

    def on_map_item_start(self, item_index: int, ctx: CallbackContext) -> None:
        with self._lock:
            self._now()
            self._st.items.setdefault(threading.get_ident(), []).append(item_index)

    def on_map_item_end(self, item_index: int, duration: float, ctx: CallbackContext) -> None:
        with self._lock:
            self._now()
            stack = self._st.items.get(threading.get_ident())
            if stack:
                stack.pop()

    def on_map_end(self, total_duration: float, ctx: CallbackContext) -> None:
        with self._lock:
            self._now()

    def on_pipeline_end(
        self, pipeline_id: str, outputs: dict, duration: float, ctx: CallbackContext
    ) -> None:
        with self._lock:
            self._now()

    # -- reading ---------------------------------------------------------------------------
    def stats(self, node: str, path: tuple[str, ...] | None = None) -> NodeStats:
        """The stats of the node named ``node`` (``path``: its pipeline names from the root, needed
        when two pipelines have a node of that name). Raises KeyError naming the known nodes."""
        found = [s for (p, n), s in self.nodes.items() if n == node and (path is None or p == path)]
        if len(found) == 1:
            return found[0]
        known = sorted("/".join((*p, n)) for p, n in self.nodes)
        what = "no node" if not found else "several nodes"
        raise KeyError(f"{what} named {node!r} in the report (path={path}); recorded: {known}")

    def table(self) -> str:
        """A text table: one line per node, slowest total first."""
        rows = sorted(self.nodes.values(), key=lambda s: -s.total_time)
        lines = [f"{'node':<32} {'calls':>6} {'hits':>6} {'errors':>6} {'total s':>9} {'max s':>8}"]
        for s in rows:
            name = "/".join((*s.path[1:], s.node))
            lines.append(
                f"{name:<32} {s.calls:>6} {s.cache_hits:>6} {s.errors:>6} "
                f"{s.total_time:>9.3f} {s.slowest:>8.3f}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (the format ``from_json`` reads)."""
        return {
            "version": 1,
            "duration": self.duration,
            "nodes": [asdict(s) for s in self.nodes.values()],
            "spans": [asdict(s) for s in self.spans],
        }

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> RunReport:
        """A report read back from :meth:`to_json`'s format."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("not a HyperNodes run report (expected a JSON object with version 1)")
        r = cls()
        r.duration = float(data["duration"])
        for s in data["nodes"]:
            st = NodeStats(**{**s, "path": tuple(s["path"])})
            r.nodes[(st.path, st.node)] = st
        r.spans = [Span(**{**s, "path": tuple(s["path"])}) for s in data["spans"]]
        return r

    def visualize(self, pipeline: Any, filename: Any = None, depth: int | None = None, **kw: Any):
        """The pipeline picture with each node coloured by its total time and labelled with its
        calls, hits and time (``depth`` defaults to None: every level open). Returns a
        ``PipelineGraph`` (displays in Jupyter, saves to .svg/.png/.pdf/.dot/.html)."""
        from hypernodes._viz.runview import report_picture

        return report_picture(self, pipeline, filename, depth, **kw)

    def timeline(self, filename: Any = None):
        """A waterfall of node spans, one row per map item and worker. Returns a ``Timeline``
        (displays in Jupyter as SVG; saves to .svg or .html; needs no Graphviz)."""
        from hypernodes._viz.runview import Timeline

        t = Timeline(self)
        if filename is not None:
            t.save(filename)
        return t

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


__all__ = ["NodeStats", "RunReport", "Span"]
