"""The cache in every execution mode (issue 4): for each node_execution x map_execution combination
and both caches, a second run of the same map reads every node from the cache (the same
`on_node_cached` events, signatures included, as in sequential execution) and calls no node
function, and a cache filled in one mode is hit in full by another.

Nodes may run in worker processes ("parallel"), so calls are counted as files in a directory."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import uuid
import warnings

import pytest
from hypernodes import (
    CacheWarning,
    Callback,
    DiskCache,
    MemoryCache,
    NodeExecutor,
    Pipeline,
    node,
)

MODES = ["sequential", "threaded", "async", "parallel"]
COMBOS = list(itertools.product(MODES, MODES))
COMBO_IDS = [f"nodes={n}-map={m}" for n, m in COMBOS]
WORKERS = 2  # "parallel" reuses one process pool per worker count, shared with other modules

XS = [0, 1, 2, 3, 4, 5]
TOTAL = 7
NODES_PER_ITEM = 6  # start, left, split, join and the nested pipeline's square, plus


def _build(log_dir: str) -> list:
    """x -> a -> (b async, (c, d)) -> e, and a nested pipeline (d, a) -> (sq, f)."""

    def mark(name: str, value) -> None:
        open(os.path.join(log_dir, f"{name}-{value!r}-{uuid.uuid4().hex}"), "w").close()

    @node(output_name="a")
    def start(x):
        mark("start", x)
        return x + 1

    @node(output_name="b")
    async def left(a):
        mark("left", a)
        await asyncio.sleep(0.001)
        return a * 2

    @node(output_name=("c", "d"))
    def split(a):
        mark("split", a)
        return a * 3, -a

    @node(output_name="e")
    def join(b, c, total):
        mark("join", b)
        return b + c + total

    @node(output_name="sq")
    def square(d):
        mark("square", d)
        return d * d

    @node(output_name="f")
    def plus(sq, a):
        mark("plus", sq)
        return sq + a

    inner = Pipeline([square, plus], name="inner")
    return [start, left, split, join, inner.as_node(name="nested")]


def _expected(x: int) -> dict:
    a = x + 1
    b, c, d = a * 2, a * 3, -a
    sq = d * d
    return {"a": a, "b": b, "c": c, "d": d, "e": b + c + TOTAL, "sq": sq, "f": sq + a}


class Rec(Callback):
    def __init__(self) -> None:
        self.cached: list[tuple[str, str]] = []
        self.items_cached: list[int] = []

    def on_node_cached(self, node_id, signature, ctx):
        self.cached.append((node_id, signature))

    def on_map_item_cached(self, item_index, signature, ctx):
        self.items_cached.append(item_index)


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("calls"))


@pytest.fixture(scope="module")
def nodes(log_dir) -> list:
    return _build(log_dir)


def _calls(log_dir: str) -> int:
    return len(os.listdir(log_dir))


def _map(nodes, log_dir, cache, node_execution="sequential", map_execution="sequential"):
    """Maps over XS; returns (cached events, fully cached items, function calls)."""
    rec = Rec()
    ex = NodeExecutor(
        node_execution=node_execution, map_execution=map_execution, max_workers=WORKERS
    )
    p = Pipeline(nodes, name="modes", executor=ex, cache=cache, callbacks=[rec])
    before = _calls(log_dir)
    out = p.map({"x": XS, "total": TOTAL}, map_over="x")
    assert out == [_expected(x) for x in XS]
    return sorted(rec.cached), sorted(rec.items_cached), _calls(log_dir) - before


@pytest.fixture(scope="module")
def reference(nodes, log_dir) -> list:
    """The cached events of a second sequential map (the behaviour every mode must match)."""
    cache = MemoryCache()
    cached, items, calls = _map(nodes, log_dir, cache)
    assert (cached, items, calls) == ([], [], NODES_PER_ITEM * len(XS))
    cached, items, calls = _map(nodes, log_dir, cache)
    assert items == list(range(len(XS))) and calls == 0
    # Per item: the four outer function nodes and the nested pipeline node (as a whole).
    assert len(cached) == 5 * len(XS)
    return cached


def _cache(kind: str, tmp_path):
    return MemoryCache() if kind == "memory" else DiskCache(tmp_path / "cache")


@pytest.mark.parametrize("kind", ["memory", "disk"])
@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_second_run_hits_like_sequential(
    nodes, log_dir, reference, tmp_path, kind, node_execution, map_execution
):
    cache = _cache(kind, tmp_path)
    mode = {"node_execution": node_execution, "map_execution": map_execution}
    cached, items, calls = _map(nodes, log_dir, cache, **mode)
    assert (cached, items, calls) == ([], [], NODES_PER_ITEM * len(XS))
    cached, items, calls = _map(nodes, log_dir, cache, **mode)
    assert calls == 0
    assert items == list(range(len(XS)))
    assert cached == reference
    # What this mode stored is what sequential execution reads.
    cached, items, calls = _map(nodes, log_dir, cache)
    assert (cached, calls) == (reference, 0)


@pytest.mark.parametrize("kind", ["memory", "disk"])
@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_cache_filled_sequentially_hits_in_every_mode(
    nodes, log_dir, reference, tmp_path, kind, node_execution, map_execution
):
    cache = _cache(kind, tmp_path)
    _map(nodes, log_dir, cache)
    cached, items, calls = _map(
        nodes, log_dir, cache, node_execution=node_execution, map_execution=map_execution
    )
    assert calls == 0
    assert items == list(range(len(XS)))
    assert cached == reference


@pytest.mark.parametrize("kind", ["memory", "disk"])
@pytest.mark.parametrize("node_execution", MODES)
def test_run_hits_in_every_node_mode(nodes, log_dir, tmp_path, kind, node_execution):
    cache = _cache(kind, tmp_path)
    ex = NodeExecutor(node_execution=node_execution, max_workers=WORKERS)
    p = Pipeline(nodes, executor=ex, cache=cache)
    before = _calls(log_dir)
    assert p.run({"x": 10, "total": TOTAL}) == _expected(10)
    assert _calls(log_dir) - before == NODES_PER_ITEM
    assert p.run({"x": 10, "total": TOTAL}) == _expected(10)
    assert _calls(log_dir) - before == NODES_PER_ITEM


def test_parallel_map_uses_the_callers_memory_cache(nodes, log_dir):
    """A parallel map reads and fills the MemoryCache it was given, and only that one: a new or
    cleared MemoryCache is empty in worker processes too (one worker, so that the outcome does not
    depend on which worker gets which item)."""
    ex = NodeExecutor(map_execution="parallel", max_workers=1)

    def calls_with(cache) -> int:
        before = _calls(log_dir)
        out = Pipeline(nodes, executor=ex, cache=cache).map({"x": XS, "total": 3}, map_over="x")
        assert [o["e"] for o in out] == [(x + 1) * 5 + 3 for x in XS]
        return _calls(log_dir) - before

    used = MemoryCache()
    assert calls_with(used) == NODES_PER_ITEM * len(XS)
    assert len(used) > 0, "the results computed in workers are not in the caller's cache"
    assert calls_with(MemoryCache()) == NODES_PER_ITEM * len(XS), "a new cache is not empty"
    used.clear()
    assert calls_with(used) == NODES_PER_ITEM * len(XS), "a cleared cache is not empty"


def test_parallel_map_with_a_memory_cache_holding_unpicklable_values(nodes, log_dir):
    """A MemoryCache stores any value (nothing is encoded), a lock included. Such an entry cannot go
    to a worker process, but it must not break a parallel map that uses the cache: the map runs,
    with correct results, and its own entries are still hits the next time."""
    cache = MemoryCache()

    @node(output_name="lock")
    def make_lock(x):
        return threading.Lock()

    Pipeline([make_lock], cache=cache).run({"x": 1})
    assert len(cache) == 1
    ex = NodeExecutor(map_execution="parallel", max_workers=WORKERS)
    p = Pipeline(nodes, executor=ex, cache=cache)
    before = _calls(log_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)  # skipping the lock may be reported
        assert p.map({"x": XS, "total": 11}, map_over="x")[2]["e"] == 3 * 5 + 11
        assert _calls(log_dir) - before == NODES_PER_ITEM * len(XS)
        assert p.map({"x": XS, "total": 11}, map_over="x")[2]["e"] == 3 * 5 + 11
    assert _calls(log_dir) - before == NODES_PER_ITEM * len(XS)
