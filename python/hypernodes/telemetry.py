"""OpenTelemetry spans that mirror the structure of a run.

``TelemetryCallback`` opens a span per pipeline run (root or nested), per node, per map and, with
``map_items=True``, per map item. A cache hit is a ``node`` span with the attribute ``cached=True``
(computed nodes have ``cached=False``). Spans go to any OpenTelemetry tracer: by default
``opentelemetry.trace.get_tracer("hypernodes")``, so whatever tracer provider the application set up
(an OTLP exporter, Jaeger, Logfire after ``logfire.configure()``...) receives them.

Spans are created with explicit parent contexts (never the thread's implicit current span), because
events arrive from worker threads. Only a root span (a root run, or a root map) takes the caller's
current context as its parent, so a run inside an application span nests under it.

Span names and attributes:

- ``pipeline <name>``: ``hypernodes.kind="pipeline"``, ``hypernodes.pipeline``, ``hypernodes.path``
  (names from the root), ``hypernodes.depth``, ``hypernodes.nested``;
- ``node <name>``: ``hypernodes.kind="node"``, ``hypernodes.node``, ``hypernodes.pipeline``,
  ``hypernodes.path``, ``hypernodes.depth``, ``cached``; a failing node records the exception and
  an error status;
- ``map <name>``: ``hypernodes.kind="map"``, ``hypernodes.pipeline``, ``hypernodes.path``,
  ``hypernodes.depth``, ``hypernodes.total_items``;
- ``map item <i>`` (with ``map_items=True``): ``hypernodes.kind="map_item"``,
  ``hypernodes.item_index``, ``hypernodes.path``, ``hypernodes.depth``, ``cached`` (True when every
  node of the item was a hit).

When a root run fails, every span still open in it ends with an error status.

Known limit: when several runs of one pipeline are open at once (concurrent map items) and their
nodes also run on other threads (``node_execution="threaded"``), or when several maps of one
pipeline are open at once, an event does not tell which of the open runs it belongs to; it is then
attached to the most recent one. The tree stays well formed (every node under a run of its own
pipeline, every run under a map or node of the right pipeline), but siblings may be swapped.
"""

from __future__ import annotations

import threading
from typing import Any

try:
    from opentelemetry import trace as _trace
    from opentelemetry.trace import Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        "TelemetryCallback needs OpenTelemetry: pip install 'hypernodes[telemetry]' "
        "(opentelemetry-api and opentelemetry-sdk)"
    ) from exc

from hypernodes.callbacks import Callback, CallbackContext

_PIPELINE, _NODE, _NESTED, _MAP, _ITEM = "pipeline", "node", "nested", "map", "map_item"


class _Frame:
    __slots__ = ("kind", "name", "owns", "parent", "path", "pending", "span", "thread")

    def __init__(self, kind, path, name, span, owns, parent):
        self.kind = kind
        self.path = path
        self.name = name
        self.thread = threading.get_ident()
        self.span = span
        self.owns = owns
        self.parent = parent
        self.pending = False

    def end(self) -> None:
        if self.owns:
            self.span.end()


class _Run:
    """Open frames of one root run, in opening order."""

    def __init__(self) -> None:
        self.frames: list[_Frame] = []
        self.root_maps = 0
        self.done = False

    def find(self, kind: str, path: tuple, name: Any = None) -> _Frame | None:
        """The most recent open frame on this thread, else the most recent open one."""
        me = threading.get_ident()
        best = None
        for f in reversed(self.frames):
            if f.pending or f.kind != kind or f.path != path:
                continue
            if name is not None and f.name != name:
                continue
            if f.thread == me:
                return f
            if best is None:
                best = f
        return best

    def remove(self, frame: _Frame) -> None:
        self.frames.remove(frame)
        frame.end()

    def flush_pending(self, thread: int) -> None:
        for f in [f for f in self.frames if f.pending and f.thread == thread]:
            self.remove(f)

    def close_tree(self, top: _Frame, error: BaseException | None = None) -> None:
        """Ends ``top`` and every open frame below it, children first."""
        doomed = {id(top)}
        for f in self.frames:  # parents open before their children
            if f.parent is not None and id(f.parent) in doomed:
                doomed.add(id(f))
        for f in reversed([f for f in self.frames if id(f) in doomed]):
            if error is not None and f.owns and f.span.is_recording():
                f.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            self.remove(f)

    def close_all(self, error: BaseException | None = None) -> None:
        for f in list(reversed(self.frames)):
            if error is not None and f.owns and f.span.is_recording():
                f.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            self.remove(f)
        self.done = True


class TelemetryCallback(Callback):
    """OpenTelemetry spans for pipelines, nested pipelines, nodes, maps and (optionally) map items.

    Args:
        tracer: the tracer to use (default: ``opentelemetry.trace.get_tracer("hypernodes")``,
            resolved at the first event so a provider configured later is used).
        map_items: open a span per map item (default: item runs are children of the map span).

    The callback pickles as configuration: a given ``tracer`` is not pickled (the unpickled copy
    uses the global tracer provider of its process).
    """

    def __init__(self, tracer: Any = None, map_items: bool = False) -> None:
        self.map_items = map_items
        self._tracer = tracer
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.RLock()
        self._key = f"_hypernodes.telemetry.{id(self)}"

    def __getstate__(self) -> dict:
        return {"map_items": self.map_items}

    def __setstate__(self, state: dict) -> None:
        self.map_items = state.get("map_items", False)
        self._tracer = None
        self._init_runtime()

    def __repr__(self) -> str:
        return f"TelemetryCallback(map_items={self.map_items})"

    @property
    def tracer(self) -> Any:
        if self._tracer is None:
            self._tracer = _trace.get_tracer("hypernodes")
        return self._tracer

    # ----------------------------------------------------------------------------- helpers

    def _run(self, ctx: CallbackContext) -> _Run:
        run = ctx.get(self._key)
        if run is None:
            run = _Run()
            ctx.set(self._key, run)
        return run

    def _start(self, name: str, parent: _Frame | None, attributes: dict) -> Any:
        context = _trace.set_span_in_context(parent.span) if parent is not None else None
        return self.tracer.start_span(name, context=context, attributes=attributes)

    @staticmethod
    def _where(ctx: CallbackContext) -> tuple[tuple, dict]:
        path = tuple(ctx.hierarchy_path)
        attrs = {"hypernodes.path": list(path), "hypernodes.depth": ctx.depth}
        return path, attrs

    def _event(self, ctx: CallbackContext, cached_item: bool = False):
        """The run of this event, with the ended items of this thread flushed (unless the event
        is the ``map_item_cached`` that may follow them)."""
        run = self._run(ctx)
        if not cached_item and not run.done:
            run.flush_pending(threading.get_ident())
        return run

    def _run_parent(self, run: _Run, path: tuple) -> _Frame | None:
        """Where a pipeline run or a map at ``path`` hangs: a map item, else the nested pipeline
        node of the enclosing pipeline."""
        if len(path) > 1:
            return run.find(_NESTED, path[:-1], path[-1])
        return None

    # ----------------------------------------------------------------------------- hooks

    def on_pipeline_start(self, pipeline_id: str, inputs: dict, ctx: CallbackContext) -> None:
        with self._lock:
            run = self._event(ctx)
            if run.done:
                return
            path, attrs = self._where(ctx)
            # No parent: a root run, or a callback attached below the root (its spans are roots).
            parent = run.find(_ITEM, path) or self._run_parent(run, path)
            attrs.update(
                {
                    "hypernodes.kind": _PIPELINE,
                    "hypernodes.pipeline": pipeline_id,
                    "hypernodes.nested": ctx.depth > 0,
                }
            )
            span = self._start(f"pipeline {pipeline_id}", parent, attrs)
            run.frames.append(_Frame(_PIPELINE, path, pipeline_id, span, True, parent))

    def on_pipeline_end(
        self, pipeline_id: str, outputs: dict, duration: float, ctx: CallbackContext
    ) -> None:
        with self._lock:
            run = self._event(ctx)
            path = tuple(ctx.hierarchy_path)
            frame = run.find(_PIPELINE, path, pipeline_id)
            if frame is not None:
                run.remove(frame)
            if ctx.depth == 0 and run.root_maps == 0:
                run.close_all()

    def _node_span(self, node_id: str, cached: bool, ctx: CallbackContext):
        run = self._event(ctx)
        path, attrs = self._where(ctx)
        parent = run.find(_PIPELINE, path)
        if parent is None:
            return run, None, None
        attrs.update(
            {
                "hypernodes.kind": _NODE,
                "hypernodes.node": node_id,
                "hypernodes.pipeline": ctx.current_pipeline_id or "",
                "cached": cached,
            }
        )
        return run, parent, self._start(f"node {node_id}", parent, attrs)

    def on_node_start(self, node_id: str, inputs: dict, ctx: CallbackContext) -> None:
        with self._lock:
            run, parent, span = self._node_span(node_id, False, ctx)
            if span is not None:
                path = tuple(ctx.hierarchy_path)
                run.frames.append(_Frame(_NODE, path, node_id, span, True, parent))

    def on_node_cached(self, node_id: str, signature: str, ctx: CallbackContext) -> None:
        with self._lock:
            _, _, span = self._node_span(node_id, True, ctx)
            if span is not None:
                span.set_attribute("hypernodes.signature", signature)
                span.end()

    def on_node_end(
        self, node_id: str, outputs: dict, duration: float, ctx: CallbackContext
    ) -> None:
        with self._lock:
            run = self._event(ctx)
            frame = run.find(_NODE, tuple(ctx.hierarchy_path), node_id)
            if frame is not None:
                run.remove(frame)

    def on_error(self, node_id: str, error: BaseException, ctx: CallbackContext) -> None:
        with self._lock:
            run = self._event(ctx)
            frame = run.find(_NODE, tuple(ctx.hierarchy_path), node_id)
            if frame is not None:
                if isinstance(error, BaseException) and frame.span.is_recording():
                    frame.span.record_exception(error)
                run.close_tree(frame, error)
            if ctx.depth == 0:
                # An error at depth 0 ends the root run: nothing else will end its spans.
                run.close_all(error)

    def on_nested_pipeline_start(
        self, parent_id: str, child_pipeline_id: str, ctx: CallbackContext
    ) -> None:
        with self._lock:
            run = self._event(ctx)
            path = tuple(ctx.hierarchy_path)
            node = run.find(_NODE, path)
            if node is not None:
                run.frames.append(_Frame(_NESTED, path, child_pipeline_id, node.span, False, node))

    def on_nested_pipeline_end(
        self, parent_id: str, child_pipeline_id: str, duration: float, ctx: CallbackContext
    ) -> None:
        with self._lock:
            run = self._event(ctx)
            frame = run.find(_NESTED, tuple(ctx.hierarchy_path), child_pipeline_id)
            if frame is not None:
                run.remove(frame)

    def on_map_start(self, total_items: int, ctx: CallbackContext) -> None:
        with self._lock:
            run = self._event(ctx)
            if run.done:
                return
            path, attrs = self._where(ctx)
            parent = self._run_parent(run, path)
            if ctx.depth == 0:
                run.root_maps += 1
            name = ctx.current_pipeline_id or ""
            attrs.update(
                {
                    "hypernodes.kind": _MAP,
                    "hypernodes.pipeline": name,
                    "hypernodes.total_items": total_items,
                }
            )
            span = self._start(f"map {name}", parent, attrs)
            run.frames.append(_Frame(_MAP, path, name, span, True, parent))

    def on_map_end(self, total_duration: float, ctx: CallbackContext) -> None:
        with self._lock:
            run = self._event(ctx)
            frame = run.find(_MAP, tuple(ctx.hierarchy_path))
            if frame is not None:
                for f in [f for f in run.frames if f.pending and f.parent is frame]:
                    run.remove(f)
                run.remove(frame)
            if ctx.depth == 0:
                run.root_maps = max(run.root_maps - 1, 0)
                if run.root_maps == 0:
                    run.close_all()

    def on_map_item_start(self, item_index: int, ctx: CallbackContext) -> None:
        with self._lock:
            run = self._event(ctx)
            path, attrs = self._where(ctx)
            parent = run.find(_MAP, path)
            if parent is None:
                return
            if self.map_items:
                attrs.update(
                    {
                        "hypernodes.kind": _ITEM,
                        "hypernodes.item_index": item_index,
                        "cached": False,
                    }
                )
                span, owns = self._start(f"map item {item_index}", parent, attrs), True
            else:
                span, owns = parent.span, False
            run.frames.append(_Frame(_ITEM, path, item_index, span, owns, parent))

    def on_map_item_end(self, item_index: int, duration: float, ctx: CallbackContext) -> None:
        with self._lock:
            run = self._event(ctx)
            frame = run.find(_ITEM, tuple(ctx.hierarchy_path), item_index)
            if frame is not None:
                # Kept until we know whether it was cached: ``map_item_cached`` comes next on this
                # thread, if at all.
                frame.pending = True

    def on_map_item_cached(self, item_index: int, signature: str, ctx: CallbackContext) -> None:
        with self._lock:
            run = self._event(ctx, cached_item=True)
            path = tuple(ctx.hierarchy_path)
            me = threading.get_ident()
            pending = [
                f
                for f in run.frames
                if f.pending and f.kind == _ITEM and f.path == path and f.name == item_index
            ]
            pending.sort(key=lambda f: f.thread == me)
            if pending:
                frame = pending[-1]
                if frame.owns:
                    frame.span.set_attribute("cached", True)
                run.remove(frame)
            run.flush_pending(me)


__all__ = ["TelemetryCallback"]
