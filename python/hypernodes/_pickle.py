"""Rebuilding nodes, pipelines and executors from their pickled configuration.

Pipelines pickle as configuration (functions, names, mappings, bound values, settings), never as
materialized state, so shipping one to another process or machine carries nothing live.
"""

from __future__ import annotations

from typing import Any


def rebuild_node(
    func, name, params, outputs, defaults, cache, version, is_async, multi, identity=None, dual=None
):
    import cloudpickle

    from hypernodes._core import Node

    if isinstance(func, bytes):  # pickled by value with cloudpickle
        func = cloudpickle.loads(func)
    # a dual node's batch function (by value, likewise), batch size and list setting
    extra = {}
    if dual is not None:
        batch, size, lists = dual
        extra = {"batch": cloudpickle.loads(batch), "batch_size": size, "batch_lists": lists}
    # `identity` is the code identity computed where the node was pickled: a function rebuilt by
    # cloudpickle has other globals and modules around it in the receiving process (its helpers may
    # not be importable there), and the cache keys must agree on both sides.
    return Node(
        func, name, params, outputs, defaults, cache, version, is_async, multi, identity, **extra
    )


def rebuild_pipeline_node(pipeline, name, input_mapping, output_mapping, map_over, map_mode, cache):
    return pipeline.as_node(
        name=name,
        input_mapping=input_mapping,
        output_mapping=output_mapping,
        map_over=map_over or None,
        map_mode=map_mode,
        cache=cache,
    )


def rebuild_pipeline(nodes, name, executor, bound, settings: dict[str, Any] | None = None):
    from hypernodes._core import Pipeline

    p = Pipeline(nodes=nodes, name=name, executor=executor, **(settings or {}))
    return p.bind(**bound) if bound else p
