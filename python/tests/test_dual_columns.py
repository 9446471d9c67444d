"""The columnar path of a DualNode map (NodeExecutor and DaftExecutor, no cache, no callbacks: the
mapped lists are sliced into batches and never split into items) gives exactly what the item path
gives. The item path is forced here by a callback that listens to nothing (callbacks make every
item's events due), so each case runs both ways and compares results, batch calls and errors."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from hypernodes import (
    Callback,
    DualNode,
    MapInputError,
    MemoryCache,
    NodeExecutor,
    OutputArityError,
    Pipeline,
    node,
)
from hypernodes.daft import DaftExecutor


@pytest.fixture(params=["node", "daft"])
def ex(request):
    """The executor of a case: NodeExecutor (the engine's path) or DaftExecutor (its own)."""
    return None if request.param == "node" else DaftExecutor(use_process=False)


class Quiet(Callback):
    """Listens to nothing; its presence sends a map down the item path."""


def both(nodes, inputs, **kw):
    """The map's results and the batch sizes seen, through the columnar path then the item path."""
    out = []
    executor = kw.pop("executor", None)
    for callbacks, path in ((None, "columns"), ([Quiet()], "items")):
        SIZES.clear()
        PATHS.clear()
        p = Pipeline(nodes=nodes, callbacks=callbacks, executor=executor)
        res = p.map(inputs=inputs, map_over=kw.get("map_over", "x"), **_rest(kw))
        assert set(PATHS) <= {path}, PATHS
        out.append((res, list(SIZES)))
    return out


def _rest(kw):
    return {k: v for k, v in kw.items() if k != "map_over"}


SIZES: list[tuple[str, int]] = []
PATHS: list[str] = []


def record_path() -> None:
    """Which path called the batch function: the item path's rows go through ``call_batch``."""
    caller = sys._getframe(3).f_code.co_name
    PATHS.append("items" if caller == "call_batch" else "columns")


def scale_many(x, k):
    record_path()
    SIZES.append(("scale", len(x)))
    return np.asarray(x) * k


def shift_many(v):
    record_path()
    SIZES.append(("shift", len(v)))
    return [a + 0.5 for a in v.to_pylist()]


scale = DualNode("v", lambda x, k: x * k, scale_many, batch_size=4, version="1")
shift = DualNode("w", lambda v: v + 0.5, shift_many, batch_size=3, version="1")


def test_one_dual_node_gives_the_item_paths_results_and_batches(ex):
    (fast, fast_sizes), (slow, slow_sizes) = both(
        [scale], {"x": list(range(10)), "k": 3}, executor=ex
    )
    assert set(PATHS) == {"items"}  # the last run: the item path (the first asserted columns)
    assert fast == slow == [{"v": 3 * i} for i in range(10)]
    assert all(type(o["v"]) is int for o in fast)
    assert sum(s for _, s in fast_sizes) == sum(s for _, s in slow_sizes) == 10
    assert all(s <= 4 for _, s in fast_sizes)
    if ex is None:
        assert fast_sizes == slow_sizes == [("scale", 4), ("scale", 4), ("scale", 2)]


def test_a_chain_of_dual_nodes_with_other_batch_sizes_reads_across_batches(ex):
    (fast, fast_sizes), (slow, slow_sizes) = both(
        [scale, shift], {"x": list(range(11)), "k": 2}, executor=ex
    )
    assert fast == slow == [{"v": 2 * i, "w": 2 * i + 0.5} for i in range(11)]
    assert sum(s for n, s in fast_sizes if n == "shift") == 11
    if ex is None:
        assert fast_sizes == slow_sizes
        assert [s for n, s in fast_sizes if n == "shift"] == [3, 3, 3, 2]
    # only the selected output, in order
    (fast, _), (slow, _) = both([scale, shift], {"x": [1, 2], "k": 2}, output_name="w", executor=ex)
    assert fast == slow == [{"w": 2.5}, {"w": 4.5}]


def test_a_window_boundary_splits_batches_as_the_item_path_does():
    # batch_size 300: the item path goes in windows of 1200 items, so a batch never spans one
    big = DualNode("v", lambda x, k: x * k, scale_many, batch_size=300)
    (fast, fast_sizes), (slow, slow_sizes) = both([big], {"x": list(range(2500)), "k": 1})
    assert fast == slow
    assert fast_sizes == slow_sizes
    assert sum(s for _, s in fast_sizes) == 2500


def test_tuples_lists_mode_and_the_callers_list_is_not_handed_out(ex):
    seen = []

    def many(x):
        seen.append(type(x))
        x.append("mutated")  # a batch function that changes what it got
        return [v * 2 for v in x[:-1]]

    d = DualNode("y", lambda x: x * 2, many, batch_lists=True)
    given = [1, 2, 3]
    (fast, _), (slow, _) = both([d], {"x": given}, executor=ex)
    assert fast == slow == [{"y": 2}, {"y": 4}, {"y": 6}]
    assert given == [1, 2, 3]
    assert set(seen) == {list}
    (fast, _), (slow, _) = both([d], {"x": (1, 2, 3)}, executor=ex)
    assert fast == slow == [{"y": 2}, {"y": 4}, {"y": 6}]
    assert set(seen) == {list}


def test_zip_product_bound_empty_and_other_sequences(ex):
    pair = DualNode("s", lambda a, b: a + b, lambda a, b: np.asarray(a) + np.asarray(b))
    (fast, _), (slow, _) = both(
        [pair], {"a": [1, 2], "b": [10, 20]}, map_over=["a", "b"], executor=ex
    )
    assert fast == slow == [{"s": 11}, {"s": 22}]
    (fast, _), (slow, _) = both(
        [pair], {"a": [1, 2], "b": 5}, map_over="a", map_mode="product", executor=ex
    )
    assert fast == slow == [{"s": 6}, {"s": 7}]
    with pytest.raises(MapInputError) as fast_err:
        Pipeline(nodes=[pair], executor=ex).map(inputs={"a": [1, 2], "b": [1]}, map_over=["a", "b"])
    with pytest.raises(MapInputError) as slow_err:
        Pipeline(nodes=[pair], callbacks=[Quiet()]).map(
            inputs={"a": [1, 2], "b": [1]}, map_over=["a", "b"]
        )
    assert str(fast_err.value) == str(slow_err.value)
    bound = Pipeline(nodes=[pair], executor=ex).bind(a=[1, 2, 3])
    assert bound.map(inputs={"b": 1}, map_over="a") == [{"s": 2}, {"s": 3}, {"s": 4}]
    assert Pipeline(nodes=[pair], executor=ex).map(inputs={"a": [], "b": 1}, map_over="a") == []
    # a range is a sequence the columnar path does not slice: the item path maps it
    out = Pipeline(nodes=[pair], executor=ex).map(inputs={"a": range(3), "b": 1}, map_over="a")
    assert [o["s"] for o in out] == [1, 2, 3]


def test_several_outputs(ex):
    two = DualNode(
        ("lo", "hi"),
        lambda x: (x - 1, x + 1),
        lambda x: (np.asarray(x) - 1, [v + 1 for v in x.to_pylist()]),
        batch_size=2,
    )
    (fast, _), (slow, _) = both([two], {"x": [1, 2, 3]}, executor=ex)
    assert fast == slow == [{"lo": 0, "hi": 2}, {"lo": 1, "hi": 3}, {"lo": 2, "hi": 4}]
    (fast, _), (slow, _) = both([two], {"x": [1, 2, 3]}, output_name="hi", executor=ex)
    assert fast == slow == [{"hi": 2}, {"hi": 3}, {"hi": 4}]


def errors(nodes, inputs, ex=None):
    """The exceptions of the map through the columnar path and through NodeExecutor's item
    path."""
    got = []
    for callbacks, executor in ((None, ex), ([Quiet()], None)):
        with pytest.raises(Exception) as info:
            Pipeline(nodes=nodes, callbacks=callbacks, executor=executor).map(
                inputs=inputs, map_over="x"
            )
        got.append(info.value)
    return got


BATCH_LENGTH = re.compile(r"returned (\d+) values for a batch of (\d+) items")
FIRST_ITEM = re.compile(r"item (\d+)")


def same_error(fast, slow, ex, batch_size, failing_item=None):
    """``fast`` (the columnar path) is ``slow`` (NodeExecutor's item path). NodeExecutor cuts
    exactly the item path's batches, so the texts are equal. Daft may hand a batch UDF fewer rows
    than ``batch_size`` (the docs say "at most"), so there the batch's length and first item may
    differ: each must still be one that a batch of at most ``batch_size`` could have."""
    assert type(fast) is type(slow)
    fast_text = "\n".join([str(fast), *getattr(fast, "__notes__", [])])
    slow_text = "\n".join([str(slow), *getattr(slow, "__notes__", [])])
    if ex is None:
        assert fast_text == slow_text
        return
    for m in BATCH_LENGTH.finditer(fast_text):
        got, size = int(m[1]), int(m[2])
        assert got == size - 1 and 1 <= size <= batch_size, fast_text
    if failing_item is not None:
        firsts = [int(m[1]) for m in FIRST_ITEM.finditer(fast_text)]
        assert firsts and all(failing_item - batch_size < f <= failing_item for f in firsts), (
            fast_text
        )

    def blank(t):
        return FIRST_ITEM.sub("item _", BATCH_LENGTH.sub("returned _", t))

    assert blank(fast_text) == blank(slow_text)


def test_errors_are_the_item_paths(ex):
    short = DualNode("y", lambda x: x, lambda x: [1] * (len(x) - 1), batch_size=4)
    fast, slow = errors([short], {"x": list(range(6))}, ex)
    assert type(slow) is OutputArityError
    assert "node 'y'" in str(slow) and "returned 3 values for a batch of 4" in str(slow)
    same_error(fast, slow, ex, batch_size=4)

    def boom(x):
        if 5 in x.to_pylist():
            raise KeyError("five")
        return x

    bad = DualNode("y", lambda x: x, boom, batch_size=4)
    fast, slow = errors([bad], {"x": list(range(8))}, ex)
    assert type(slow) is KeyError
    assert any("item 4" in n for n in slow.__notes__), slow.__notes__
    same_error(fast, slow, ex, batch_size=4, failing_item=5)

    odd = DualNode(("a", "b"), lambda x: (x, x), lambda x: ([1], [1, 2]))
    fast, slow = errors([odd], {"x": [1, 2]}, ex)
    assert type(fast) is type(slow) is ValueError
    assert str(fast) == str(slow)


def test_with_a_cache_hits_are_left_out_of_the_batches_as_in_the_item_path():
    # NodeExecutor keeps the columnar path with a cache: one lookup pass, misses batched
    got = []
    for callbacks, path in ((None, "columns"), ([Quiet()], "items")):
        p = Pipeline(nodes=[scale, shift], cache=MemoryCache(), callbacks=callbacks)
        runs = []
        for xs in ([0, 1, 2, 3, 4, 5], [5, 4, 3], [1, 7, 2, 8, 9, 10, 3]):
            SIZES.clear()
            PATHS.clear()
            out = p.map(inputs={"x": xs, "k": 2}, map_over="x")
            assert set(PATHS) <= {path}
            runs.append((out, list(SIZES)))
        got.append(runs)
        assert p.run(inputs={"x": 8, "k": 2}) == {"v": 16, "w": 16.5}
    assert got[0] == got[1]
    (first, sizes1), (hits, sizes2), (mixed, sizes3) = got[0]
    assert [o["w"] for o in first] == [2 * x + 0.5 for x in range(6)]
    assert [o["v"] for o in hits] == [10, 8, 6]
    assert [o["w"] for o in mixed] == [2 * x + 0.5 for x in [1, 7, 2, 8, 9, 10, 3]]
    assert sizes2 == []  # all hits
    assert sizes3 == [("scale", 4), ("shift", 3), ("shift", 1)]  # only 7, 8, 9, 10 are batched
    assert sizes1 == [("scale", 4), ("scale", 2), ("shift", 3), ("shift", 3)]


def test_an_ordinary_node_or_a_daft_cache_takes_the_item_path():
    PATHS.clear()
    Pipeline(nodes=[scale], cache=MemoryCache(), executor=DaftExecutor(use_process=False)).map(
        inputs={"x": [1, 2], "k": 1}, map_over="x"
    )
    assert PATHS == ["items"]
    PATHS.clear()
    plus = node(lambda v: v + 1, output_name="z", name="plus")
    Pipeline(nodes=[scale, plus]).map(inputs={"x": [1, 2], "k": 1}, map_over="x")
    assert PATHS == ["items"]
    PATHS.clear()
    Pipeline(nodes=[scale]).map(inputs={"x": [1, 2], "k": 1}, map_over="x")
    assert PATHS == ["columns"]


def test_a_mapped_nested_pipeline_and_other_executors_agree():
    inner = Pipeline(nodes=[scale], name="inner")
    outer = Pipeline(
        nodes=[
            inner.as_node(name="per", map_over="x", output_mapping={"v": "vs"}),
            node(lambda vs: sum(vs), output_name="total", name="total"),
        ]
    )
    assert outer.run(inputs={"x": [1, 2, 3], "k": 2}) == {"vs": [2, 4, 6], "total": 12}
    for ex in (NodeExecutor(map_execution="threaded"), NodeExecutor(node_execution="threaded")):
        (fast, _), (slow, _) = both([scale, shift], {"x": list(range(9)), "k": 3}, executor=ex)
        assert fast == slow
