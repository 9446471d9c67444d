"""Pipeline.map: zip and product modes, broadcast inputs, empty lists, and input errors."""

from __future__ import annotations

import collections.abc

import pytest
from hypernodes import (
    HyperNodesError,
    MapInputError,
    MapInputTypeError,
    MissingInputError,
    Pipeline,
    UnknownOutputError,
    node,
)


def _pair_pipeline(calls):
    @node(output_name="pair")
    def make_pair(a, b):
        calls.append("make_pair")
        return (a, b)

    return Pipeline([make_pair], name="pairs")


def _scaled(calls):
    @node(output_name="scaled")
    def scale(x, factor):
        calls.append("scale")
        return x * factor

    @node(output_name="shifted")
    def shift(scaled, offset=0):
        calls.append("shift")
        return scaled + offset

    @node(output_name="side")
    def side(x):
        calls.append("side")
        return -x

    return Pipeline([shift, side, scale], name="scaled")


# ---------------------------------------------------------------- zip


def test_zip_single_list(executor, calls):
    p = _scaled(calls)
    out = executor.map(p, {"x": [1, 2, 3], "factor": 10}, map_over="x")
    assert out == [
        {"scaled": 10, "shifted": 10, "side": -1},
        {"scaled": 20, "shifted": 20, "side": -2},
        {"scaled": 30, "shifted": 30, "side": -3},
    ]
    assert isinstance(out, list)


def test_zip_is_the_default_mode(executor, calls):
    p = _pair_pipeline(calls)
    out = executor.map(p, {"a": [1, 2], "b": ["x", "y"]}, map_over=["a", "b"])
    assert [r["pair"] for r in out] == [(1, "x"), (2, "y")]


def test_zip_explicit_mode_keyword(executor, calls):
    p = _pair_pipeline(calls)
    out = executor.map(p, inputs={"a": [1, 2], "b": [3, 4]}, map_over=["a", "b"], map_mode="zip")
    assert [r["pair"] for r in out] == [(1, 3), (2, 4)]


def test_zip_results_in_item_order(executor, calls):
    p = _pair_pipeline(calls)
    items = list(range(50))
    out = executor.map(p, {"a": items, "b": items[::-1]}, map_over=["a", "b"])
    assert [r["pair"] for r in out] == list(zip(items, items[::-1]))


def test_map_runs_each_node_once_per_item(executor, calls):
    p = _scaled(calls)
    executor.map(p, {"x": [1, 2, 3, 4], "factor": 1}, map_over="x")
    assert calls.count_of("scale") == 4
    assert calls.count_of("shift") == 4
    assert calls.count_of("side") == 4


# ---------------------------------------------------------------- product


def test_product_order_follows_map_over_last_fastest(executor, calls):
    p = _pair_pipeline(calls)
    out = executor.map(
        p, {"a": [1, 2], "b": ["x", "y", "z"]}, map_over=["a", "b"], map_mode="product"
    )
    assert [r["pair"] for r in out] == [
        (1, "x"),
        (1, "y"),
        (1, "z"),
        (2, "x"),
        (2, "y"),
        (2, "z"),
    ]


def test_product_order_reversed_map_over(executor, calls):
    p = _pair_pipeline(calls)
    out = executor.map(
        p, {"a": [1, 2], "b": ["x", "y", "z"]}, map_over=["b", "a"], map_mode="product"
    )
    assert [r["pair"] for r in out] == [
        (1, "x"),
        (2, "x"),
        (1, "y"),
        (2, "y"),
        (1, "z"),
        (2, "z"),
    ]


def test_product_three_lists(executor, calls):
    @node(output_name="triple")
    def triple(p, q, r):
        return f"{p}{q}{r}"

    pipe = Pipeline([triple])
    out = executor.map(
        pipe,
        {"p": ["a", "b"], "q": ["1", "2"], "r": ["x", "y"]},
        map_over=["r", "p", "q"],
        map_mode="product",
    )
    # r slowest, then p, q fastest
    expected = [f"{p}{q}{r}" for r in "xy" for p in "ab" for q in "12"]
    assert [o["triple"] for o in out] == expected


def test_product_different_lengths_allowed(executor, calls):
    p = _pair_pipeline(calls)
    out = executor.map(p, {"a": [1], "b": [1, 2, 3, 4]}, map_over=["a", "b"], map_mode="product")
    assert len(out) == 4
    assert calls.count_of("make_pair") == 4


def test_product_with_single_list_equals_zip(executor, calls):
    p = _scaled(calls)
    inputs = {"x": [3, 1, 2], "factor": 2}
    assert executor.map(p, inputs, map_over="x", map_mode="product") == executor.map(
        p, inputs, map_over="x"
    )


# ---------------------------------------------------------------- broadcast


def test_inputs_not_in_map_over_are_broadcast(executor, calls):
    p = _scaled(calls)
    out = executor.map(p, {"x": [1, 2], "factor": 5, "offset": 100}, map_over="x")
    assert [r["shifted"] for r in out] == [105, 110]


def test_broadcast_list_input_is_not_mapped(executor, calls):
    @node(output_name="count")
    def count(item, shared_list):
        return (item, len(shared_list))

    p = Pipeline([count])
    out = executor.map(p, {"item": ["a", "b", "c"], "shared_list": [9, 9]}, map_over="item")
    assert [r["count"] for r in out] == [("a", 2), ("b", 2), ("c", 2)]


def test_broadcast_object_identity_in_every_item():
    shared = object()
    received = []

    @node(output_name="r")
    def f(item, shared):
        received.append(shared)
        return item

    Pipeline([f]).map({"item": [1, 2, 3], "shared": shared}, map_over="item")
    assert len(received) == 3
    assert all(r is shared for r in received)


def test_mapped_item_identity_and_result_identity():
    items = [object(), object(), object()]
    received = []
    produced = []

    @node(output_name="wrapped")
    def wrap(item):
        received.append(item)
        obj = [item]
        produced.append(obj)
        return obj

    @node(output_name="unwrapped")
    def unwrap(wrapped):
        return wrapped[0]

    out = Pipeline([wrap, unwrap]).map({"item": items}, map_over="item")
    for i, item in enumerate(items):
        assert received[i] is item
        assert out[i]["wrapped"] is produced[i]
        assert out[i]["unwrapped"] is item


# ---------------------------------------------------------------- output_name in map


def test_map_output_name_str_runs_only_needed(executor, calls):
    p = _scaled(calls)
    out = executor.map(p, {"x": [1, 2], "factor": 3}, map_over="x", output_name="side")
    assert out == [{"side": -1}, {"side": -2}]
    assert calls.count_of("side") == 2
    assert calls.count_of("scale") == 0
    assert calls.count_of("shift") == 0


def test_map_output_name_list(executor, calls):
    p = _scaled(calls)
    out = executor.map(p, {"x": [1, 2], "factor": 3}, map_over="x", output_name=["scaled", "side"])
    assert out == [{"scaled": 3, "side": -1}, {"scaled": 6, "side": -2}]
    assert calls.count_of("shift") == 0


def test_map_only_needed_inputs_required(executor, calls):
    p = _scaled(calls)
    # 'side' needs only x: 'factor' is not required
    out = executor.map(p, {"x": [1, 2]}, map_over="x", output_name="side")
    assert out == [{"side": -1}, {"side": -2}]


def test_map_unknown_output(executor, calls):
    p = _scaled(calls)
    with pytest.raises(UnknownOutputError) as info:
        executor.map(p, {"x": [1], "factor": 1}, map_over="x", output_name="nope_out")
    assert "scaled" in str(info.value)


def test_map_missing_broadcast_input(executor, calls):
    p = _scaled(calls)
    with pytest.raises(MissingInputError) as info:
        executor.map(p, {"x": [1, 2]}, map_over="x")
    assert "factor" in str(info.value)
    assert calls == []


# ---------------------------------------------------------------- empty lists


def test_empty_list_gives_empty_result(executor, calls):
    p = _scaled(calls)
    assert executor.map(p, {"x": [], "factor": 2}, map_over="x") == []
    assert calls == []


def test_empty_lists_zip(executor, calls):
    p = _pair_pipeline(calls)
    assert executor.map(p, {"a": [], "b": []}, map_over=["a", "b"]) == []
    assert calls == []


def test_empty_list_in_product(executor, calls):
    p = _pair_pipeline(calls)
    assert executor.map(p, {"a": [1, 2], "b": []}, map_over=["a", "b"], map_mode="product") == []
    assert calls == []


def test_empty_tuple_and_range(executor, calls):
    p = _scaled(calls)
    assert executor.map(p, {"x": (), "factor": 1}, map_over="x") == []
    assert executor.map(p, {"x": range(0), "factor": 1}, map_over="x") == []


# ---------------------------------------------------------------- map input errors


def test_map_over_absent_input(executor, calls):
    p = _scaled(calls)
    with pytest.raises(MapInputError) as info:
        executor.map(p, {"factor": 2}, map_over="x")
    assert "'x'" in str(info.value)
    assert calls == []


def test_map_over_absent_input_named_in_message(executor, calls):
    p = _pair_pipeline(calls)
    with pytest.raises(MapInputError) as info:
        executor.map(p, {"a": [1], "b": [2]}, map_over=["a", "b", "ghost_input"])
    assert "ghost_input" in str(info.value)
    assert calls == []


class _MySequence(collections.abc.Sequence):
    def __init__(self, items):
        self._items = list(items)

    def __getitem__(self, i):
        return self._items[i]

    def __len__(self):
        return len(self._items)


@pytest.mark.parametrize(
    "value",
    [[1, 2, 3], (1, 2, 3), range(1, 4), _MySequence([1, 2, 3])],
    ids=["list", "tuple", "range", "custom_sequence"],
)
def test_sequences_are_accepted(executor, calls, value):
    p = _scaled(calls)
    out = executor.map(p, {"x": value, "factor": 2}, map_over="x", output_name="scaled")
    assert out == [{"scaled": 2}, {"scaled": 4}, {"scaled": 6}]


@pytest.mark.parametrize(
    "value",
    [5, "abc", b"abc", {"a": 1, "b": 2}],
    ids=["int", "str", "bytes", "dict"],
)
def test_non_sequences_are_rejected(calls, value):
    @node(output_name="y")
    def f(items_in):
        calls.append("f")
        return items_in

    with pytest.raises(MapInputTypeError) as info:
        Pipeline([f]).map({"items_in": value}, map_over="items_in")
    assert "items_in" in str(info.value)
    assert calls == []


@pytest.mark.parametrize("value", [5, "abc", b"abc", {"a": 1}], ids=["int", "str", "bytes", "dict"])
def test_map_input_type_error_is_type_error_and_map_input_error(executor, calls, value):
    p = _scaled(calls)
    with pytest.raises(TypeError):
        executor.map(p, {"x": value, "factor": 2}, map_over="x")
    with pytest.raises(MapInputError):
        executor.map(p, {"x": value, "factor": 2}, map_over="x")
    with pytest.raises(HyperNodesError):
        executor.map(p, {"x": value, "factor": 2}, map_over="x")


def test_non_sequence_rejected_in_product_too(executor, calls):
    p = _pair_pipeline(calls)
    with pytest.raises(MapInputTypeError) as info:
        executor.map(p, {"a": [1, 2], "b": "xy"}, map_over=["a", "b"], map_mode="product")
    assert "b" in str(info.value)


def test_zip_length_mismatch_lists_all_lengths(executor, calls):
    @node(output_name="t")
    def f(first_list, second_list, third_list):
        calls.append("f")
        return (first_list, second_list, third_list)

    p = Pipeline([f])
    with pytest.raises(MapInputError) as info:
        executor.map(
            p,
            {"first_list": [1, 2], "second_list": [1, 2, 3], "third_list": [1, 2, 3, 4, 5]},
            map_over=["first_list", "second_list", "third_list"],
        )
    msg = str(info.value)
    for name in ("first_list", "second_list", "third_list"):
        assert name in msg
    for length in ("2", "3", "5"):
        assert length in msg
    assert calls == []


def test_zip_length_mismatch_is_value_error(executor, calls):
    p = _pair_pipeline(calls)
    with pytest.raises(ValueError):
        executor.map(p, {"a": [1], "b": [1, 2]}, map_over=["a", "b"])


def test_zip_length_mismatch_with_empty_list(executor, calls):
    p = _pair_pipeline(calls)
    with pytest.raises(MapInputError) as info:
        executor.map(p, {"a": [], "b": [1, 2, 3]}, map_over=["a", "b"])
    assert "0" in str(info.value) and "3" in str(info.value)


def test_unknown_map_mode(executor, calls):
    p = _pair_pipeline(calls)
    with pytest.raises(MapInputError) as info:
        executor.map(p, {"a": [1], "b": [2]}, map_over=["a", "b"], map_mode="diagonal")
    assert "diagonal" in str(info.value)
    assert calls == []


def test_unknown_map_mode_is_value_error(executor, calls):
    p = _pair_pipeline(calls)
    with pytest.raises(ValueError):
        executor.map(p, {"a": [1], "b": [2]}, map_over=["a", "b"], map_mode="ZIPPY")


def test_map_node_exception_keeps_type():
    class ItemFailure(Exception):
        pass

    @node(output_name="y")
    def fragile(x):
        if x == 2:
            raise ItemFailure("bad item")
        return x

    with pytest.raises(ItemFailure):
        Pipeline([fragile], name="fragile_map").map({"x": [1, 2, 3]}, map_over="x")
