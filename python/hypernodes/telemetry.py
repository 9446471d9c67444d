"""OpenTelemetry spans that mirror the structure of a run.

``TelemetryCallback`` opens a span per pipeline run (root or nested), per node, per map and, with
``map_items=True``, per map item. Spans go to any OpenTelemetry tracer: by default
``opentelemetry.trace.get_tracer("hypernodes")``, so whatever tracer provider the application set up
(an OTLP exporter, Jaeger, Logfire after ``logfire.configure()``...) receives them.

The engine keeps the run's tree (``hypernodes._core.RunTree``, shared with the progress bars and the
Rust ``TracingCallback``); this module only draws it. Spans are created with explicit parents, and
every event carries the indices of its map items, so the spans of concurrent items never attach to
a sibling. Only a root span (a root run, or a root map) takes the caller's current context as its
parent, so a run inside an application span nests under it.

Span names and attributes are the same as those of the Rust ``TracingCallback``: spans ``pipeline``,
``node``, ``map`` and ``map_item``, with ``hypernodes.kind``, ``hypernodes.pipeline``,
``hypernodes.path`` (names from the root, ``/``-joined), ``hypernodes.depth``, and
``hypernodes.nested`` (pipelines), ``hypernodes.node`` (nodes), ``hypernodes.total_items`` (maps),
``hypernodes.item_index`` (items), ``hypernodes.cached`` (nodes and items: True for a cache hit, or
an item whose every node was a hit). A failing node records the exception; it and every span a
failure closes end with an error status. When a root run fails, every span still open in it ends.
"""

from __future__ import annotations

from typing import Any

try:
    from opentelemetry import trace as _trace
    from opentelemetry.trace import Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        "TelemetryCallback needs OpenTelemetry: pip install 'hypernodes[telemetry]' "
        "(opentelemetry-api and opentelemetry-sdk)"
    ) from exc

from hypernodes._observe import TreeCallback, _Run


class TelemetryCallback(TreeCallback):
    """OpenTelemetry spans for pipelines, nested pipelines, nodes, maps and (optionally) map items.

    Args:
        tracer: the tracer to use (default: ``opentelemetry.trace.get_tracer("hypernodes")``,
            resolved at the first event so a provider configured later is used).
        map_items: open a span per map item (default: item runs are children of the map span).

    The callback pickles as configuration: a given ``tracer`` is not pickled (the unpickled copy
    uses the global tracer provider of its process).
    """

    _bars = False  # draws spans only

    def __init__(self, tracer: Any = None, map_items: bool = False) -> None:
        self.map_items = map_items
        self._tracer = tracer
        self._init_tree()

    def __getstate__(self) -> dict:
        return {"map_items": self.map_items}

    def __setstate__(self, state: dict) -> None:
        self.map_items = state.get("map_items", False)
        self._tracer = None
        self._init_tree()

    def __repr__(self) -> str:
        return f"TelemetryCallback(map_items={self.map_items})"

    @property
    def tracer(self) -> Any:
        if self._tracer is None:
            self._tracer = _trace.get_tracer("hypernodes")
        return self._tracer

    def _render(self, run: _Run, changes: list[tuple], hook: str, args: tuple) -> None:
        spans = run.draw  # span id -> (span, owned, node name)
        for change in changes:
            if change[0] == "open":
                _, sid, parent, name, attrs = change
                up = spans.get(parent)
                if name == "map_item" and not self.map_items and up is not None:
                    spans[sid] = (up[0], False, None)
                    continue
                context = _trace.set_span_in_context(up[0]) if up is not None else None
                span = self.tracer.start_span(name, context=context, attributes=attrs)
                spans[sid] = (span, True, attrs.get("hypernodes.node"))
            elif change[0] == "close":
                _, sid, outcome, message = change
                span, owned, node = spans.pop(sid, (None, False, None))
                if not owned:
                    continue
                if outcome == "cached":
                    span.set_attribute("hypernodes.cached", True)
                elif outcome == "failed" and span.is_recording():
                    error = args[1] if hook == "on_error" else None
                    if node is not None and node == args[0] and isinstance(error, BaseException):
                        span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR, message))
                span.end()


__all__ = ["TelemetryCallback"]
