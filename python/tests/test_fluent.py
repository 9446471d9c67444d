"""Fluent setup (with_*), map over bound lists, and pipeline nodes called like functions."""

from __future__ import annotations

import pytest
from hypernodes import (
    Callback,
    ConfigurationError,
    MemoryCache,
    NodeExecutor,
    Pipeline,
    UnknownInputError,
    node,
)


@node(output_name="scaled")
def scale(value: int, factor: int) -> int:
    return value * factor


class Seen(Callback):
    def __init__(self):
        self.nodes = []

    def on_node_end(self, node_id, outputs, duration, ctx):
        self.nodes.append(node_id)


def test_with_methods_return_new_pipelines_and_leave_the_original():
    p = Pipeline(nodes=[scale])
    ex = NodeExecutor(map_execution="threaded", max_workers=2)
    cache = MemoryCache()
    seen = Seen()
    q = p.with_name("scaler").with_executor(ex).with_cache(cache).with_callbacks([seen])
    assert (q.name, q.executor.map_execution, q.callbacks) == ("scaler", "threaded", [seen])
    assert isinstance(q.cache, MemoryCache)
    assert p.name != "scaler" and p.executor is None and p.cache is None and p.callbacks is None
    assert q.map({"value": [1, 2], "factor": 3}, map_over="value") == [
        {"scaled": 3},
        {"scaled": 6},
    ]
    assert seen.nodes == ["scale", "scale"]
    q.run({"value": 1, "factor": 3})
    assert seen.nodes == ["scale", "scale"], "the second run hit the cache"
    off = q.with_cache(False).with_callbacks([]).with_executor(None)
    assert (off.cache, off.callbacks, off.executor) == (False, [], None)
    with pytest.raises(ConfigurationError, match="cache=True is ambiguous"):
        p.with_cache(True)
    with pytest.raises(ConfigurationError, match="is not a hypernodes.Callback"):
        p.with_callbacks([object()])


def test_map_without_inputs_when_the_mapped_lists_are_bound():
    p = Pipeline(nodes=[scale]).bind(value=[1, 2, 3], factor=10)
    assert p.map(map_over="value") == [{"scaled": 10}, {"scaled": 20}, {"scaled": 30}]
    # given inputs still override bound ones
    assert p.map({"factor": 2}, map_over="value") == [{"scaled": 2}, {"scaled": 4}, {"scaled": 6}]
    with pytest.raises(Exception, match="at least one map_over"):
        p.map()


def _inner():
    @node(output_name="a")
    def make_a(x: int) -> int:
        return x * 2

    @node(output_name="b")
    def make_b(a: int, y: int = 1) -> int:
        return a + y

    return Pipeline(nodes=[make_a, make_b], name="inner")


def test_a_pipeline_node_is_callable_with_keyword_inputs():
    wrapped = _inner().as_node(
        name="w", input_mapping={"n": "x"}, output_mapping={"a": "first", "b": "second"}
    )
    assert wrapped.output_name == ("first", "second")
    assert wrapped(n=5) == {"first": 10, "second": 11}
    assert wrapped(n=5, y=0) == {"first": 10, "second": 10}
    single = _inner().as_node(output_mapping={"b": "only"})
    assert single.output_name == "only"
    assert single(x=1) == {"only": 3}


def test_a_mapped_pipeline_node_called_maps():
    wrapped = _inner().as_node(name="w", map_over="x")
    assert wrapped(x=[1, 2, 3]) == {"a": [2, 4, 6], "b": [3, 5, 7]}


def test_calling_a_pipeline_node_badly_names_the_node_and_the_fault():
    wrapped = _inner().as_node(name="w", input_mapping={"number": "x"})
    with pytest.raises(
        ConfigurationError, match=r"node 'w' wraps a pipeline: call it with keyword"
    ):
        wrapped(5)
    with pytest.raises(
        UnknownInputError, match=r"has no input 'numbr' \(did you mean 'number'\?\)"
    ):
        wrapped(numbr=5)
    with pytest.raises(ValueError, match=r"Missing required input.*number \(needed by node 'w'\)"):
        wrapped()
