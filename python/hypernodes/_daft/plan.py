"""What DaftExecutor computes: the engine's plan of a pipeline (the nodes a selection of outputs
needs, in the engine's topological order, the root inputs they read, the output positions each node
must produce), what workers need of each node, and the root inputs' values, with the engine's
missing-input error."""

from __future__ import annotations

import inspect
from typing import Any

from hypernodes import _core

NO_DEFAULT = object()
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
        "multi",
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
        self.identity: bytes | None = _core.node_identity(node)
        self.func = None
        self.is_async = False
        self.multi = False
        self.wrapper_node = None
        self.inner_name = None
        if self.is_pipeline:
            _, (inner, name, imap, omap, over, mode, _cache) = node.__reduce__()
            from hypernodes._pickle import rebuild_pipeline_node

            # The copy a worker runs: the node itself is keyed and stored by the executor with its
            # Merkle key, so the copy does not cache itself (its inner nodes still use the cache).
            self.wrapper_node = rebuild_pipeline_node(inner, name, imap, omap, over, mode, False)
            self.inner_name = inner.name
        else:
            info = _fn_info(node)
            self.func = node.func
            self.is_async = info[1]
            self.multi = info[2]


def names_arg(value: Any) -> list[str] | None:
    """A str or a sequence of str as a list (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


_info_memo: dict[int, tuple[Any, tuple[dict[str, Any], bool, bool]]] = {}


def _fn_info(node: Any) -> tuple[dict[str, Any], bool, bool]:
    """A function node's parameter defaults, whether it is async, whether its outputs unpack."""
    hit = _info_memo.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    func = node.func
    try:
        sig = inspect.signature(func)
        defaults = {p.name: p.default for p in sig.parameters.values() if p.default is not p.empty}
    except (TypeError, ValueError):
        defaults = {}
    multi = len(node.outputs) > 1
    if not multi and not isinstance(node.output_name, str):
        multi = True
    elif not multi:
        # a one-name tuple output (output_name=("a",)) unpacks too: only the node's pickled
        # configuration says so (when the function cannot be pickled, it is taken as plain)
        try:
            multi = bool(node.__reduce__()[1][8])
        except Exception:  # noqa: BLE001
            multi = False
    info = (defaults, inspect.iscoroutinefunction(func), multi)
    if len(_info_memo) > 4096:
        _info_memo.clear()
    _info_memo[id(node)] = (node, info)
    return info


def _defaults(node: Any) -> dict[str, Any]:
    if node.is_pipeline:
        return {}
    return _fn_info(node)[0]


def input_default(pipeline: Any, name: str) -> Any:
    """The default of a root input: that of its first consumer (in node order), as the engine does."""
    for n in pipeline.nodes:
        if name not in n.inputs:
            continue
        if n.is_pipeline:
            _, (inner, _nm, imap, _om, _over, _mode, _c) = n.__reduce__()
            return input_default(inner, (imap or {}).get(name, name))
        return _defaults(n).get(name, NO_DEFAULT)
    return NO_DEFAULT


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
        self.producer: dict[str, tuple[int, int]] = {
            o: (ni, pos) for ni, n in enumerate(nodes) for pos, o in enumerate(n.outputs)
        }
        self.specs = {i: Spec(i, nodes[i]) for i in self.order}


def root_values(
    pipeline: Any, plan: Plan, inputs: dict[str, Any], later: list[str]
) -> dict[str, Any]:
    """The root inputs of a run (given, then bound, then defaults); names in `later` are left to
    the caller (mapped values). Every missing input is reported at once."""
    bound = pipeline.bound
    values: dict[str, Any] = {}
    missing = []
    for name in plan.inputs:
        if name in later:
            continue
        if name in inputs:
            values[name] = inputs[name]
        elif name in bound:
            values[name] = bound[name]
        else:
            d = input_default(pipeline, name)
            if d is NO_DEFAULT:
                missing.append(name)
            else:
                values[name] = d
    if missing:
        # the engine words the error (naming the nodes that need each input)
        pipeline._check_inputs(inputs, plan.outputs, later)
        raise AssertionError(f"the engine found no missing input among {missing}")
    return values
