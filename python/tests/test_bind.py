"""bind / unbind: new pipelines with values bound to inputs; the original stays unchanged."""

from __future__ import annotations

import pytest
from hypernodes import MissingInputError, Pipeline, UnknownInputError, node


def _pipeline(calls):
    @node(output_name="total")
    def add(a, b):
        calls.append("add")
        return a + b

    @node(output_name="scaled")
    def scale(total, factor=1):
        calls.append("scale")
        return total * factor

    return Pipeline([scale, add], name="arith")


def test_bind_returns_a_new_pipeline_and_original_is_unchanged(executor, calls):
    p = _pipeline(calls)
    q = p.bind(a=1)
    assert q is not p
    assert isinstance(q, Pipeline)
    assert p.inputs == ["a", "b"]
    assert dict(p.bound) == {}
    assert q.inputs == ["b"]
    assert dict(q.bound) == {"a": 1}
    with pytest.raises(MissingInputError):
        executor.run(p, {"b": 2})


def test_bound_value_is_used_in_run(executor, calls):
    q = _pipeline(calls).bind(a=10)
    assert executor.run(q, {"b": 5}) == {"total": 15, "scaled": 15}


def test_run_inputs_override_bound_values(executor, calls):
    q = _pipeline(calls).bind(a=10, b=20)
    assert q.inputs == []
    assert executor.run(q, {}) == {"total": 30, "scaled": 30}
    assert executor.run(q, {"a": 1}) == {"total": 21, "scaled": 21}
    assert executor.run(q, {"a": 1, "b": 2}) == {"total": 3, "scaled": 3}
    # the override does not stick
    assert executor.run(q, {})["total"] == 30


def test_bind_multiple_and_chained(executor, calls):
    p = _pipeline(calls)
    q = p.bind(a=1).bind(b=2)
    assert q.inputs == []
    assert dict(q.bound) == {"a": 1, "b": 2}
    assert executor.run(q, {})["total"] == 3


def test_rebinding_replaces_value(executor, calls):
    q = _pipeline(calls).bind(a=1).bind(a=100)
    assert dict(q.bound)["a"] == 100
    assert executor.run(q, {"b": 0})["total"] == 100


def test_bind_optional_input_overrides_default(executor, calls):
    p = _pipeline(calls)
    assert "factor" in p.optional_inputs
    q = p.bind(factor=3)
    assert "factor" not in q.optional_inputs
    assert "factor" not in q.inputs
    assert executor.run(q, {"a": 1, "b": 1})["scaled"] == 6
    assert executor.run(p, {"a": 1, "b": 1})["scaled"] == 2


def test_unbind_returns_new_pipeline_and_restores_input(executor, calls):
    p = _pipeline(calls)
    q = p.bind(a=1, b=2)
    r = q.unbind("a")
    assert r is not q
    assert r.inputs == ["a"]
    assert dict(r.bound) == {"b": 2}
    # q unchanged
    assert q.inputs == []
    assert dict(q.bound) == {"a": 1, "b": 2}
    with pytest.raises(MissingInputError) as info:
        executor.run(r, {})
    assert "a" in str(info.value)
    assert executor.run(r, {"a": 5})["total"] == 7


def test_unbind_several_names(calls):
    q = _pipeline(calls).bind(a=1, b=2, factor=3)
    r = q.unbind("a", "factor")
    assert r.inputs == ["a"]
    assert "factor" in r.optional_inputs
    assert dict(r.bound) == {"b": 2}


def test_unbind_then_bind_round_trip(calls):
    p = _pipeline(calls)
    assert p.bind(a=1).unbind("a").inputs == p.inputs


def test_bind_unknown_name_is_an_error(calls):
    with pytest.raises(UnknownInputError) as info:
        _pipeline(calls).bind(not_an_input=1)
    assert "not_an_input" in str(info.value)


def test_unbind_unknown_name_is_an_error(calls):
    with pytest.raises(UnknownInputError) as info:
        _pipeline(calls).bind(a=1).unbind("never_bound_name")
    assert "never_bound_name" in str(info.value)


def test_bind_does_not_change_outputs(calls):
    p = _pipeline(calls)
    assert sorted(p.bind(a=1).outputs) == sorted(p.outputs)


def test_bound_object_identity(executor, calls):
    obj = object()
    received = []

    @node(output_name="same")
    def same(x):
        received.append(x)
        return x

    q = Pipeline([same]).bind(x=obj)
    assert q.bound["x"] is obj
    assert executor.run(q, {})["same"] is obj
    assert received[0] is obj


def test_bound_value_broadcast_in_map(executor, calls):
    q = _pipeline(calls).bind(b=100)
    out = executor.map(q, {"a": [1, 2, 3]}, map_over="a", output_name="total")
    assert out == [{"total": 101}, {"total": 102}, {"total": 103}]


def test_bound_value_can_be_mapped_over_when_overridden(executor, calls):
    q = _pipeline(calls).bind(a=0, b=100)
    out = executor.map(q, {"a": [1, 2]}, map_over="a", output_name="total")
    assert out == [{"total": 101}, {"total": 102}]


def test_bound_inner_pipeline_in_nesting(executor, calls):
    inner = _pipeline(calls).bind(b=1000)

    @node(output_name="shown")
    def show(scaled):
        return f"={scaled}"

    outer = Pipeline([show, inner.as_node(name="arith_node")], name="outer")
    assert outer.inputs == ["a"]
    assert executor.run(outer, {"a": 1}) == {"total": 1001, "scaled": 1001, "shown": "=1001"}


def test_rebinding_inner_pipeline_changes_nested_result(calls):
    inner = _pipeline(calls)
    n1 = inner.bind(b=1).as_node(name="n", output_mapping={"total": "t"})
    n2 = inner.bind(b=2).as_node(name="n", output_mapping={"total": "t"})
    assert Pipeline([n1]).run({"a": 10}) == {"t": 11}
    assert Pipeline([n2]).run({"a": 10}) == {"t": 12}


def test_bind_outer_pipeline_feeds_nested(executor, calls):
    inner = _pipeline(calls)
    outer = Pipeline([inner.as_node(name="n", input_mapping={"outer_a": "a"})], name="o")
    bound = outer.bind(outer_a=5, b=6)
    assert bound.inputs == []
    assert executor.run(bound, {})["total"] == 11
    assert outer.inputs == ["b", "outer_a"]
