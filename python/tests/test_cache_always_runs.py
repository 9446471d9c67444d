"""`cache=False` inside a nested pipeline (issue 12, item 4): at any depth, the inner node runs every
time (the pipeline node is never served whole from the cache), and the nodes around it still hit."""

from __future__ import annotations

import itertools

import pytest
from hypernodes import Callback, MemoryCache, Pipeline, node


class Hits(Callback):
    def __init__(self):
        self.cached = []

    def on_node_cached(self, node_id, signature, ctx):
        self.cached.append(node_id)


def _pipelines(depth: int, ticks):
    @node(output_name="stamp", cache=False)
    def read_clock(t):
        return t + next(ticks)  # a timestamp, a file read, a random sample

    @node(output_name="u")
    def twice(stamp):
        return stamp * 2

    inner = Pipeline([read_clock, twice], name="inner")
    for level in range(1, depth):
        inner = Pipeline([inner.as_node(name=f"level{level}")], name=f"wrap{level}")
    outer_calls = []

    @node(output_name="t")
    def before(x):
        outer_calls.append("before")
        return x + 10

    @node(output_name="z")
    def after(u):
        outer_calls.append("after")
        return u - 1

    return [before, inner.as_node(name="step"), after], outer_calls


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_an_uncached_inner_node_runs_every_time(depth, executor):
    ticks = itertools.count()
    nodes, outer_calls = _pipelines(depth, ticks)
    hits = Hits()
    p = Pipeline(nodes, cache=MemoryCache(), callbacks=[hits], executor=executor)
    zs = [p.run({"x": 1})["z"] for _ in range(3)]
    assert zs == [(11 + i) * 2 - 1 for i in range(3)]  # the clock was read every run
    assert outer_calls.count("before") == 1  # the node before it hit
    assert "step" not in hits.cached


def test_the_nodes_after_it_hit_when_its_output_is_unchanged(executor):
    calls = []

    @node(output_name="stamp", cache=False)
    def read_constant(t):
        calls.append("read")
        return 5

    @node(output_name="z")
    def after(stamp):
        calls.append("after")
        return stamp + 1

    inner = Pipeline([read_constant], name="inner")
    p = Pipeline([inner.as_node(name="step"), after], cache=MemoryCache(), executor=executor)
    assert [p.run({"t": 0})["z"] for _ in range(3)] == [6, 6, 6]
    assert calls.count("read") == 3
    assert calls.count("after") == 1  # keyed by the value of `stamp`
