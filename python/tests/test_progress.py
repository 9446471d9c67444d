"""ProgressCallback: one bar per pipeline level and per node (no bar per map item, nested maps
included), items done, cache hits and failures counted, totals grown on map_start, bars closed when
the root run ends or fails, drawn with tqdm.auto, pickled as configuration, and per-run state so
that concurrent runs sharing one callback do not mix."""

from __future__ import annotations

import io
import itertools
import pickle
import threading

import cloudpickle
import pytest
from hypernodes import DiskCache, MemoryCache, NodeExecutor, Pipeline, ProgressCallback, node
from hypernodes.progress import BarInfo

MODES = ["sequential", "threaded", "async", "parallel"]
COMBOS = list(itertools.product(MODES, MODES))
COMBO_IDS = [f"nodes={n}-map={m}" for n, m in COMBOS]


@node(output_name="y")
def a(x):
    return x * 10


@node(output_name="z")
def b(y):
    if y < 0:
        raise ValueError("negative")
    return y + 1


@node(output_name="xs")
def make_xs(n):
    return [n, n + 1, n + 2]


@node(output_name="total")
def total(zs):
    return sum(zs)


def nested_map(**kw) -> Pipeline:
    inner = Pipeline([a, b], name="inner")
    inner_map = inner.as_node(
        name="inner_map", input_mapping={"xs": "x"}, output_mapping={"z": "zs"}, map_over="xs"
    )
    return Pipeline([make_xs, inner_map, total], name="outer", **kw)


def bar(bars: list[BarInfo], path: tuple, node: str | None = None) -> BarInfo:
    found = [x for x in bars if x.path == path and x.node == node]
    assert len(found) == 1, (path, node, bars)
    return found[0]


def counts(x: BarInfo) -> tuple[int, int, int]:
    return (x.done, x.total, x.cached)


def test_run_bars():
    cb = ProgressCallback(disable=True)
    Pipeline([a, b], name="p", callbacks=[cb]).run(inputs={"x": 1})
    bars = cb.bars()
    assert [(x.path, x.node) for x in bars] == [(("p",), None), (("p",), "a"), (("p",), "b")]
    assert all(counts(x) == (1, 1, 0) and x.finished for x in bars)


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_bars_per_level_and_node_in_every_mode(node_execution, map_execution, tmp_path):
    cb = ProgressCallback(disable=True)
    ex = NodeExecutor(node_execution=node_execution, map_execution=map_execution, max_workers=2)
    p = nested_map(callbacks=[cb], cache=DiskCache(str(tmp_path / "c")), executor=ex)
    p.map(inputs={"n": [0, 10, 20, 30]}, map_over="n")
    bars = cb.bars()
    # One bar per level and per node: none per item of either map.
    assert len(bars) == 2 + 3 + 2, bars
    assert all(x.finished for x in bars)
    assert counts(bar(bars, ("outer",))) == (4, 4, 0)
    for n in ("make_xs", "inner_map", "total"):
        assert counts(bar(bars, ("outer",), n)) == (4, 4, 0)
    assert counts(bar(bars, ("outer", "inner"))) == (12, 12, 0)
    for n in ("a", "b"):
        assert counts(bar(bars, ("outer", "inner"), n)) == (12, 12, 0)
    # 10: every node hits (the nested map as a whole); 11 maps over 11, 12, 13: 11 and 12 hit.
    p.map(inputs={"n": [10, 11, 100, 200]}, map_over="n")
    bars = cb.bars()
    assert len(bars) == 7, bars
    assert counts(bar(bars, ("outer",))) == (4, 4, 1)
    assert counts(bar(bars, ("outer",), "inner_map")) == (4, 4, 1)
    assert counts(bar(bars, ("outer", "inner"))) == (9, 9, 2)
    assert counts(bar(bars, ("outer", "inner"), "a")) == (9, 9, 2)


def test_failed_run_closes_its_bars():
    cb = ProgressCallback(disable=True)
    p = Pipeline([a, b], name="p", callbacks=[cb])
    with pytest.raises(ValueError):
        p.run(inputs={"x": -1})
    bars = cb.bars()
    assert all(x.finished for x in bars)
    assert bar(bars, ("p",), "b").failed == 1
    assert bar(bars, ("p",), "a").done == 1
    # The next run has fresh bars.
    p.run(inputs={"x": 1})
    assert all(x.failed == 0 and x.finished for x in cb.bars())


def test_failed_map_closes_its_bars():
    cb = ProgressCallback(disable=True)
    p = Pipeline([a, b], name="p", callbacks=[cb])
    with pytest.raises(ValueError):
        p.map(inputs={"x": [1, -1, 2]}, map_over="x")
    bars = cb.bars()
    assert bars and all(x.finished for x in bars)
    assert bar(bars, ("p",), "b").failed == 1


def test_bars_are_drawn_with_tqdm_and_show_cache_hits():
    out = io.StringIO()
    cb = ProgressCallback(file=out, mininterval=0)
    p = Pipeline([a, b], name="p", callbacks=[cb], cache=MemoryCache())
    p.map(inputs={"x": [1, 2]}, map_over="x")
    p.map(inputs={"x": [1, 2, 3]}, map_over="x")
    text = out.getvalue()
    assert "p" in text and "a" in text and "b" in text
    assert "2 cached" in text
    assert "3/3" in text
    assert "it/s" in text  # the rate


def test_bars_come_from_tqdm_auto(monkeypatch):
    import tqdm.auto

    made = []

    class FakeBar:
        def __init__(self, total=None, desc=None, **kw):
            self.total, self.desc, self.n, self.closed = total, desc, 0, False
            made.append(self)

        def set_postfix_str(self, s, refresh=True):
            self.postfix = s

        def update(self, k):
            self.n += k

        def refresh(self):
            pass

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm.auto, "tqdm", FakeBar)
    cb = ProgressCallback()
    Pipeline([a, b], name="p", callbacks=[cb]).map(inputs={"x": [1, 2, 3]}, map_over="x")
    assert [m.desc.strip() for m in made] == ["p", "a", "b"]
    assert all(m.closed and m.n == 3 and m.total == 3 for m in made)


def test_pickles_as_configuration_without_live_bars():
    cb = ProgressCallback(disable=True, leave=False, ncols=80)
    p = Pipeline([a, b], name="p", callbacks=[cb])
    p.map(inputs={"x": [1, 2]}, map_over="x")
    for dumps in (pickle.dumps, cloudpickle.dumps):
        clone = pickle.loads(dumps(cb))
        assert (clone.disable, clone.leave, clone.tqdm_kwargs) == (True, False, {"ncols": 80})
        assert clone.bars() == []
    # While a run is in progress (bars open), the callback still pickles as configuration.
    seen = []

    @node(output_name="y")
    def peek(x):
        seen.append(pickle.loads(pickle.dumps(live)).bars())
        return x

    live = ProgressCallback(file=io.StringIO())
    Pipeline([peek], name="q", callbacks=[live]).run(inputs={"x": 1})
    assert seen == [[]]
    pipeline_clone = cloudpickle.loads(cloudpickle.dumps(p))
    assert isinstance(pipeline_clone.callbacks[0], ProgressCallback)


def test_concurrent_root_runs_keep_their_own_bars():
    cb = ProgressCallback(disable=True)

    @node(output_name="y")
    def slow(x):
        barrier.wait(timeout=10)
        return x

    barrier = threading.Barrier(2)
    p1 = Pipeline([slow], name="p1", callbacks=[cb])
    p2 = Pipeline([slow], name="p2", callbacks=[cb])
    errors = []

    def go(p):
        try:
            p.map(inputs={"x": [1]}, map_over="x")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=go, args=(p,)) for p in (p1, p2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    last = cb.bars()
    # The last run to end is one of the two; its bars count its own single item only.
    assert len(last) == 2
    assert all(counts(x) == (1, 1, 0) for x in last)


def test_close_closes_bars_of_unfinished_runs():
    cb = ProgressCallback(disable=True)

    class Ctx:
        depth = 0

        def __init__(self):
            self.data = {}
            self.hierarchy_path = ["p"]

        def get(self, k, default=None):
            return self.data.get(k, default)

        def set(self, k, v):
            self.data[k] = v

    ctx = Ctx()
    cb.on_pipeline_start("p", {}, ctx)
    cb.on_node_start("a", {}, ctx)
    assert [x.finished for x in cb.bars()] == [False, False]
    cb.close()
    assert [x.finished for x in cb.bars()] == [True, True]
