"""Callbacks: observe runs, maps, nodes and cache hits.

Subclass :class:`Callback` and override any hook (every default is a no-op); the names and positional
parameters are those of the original HyperNodes. Events are delivered in the caller's process, one
at a time per callback object (never concurrently), in the order documented in ``docs/callbacks.md``.
"""

from __future__ import annotations

from typing import Any


class CallbackContext:
    """State shared by the callbacks of one root run across nesting: ``depth`` (0 at the root),
    ``hierarchy_path`` (pipeline names from the root), ``items`` (the indices of the map items the
    current event belongs to, outermost first), ``current_pipeline_id``, and ``set``/``get`` for the
    callbacks' own data."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.hierarchy_path: list[str] = []
        self.items: tuple[int, ...] = ()

    @property
    def depth(self) -> int:
        """Nesting depth of the pipeline the current event belongs to (0 at the root)."""
        return max(len(self.hierarchy_path) - 1, 0)

    @property
    def current_pipeline_id(self) -> str | None:
        """The name of the pipeline the current event belongs to."""
        return self.hierarchy_path[-1] if self.hierarchy_path else None

    def set(self, key: str, value: Any) -> None:
        """Stores a value for later events of this run."""
        self._data[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        """Reads a value stored with ``set``."""
        return self._data.get(key, default)


class Callback:
    """Base class of callbacks. Override the hooks you need."""

    def on_pipeline_start(self, pipeline_id: str, inputs: dict, ctx: CallbackContext) -> None:
        """A pipeline run starts."""

    def on_pipeline_end(
        self, pipeline_id: str, outputs: dict, duration: float, ctx: CallbackContext
    ) -> None:
        """A pipeline run ended successfully."""

    def on_node_start(self, node_id: str, inputs: dict, ctx: CallbackContext) -> None:
        """A node is about to be computed."""

    def on_node_end(
        self, node_id: str, outputs: dict, duration: float, ctx: CallbackContext
    ) -> None:
        """A node was computed."""

    def on_node_cached(self, node_id: str, signature: str, ctx: CallbackContext) -> None:
        """A node's outputs came from the cache."""

    def on_error(self, node_id: str, error: BaseException, ctx: CallbackContext) -> None:
        """A node raised."""

    def on_nested_pipeline_start(
        self, parent_id: str, child_pipeline_id: str, ctx: CallbackContext
    ) -> None:
        """A nested pipeline node starts its inner pipeline."""

    def on_nested_pipeline_end(
        self, parent_id: str, child_pipeline_id: str, duration: float, ctx: CallbackContext
    ) -> None:
        """A nested pipeline finished."""

    def on_map_start(self, total_items: int, ctx: CallbackContext) -> None:
        """A map over ``total_items`` items starts."""

    def on_map_end(self, total_duration: float, ctx: CallbackContext) -> None:
        """A map finished."""

    def on_map_item_start(self, item_index: int, ctx: CallbackContext) -> None:
        """One item of a map starts."""

    def on_map_item_end(self, item_index: int, duration: float, ctx: CallbackContext) -> None:
        """One item of a map finished."""

    def on_map_item_cached(self, item_index: int, signature: str, ctx: CallbackContext) -> None:
        """Every node of one map item was a cache hit."""


def _dispatch(
    callbacks: list[Callback],
    ctx: CallbackContext,
    path: list[str],
    hook: str,
    args: tuple,
    items: list[int] = (),
) -> None:
    """Delivers one event to every callback; the binding calls it under the engine's delivery lock,
    so one event at a time in the process. (In a worker process of a parallel map, the binding
    records the run's events instead, to be replayed in the caller's process.)"""
    ctx.hierarchy_path = path
    ctx.items = tuple(items)
    for cb in callbacks:
        getattr(cb, hook)(*args, ctx)


__all__ = ["Callback", "CallbackContext"]
