"""What DaftExecutor computes: the engine's plan of a pipeline (the nodes a selection of outputs
needs, in the engine's topological order, the root inputs they read, the output positions each node
must produce), what workers need of each node, and the root inputs' values, with the engine's
missing-input error."""

from __future__ import annotations

from typing import Any

from hypernodes import _core

"""Marks a parameter without a default value."""


class Spec:
    """One node of a plan, as workers need it (picklable as configuration)."""

    __slots__ = (
        "cache",
        "func",
        "identity",
        "index",
        "inner_name",
        "is_async",
        "is_pipeline",
        "name",
        "node",
        "outputs",
        "params",
        "wrapper_node",
    )

    def __init__(self, index: int, node: Any) -> None:
        self.index = index
        self.name: str = node.name
        self.params: list[str] = list(node.inputs)
        self.outputs: list[str] = list(node.outputs)
        self.cache: bool = node.cache
        self.is_pipeline: bool = node.is_pipeline
        self.node = node
        # computed here: a worker keys the node's calls exactly as this process would
        self.identity: bytes | None = _core.node_identity(node)
        self.func = None
        self.is_async = False
        self.wrapper_node = None
        self.inner_name = None
        if self.is_pipeline:
            inner = node.pipeline
            # The copy a worker runs: the node itself is keyed and stored by the executor with its
            # Merkle key, so the copy does not cache itself (its inner nodes still use the cache).
            self.wrapper_node = node.with_cache(False)
            self.inner_name = inner.name
            self.is_async = _awaits(inner)
        else:
            self.func = node.func
            self.is_async = node.is_async


def names_arg(value: Any) -> list[str] | None:
    """A str or a sequence of str as a list (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def _awaits(pipeline: Any) -> bool:
    """Whether a pipeline has an ``async def`` node at any depth."""
    return any(_awaits(n.pipeline) if n.is_pipeline else n.is_async for n in pipeline.nodes)


class Plan:
    """The engine's plan of a pipeline for a selection of outputs (``Pipeline._plan``): the nodes to
    run (topological order), the root inputs needed (sorted), the outputs returned (in order) and,
    per node index, the output positions needed when not all of them are; plus what workers need
    of each node (``specs``) and which node produces each value (``producer``)."""

    def __init__(self, pipeline: Any, selected: list[str] | None) -> None:
        nodes = list(pipeline.nodes)  # the engine's node indices are positions in this list
        order, inputs, outputs, wanted = pipeline._plan(selected)
        self.pipeline = pipeline
        self.order: list[int] = list(order)
        self.inputs: list[str] = list(inputs)
        self.outputs: list[str] = list(outputs)
        self.wanted: dict[int, list[int]] = {i: list(ps) for i, ps in wanted.items()}
        self.producer: dict[str, tuple[int, int]] = dict(pipeline._producers())
        self.specs = {i: Spec(i, nodes[i]) for i in self.order}
