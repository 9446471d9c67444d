"""Callback event sequences: run, map, nested pipelines, cached and failing nodes, inheritance and
``callbacks=[]``, the shared context, deterministic pipeline ids; in every execution mode (each
pipeline run and each map item keeps its own order, items may interleave), delivered in the caller's
process and never concurrently into one callback object. Also the TelemetryCallback span tree."""

from __future__ import annotations

import itertools
import pickle
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypernodes import Callback, DiskCache, MemoryCache, NodeExecutor, Pipeline, node

MODES = ["sequential", "threaded", "async", "parallel"]
COMBOS = list(itertools.product(MODES, MODES))
COMBO_IDS = [f"nodes={n}-map={m}" for n, m in COMBOS]
WORKERS = 2

# ------------------------------------------------------------------------------ recording


@dataclass(frozen=True)
class Ev:
    hook: str
    args: tuple
    depth: int
    path: tuple
    thread: int = field(compare=False)

    @property
    def key(self) -> tuple:
        return (self.hook, self.args, self.depth, self.path)


def _tag(payload, path: tuple) -> str | None:
    """The item a payload belongs to: the first string in it, before any '|' (outer level: before
    any '.', so that 'n0.1' is item 'n0')."""

    def first(v):
        if isinstance(v, str):
            return v
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, (list, tuple)):
            for x in v:
                s = first(x)
                if s is not None:
                    return s
        return None

    s = first(payload)
    if s is None:
        return None
    s = s.split("|")[0]
    return s.split(".")[0] if len(path) == 1 else s


class Recorder(Callback):
    """Records every event as an ``Ev``; counts deliveries that overlapped another one."""

    def __init__(self, pause: float = 0.0) -> None:
        self.events: list[Ev] = []
        self.errors: list[BaseException] = []
        self.signatures: list[str] = []
        self.pause = pause
        self.overlaps = 0
        self._busy = False
        self._flag = threading.Lock()

    def __getstate__(self) -> dict:  # pickles as configuration (a pipeline sent to workers)
        return {"pause": self.pause}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["pause"])

    def _rec(self, hook: str, args: tuple, ctx) -> None:
        with self._flag:
            if self._busy:
                self.overlaps += 1
            self._busy = True
        try:
            if self.pause:
                time.sleep(self.pause)
            path = tuple(ctx.hierarchy_path)
            self.events.append(Ev(hook, args, ctx.depth, path, threading.get_ident()))
        finally:
            with self._flag:
                self._busy = False

    def on_pipeline_start(self, pipeline_id, inputs, ctx):
        self._rec("pipeline_start", (pipeline_id, _tag(inputs, tuple(ctx.hierarchy_path))), ctx)

    def on_pipeline_end(self, pipeline_id, outputs, duration, ctx):
        assert isinstance(duration, float) and duration >= 0
        self._rec("pipeline_end", (pipeline_id, _tag(outputs, tuple(ctx.hierarchy_path))), ctx)

    def on_node_start(self, node_id, inputs, ctx):
        self._rec("node_start", (node_id, _tag(inputs, tuple(ctx.hierarchy_path))), ctx)

    def on_node_end(self, node_id, outputs, duration, ctx):
        assert isinstance(duration, float) and duration >= 0
        self._rec("node_end", (node_id, _tag(outputs, tuple(ctx.hierarchy_path))), ctx)

    def on_node_cached(self, node_id, signature, ctx):
        assert isinstance(signature, str) and signature
        self.signatures.append(signature)
        self._rec("node_cached", (node_id,), ctx)

    def on_error(self, node_id, error, ctx):
        self.errors.append(error)
        self._rec("error", (node_id, type(error).__name__), ctx)

    def on_nested_pipeline_start(self, parent_id, child_pipeline_id, ctx):
        self._rec("nested_start", (parent_id, child_pipeline_id), ctx)

    def on_nested_pipeline_end(self, parent_id, child_pipeline_id, duration, ctx):
        assert duration >= 0
        self._rec("nested_end", (parent_id, child_pipeline_id), ctx)

    def on_map_start(self, total_items, ctx):
        self._rec("map_start", (total_items,), ctx)

    def on_map_end(self, total_duration, ctx):
        assert total_duration >= 0
        self._rec("map_end", (), ctx)

    def on_map_item_start(self, item_index, ctx):
        self._rec("map_item_start", (item_index,), ctx)

    def on_map_item_end(self, item_index, duration, ctx):
        assert duration >= 0
        self._rec("map_item_end", (item_index,), ctx)

    def on_map_item_cached(self, item_index, signature, ctx):
        assert isinstance(signature, str) and signature
        self._rec("map_item_cached", (item_index,), ctx)

    def seq(self) -> list[tuple]:
        return [e.key for e in self.events]


def E(hook: str, *args, depth: int = 0, path: tuple = ("p",)) -> tuple:
    return (hook, tuple(args), depth, path)


# ------------------------------------------------------------------------------ pipelines

RAISED: list[BaseException] = []


@node(output_name="y")
def a(x):
    return x + "|a"


@node(output_name="z")
async def b(y):
    if y.startswith("bad"):
        err = ValueError(f"b failed on {y}")
        RAISED.append(err)
        raise err
    return y + "|b"


@node(output_name="xs")
def make_xs(n):
    return [f"{n}.{j}" for j in range(3)]


@node(output_name="total")
def total(zs):
    return f"{zs[0].split('.')[0]}|total"


def chain(name: str = "p", **kw) -> Pipeline:
    return Pipeline([a, b], name=name, **kw)


def nested_run(inner: Pipeline, **kw) -> Pipeline:
    """n -> inner (a, b) run once as node 'inner_node'."""
    return Pipeline(
        [inner.as_node(name="inner_node", input_mapping={"n": "x"})], name="outer", **kw
    )


def nested_map(inner: Pipeline | None = None, **kw) -> Pipeline:
    """n -> make_xs -> xs -> inner mapped over xs (node 'inner_map') -> zs -> total."""
    inner = inner if inner is not None else chain("inner")
    inner_map = inner.as_node(
        name="inner_map", input_mapping={"xs": "x"}, output_mapping={"z": "zs"}, map_over="xs"
    )
    return Pipeline([make_xs, inner_map, total], name="outer", **kw)


def _executor(node_execution: str, map_execution: str) -> NodeExecutor:
    return NodeExecutor(
        node_execution=node_execution, map_execution=map_execution, max_workers=WORKERS
    )


# ------------------------------------------------------------------------------ sequential


def test_run_sequence():
    rec = Recorder()
    out = chain(callbacks=[rec]).run(inputs={"x": "x1"})
    assert out == {"y": "x1|a", "z": "x1|a|b"}
    assert rec.seq() == [
        E("pipeline_start", "p", "x1"),
        E("node_start", "a", "x1"),
        E("node_end", "a", "x1"),
        E("node_start", "b", "x1"),
        E("node_end", "b", "x1"),
        E("pipeline_end", "p", "x1"),
    ]


def _item(i: int, tag: str, name: str = "p", depth: int = 0, path=("p",), cached=False):
    ev = [E("map_item_start", i, depth=depth, path=path)]
    ev.append(E("pipeline_start", name, tag, depth=depth, path=path))
    if cached:
        ev += [E("node_cached", n, depth=depth, path=path) for n in ("a", "b")]
    else:
        for n in ("a", "b"):
            ev += [
                E("node_start", n, tag, depth=depth, path=path),
                E("node_end", n, tag, depth=depth, path=path),
            ]
    ev += [
        E("pipeline_end", name, tag, depth=depth, path=path),
        E("map_item_end", i, depth=depth, path=path),
    ]
    if cached:
        ev.append(E("map_item_cached", i, depth=depth, path=path))
    return ev


def test_map_sequence():
    rec = Recorder()
    chain(callbacks=[rec]).map(inputs={"x": ["x1", "x2"]}, map_over="x")
    assert rec.seq() == [
        E("map_start", 2),
        *_item(0, "x1"),
        *_item(1, "x2"),
        E("map_end"),
    ]


def _inner_events(tag: str) -> list[tuple]:
    path = ("outer", "inner")
    return [
        E("pipeline_start", "inner", tag, depth=1, path=path),
        E("node_start", "a", tag, depth=1, path=path),
        E("node_end", "a", tag, depth=1, path=path),
        E("node_start", "b", tag, depth=1, path=path),
        E("node_end", "b", tag, depth=1, path=path),
        E("pipeline_end", "inner", tag, depth=1, path=path),
    ]


def test_nested_pipeline_sequence_and_inheritance():
    rec = Recorder()
    out = nested_run(chain("inner"), callbacks=[rec]).run(inputs={"n": "n1"})
    assert out["z"] == "n1|a|b"
    o = ("outer",)
    assert rec.seq() == [
        E("pipeline_start", "outer", "n1", path=o),
        E("node_start", "inner_node", "n1", path=o),
        E("nested_start", "outer", "inner", path=o),
        *_inner_events("n1"),
        E("nested_end", "outer", "inner", path=o),
        E("node_end", "inner_node", "n1", path=o),
        E("pipeline_end", "outer", "n1", path=o),
    ]


def expected_nested_map(ns: list[str]) -> list[tuple]:
    o, i = ("outer",), ("outer", "inner")
    ev = [E("map_start", len(ns), path=o)]
    for k, n in enumerate(ns):
        ev += [
            E("map_item_start", k, path=o),
            E("pipeline_start", "outer", n, path=o),
            E("node_start", "make_xs", n, path=o),
            E("node_end", "make_xs", n, path=o),
            E("node_start", "inner_map", n, path=o),
            E("nested_start", "outer", "inner", path=o),
            E("map_start", 3, depth=1, path=i),
        ]
        for j in range(3):
            ev += _item(j, f"{n}.{j}", name="inner", depth=1, path=i)
        ev += [
            E("map_end", depth=1, path=i),
            E("nested_end", "outer", "inner", path=o),
            E("node_end", "inner_map", n, path=o),
            E("node_start", "total", n, path=o),
            E("node_end", "total", n, path=o),
            E("pipeline_end", "outer", n, path=o),
            E("map_item_end", k, path=o),
        ]
    ev.append(E("map_end", path=o))
    return ev


def test_nested_map_sequence():
    rec = Recorder()
    nested_map(callbacks=[rec]).map(inputs={"n": ["n0", "n1"]}, map_over="n")
    assert rec.seq() == expected_nested_map(["n0", "n1"])


def test_callbacks_off_on_a_nested_pipeline_silences_it_and_below():
    rec = Recorder()
    deepest = chain("deepest")
    middle = Pipeline(
        [deepest.as_node(name="deepest_node", input_mapping={"n": "x"})],
        name="middle",
        callbacks=[],
    )
    top = Pipeline([middle.as_node(name="middle_node")], name="top", callbacks=[rec])
    top.run(inputs={"n": "n1"})
    t = ("top",)
    assert rec.seq() == [
        E("pipeline_start", "top", "n1", path=t),
        E("node_start", "middle_node", "n1", path=t),
        E("nested_start", "top", "middle", path=t),
        E("nested_end", "top", "middle", path=t),
        E("node_end", "middle_node", "n1", path=t),
        E("pipeline_end", "top", "n1", path=t),
    ]


def test_nested_pipeline_with_its_own_callbacks_replaces_the_inherited_ones():
    top_rec, inner_rec = Recorder(), Recorder()
    p = nested_run(chain("inner", callbacks=[inner_rec]), callbacks=[top_rec])
    p.run(inputs={"n": "n1"})
    assert [k[0] for k in top_rec.seq()] == [
        "pipeline_start",
        "node_start",
        "nested_start",
        "nested_end",
        "node_end",
        "pipeline_end",
    ]
    assert inner_rec.seq() == _inner_events("n1")


def test_callbacks_none_inherits_and_root_default_is_none():
    rec = Recorder()
    inner = chain("inner", callbacks=None)
    nested_run(inner, callbacks=[rec]).run(inputs={"n": "n1"})
    assert sum(1 for e in rec.events if e.depth == 1) == 6
    # Without callbacks anywhere nothing is delivered (and nothing fails).
    assert nested_run(chain("inner")).run(inputs={"n": "n1"})["z"] == "n1|a|b"


def test_cached_nodes_with_memory_cache():
    rec = Recorder()
    p = chain(callbacks=[rec], cache=MemoryCache())
    p.run(inputs={"x": "x1"})
    rec.events.clear()
    p.run(inputs={"x": "x1"})
    assert rec.seq() == [
        E("pipeline_start", "p", "x1"),
        E("node_cached", "a"),
        E("node_cached", "b"),
        E("pipeline_end", "p", "x1"),
    ]
    assert len(set(rec.signatures)) == 2


def test_map_item_cached_once_per_all_hit_item():
    rec = Recorder()
    p = chain(callbacks=[rec], cache=MemoryCache())
    p.map(inputs={"x": ["x2", "x3"]}, map_over="x")
    rec.events.clear()
    p.map(inputs={"x": ["x2", "x3", "x4"]}, map_over="x")
    assert rec.seq() == [
        E("map_start", 3),
        *_item(0, "x2", cached=True),
        *_item(1, "x3", cached=True),
        *_item(2, "x4"),
        E("map_end"),
    ]


def test_a_partly_cached_item_is_not_cached():
    @node(output_name="z", cache=False)
    def b_uncached(y):
        return y + "|b"

    rec = Recorder()
    p = Pipeline([a, b_uncached], name="p", callbacks=[rec], cache=MemoryCache())
    p.map(inputs={"x": ["x1"]}, map_over="x")
    rec.events.clear()
    p.map(inputs={"x": ["x1"]}, map_over="x")
    assert [k[0] for k in rec.seq()] == [
        "map_start",
        "map_item_start",
        "pipeline_start",
        "node_cached",
        "node_start",
        "node_end",
        "pipeline_end",
        "map_item_end",
        "map_end",
    ]


def test_failing_node_sequence_passes_the_original_exception():
    rec = Recorder()
    RAISED.clear()
    with pytest.raises(ValueError, match="b failed on bad") as info:
        chain(callbacks=[rec]).run(inputs={"x": "bad"})
    assert rec.seq() == [
        E("pipeline_start", "p", "bad"),
        E("node_start", "a", "bad"),
        E("node_end", "a", "bad"),
        E("node_start", "b", "bad"),
        E("error", "b", "ValueError"),
    ]
    assert len(rec.errors) == 1
    assert rec.errors[0] is RAISED[0]
    assert info.value is RAISED[0]


def test_failing_nested_node_sequence():
    rec = Recorder()
    RAISED.clear()
    with pytest.raises(ValueError):
        nested_run(chain("inner"), callbacks=[rec]).run(inputs={"n": "bad"})
    o, i = ("outer",), ("outer", "inner")
    assert rec.seq() == [
        E("pipeline_start", "outer", "bad", path=o),
        E("node_start", "inner_node", "bad", path=o),
        E("nested_start", "outer", "inner", path=o),
        E("pipeline_start", "inner", "bad", depth=1, path=i),
        E("node_start", "a", "bad", depth=1, path=i),
        E("node_end", "a", "bad", depth=1, path=i),
        E("node_start", "b", "bad", depth=1, path=i),
        E("error", "b", "ValueError", depth=1, path=i),
        E("error", "inner_node", "ValueError", path=o),
    ]
    assert all(e is RAISED[0] for e in rec.errors)


def test_context_is_shared_across_nesting_within_one_run():
    seen = []

    class Setter(Callback):
        def on_pipeline_start(self, pipeline_id, inputs, ctx):
            if ctx.depth == 0:
                assert ctx.get("root") is None, "a new run starts with an empty context"
                ctx.set("root", pipeline_id)

        def on_node_start(self, node_id, inputs, ctx):
            seen.append((node_id, ctx.depth, ctx.current_pipeline_id, ctx.get("root")))

    class Reader(Callback):  # another callback, on the inner pipeline only
        def on_pipeline_start(self, pipeline_id, inputs, ctx):
            seen.append(("inner-reader", ctx.depth, ctx.current_pipeline_id, ctx.get("root")))

    p = nested_run(chain("inner", callbacks=[Setter(), Reader()]), callbacks=[Setter()])
    p.run(inputs={"n": "n1"})
    assert seen == [
        ("inner_node", 0, "outer", "outer"),
        ("inner-reader", 1, "inner", "outer"),
        ("a", 1, "inner", "outer"),
        ("b", 1, "inner", "outer"),
    ]
    seen.clear()
    p.run(inputs={"n": "n2"})  # a second run: a fresh context (the assert above)
    assert len(seen) == 4


def test_default_pipeline_id_is_the_deterministic_name():
    r1, r2 = Recorder(), Recorder()
    p1, p2 = Pipeline([a, b], callbacks=[r1]), Pipeline([b, a], callbacks=[r2])
    p1.run(inputs={"x": "x1"})
    p2.run(inputs={"x": "x1"})
    assert r1.seq() == r2.seq()
    pid = r1.events[0].args[0]
    assert pid == p1.name == p2.name
    assert "0x" not in pid and " at " not in pid
    assert r1.events[0].path == (pid,)


# ------------------------------------------------------------------------------ every mode


def _by_thread(events: list[Ev]) -> dict[int, list[Ev]]:
    out: dict[int, list[Ev]] = {}
    for e in events:
        out.setdefault(e.thread, []).append(e)
    return out


def _next_on_thread(stream: list[Ev], i: int) -> Ev:
    assert i + 1 < len(stream), f"nothing after {stream[i]} on its thread"
    return stream[i + 1]


def _check_item_bindings(events: list[Ev], items: dict[tuple, list[str]] | None = None) -> None:
    """On each thread, every map_item_start(i) is followed by its item's pipeline_start, every
    pipeline_end of a map item is followed by map_item_end(i), and a nested pipeline node's
    node_start -> nested_start -> map_start / map_end -> nested_end -> node_end are adjacent."""
    for stream in _by_thread(events).values():
        for k, e in enumerate(stream):
            if e.hook == "map_item_start":
                nxt = _next_on_thread(stream, k)
                assert (nxt.hook, nxt.path) == ("pipeline_start", e.path), (e, nxt)
                (i,) = e.args
                tag = nxt.args[1]
                if items is not None and e.path in items:
                    assert tag == items[e.path][i], (e, nxt)
                else:
                    assert tag.endswith(f".{i}"), (e, nxt)
            if e.hook == "map_item_end":
                prev = stream[k - 1]
                assert (prev.hook, prev.path) == ("pipeline_end", e.path), (prev, e)
            if e.hook == "map_item_cached":
                prev = stream[k - 1]
                assert (prev.hook, prev.args) == ("map_item_end", e.args), (prev, e)
            if e.hook == "nested_start":
                prev, nxt = stream[k - 1], _next_on_thread(stream, k)
                assert (prev.hook, prev.path) == ("node_start", e.path), (prev, e)
                if nxt.path != e.path:  # a mapped nested pipeline
                    assert (nxt.hook, nxt.depth) == ("map_start", e.depth + 1), (e, nxt)
            if e.hook == "nested_end":
                nxt = _next_on_thread(stream, k)
                assert (nxt.hook, nxt.path) == ("node_end", e.path), (e, nxt)


def _check_runs(events: list[Ev], order: dict[str, list[str]]) -> None:
    """Each pipeline run (events of one path with one item tag) keeps its own order."""
    runs: dict[tuple, list[tuple]] = {}
    for e in events:
        if e.hook in ("pipeline_start", "pipeline_end", "node_start", "node_end"):
            runs.setdefault((e.path, e.args[1]), []).append((e.hook, e.args[0]))
    for (path, tag), seq in runs.items():
        name = path[-1]
        want = [("pipeline_start", name)]
        for n in order[name]:
            want += [("node_start", n), ("node_end", n)]
        want.append(("pipeline_end", name))
        assert seq == want, (path, tag, seq)


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_nested_map_sequences_in_every_mode(node_execution, map_execution):
    rec = Recorder(pause=0.0005)
    ns = ["n0", "n1", "n2"]
    p = nested_map(callbacks=[rec], executor=_executor(node_execution, map_execution))
    out = p.map(inputs={"n": ns}, map_over="n")
    assert [o["total"] for o in out] == [f"{n}|total" for n in ns]
    assert rec.overlaps == 0, "events were delivered concurrently into one callback"
    events = rec.events
    assert events[0].key == E("map_start", 3, path=("outer",))
    assert events[-1].key == E("map_end", path=("outer",))
    assert Counter(rec.seq()) == Counter(expected_nested_map(ns))
    _check_item_bindings(events, {("outer",): ns})
    _check_runs(events, {"outer": ["make_xs", "inner_map", "total"], "inner": ["a", "b"]})


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_cached_sequences_in_every_mode(node_execution, map_execution, tmp_path):
    rec = Recorder(pause=0.0005)
    p = chain(
        callbacks=[rec],
        cache=DiskCache(str(tmp_path / "cache")),
        executor=_executor(node_execution, map_execution),
    )
    p.map(inputs={"x": ["x1", "x2", "x3"]}, map_over="x")
    rec.events.clear()
    xs = ["x2", "x3", "x4", "x5"]
    p.map(inputs={"x": xs}, map_over="x")
    assert rec.overlaps == 0
    want = [E("map_start", 4)]
    for i, x in enumerate(xs):
        want += _item(i, x, cached=x in ("x2", "x3"))
    want.append(E("map_end"))
    assert Counter(rec.seq()) == Counter(want)
    assert rec.events[0].key == E("map_start", 4) and rec.events[-1].key == E("map_end")
    _check_item_bindings(rec.events, {("p",): xs})
    cached_items = [e.args[0] for e in rec.events if e.hook == "map_item_cached"]
    assert sorted(cached_items) == [0, 1]


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_failing_item_in_every_mode(node_execution, map_execution):
    rec = Recorder()
    RAISED.clear()
    p = chain(callbacks=[rec], executor=_executor(node_execution, map_execution))
    with pytest.raises(ValueError, match="b failed on bad") as info:
        p.map(inputs={"x": ["x1", "bad", "x3"]}, map_over="x")
    keys = rec.seq()
    assert E("map_end") not in keys, "a failed map has no map_end"
    assert E("node_start", "b", "bad") in keys
    assert E("node_end", "b", "bad") not in keys
    assert E("pipeline_end", "p", "bad") not in keys
    assert keys.count(E("error", "b", "ValueError")) == 1
    # The error follows its node_start on the same thread.
    for stream in _by_thread(rec.events).values():
        for k, e in enumerate(stream):
            if e.hook == "error":
                assert stream[k - 1].key == E("node_start", "b", "bad")
    assert len(rec.errors) == 1
    assert type(rec.errors[0]) is ValueError
    assert "b failed on bad" in str(rec.errors[0])
    if map_execution != "parallel" and node_execution != "parallel":
        assert rec.errors[0] is RAISED[0] is info.value


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_one_callback_in_two_pipelines_is_never_called_concurrently(node_execution, map_execution):
    rec = Recorder(pause=0.0005)
    inner = chain("inner", callbacks=[rec])
    p = nested_map(inner, callbacks=[rec], executor=_executor(node_execution, map_execution))
    p.map(inputs={"n": ["n0", "n1", "n2", "n3"]}, map_over="n")
    assert rec.overlaps == 0


@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
def test_events_of_a_nested_pipeline_with_its_own_callbacks_reach_the_caller(
    node_execution, map_execution
):
    rec = Recorder()
    inner = chain("inner", callbacks=[rec])
    p = nested_map(inner, callbacks=[rec], executor=_executor(node_execution, map_execution))
    ns = ["n0", "n1", "n2"]
    p.map(inputs={"n": ns}, map_over="n")
    assert Counter(rec.seq()) == Counter(expected_nested_map(ns))


def test_replayed_and_live_events_share_one_delivery_lock():
    """A process-parallel map's events are replayed in the caller while another thread's threaded
    run delivers live events into the same callback object: one lock (the engine's) serializes
    both, so the callback is never entered twice at once."""
    rec = Recorder(pause=0.001)
    mapped = chain(callbacks=[rec], executor=_executor("sequential", "parallel"))
    live = chain("live", callbacks=[rec], executor=_executor("threaded", "threaded"))
    errors: list[BaseException] = []

    def run_live():
        try:
            for _ in range(15):
                live.map(inputs={"x": ["l1", "l2", "l3"]}, map_over="x")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    t = threading.Thread(target=run_live)
    t.start()
    out = mapped.map(inputs={"x": [f"x{i}" for i in range(8)]}, map_over="x")
    t.join()
    assert errors == []
    assert len(out) == 8
    assert rec.overlaps == 0, "events were delivered concurrently into one callback"
    hooks = Counter(e.hook for e in rec.events)
    assert hooks["map_start"] == 1 + 15 and hooks["map_item_start"] == 8 + 45


def test_parallel_map_events_are_delivered_in_the_callers_process():
    import os

    pids = set()

    class Pid(Callback):
        def on_node_start(self, node_id, inputs, ctx):
            pids.add(os.getpid())

        def on_map_item_start(self, item_index, ctx):
            pids.add(os.getpid())

    p = chain(callbacks=[Pid()], executor=_executor("sequential", "parallel"))
    p.map(inputs={"x": ["x1", "x2", "x3", "x4"]}, map_over="x")
    assert pids == {os.getpid()}


# ------------------------------------------------------------------------------ telemetry

try:
    import opentelemetry.sdk.trace  # noqa: F401

    HAVE_OTEL = True
except ImportError:  # the 'test' extra installs it; without it only these tests skip
    HAVE_OTEL = False

needs_otel = pytest.mark.skipif(not HAVE_OTEL, reason="needs opentelemetry-sdk")


def _tracing():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def _label(s) -> str:
    """A span's name with its own attribute: ``node a``, ``pipeline p``, ``map p``, ``map item 0``."""
    a = s.attributes
    if s.name == "node":
        return f"node {a['hypernodes.node']}"
    if s.name == "map_item":
        return f"map item {a['hypernodes.item_index']}"
    if s.name in ("pipeline", "map"):
        return f"{s.name} {a['hypernodes.pipeline']}"
    return s.name


def _tree(spans, attrs=("cached",)) -> list[str]:
    """The span tree as indented lines 'label key=value' (``key`` reads ``hypernodes.key``),
    children in start order."""
    by_id = {s.context.span_id: s for s in spans}
    children: dict[int | None, list] = {}
    for s in sorted(spans, key=lambda s: s.start_time):
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in by_id else None
        children.setdefault(parent, []).append(s)
    out: list[str] = []

    def walk(s, depth):
        line = "  " * depth + _label(s)
        for k in attrs:
            if f"hypernodes.{k}" in s.attributes:
                line += f" {k}={s.attributes[f'hypernodes.{k}']}"
        out.append(line)
        for c in children.get(s.context.span_id, []):
            walk(c, depth + 1)

    for s in children.get(None, []):
        walk(s, 0)
    return out


@needs_otel
def test_telemetry_spans_mirror_a_nested_run_and_cache_hits():
    from hypernodes import TelemetryCallback

    tracer, exporter = _tracing()
    p = nested_run(chain("inner"), callbacks=[TelemetryCallback(tracer)], cache=MemoryCache())
    p.run(inputs={"n": "n1"})
    p.run(inputs={"n": "n1"})
    spans = exporter.get_finished_spans()
    assert _tree(spans) == [
        "pipeline outer",
        "  node inner_node cached=False",
        "    pipeline inner",
        "      node a cached=False",
        "      node b cached=False",
        "pipeline outer",
        "  node inner_node cached=True",
    ]
    inner = next(s for s in spans if _label(s) == "pipeline inner")
    assert inner.attributes["hypernodes.nested"] is True
    assert inner.attributes["hypernodes.path"] == "outer/inner"
    assert inner.attributes["hypernodes.depth"] == 1
    # One trace per root run.
    assert len({s.context.trace_id for s in spans}) == 2


@needs_otel
def test_telemetry_map_items_and_cached_items():
    from hypernodes import TelemetryCallback

    tracer, exporter = _tracing()
    p = chain(callbacks=[TelemetryCallback(tracer, map_items=True)], cache=MemoryCache())
    p.map(inputs={"x": ["x1"]}, map_over="x")
    exporter.clear()
    p.map(inputs={"x": ["x1", "x2"]}, map_over="x")
    assert _tree(exporter.get_finished_spans()) == [
        "map p",
        "  map item 0 cached=True",
        "    pipeline p",
        "      node a cached=True",
        "      node b cached=True",
        "  map item 1 cached=False",
        "    pipeline p",
        "      node a cached=False",
        "      node b cached=False",
    ]


@needs_otel
def test_telemetry_error_ends_every_span_with_error_status():
    from hypernodes import TelemetryCallback
    from opentelemetry.trace import StatusCode

    tracer, exporter = _tracing()
    p = nested_run(chain("inner"), callbacks=[TelemetryCallback(tracer)])
    with pytest.raises(ValueError):
        p.run(inputs={"n": "bad"})
    spans = exporter.get_finished_spans()
    assert sorted(_label(s) for s in spans) == sorted(
        ["pipeline outer", "node inner_node", "pipeline inner", "node a", "node b"]
    )
    b_span = next(s for s in spans if _label(s) == "node b")
    assert b_span.status.status_code is StatusCode.ERROR
    assert any(ev.name == "exception" for ev in b_span.events)
    assert next(s for s in spans if _label(s) == "pipeline outer").status.status_code is (
        StatusCode.ERROR
    )


@needs_otel
@pytest.mark.parametrize(("node_execution", "map_execution"), COMBOS, ids=COMBO_IDS)
@pytest.mark.parametrize("map_items", [False, True], ids=["runs", "items"])
def test_telemetry_nested_maps_in_every_mode(node_execution, map_execution, map_items):
    from hypernodes import TelemetryCallback

    tracer, exporter = _tracing()
    p = nested_map(
        callbacks=[TelemetryCallback(tracer, map_items=map_items)],
        executor=_executor(node_execution, map_execution),
    )
    p.map(inputs={"n": ["n0", "n1", "n2"]}, map_over="n")
    spans = exporter.get_finished_spans()
    names = Counter(_label(s) for s in spans)
    assert names == Counter(
        {
            "map outer": 1,
            "pipeline outer": 3,
            "node make_xs": 3,
            "node inner_map": 3,
            "node total": 3,
            "map inner": 3,
            "pipeline inner": 9,
            "node a": 9,
            "node b": 9,
            **({"map item 0": 4, "map item 1": 4, "map item 2": 4} if map_items else {}),
        }
    )
    by_id = {s.context.span_id: s for s in spans}
    assert len({s.context.trace_id for s in spans}) == 1, "one trace for the root map"

    def parent(s):
        return by_id[s.parent.span_id] if s.parent is not None else None

    # Every span hangs under the right kind of span (structure by pipeline path).
    for s in spans:
        p_ = parent(s)
        kind, name = s.attributes["hypernodes.kind"], _label(s)
        if name == "map outer":
            assert p_ is None
        elif kind == "map_item":
            assert p_.name == "map"
        elif name == "pipeline outer":
            assert _label(p_).startswith("map item" if map_items else "map outer")
        elif name == "pipeline inner":
            assert _label(p_).startswith("map item" if map_items else "map inner")
        elif name == "map inner":
            assert _label(p_) == "node inner_map"
        elif kind == "node":
            want = "pipeline " + s.attributes["hypernodes.pipeline"]
            assert _label(p_) == want, (name, _label(p_))
    # Events carry their items, so the tree is exact in every mode: 3 inner runs per inner map,
    # each with its own nodes once.
    for m in (s for s in spans if _label(s) == "map inner"):
        below = [
            s
            for s in spans
            if _label(s) == "pipeline inner"
            and (parent(s) is m or (parent(s) is not None and parent(parent(s)) is m))
        ]
        assert len(below) == 3
    for run in (s for s in spans if s.name == "pipeline"):
        nodes = sorted(_label(c) for c in spans if parent(c) is run)
        want = (
            ["node a", "node b"]
            if _label(run) == "pipeline inner"
            else ["node inner_map", "node make_xs", "node total"]
        )
        assert nodes == want, (_label(run), nodes)


@needs_otel
@pytest.mark.parametrize("map_items", [False, True], ids=["runs", "items"])
def test_telemetry_concurrent_items_each_get_their_own_spans(map_items):
    """Items overlap (threaded items, threaded nodes, each item's node sleeping its own time): every
    node span hangs under the run of its own item, so it lies within that run's span in time (an
    item's nodes attached to a sibling's run would end after it, or start before it)."""
    import time

    from hypernodes import TelemetryCallback

    @node(output_name="slept")
    def nap(delay: float) -> float:
        time.sleep(delay)
        return delay

    @node(output_name="done")
    def after(slept: float) -> float:
        time.sleep(slept / 2)
        return slept

    tracer, exporter = _tracing()
    delays = [0.3, 0.0, 0.2, 0.05, 0.15, 0.0]
    p = Pipeline(
        [nap, after],
        name="p",
        callbacks=[TelemetryCallback(tracer, map_items=map_items)],
        executor=_executor("threaded", "threaded"),
    )
    assert [r["done"] for r in p.map(inputs={"delay": delays}, map_over="delay")] == delays
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    runs = [s for s in spans if s.name == "pipeline"]
    assert len(runs) == len(delays)
    for s in spans:
        if s.name != "node":
            continue
        run = by_id[s.parent.span_id]
        assert run.name == "pipeline"
        assert run.start_time <= s.start_time and s.end_time <= run.end_time, _label(s)
    for run in runs:
        kids = sorted(
            _label(s) for s in spans if s.parent and s.parent.span_id == run.context.span_id
        )
        assert kids == ["node after", "node nap"]
        if map_items:
            item = by_id[run.parent.span_id]
            assert item.name == "map_item"
            assert item.start_time <= run.start_time and run.end_time <= item.end_time


@needs_otel
def test_telemetry_pickles_as_configuration():
    from hypernodes import TelemetryCallback

    tracer, _ = _tracing()
    cb = TelemetryCallback(tracer, map_items=True)
    clone = pickle.loads(pickle.dumps(cb))
    assert clone.map_items is True
    assert clone._tracer is None


@needs_otel
def test_telemetry_uses_the_global_tracer_provider_by_default(tmp_path):
    """With no tracer given, spans go to whatever provider the application set globally (as
    ``logfire.configure()`` does). Run in a fresh interpreter: the global provider is set once."""
    import subprocess
    import sys

    script = tmp_path / "otel_global.py"
    script.write_text(
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import "
        "InMemorySpanExporter\n"
        "from hypernodes import Pipeline, TelemetryCallback, node\n"
        "cb = TelemetryCallback()  # made before the provider is set: resolved lazily\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "@node(output_name='y')\n"
        "def f(x):\n"
        "    return x + 1\n"
        "with trace.get_tracer('app').start_as_current_span('app'):\n"
        "    Pipeline([f], name='p', callbacks=[cb]).run(inputs={'x': 1})\n"
        "spans = {s.name: s for s in exporter.get_finished_spans()}\n"
        "assert spans['pipeline'].parent.span_id == spans['app'].context.span_id\n"
        "assert spans['node'].parent.span_id == spans['pipeline'].context.span_id\n"
        "print(sorted(spans))\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['app', 'node', 'pipeline']"


def test_hypernodes_imports_without_opentelemetry(tmp_path):
    """TelemetryCallback is optional: without OpenTelemetry, ``import hypernodes`` works and only
    asking for TelemetryCallback fails, saying what to install."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if not installed\n"
        "import hypernodes\n"
        "from hypernodes import ProgressCallback\n"
        "try:\n"
        "    hypernodes.TelemetryCallback\n"
        "except ImportError as e:\n"
        "    print('ImportError', 'hypernodes[telemetry]' in str(e))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ImportError True"
