"""The "async" execution mode: ``async def`` nodes and map items run concurrently on asyncio,
bounded by max_workers; plain functions under "async" do not block; and runs work when called from
inside an already running event loop (an ``async def`` caller, Jupyter) without patching it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from hypernodes import NodeExecutor, Pipeline, node


class Gauge:
    """Counts the calls active at once (lock-protected) and remembers the peak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def enter(self) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)

    def exit(self) -> None:
        with self._lock:
            self.active -= 1


def _async_sleeper(i: int, gauge: Gauge, seconds: float):
    """An independent ``async def`` node n{i}: x -> o{i}, awaiting asyncio.sleep(seconds)."""

    async def f(x):
        gauge.enter()
        try:
            await asyncio.sleep(seconds)
        finally:
            gauge.exit()
        return x + i

    return node(f, output_name=f"o{i}", name=f"n{i}")


def _sync_sleeper(i: int, gauge: Gauge, seconds: float):
    """A plain node n{i}: x -> o{i}, blocking in time.sleep(seconds)."""

    def f(x):
        gauge.enter()
        try:
            time.sleep(seconds)
        finally:
            gauge.exit()
        return x + i

    return node(f, output_name=f"o{i}", name=f"n{i}")


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------- nodes


def test_two_async_nodes_overlap():
    gauge = Gauge()
    nodes = [_async_sleeper(0, gauge, 0.3), _async_sleeper(1, gauge, 0.3)]
    p = Pipeline(nodes=nodes, name="two", executor=NodeExecutor(node_execution="async"))
    out, wall = _timed(lambda: p.run({"x": 1}))
    assert out == {"o0": 1, "o1": 2}
    assert wall < 0.5, f"async nodes did not overlap: {wall:.2f}s"
    assert gauge.peak == 2


def test_two_plain_nodes_overlap_under_async():
    """Plain functions under "async" do not block the others."""
    gauge = Gauge()
    nodes = [_sync_sleeper(0, gauge, 0.3), _sync_sleeper(1, gauge, 0.3)]
    p = Pipeline(nodes=nodes, name="two_plain", executor=NodeExecutor(node_execution="async"))
    out, wall = _timed(lambda: p.run({"x": 1}))
    assert out == {"o0": 1, "o1": 2}
    assert wall < 0.5, f"plain nodes under async did not overlap: {wall:.2f}s"
    assert gauge.peak == 2


def test_plain_and_async_nodes_overlap_under_async():
    gauge = Gauge()
    nodes = [_sync_sleeper(0, gauge, 0.3), _async_sleeper(1, gauge, 0.3)]
    p = Pipeline(nodes=nodes, name="mixed", executor=NodeExecutor(node_execution="async"))
    out, wall = _timed(lambda: p.run({"x": 1}))
    assert out == {"o0": 1, "o1": 2}
    assert wall < 0.5, f"a plain node blocked the async one: {wall:.2f}s"


def test_async_nodes_run_one_at_a_time_when_sequential():
    gauge = Gauge()
    nodes = [_async_sleeper(0, gauge, 0.15), _async_sleeper(1, gauge, 0.15)]
    p = Pipeline(nodes=nodes, name="two_seq")
    _out, wall = _timed(lambda: p.run({"x": 1}))
    assert wall >= 0.28
    assert gauge.peak == 1


@pytest.mark.parametrize("workers", [2, 3])
def test_async_node_peak_reaches_and_never_exceeds_max_workers(workers):
    gauge = Gauge()
    nodes = [_async_sleeper(i, gauge, 0.08) for i in range(7)]
    ex = NodeExecutor(node_execution="async", max_workers=workers)
    out = Pipeline(nodes=nodes, name="seven", executor=ex).run({"x": 0})
    assert out == {f"o{i}": i for i in range(7)}
    assert gauge.peak == workers


def test_async_dependent_nodes_wait_for_their_inputs():
    order = []

    @node(output_name="a")
    async def first(x):
        await asyncio.sleep(0.05)
        order.append("first")
        return x + 1

    @node(output_name="b")
    async def second(a):
        order.append("second")
        return a * 10

    @node(output_name="c")
    def third(a, b):
        order.append("third")
        return a + b

    ex = NodeExecutor(node_execution="async", max_workers=4)
    out = Pipeline(nodes=[third, second, first], executor=ex).run({"x": 1})
    assert out == {"a": 2, "b": 20, "c": 22}
    assert order == ["first", "second", "third"]


# ---------------------------------------------------------------- maps


def test_async_map_overlaps_at_eight_workers():
    gauge = Gauge()
    p = Pipeline(nodes=[_async_sleeper(0, gauge, 0.2)], name="io")
    ex = NodeExecutor(map_execution="async", max_workers=8)
    out, wall = _timed(lambda: ex.map(p, {"x": list(range(8))}, "x"))
    assert out == [{"o0": x} for x in range(8)]
    assert wall < 0.8, f"async map items did not overlap: {wall:.2f}s"
    assert gauge.peak == 8


def test_async_map_of_plain_nodes_overlaps():
    gauge = Gauge()
    p = Pipeline(nodes=[_sync_sleeper(0, gauge, 0.2)], name="io_plain")
    ex = NodeExecutor(map_execution="async", max_workers=8)
    out, wall = _timed(lambda: ex.map(p, {"x": list(range(8))}, "x"))
    assert out == [{"o0": x} for x in range(8)]
    assert wall < 0.8, f"async map of plain nodes did not overlap: {wall:.2f}s"
    assert gauge.peak == 8


@pytest.mark.parametrize("workers", [2, 3])
def test_async_map_peak_reaches_and_never_exceeds_max_workers(workers):
    gauge = Gauge()
    p = Pipeline(nodes=[_async_sleeper(0, gauge, 0.04)], name="io")
    ex = NodeExecutor(map_execution="async", max_workers=workers)
    out = ex.map(p, {"x": list(range(10))}, "x")
    assert out == [{"o0": x} for x in range(10)]
    assert gauge.peak == workers


def test_async_map_and_nodes_together():
    """map_execution="async" and node_execution="async" combine: 2 items x 2 nodes overlap."""
    gauge = Gauge()
    nodes = [_async_sleeper(0, gauge, 0.25), _async_sleeper(1, gauge, 0.25)]
    ex = NodeExecutor(node_execution="async", map_execution="async", max_workers=2)
    p = Pipeline(nodes=nodes, name="both", executor=ex)
    out, wall = _timed(lambda: p.map({"x": [10, 20]}, map_over="x"))
    assert out == [{"o0": 10, "o1": 11}, {"o0": 20, "o1": 21}]
    assert wall < 0.45, f"{wall:.2f}s"
    assert gauge.peak == 4


def test_async_map_results_in_item_order():
    @node(output_name="y")
    async def late_first(x):
        await asyncio.sleep(0.02 * (5 - x))
        return x * 10

    ex = NodeExecutor(map_execution="async", max_workers=6)
    assert ex.map(Pipeline([late_first]), {"x": list(range(6))}, "x") == [
        {"y": x * 10} for x in range(6)
    ]


def test_async_map_error_keeps_type_and_names_the_node():
    class Boom(Exception):
        pass

    @node(output_name="y")
    async def explode(x):
        await asyncio.sleep(0)
        if x == 2:
            raise Boom("two")
        return x

    ex = NodeExecutor(node_execution="async", map_execution="async", max_workers=3)
    with pytest.raises(Boom, match="two") as info:
        ex.map(Pipeline([explode], name="boomer"), {"x": [0, 1, 2, 3]}, "x")
    assert any("explode" in n for n in getattr(info.value, "__notes__", []))
    # the executor and the shared loop stay usable
    assert ex.map(Pipeline([explode], name="boomer"), {"x": [0, 1]}, "x") == [{"y": 0}, {"y": 1}]


# ---------------------------------------------------------------- inside a running event loop


def _fetch_pipeline(executor):
    @node(output_name="page")
    async def fetch(url):
        await asyncio.sleep(0.2)
        return f"<{url}>"

    @node(output_name="size")
    def size(page):
        return len(page)

    @node(output_name="meta")
    async def meta(url):
        await asyncio.sleep(0.2)
        return url.upper()

    return Pipeline(nodes=[fetch, size, meta], name="fetcher", executor=executor)


def test_run_and_map_inside_a_running_event_loop():
    ex = NodeExecutor(node_execution="async", map_execution="async", max_workers=4)
    p = _fetch_pipeline(ex)

    async def main():
        loop = asyncio.get_running_loop()
        run_out, run_wall = _timed(lambda: p.run({"url": "ab"}))
        map_out, map_wall = _timed(lambda: p.map({"url": ["a", "bb", "ccc", "dddd"]}, "url"))
        # the caller's loop still works afterwards and is the same, unpatched loop
        await asyncio.sleep(0.01)
        assert asyncio.get_running_loop() is loop
        return run_out, run_wall, map_out, map_wall

    run_out, run_wall, map_out, map_wall = asyncio.run(main())
    assert run_out == {"page": "<ab>", "size": 4, "meta": "AB"}
    assert map_out == [
        {"page": f"<{u}>", "size": len(u) + 2, "meta": u.upper()}
        for u in ["a", "bb", "ccc", "dddd"]
    ]
    # fetch and meta overlap in the run; the four items overlap in the map
    assert run_wall < 0.35, f"{run_wall:.2f}s"
    assert map_wall < 0.7, f"{map_wall:.2f}s"


def test_executor_calls_inside_a_running_event_loop():
    ex = NodeExecutor(node_execution="async", map_execution="async", max_workers=4)
    p = _fetch_pipeline(None)

    async def main():
        return ex.run(p, {"url": "x"}, output_name="size"), ex.map(
            p, {"url": ["x", "yy"]}, "url", output_name="meta"
        )

    assert asyncio.run(main()) == ({"size": 3}, [{"meta": "X"}, {"meta": "YY"}])


def test_nested_async_map_inside_a_running_event_loop():
    gauge = Gauge()

    @node(output_name="y")
    async def work(x):
        gauge.enter()
        try:
            await asyncio.sleep(0.1)
        finally:
            gauge.exit()
        return x * 2

    inner = Pipeline(nodes=[work], name="inner").as_node(
        name="inner_map", output_mapping={"y": "ys"}, map_over="x"
    )

    @node(output_name="x")
    def items(n):
        return list(range(n))

    ex = NodeExecutor(map_execution="async", max_workers=4)
    p = Pipeline(nodes=[items, inner], name="outer", executor=ex)

    async def main():
        return p.map({"n": [1, 2, 3]}, map_over="n", output_name="ys")

    out = asyncio.run(main())
    assert out == [{"ys": [0]}, {"ys": [0, 2]}, {"ys": [0, 2, 4]}]
    # outer items (3 at once) x inner items (isqrt(4) = 2 at once)
    assert 2 <= gauge.peak <= 6


def test_run_from_several_running_loops_in_threads():
    """Several threads, each inside its own running loop, run the same async pipeline."""
    ex = NodeExecutor(node_execution="async", map_execution="async", max_workers=4)
    p = _fetch_pipeline(ex)
    results = {}

    def worker(i):
        async def main():
            return p.map({"url": [f"u{i}", f"v{i}"]}, "url", output_name="meta")

        results[i] = asyncio.run(main())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {i: [{"meta": f"U{i}"}, {"meta": f"V{i}"}] for i in range(3)}


# ---------------------------------------------------------------- a pipeline run inside a node

_NESTED_CALL_SCRIPT = """
import asyncio
from hypernodes import NodeExecutor, Pipeline, node


@node(output_name="y")
async def inner_async(x):
    await asyncio.sleep(0.01)
    return x + 1


@node(output_name="w")
async def inner_other(x):
    await asyncio.sleep(0.01)
    return x - 1


def inner(executor):
    return Pipeline([inner_async, inner_other], name="inner", executor=executor)


CONCURRENT = NodeExecutor(node_execution="async", map_execution="async", max_workers=2)
THREADED = NodeExecutor(node_execution="threaded", map_execution="threaded", max_workers=2)

for inner_executor in (None, CONCURRENT, THREADED):

    @node(output_name="z")
    async def outer_node(x):
        # an async def caller (the node) running a pipeline whose nodes are async
        ran = inner(inner_executor).run({"x": x})
        mapped = inner(inner_executor).map({"x": [x, x + 1]}, map_over="x")
        return (ran["y"] + ran["w"]) * 10 + sum(r["y"] for r in mapped)

    for mode in ("sequential", "async"):
        ex = NodeExecutor(node_execution=mode, map_execution=mode, max_workers=2)
        assert Pipeline([outer_node], executor=ex).run({"x": 1}) == {"z": 25}, (inner_executor, mode)
print("OK", flush=True)
"""


def test_async_node_that_runs_a_pipeline_of_async_nodes(tmp_path):
    """An ``async def`` node is a caller inside a running event loop; the pipeline it runs must
    not deadlock. Run in a subprocess: a deadlock would wedge the shared event loop."""
    import subprocess
    import sys

    script = tmp_path / "nested_call.py"
    script.write_text(_NESTED_CALL_SCRIPT)
    try:
        res = subprocess.run(
            [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=8
        )
    except subprocess.TimeoutExpired:
        pytest.fail("deadlock: an async node running a pipeline of async nodes never returned")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "OK"
