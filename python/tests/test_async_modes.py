"""The "async" execution mode: ``async def`` nodes and map items run concurrently on asyncio,
bounded by max_workers; plain functions under "async" do not block; and runs work when called from
inside an already running event loop (an ``async def`` caller, Jupyter) without patching it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from hypernodes import NodeExecutor, Pipeline, node

RENDEZVOUS_TIMEOUT = 10.0
"""Seconds a call waits for the others to join it (generous: only broken executors wait it out)."""
LINGER = 0.05
"""Seconds each call stays active after the rendezvous, so that calls beyond the target are seen."""
POLL = 0.002


class Gauge:
    """Counts the calls active at once (lock-protected: calls may run on several threads and event
    loops) and remembers the peak, without relying on the machine's speed: each call first waits
    until `target` calls have been active at once (or RENDEZVOUS_TIMEOUT passed, after which no
    later call waits), then lingers LINGER s. An executor that runs `target` calls at once reaches
    peak == target however late its calls are scheduled; one that runs fewer shows peak < target
    (after the timeout), one that runs more peak > target. Plain nodes call `enter` (blocking),
    ``async def`` nodes `aenter` (awaiting, so the event loop keeps running other coroutines)."""

    def __init__(self, target: int = 1) -> None:
        self._lock = threading.Lock()
        self.target = target
        self.active = 0
        self.peak = 0
        self._gave_up = False

    def _arrive(self) -> float:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        return time.monotonic() + RENDEZVOUS_TIMEOUT

    def _met(self, deadline: float) -> bool:
        with self._lock:
            if not self._gave_up and self.peak < self.target and time.monotonic() > deadline:
                self._gave_up = True
            return self._gave_up or self.peak >= self.target

    def enter(self) -> None:
        deadline = self._arrive()
        while not self._met(deadline):
            time.sleep(POLL)
        time.sleep(LINGER)

    async def aenter(self) -> None:
        deadline = self._arrive()
        while not self._met(deadline):
            await asyncio.sleep(POLL)
        await asyncio.sleep(LINGER)

    def exit(self) -> None:
        with self._lock:
            self.active -= 1


def _async_gauged(i: int, gauge: Gauge):
    """An independent ``async def`` node n{i}: x -> o{i}, counted by `gauge` while it awaits."""

    async def f(x):
        await gauge.aenter()
        gauge.exit()
        return x + i

    return node(f, output_name=f"o{i}", name=f"n{i}")


def _sync_gauged(i: int, gauge: Gauge):
    """A plain node n{i}: x -> o{i}, counted by `gauge` while it blocks."""

    def f(x):
        gauge.enter()
        gauge.exit()
        return x + i

    return node(f, output_name=f"o{i}", name=f"n{i}")


# ---------------------------------------------------------------- nodes


def test_two_async_nodes_overlap():
    gauge = Gauge(target=2)
    nodes = [_async_gauged(0, gauge), _async_gauged(1, gauge)]
    p = Pipeline(nodes=nodes, name="two", executor=NodeExecutor(node_execution="async"))
    out = p.run({"x": 1})
    assert out == {"o0": 1, "o1": 2}
    assert gauge.peak == 2, "async nodes did not overlap"


def test_two_plain_nodes_overlap_under_async():
    """Plain functions under "async" do not block the others."""
    gauge = Gauge(target=2)
    nodes = [_sync_gauged(0, gauge), _sync_gauged(1, gauge)]
    p = Pipeline(nodes=nodes, name="two_plain", executor=NodeExecutor(node_execution="async"))
    out = p.run({"x": 1})
    assert out == {"o0": 1, "o1": 2}
    assert gauge.peak == 2, "plain nodes under async did not overlap"


def test_plain_and_async_nodes_overlap_under_async():
    gauge = Gauge(target=2)
    nodes = [_sync_gauged(0, gauge), _async_gauged(1, gauge)]
    p = Pipeline(nodes=nodes, name="mixed", executor=NodeExecutor(node_execution="async"))
    out = p.run({"x": 1})
    assert out == {"o0": 1, "o1": 2}
    assert gauge.peak == 2, "a plain node blocked the async one"


def test_async_nodes_run_one_at_a_time_when_sequential():
    gauge = Gauge(target=1)
    nodes = [_async_gauged(0, gauge), _async_gauged(1, gauge)]
    p = Pipeline(nodes=nodes, name="two_seq")
    assert p.run({"x": 1}) == {"o0": 1, "o1": 2}
    assert gauge.peak == 1


@pytest.mark.parametrize("workers", [2, 3])
def test_async_node_peak_reaches_and_never_exceeds_max_workers(workers):
    gauge = Gauge(target=workers)
    nodes = [_async_gauged(i, gauge) for i in range(7)]
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
    gauge = Gauge(target=8)
    p = Pipeline(nodes=[_async_gauged(0, gauge)], name="io")
    ex = NodeExecutor(map_execution="async", max_workers=8)
    out = ex.map(p, {"x": list(range(8))}, "x")
    assert out == [{"o0": x} for x in range(8)]
    assert gauge.peak == 8, "async map items did not all overlap"


def test_async_map_of_plain_nodes_overlaps():
    gauge = Gauge(target=8)
    p = Pipeline(nodes=[_sync_gauged(0, gauge)], name="io_plain")
    ex = NodeExecutor(map_execution="async", max_workers=8)
    out = ex.map(p, {"x": list(range(8))}, "x")
    assert out == [{"o0": x} for x in range(8)]
    assert gauge.peak == 8, "async map of plain nodes did not all overlap"


@pytest.mark.parametrize("workers", [2, 3])
def test_async_map_peak_reaches_and_never_exceeds_max_workers(workers):
    gauge = Gauge(target=workers)
    p = Pipeline(nodes=[_async_gauged(0, gauge)], name="io")
    ex = NodeExecutor(map_execution="async", max_workers=workers)
    out = ex.map(p, {"x": list(range(10))}, "x")
    assert out == [{"o0": x} for x in range(10)]
    assert gauge.peak == workers


def test_async_map_and_nodes_together():
    """map_execution="async" and node_execution="async" combine: 2 items x 2 nodes overlap."""
    gauge = Gauge(target=4)
    nodes = [_async_gauged(0, gauge), _async_gauged(1, gauge)]
    ex = NodeExecutor(node_execution="async", map_execution="async", max_workers=2)
    p = Pipeline(nodes=nodes, name="both", executor=ex)
    out = p.map({"x": [10, 20]}, map_over="x")
    assert out == [{"o0": 10, "o1": 11}, {"o0": 20, "o1": 21}]
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


def _fetch_pipeline(executor, gauge: Gauge | None = None):
    """fetch and meta (independent ``async def`` nodes) are counted by `gauge` while they await."""
    gauge = gauge or Gauge()

    @node(output_name="page")
    async def fetch(url):
        await gauge.aenter()
        gauge.exit()
        return f"<{url}>"

    @node(output_name="size")
    def size(page):
        return len(page)

    @node(output_name="meta")
    async def meta(url):
        await gauge.aenter()
        gauge.exit()
        return url.upper()

    return Pipeline(nodes=[fetch, size, meta], name="fetcher", executor=executor)


def test_run_and_map_inside_a_running_event_loop():
    ex = NodeExecutor(node_execution="async", map_execution="async", max_workers=4)
    # fetch and meta overlap in the run; in the map, the four items overlap, each with its
    # fetch and meta overlapping: 4 x 2 at once
    run_gauge, map_gauge = Gauge(target=2), Gauge(target=8)

    async def main():
        loop = asyncio.get_running_loop()
        run_out = _fetch_pipeline(ex, run_gauge).run({"url": "ab"})
        map_out = _fetch_pipeline(ex, map_gauge).map({"url": ["a", "bb", "ccc", "dddd"]}, "url")
        # the caller's loop still works afterwards and is the same, unpatched loop
        await asyncio.sleep(0.01)
        assert asyncio.get_running_loop() is loop
        return run_out, map_out

    run_out, map_out = asyncio.run(main())
    assert run_out == {"page": "<ab>", "size": 4, "meta": "AB"}
    assert map_out == [
        {"page": f"<{u}>", "size": len(u) + 2, "meta": u.upper()}
        for u in ["a", "bb", "ccc", "dddd"]
    ]
    assert run_gauge.peak == 2
    assert map_gauge.peak == 8


def test_executor_calls_inside_a_running_event_loop():
    ex = NodeExecutor(node_execution="async", map_execution="async", max_workers=4)
    p = _fetch_pipeline(None)

    async def main():
        return ex.run(p, {"url": "x"}, output_name="size"), ex.map(
            p, {"url": ["x", "yy"]}, "url", output_name="meta"
        )

    assert asyncio.run(main()) == ({"size": 3}, [{"meta": "X"}, {"meta": "YY"}])


def test_nested_async_map_inside_a_running_event_loop():
    # outer items (3 at once) x inner items (isqrt(4) = 2 at once): 1 + 2 + 2 for n = 1, 2, 3
    gauge = Gauge(target=5)

    @node(output_name="y")
    async def work(x):
        await gauge.aenter()
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
    assert gauge.peak == 5


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
        t.join(60)  # a hang guard, generous for a loaded machine
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
            [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("deadlock: an async node running a pipeline of async nodes never returned")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "OK"
