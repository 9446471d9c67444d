"""NodeExecutor: the default sequential executor, used directly or set on a pipeline."""

from __future__ import annotations

import pytest
from hypernodes import HyperNodesError, MissingInputError, NodeExecutor, Pipeline, node


def _pipeline(calls, **kwargs):
    @node(output_name="doubled")
    def double(x):
        calls.append("double")
        return 2 * x

    @node(output_name="plus")
    def plus(doubled, y):
        calls.append("plus")
        return doubled + y

    @node(output_name="neg")
    def neg(x):
        calls.append("neg")
        return -x

    return Pipeline([plus, double, neg], name="ex", **kwargs)


def test_defaults_are_sequential():
    ex = NodeExecutor()
    assert ex.node_execution == "sequential"
    assert ex.map_execution == "sequential"


def test_explicit_sequential_modes():
    ex = NodeExecutor(node_execution="sequential", map_execution="sequential")
    assert ex.node_execution == "sequential"
    assert ex.map_execution == "sequential"


def test_unknown_execution_mode_is_rejected():
    with pytest.raises(HyperNodesError) as info:
        NodeExecutor(node_execution="warp_speed")
    assert "warp_speed" in str(info.value)
    with pytest.raises(HyperNodesError):
        NodeExecutor(map_execution="bogus_mode")


def test_executor_run_matches_pipeline_run(calls):
    p = _pipeline(calls)
    ex = NodeExecutor()
    out = ex.run(p, {"x": 3, "y": 1})
    assert out == {"doubled": 6, "plus": 7, "neg": -3}
    assert out == p.run({"x": 3, "y": 1})


def test_executor_run_output_name(calls):
    p = _pipeline(calls)
    out = NodeExecutor().run(p, {"x": 3}, output_name="neg")
    assert out == {"neg": -3}
    assert calls == ["neg"]


def test_executor_run_output_name_list_keyword(calls):
    p = _pipeline(calls)
    out = NodeExecutor().run(pipeline=p, inputs={"x": 3, "y": 0}, output_name=["plus", "neg"])
    assert out == {"plus": 6, "neg": -3}


def test_executor_run_missing_input(calls):
    p = _pipeline(calls)
    with pytest.raises(MissingInputError) as info:
        NodeExecutor().run(p, {"x": 1})
    assert "y" in str(info.value)


def test_executor_map_zip(calls):
    p = _pipeline(calls)
    out = NodeExecutor().map(p, {"x": [1, 2, 3], "y": 10}, map_over="x")
    assert [r["plus"] for r in out] == [12, 14, 16]
    assert out == p.map({"x": [1, 2, 3], "y": 10}, map_over="x")


def test_executor_map_product_and_output_name(calls):
    p = _pipeline(calls)
    out = NodeExecutor().map(
        p, {"x": [1, 2], "y": [0, 100]}, ["x", "y"], map_mode="product", output_name="plus"
    )
    assert out == [{"plus": 2}, {"plus": 102}, {"plus": 4}, {"plus": 104}]
    assert calls.count_of("neg") == 0


def test_executor_map_empty(calls):
    p = _pipeline(calls)
    assert NodeExecutor().map(p, {"x": [], "y": 1}, map_over="x") == []
    assert calls == []


def test_pipeline_with_explicit_executor_runs(calls):
    p = _pipeline(calls, executor=NodeExecutor())
    assert p.run({"x": 2, "y": 1}) == {"doubled": 4, "plus": 5, "neg": -2}
    assert p.map({"x": [2], "y": 1}, map_over="x") == [{"doubled": 4, "plus": 5, "neg": -2}]


def test_executor_identity_kept():
    obj = object()

    @node(output_name="same")
    def same(value):
        return value

    p = Pipeline([same])
    assert NodeExecutor().run(p, {"value": obj})["same"] is obj
    assert NodeExecutor().map(p, {"value": [obj]}, map_over="value")[0]["same"] is obj
