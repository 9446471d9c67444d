"""async def nodes: awaited in run, map and nesting, also when run is called inside a running
event loop."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from hypernodes import NodeExecutor, OutputArityError, Pipeline, node


def _async_pipeline(calls):
    @node(output_name="fetched")
    async def fetch(url):
        calls.append("fetch")
        await asyncio.sleep(0)
        return f"<{url}>"

    @node(output_name="length")
    def measure(fetched):
        calls.append("measure")
        return len(fetched)

    @node(output_name="report")
    async def report(fetched, length):
        calls.append("report")
        await asyncio.sleep(0.001)
        return f"{fetched}:{length}"

    return Pipeline([report, measure, fetch], name="async_pipe")


def test_async_node_result_is_awaited(calls):
    out = _async_pipeline(calls).run({"url": "a"})
    assert out == {"fetched": "<a>", "length": 3, "report": "<a>:3"}
    for v in out.values():
        assert not inspect.iscoroutine(v)


def test_async_node_selected_output(calls):
    out = _async_pipeline(calls).run({"url": "ab"}, output_name="length")
    assert out == {"length": 4}
    assert sorted(calls) == ["fetch", "measure"]


def test_async_node_in_map(calls):
    out = _async_pipeline(calls).map({"url": ["a", "bb", "ccc"]}, map_over="url")
    assert [r["report"] for r in out] == ["<a>:3", "<bb>:4", "<ccc>:5"]
    assert calls.count_of("fetch") == 3


def test_async_node_in_product_map(calls):
    @node(output_name="joined")
    async def join(a, b):
        await asyncio.sleep(0)
        return a + b

    out = Pipeline([join]).map({"a": ["x", "y"], "b": ["1", "2"]}, ["a", "b"], "product")
    assert [r["joined"] for r in out] == ["x1", "x2", "y1", "y2"]


def test_async_tuple_outputs():
    @node(output_name=("lo", "hi"))
    async def bounds(values):
        await asyncio.sleep(0)
        return min(values), max(values)

    assert Pipeline([bounds]).run({"values": [3, 1, 2]}) == {"lo": 1, "hi": 3}


def test_async_tuple_outputs_arity_error():
    @node(output_name=("lo", "hi"))
    async def async_bad_arity(values):
        return (1, 2, 3)

    with pytest.raises(OutputArityError) as info:
        Pipeline([async_bad_arity]).run({"values": []})
    assert "async_bad_arity" in str(info.value)


def test_async_node_in_nested_pipeline(calls):
    inner = _async_pipeline(calls)
    n = inner.as_node(
        name="fetch_all",
        input_mapping={"urls": "url"},
        output_mapping={"report": "reports"},
        map_over="urls",
    )

    @node(output_name="count")
    async def count(reports):
        return len(reports)

    outer = Pipeline([count, n], name="outer_async")
    out = outer.run({"urls": ["a", "b"]})
    assert out == {"reports": ["<a>:3", "<b>:3"], "count": 2}


def test_async_node_exception_keeps_type_and_note():
    class AsyncFailure(Exception):
        pass

    @node(output_name="y")
    async def async_boom(x):
        await asyncio.sleep(0)
        raise AsyncFailure("async broke")

    with pytest.raises(AsyncFailure) as info:
        Pipeline([async_boom], name="apipe").run({"x": 1})
    notes = getattr(info.value, "__notes__", [])
    assert any("async_boom" in n and "apipe" in n for n in notes)


def test_async_node_identity():
    obj = object()
    made = []
    received = []

    @node(output_name="made")
    async def make(x):
        o = [x]
        made.append(o)
        return o

    @node(output_name="got")
    async def got(made, marker):
        received.append((made, marker))
        return marker

    out = Pipeline([got, make]).run({"x": 1, "marker": obj})
    assert out["made"] is made[0]
    assert received[0][0] is made[0]
    assert received[0][1] is obj
    assert out["got"] is obj


def test_async_runs_repeatedly(calls):
    p = _async_pipeline(calls)
    for i in range(5):
        assert p.run({"url": str(i)})["length"] == 3


def test_run_called_inside_a_running_event_loop(calls):
    p = _async_pipeline(calls)

    async def main():
        # a caller that is itself async (e.g. Jupyter) calls the synchronous API
        return p.run({"url": "loop"})

    out = asyncio.run(main())
    assert out == {"fetched": "<loop>", "length": 6, "report": "<loop>:6"}


def test_map_called_inside_a_running_event_loop(calls):
    p = _async_pipeline(calls)

    async def main():
        await asyncio.sleep(0)
        return p.map({"url": ["a", "b"]}, map_over="url", output_name="report")

    assert asyncio.run(main()) == [{"report": "<a>:3"}, {"report": "<b>:3"}]


def test_nested_async_inside_running_loop(calls):
    inner = _async_pipeline(calls)
    outer = Pipeline([inner.as_node(map_over="url", output_mapping={"length": "lengths"})])

    async def main():
        return outer.run({"url": ["a", "bcd"]})

    assert asyncio.run(main()) == {"lengths": [3, 5]}


def test_executor_run_inside_running_loop(calls):
    p = _async_pipeline(calls)

    async def main():
        return NodeExecutor().run(p, {"url": "z"}, output_name="report")

    assert asyncio.run(main()) == {"report": "<z>:3"}


def test_async_node_can_use_the_loop_it_runs_on():
    @node(output_name="y")
    async def uses_loop(x):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        loop.call_soon(fut.set_result, x * 2)
        return await fut

    p = Pipeline([uses_loop])
    assert p.run({"x": 4}) == {"y": 8}

    async def main():
        return p.run({"x": 5})

    assert asyncio.run(main()) == {"y": 10}


def test_async_node_after_event_loop_closed(calls):
    # a run after an asyncio.run() has finished (its loop closed) still works
    p = _async_pipeline(calls)

    async def noop():
        return None

    asyncio.run(noop())
    assert p.run({"url": "x"})["report"] == "<x>:3"
