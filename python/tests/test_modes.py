"""NodeExecutor's execution modes: every combination of node_execution x map_execution gives the
results of sequential execution (content and order), threads really overlap and stay bounded by
max_workers, bad settings are rejected when the executor is made, and nested maps share the workers
by the documented rule (docs/executors.md) unless the nested pipeline sets its own executor."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import threading
import time

import pytest
from hypernodes import ConfigurationError, HyperNodesError, NodeExecutor, Pipeline, node

MODES = ["sequential", "threaded", "async", "parallel"]
COMBOS = list(itertools.product(MODES, MODES))
COMBO_IDS = [f"nodes={n}-map={m}" for n, m in COMBOS]

# Small worker count: "parallel" reuses one process pool per worker count, so every parallel case
# of this module shares the same two worker processes.
WORKERS = 2


def _executor(node_execution: str, map_execution: str) -> NodeExecutor:
    return NodeExecutor(
        node_execution=node_execution, map_execution=map_execution, max_workers=WORKERS
    )


SEQ = NodeExecutor()


# ------------------------------------------------------------------ module-level pipelines
# A diamond with an async node and a tuple-output node:
#   x, k -> a -> (b, c) -> d -> (q, r)
# Node `a` sleeps longer for earlier items so that concurrent items finish out of order.


@node(output_name="a")
def start(x, k=0):
    time.sleep(0.002 * (x % 4))
    return x + k


@node(output_name="b")
async def left(a):
    await asyncio.sleep(0.001)
    return a * 2


@node(output_name="c")
def right(a):
    return a * 3


@node(output_name="d")
def join(b, c):
    return b + c


@node(output_name=("q", "r"))
def split(d):
    return divmod(d, 7)


def diamond(executor=None, name="diamond") -> Pipeline:
    return Pipeline(nodes=[split, join, right, left, start], name=name, executor=executor)


@node(output_name="xs")
def make_xs(n):
    return [n, n + 1, n + 2]


@node(output_name="total")
def total(ds):
    return sum(ds)


def nested(executor=None) -> Pipeline:
    """n -> xs -> (inner diamond mapped over xs) -> ds -> total; mapped over n it nests two maps."""
    inner = diamond(name="inner").as_node(
        name="inner_map",
        input_mapping={"xs": "x"},
        output_mapping={"d": "ds", "q": "qs"},
        map_over="xs",
    )
    return Pipeline(nodes=[total, inner, make_xs], name="outer", executor=executor)


def _d(x, k=0):
    a = x + k
    return 5 * a


# ---------------------------------------------------------------- identical results


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_diamond_run_same_as_sequential(node_execution, map_execution):
    ex = _executor(node_execution, map_execution)
    inputs = {"x": 4, "k": 1}
    expected = SEQ.run(diamond(), inputs)
    assert expected == {"a": 5, "b": 10, "c": 15, "d": 25, "q": 3, "r": 4}
    assert ex.run(diamond(), inputs) == expected
    assert diamond(executor=ex).run(inputs) == expected


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_output_name_selection_same_as_sequential(node_execution, map_execution):
    ex = _executor(node_execution, map_execution)
    p = diamond(executor=ex)
    assert p.run({"x": 2}, output_name="d") == {"d": 10}
    assert p.run({"x": 2}, output_name=["q", "b"]) == {"q": 1, "b": 4}
    assert p.run({"x": 2}, output_name="c") == {"c": 6}
    items = p.map({"x": [3, 2, 1, 0]}, map_over="x", output_name=["r", "c"])
    assert items == SEQ.map(diamond(), {"x": [3, 2, 1, 0]}, "x", output_name=["r", "c"])
    assert items == [{"r": _d(x) % 7, "c": 3 * x} for x in [3, 2, 1, 0]]


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_tuple_outputs_same_as_sequential(node_execution, map_execution):
    ex = _executor(node_execution, map_execution)
    out = ex.map(diamond(), {"x": [9, 3, 6]}, "x", output_name=("q", "r"))
    assert out == [{"q": q, "r": r} for q, r in (divmod(_d(x), 7) for x in [9, 3, 6])]
    assert ex.run(diamond(), {"x": 9}, output_name=["q", "r"]) == {"q": 6, "r": 3}


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_zip_map_same_as_sequential(node_execution, map_execution):
    ex = _executor(node_execution, map_execution)
    inputs = {"x": [7, 6, 5, 4, 3, 2], "k": [0, 10, 20, 30, 40, 50]}
    expected = SEQ.map(diamond(), inputs, ["x", "k"])
    assert [r["d"] for r in expected] == [_d(x, k) for x, k in zip(inputs["x"], inputs["k"])]
    assert ex.map(diamond(), inputs, ["x", "k"]) == expected
    assert diamond(executor=ex).map(inputs, map_over=["x", "k"], map_mode="zip") == expected


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_product_map_same_as_sequential(node_execution, map_execution):
    ex = _executor(node_execution, map_execution)
    inputs = {"x": [3, 1, 2], "k": [100, 0]}
    expected = SEQ.map(diamond(), inputs, ["x", "k"], map_mode="product")
    assert [r["a"] for r in expected] == [103, 3, 101, 1, 102, 2]
    assert ex.map(diamond(), inputs, ["x", "k"], map_mode="product") == expected
    # map_over order decides which list varies fastest.
    expected_kx = SEQ.map(diamond(), inputs, ["k", "x"], map_mode="product")
    assert [r["a"] for r in expected_kx] == [103, 101, 102, 3, 1, 2]
    assert diamond(executor=ex).map(inputs, ["k", "x"], map_mode="product") == expected_kx


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_nested_maps_same_as_sequential(node_execution, map_execution):
    ex = _executor(node_execution, map_execution)
    inputs = {"n": [3, 0, 2, 1]}
    expected = SEQ.map(nested(), inputs, "n")
    assert [r["ds"] for r in expected] == [[_d(n + i) for i in range(3)] for n in inputs["n"]]
    assert [r["total"] for r in expected] == [sum(_d(n + i) for i in range(3)) for n in inputs["n"]]
    assert ex.map(nested(), inputs, "n") == expected
    assert nested(executor=ex).map(inputs, map_over="n") == expected
    # A single run with a nested map (the nested map is then the outermost map).
    assert nested(executor=ex).run({"n": 5}) == SEQ.run(nested(), {"n": 5})


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_nested_pipeline_with_its_own_executor_same_as_sequential(node_execution, map_execution):
    """The inner pipeline has its own executor (the modes under test); the outer one is threaded."""
    ex = _executor(node_execution, map_execution)
    inner = diamond(executor=ex, name="inner_own").as_node(
        name="inner_map", input_mapping={"xs": "x"}, output_mapping={"d": "ds"}, map_over="xs"
    )
    outer = Pipeline(
        nodes=[make_xs, inner, total],
        name="outer_threaded",
        executor=NodeExecutor(node_execution="threaded", map_execution="threaded", max_workers=2),
    )
    out = outer.map({"n": [2, 0, 1]}, map_over="n", output_name=["ds", "total"])
    assert out == [
        {"ds": [_d(n + i) for i in range(3)], "total": sum(_d(n + i) for i in range(3))}
        for n in [2, 0, 1]
    ]


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_closure_nodes_same_as_sequential(node_execution, map_execution):
    """Functions defined inside the test (closures over local values) work in every mode,
    "parallel" included (they travel to the worker processes by cloudpickle)."""
    factor = 11
    offsets = {"base": 1000}

    @node(output_name="scaled")
    def scale(d):
        return d * factor + offsets["base"]

    @node(output_name=("lo", "hi"))
    def bounds(scaled, d):
        return min(scaled, d), max(scaled, d)

    def build(executor=None):
        return Pipeline(nodes=[bounds, scale, *diamond().nodes], name="closures", executor=executor)

    ex = _executor(node_execution, map_execution)
    inputs = {"x": [5, 1, 4, 2]}
    expected = SEQ.map(build(), inputs, "x", output_name=["scaled", "lo", "hi"])
    assert [r["scaled"] for r in expected] == [_d(x) * 11 + 1000 for x in inputs["x"]]
    assert build(ex).map(inputs, "x", output_name=["scaled", "lo", "hi"]) == expected
    assert build(ex).run({"x": 3}) == SEQ.run(build(), {"x": 3})


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_empty_and_single_item_maps(node_execution, map_execution):
    ex = _executor(node_execution, map_execution)
    assert ex.map(diamond(), {"x": []}, "x") == []
    assert ex.map(diamond(), {"x": [4], "k": 1}, "x") == [SEQ.run(diamond(), {"x": 4, "k": 1})]


# ---------------------------------------------------------------- settings


def test_settings_are_kept():
    ex = NodeExecutor(node_execution="threaded", map_execution="parallel", max_workers=3)
    assert ex.node_execution == "threaded"
    assert ex.map_execution == "parallel"
    assert ex.max_workers == 3


def test_max_workers_defaults_to_cpu_count():
    ex = NodeExecutor(map_execution="threaded")
    assert ex.max_workers_setting is None
    assert ex.max_workers in {os.cpu_count(), len(os.sched_getaffinity(0))}
    assert ex.max_workers >= 1


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_name_is_accepted(mode):
    ex = NodeExecutor(node_execution=mode, map_execution=mode, max_workers=1)
    assert (ex.node_execution, ex.map_execution) == (mode, mode)


@pytest.mark.parametrize("field", ["node_execution", "map_execution"])
@pytest.mark.parametrize("bad", ["processes", "multiprocessing", "", "thread", "Async "])
def test_unknown_mode_rejected_at_construction(field, bad):
    with pytest.raises(ConfigurationError) as info:
        NodeExecutor(**{field: bad})
    assert isinstance(info.value, HyperNodesError)
    assert f"'{bad}'" in str(info.value)  # the message names the bad value
    assert "sequential" in str(info.value)  # the message lists the valid modes


@pytest.mark.parametrize("bad", [0, -1, -8])
def test_max_workers_below_one_rejected_at_construction(bad):
    with pytest.raises(ConfigurationError) as info:
        NodeExecutor(node_execution="threaded", max_workers=bad)
    assert "max_workers" in str(info.value)
    assert str(bad) in str(info.value)


def test_max_workers_one_is_valid_and_serial():
    gauge = Gauge()
    ex = NodeExecutor(node_execution="threaded", map_execution="threaded", max_workers=1)
    p = Pipeline(nodes=[_gauged(i, gauge) for i in range(3)], name="one", executor=ex)
    p.map({"x": [1, 2, 3]}, map_over="x")
    assert gauge.peak == 1


def test_executor_signatures_have_no_context():
    run = inspect.signature(NodeExecutor.run)
    mapper = inspect.signature(NodeExecutor.map)
    assert [p for p in run.parameters if p != "self"] == ["pipeline", "inputs", "output_name"]
    assert [p for p in mapper.parameters if p != "self"] == [
        "pipeline",
        "inputs",
        "map_over",
        "map_mode",
        "output_name",
        "on_error",
    ]
    assert run.parameters["output_name"].default is None
    assert mapper.parameters["map_mode"].default == "zip"
    assert mapper.parameters["output_name"].default is None
    assert mapper.parameters["on_error"].default == "raise"


def test_executor_run_and_map_by_keyword():
    ex = NodeExecutor(node_execution="threaded", map_execution="threaded", max_workers=2)
    assert ex.run(pipeline=diamond(), inputs={"x": 1}, output_name="d") == {"d": 5}
    out = ex.map(
        pipeline=diamond(),
        inputs={"x": [1, 2], "k": [0, 1]},
        map_over=["x", "k"],
        map_mode="product",
        output_name="a",
    )
    assert out == [{"a": 1}, {"a": 2}, {"a": 2}, {"a": 3}]


# ---------------------------------------------------------------- concurrency (threads)


RENDEZVOUS_TIMEOUT = 10.0
"""Seconds a call waits for the others to join it (generous: only broken executors wait it out)."""
LINGER = 0.05
"""Seconds each call stays active after the rendezvous, so that calls beyond the target are seen."""


class Gauge:
    """Counts the calls active at once (lock-protected) and remembers the peak, without relying on
    the machine's speed: each call first waits until `target` calls have been active at once (or
    RENDEZVOUS_TIMEOUT passed, after which no later call waits), then lingers LINGER s. An executor
    that runs `target` calls at once reaches peak == target however late its threads are scheduled;
    one that runs fewer shows peak < target (after the timeout), one that runs more shows
    peak > target."""

    def __init__(self, target: int = 1) -> None:
        self._cond = threading.Condition()
        self.target = target
        self.active = 0
        self.peak = 0
        self._gave_up = False

    def __enter__(self):
        with self._cond:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self._cond.notify_all()
            met = self._cond.wait_for(
                lambda: self._gave_up or self.peak >= self.target, RENDEZVOUS_TIMEOUT
            )
            if not met:
                self._gave_up = True
                self._cond.notify_all()
        time.sleep(LINGER)
        return self

    def __exit__(self, *exc):
        with self._cond:
            self.active -= 1


class Gauges:
    """One Gauge per key (e.g. per outer map item), each with the same target."""

    def __init__(self, target: int = 1) -> None:
        self._lock = threading.Lock()
        self.target = target
        self.by_key: dict = {}

    def __getitem__(self, key) -> Gauge:
        with self._lock:
            return self.by_key.setdefault(key, Gauge(self.target))

    def peaks(self) -> dict:
        return {k: g.peak for k, g in self.by_key.items()}


def _gauged(i: int, gauge: Gauge):
    """An independent node n{i}: x -> o{i}, counted by `gauge` while it runs."""

    def f(x):
        with gauge:
            pass
        return x + i

    return node(f, output_name=f"o{i}", name=f"n{i}")


def test_two_nodes_overlap_when_threaded():
    gauge = Gauge(target=2)
    nodes = [_gauged(0, gauge), _gauged(1, gauge)]
    p = Pipeline(nodes=nodes, name="two", executor=NodeExecutor(node_execution="threaded"))
    out = p.run({"x": 1})
    assert out == {"o0": 1, "o1": 2}
    assert gauge.peak == 2, "threaded nodes did not overlap"


def test_two_nodes_do_not_overlap_when_sequential():
    gauge = Gauge(target=1)
    nodes = [_gauged(0, gauge), _gauged(1, gauge)]
    p = Pipeline(nodes=nodes, name="two_seq", executor=NodeExecutor(map_execution="threaded"))
    assert p.run({"x": 1}) == {"o0": 1, "o1": 2}
    assert gauge.peak == 1


def test_nodes_start_eagerly_without_level_barrier():
    """slow -> after_slow and fast -> after_fast: after_fast starts as soon as fast is done, while
    slow (same level as fast) still runs. slow finishes only once after_fast ran (or after
    RENDEZVOUS_TIMEOUT, when an executor with a level barrier never runs it first)."""
    events = []
    lock = threading.Lock()
    after_fast_ran = threading.Event()

    def log(what):
        with lock:
            events.append(what)

    @node(output_name="s")
    def slow(x):
        after_fast_ran.wait(RENDEZVOUS_TIMEOUT)
        log("slow done")
        return x

    @node(output_name="f")
    def fast(x):
        log("fast done")
        return x

    @node(output_name="af")
    def after_fast(f):
        log("after_fast")
        after_fast_ran.set()
        return f

    @node(output_name="as_")
    def after_slow(s):
        log("after_slow")
        return s

    ex = NodeExecutor(node_execution="threaded", max_workers=2)
    out = Pipeline(nodes=[slow, fast, after_fast, after_slow], executor=ex).run({"x": 1})
    assert out == {"s": 1, "f": 1, "af": 1, "as_": 1}
    assert events.index("after_fast") < events.index("slow done")
    assert events.index("slow done") < events.index("after_slow")


def test_threaded_node_peak_reaches_and_never_exceeds_max_workers():
    gauge = Gauge(target=3)
    nodes = [_gauged(i, gauge) for i in range(7)]
    ex = NodeExecutor(node_execution="threaded", max_workers=3)
    out = Pipeline(nodes=nodes, name="seven", executor=ex).run({"x": 0})
    assert out == {f"o{i}": i for i in range(7)}
    assert gauge.peak == 3


def test_threaded_map_overlaps_at_eight_workers():
    gauge = Gauge(target=8)
    p = Pipeline(nodes=[_gauged(0, gauge)], name="io")
    ex = NodeExecutor(map_execution="threaded", max_workers=8)
    out = ex.map(p, {"x": list(range(8))}, "x")
    assert out == [{"o0": x} for x in range(8)]
    assert gauge.peak == 8, "threaded map items did not all overlap"


@pytest.mark.parametrize("workers", [2, 3])
def test_threaded_map_peak_reaches_and_never_exceeds_max_workers(workers):
    gauge = Gauge(target=workers)
    p = Pipeline(nodes=[_gauged(0, gauge)], name="io")
    ex = NodeExecutor(map_execution="threaded", max_workers=workers)
    out = ex.map(p, {"x": list(range(10))}, "x")
    assert out == [{"o0": x} for x in range(10)]
    assert gauge.peak == workers


def test_threaded_map_items_are_returned_in_item_order():
    @node(output_name="y")
    def late_first(x):
        time.sleep(0.02 * (5 - x))
        return x * 10

    ex = NodeExecutor(map_execution="threaded", max_workers=6)
    assert ex.map(Pipeline([late_first]), {"x": list(range(6))}, "x") == [
        {"y": x * 10} for x in range(6)
    ]


def test_threaded_map_first_failing_item_by_index_is_raised():
    class ItemError(Exception):
        pass

    three_failing = threading.Event()

    @node(output_name="y")
    def fails_on_odd(x):
        # item 1 fails late, item 3 fails first: the caller sees item 1's error
        if x == 1:
            three_failing.wait(RENDEZVOUS_TIMEOUT)
        if x == 3:
            three_failing.set()
        if x % 2:
            raise ItemError(f"item {x}")
        return x

    ex = NodeExecutor(map_execution="threaded", max_workers=4)
    with pytest.raises(ItemError, match="item 1"):
        ex.map(Pipeline([fails_on_odd], name="odd"), {"x": [0, 1, 2, 3]}, "x")


# ---------------------------------------------------------------- nested worker rule


def _inner_counted(gauges: Gauges, executor=None, name="inner"):
    @node(output_name="y")
    def work(x, group):
        with gauges[group]:
            pass
        return (group, x)

    return Pipeline(nodes=[work], name=name, executor=executor)


@pytest.mark.parametrize("mode", ["threaded", "async"])
def test_nested_map_depth_1_inherits_isqrt_workers(mode):
    """Outer map threaded with max_workers=4 (depth 0: min(4, 3) = 3 outer items at once); each
    outer item maps the inner pipeline (depth 1, inherited executor): isqrt(4) = 2 workers."""
    gauges = Gauges(target=2)
    inner = _inner_counted(gauges).as_node(
        name="inner_map", output_mapping={"y": "ys"}, map_over="x"
    )
    outer_gauge = Gauge(target=3)

    @node(output_name="x")
    def items(group):
        with outer_gauge:
            pass
        return list(range(6))

    ex = NodeExecutor(map_execution=mode, max_workers=4)
    p = Pipeline(nodes=[items, inner], name="outer", executor=ex)
    out = p.map({"group": ["g0", "g1", "g2"]}, map_over="group", output_name="ys")
    assert out == [{"ys": [(g, x) for x in range(6)]} for g in ["g0", "g1", "g2"]]
    assert outer_gauge.peak == 3
    assert gauges.peaks() == {"g0": 2, "g1": 2, "g2": 2}


@pytest.mark.parametrize("mode", ["threaded", "async"])
def test_nested_map_with_its_own_executor_gets_exactly_its_workers(mode):
    gauges = Gauges(target=4)
    own = NodeExecutor(map_execution=mode, max_workers=4)
    inner = _inner_counted(gauges, executor=own).as_node(
        name="inner_map", output_mapping={"y": "ys"}, map_over="x"
    )

    @node(output_name="x")
    def items(group):
        return list(range(8))

    ex = NodeExecutor(map_execution=mode, max_workers=4)
    p = Pipeline(nodes=[items, inner], name="outer", executor=ex)
    out = p.map({"group": ["g0", "g1"]}, map_over="group", output_name="ys")
    assert out == [{"ys": [(g, x) for x in range(8)]} for g in ["g0", "g1"]]
    assert gauges.peaks() == {"g0": 4, "g1": 4}


@pytest.mark.parametrize("mode", ["threaded", "async"])
def test_nested_map_at_depth_0_gets_all_workers(mode):
    """A run (not a map) whose nested pipeline is mapped: that map is the outermost one."""
    gauges = Gauges(target=4)
    inner = _inner_counted(gauges).as_node(
        name="inner_map", output_mapping={"y": "ys"}, map_over="x"
    )
    ex = NodeExecutor(map_execution=mode, max_workers=4)
    p = Pipeline(nodes=[inner], name="outer_run", executor=ex)
    out = p.run({"x": list(range(8)), "group": "g"})
    assert out == {"ys": [("g", x) for x in range(8)]}
    assert gauges.peaks() == {"g": 4}


@pytest.mark.parametrize("mode", ["threaded", "async"])
def test_nested_map_depth_2_runs_sequentially(mode):
    """outer map (depth 0) > middle map (depth 1) > inner map (depth 2, sequential)."""
    gauges = Gauges(target=1)
    inner = _inner_counted(gauges).as_node(
        name="inner_map", output_mapping={"y": "ys"}, map_over="x"
    )

    @node(output_name="x")
    def inner_items(sub):
        return [0, 1, 2, 3]

    @node(output_name="group")
    def label(outer_id, sub):
        return f"{outer_id}.{sub}"

    middle = Pipeline(nodes=[inner_items, label, inner], name="middle").as_node(
        name="middle_map", output_mapping={"ys": "yss"}, map_over="sub"
    )

    @node(output_name="sub")
    def subs(outer_id):
        return [0, 1]

    ex = NodeExecutor(map_execution=mode, max_workers=4)
    p = Pipeline(nodes=[subs, middle], name="outer", executor=ex)
    out = p.map({"outer_id": ["a", "b"]}, map_over="outer_id", output_name="yss")
    assert out == [
        {"yss": [[(f"{o}.{s}", x) for x in range(4)] for s in range(2)]} for o in ["a", "b"]
    ]
    assert gauges.peaks() == {f"{o}.{s}": 1 for o in "ab" for s in range(2)}
