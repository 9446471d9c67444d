"""DaftExecutor beyond the shared conformance suite (conftest's `executor` fixture): cache keys shared
with NodeExecutor, callbacks in NodeExecutor's order, worker processes, errors, async nodes,
objects built once per worker, and configuration errors. Ray: test_daft_ray.py."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time

import numpy as np
import pydantic
import pytest
from conftest import Heavy
from hypernodes import (
    Callback,
    ConfigurationError,
    DiskCache,
    MemoryCache,
    NodeExecutor,
    Pipeline,
    TransferError,
    node,
)
from hypernodes.daft import DaftExecutor


class Recorder(Callback):
    """Every event as (hook, args, hierarchy path); durations become 'T', errors their type."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def __getattribute__(self, name):
        if not name.startswith("on_"):
            return object.__getattribute__(self, name)

        def record(*args):
            *args, ctx = args
            args = [
                "T"
                if isinstance(a, float)
                else type(a).__name__
                if isinstance(a, BaseException)
                else a
                for a in args
            ]
            self.events.append((name, tuple(args), tuple(ctx.hierarchy_path)))

        return record


def _counted(tmp_path):
    """A 3-node pipeline with a nested mapped pipeline; every call appends to a file (works across
    processes)."""
    log = tmp_path / "calls.log"

    def mark(name):
        with open(log, "a") as f:
            f.write(name + "\n")

    @node(output_name="y")
    def inc(x):
        mark("inc")
        return x + 1

    @node(output_name="z", cache=False)
    def dbl(y):
        mark("dbl")
        return y * 2

    inner = Pipeline([inc, dbl], name="inner")

    @node(output_name="total")
    def total(zs, bonus=0):
        mark("total")
        return sum(zs) + bonus

    @node(output_name="label")
    def label(k):
        mark("label")
        return f"k={k}"

    outer = Pipeline(
        [
            inner.as_node(
                name="each", input_mapping={"xs": "x"}, output_mapping={"z": "zs"}, map_over="xs"
            ),
            total,
            label,
        ],
        name="outer",
    )

    def calls():
        return log.read_text().split() if log.exists() else []

    def reset():
        if log.exists():
            log.unlink()

    return outer, calls, reset


INPUTS = {"xs": [[1, 2], [3], []], "k": [1, 2, 3]}


def _with(p, **settings):
    return Pipeline(list(p.nodes), name=p.name, **settings)


# ---------------------------------------------------------------- cache keys shared


@pytest.mark.parametrize("first,second", [("node", "daft"), ("daft", "node")])
def test_cache_filled_by_one_executor_is_all_hits_for_the_other(tmp_path, first, second):
    outer, calls, reset = _counted(tmp_path)
    ex = {"node": NodeExecutor(), "daft": DaftExecutor()}
    cache = DiskCache(tmp_path / "cache")
    rec1, rec2 = Recorder(), Recorder()
    a = ex[first].map(_with(outer, cache=cache, callbacks=[rec1]), INPUTS, ["xs", "k"])
    assert sorted(set(calls())) == ["dbl", "inc", "label", "total"]
    reset()
    b = ex[second].map(_with(outer, cache=cache, callbacks=[rec2]), INPUTS, ["xs", "k"])
    assert a == b
    # Only the cache=False node ran again (once per element of xs): the nested pipeline holding
    # it is never served whole (issue 12), everything cacheable inside and around it hit.
    assert calls() == ["dbl"] * 3
    cached = [e[1][0] for e in rec2.events if e[0] == "on_node_cached"]
    assert cached == ["inc", "inc", "label", "total", "inc", "label", "total", "label", "total"]
    assert [e[1][0] for e in rec2.events if e[0] == "on_map_item_cached"] == []
    started = [e[1][0] for e in rec2.events if e[0] == "on_node_start"]
    assert started == ["each", "dbl", "dbl", "each", "dbl", "each"]


def test_same_signatures_as_node_executor(tmp_path):
    outer, _, _ = _counted(tmp_path)
    recs = []
    for ex in (NodeExecutor(), DaftExecutor()):
        cache, rec = MemoryCache(), Recorder()
        p = _with(outer, cache=cache, callbacks=[rec])
        ex.map(p, INPUTS, ["xs", "k"])
        ex.map(p, INPUTS, ["xs", "k"])
        recs.append([e for e in rec.events if e[0] == "on_node_cached"])
    assert recs[0] == recs[1] and len(recs[0]) == 9


# ---------------------------------------------------------------- callbacks


@pytest.mark.parametrize("cache", [None, "memory", "disk"])
def test_events_in_node_executor_order(tmp_path, cache):
    outer, _, _ = _counted(tmp_path)
    runs = []
    for i, ex in enumerate((NodeExecutor(), DaftExecutor())):
        c = {None: False, "memory": MemoryCache(), "disk": DiskCache(tmp_path / f"c{i}")}[cache]
        rec = Recorder()
        p = _with(outer, cache=c, callbacks=[rec])
        ex.map(p, INPUTS, ["xs", "k"])  # computed
        ex.map(p, INPUTS, ["xs", "k"])  # hits when cached
        ex.run(p, {"xs": [5], "k": 9}, output_name="total")
        runs.append(rec.events)
    # the engine replays DaftExecutor's records: the same events, item signatures included
    assert runs[0] == runs[1]
    hooks = {e[0] for e in runs[1]}
    assert {"on_nested_pipeline_start", "on_map_item_start", "on_node_end"} <= hooks


def test_use_callbacks_false_and_use_cache_false(tmp_path):
    outer, calls, reset = _counted(tmp_path)
    cache, rec = MemoryCache(), Recorder()
    p = _with(outer, cache=cache, callbacks=[rec])
    quiet = DaftExecutor(use_callbacks=False, use_cache=False)
    quiet.map(p, INPUTS, ["xs", "k"])
    assert rec.events == [] and len(cache) == 0
    reset()
    quiet.map(p, INPUTS, ["xs", "k"])
    assert "label" in calls()  # recomputed: the cache is not used


def test_daft_pipeline_nested_in_a_node_executor_pipeline(tmp_path):
    @node(output_name="y")
    def sq(x):
        return x * x

    inner_daft = Pipeline([sq], name="sqp", executor=DaftExecutor())
    inner_node = Pipeline([sq], name="sqp")

    @node(output_name="s")
    def add(ys):
        return sum(ys)

    out = []
    for inner in (inner_node, inner_daft):
        rec = Recorder()
        outer = Pipeline(
            [
                inner.as_node(
                    name="m", input_mapping={"xs": "x"}, output_mapping={"y": "ys"}, map_over="xs"
                ),
                add,
            ],
            name="o",
            callbacks=[rec],
        )
        res = outer.run({"xs": [1, 2, 3]})
        out.append((res, rec.events))
    assert out[0] == out[1]
    assert out[1][0] == {"ys": [1, 4, 9], "s": 14}


# ---------------------------------------------------------------- values and processes


@dataclasses.dataclass
class Doc:
    text: str
    tags: tuple


class Model(pydantic.BaseModel):
    name: str
    score: float


@node(output_name="doc")
def make_doc(i):
    return Doc(f"doc {i}", ("a", str(i)))


@node(output_name=("vec", "missing"))
def embed(doc, model):
    return model.weights * len(doc.text), None


@node(output_name="meta")
def meta(doc, vec):
    return Model(name=doc.text, score=float(vec.sum()))


@node(output_name="pid")
def where(meta):
    return os.getpid()


def test_worker_processes_return_the_same_python_types(tmp_path):
    log = tmp_path / "unpickled.log"
    p = Pipeline([make_doc, embed, meta, where], name="types", cache=DiskCache(tmp_path / "c"))
    items = {"i": list(range(40)), "model": Heavy(log)}
    expected = NodeExecutor().map(_with(p), {"i": list(range(40)), "model": Heavy(log)}, "i")
    log.unlink(missing_ok=True)
    got = DaftExecutor(use_process=True).map(p, items, "i")
    for a, b in zip(expected, got):
        assert type(b["doc"]) is Doc and b["doc"] == a["doc"]
        assert type(b["meta"]) is Model and b["meta"] == a["meta"]
        assert isinstance(b["vec"], np.ndarray) and np.array_equal(a["vec"], b["vec"])
        assert b["missing"] is None
    assert {r["pid"] for r in got} - {os.getpid()}, "nodes ran in worker processes"
    unpickled = log.read_text().split() if log.exists() else []
    assert 0 < len(unpickled) <= 8, f"the broadcast model is unpickled once per worker: {unpickled}"


@node(output_name="pid")
def worker_pid(x):
    return os.getpid()


def test_worker_processes_are_started_once_and_reused_across_calls():
    from hypernodes.daft import _cpus

    ex = DaftExecutor(use_process=True)
    pids = set()
    for _ in range(3):
        got = ex.map(Pipeline([worker_pid], name="pids"), {"x": list(range(64))}, "x")
        pids |= {r["pid"] for r in got}
    assert os.getpid() not in pids
    # Daft's own UDF processes would be new for every query: 3 calls, 3 sets of processes
    assert len(pids) <= _cpus(), pids


def test_warnings_raised_in_worker_processes_reach_the_caller():
    import warnings

    @node(output_name="y")
    def careful(x):
        warnings.warn(f"careful with {x}", UserWarning, stacklevel=1)
        return x

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = DaftExecutor(use_process=True).map(Pipeline([careful]), {"x": [1, 2, 3]}, "x")
    assert out == [{"y": 1}, {"y": 2}, {"y": 3}]
    got = sorted(str(w.message) for w in caught if str(w.message).startswith("careful"))
    assert got == ["careful with 1", "careful with 2", "careful with 3"]


_MAIN_SCRIPT = """
import dataclasses, os
from hypernodes import Pipeline, node
from hypernodes.daft import DaftExecutor


@dataclasses.dataclass
class Point:
    x: int


class MainError(Exception):
    pass


@node(output_name="p")
def shift(x, step):
    if x < 0:
        raise MainError(f"negative {x}")
    return Point(x + step.x), os.getpid()


# No `if __name__ == "__main__":` guard: worker processes must not re-run this script.
p = Pipeline([shift], name="main_pipe", executor=DaftExecutor(use_process=True))
out = p.map({"x": [1, 2, 3, 4], "step": Point(10)}, map_over="x")
assert [r["p"][0] for r in out] == [Point(11), Point(12), Point(13), Point(14)], out
assert os.getpid() not in {r["p"][1] for r in out}
try:
    p.map({"x": [1, -2], "step": Point(1)}, map_over="x")
except MainError as e:
    assert e.__notes__ == ["in node 'shift' of pipeline 'main_pipe', item 1"], e.__notes__
else:
    raise AssertionError("no error")
print("OK", flush=True)
"""

_CRASH_SCRIPT = """
import os, sys
from hypernodes import DiskCache, Pipeline, node
from hypernodes.daft import DaftExecutor


@node(output_name="y")
def crash(x):
    if x == 7 and os.path.exists(sys.argv[1] + ".crash"):
        os._exit(3)
    return x * 2


@node(output_name="z")
def after(y):
    return y + 1


cache = DiskCache(sys.argv[1])
p = Pipeline([crash, after], name="crashy", cache=cache, executor=DaftExecutor(use_process=True))
open(sys.argv[1] + ".crash", "w").close()
try:
    p.map({"x": list(range(40))}, map_over="x")
except Exception as e:
    print("raised", type(e).__name__, str(e), flush=True)
else:
    raise AssertionError("no error")
os.remove(sys.argv[1] + ".crash")
assert p.map({"x": list(range(40))}, map_over="x") == [{"y": 2 * x, "z": 2 * x + 1} for x in range(40)]
print("OK", flush=True)
"""


def _run_script(tmp_path, text, *args, timeout=120):
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(text)
    return subprocess.run(
        [sys.executable, str(script), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_worker_processes_run_what_a_main_script_defines(tmp_path):
    res = _run_script(tmp_path, _MAIN_SCRIPT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("OK")


def test_a_dead_worker_process_names_the_nodes_and_later_calls_work(tmp_path):
    res = _run_script(tmp_path, _CRASH_SCRIPT, str(tmp_path / "cache"))
    assert res.returncode == 0, res.stderr
    assert (
        "raised HyperNodesError a worker process died while running node(s) 'crash', 'after'"
        in (res.stdout)
    )
    assert res.stdout.strip().endswith("OK")


def test_a_large_input_reaches_each_worker_process_once_by_file(tmp_path):
    import glob
    import tempfile

    from hypernodes import _parallel

    log = tmp_path / "unpickled.log"
    model = Heavy(log)
    model.weights = np.arange(2 * _parallel.SHIP_BY_FILE // 8)  # pickles larger than the limit

    @node(output_name="w")
    def weight(i, model):
        return int(model.weights[i])

    def temporary():
        pattern = "hypernodes-call-*"
        return set(glob.glob(os.path.join(tempfile.gettempdir(), pattern))) | set(
            glob.glob(os.path.join("/dev/shm", pattern))
        )

    before = temporary()
    got = DaftExecutor(use_process=True).map(
        Pipeline([weight], name="big"), {"i": list(range(200)), "model": model}, "i"
    )
    assert [r["w"] for r in got] == list(range(200))
    pids = log.read_text().split()
    assert os.getpid() not in {int(p) for p in pids}
    assert 0 < len(pids) == len(set(pids)), f"unpickled more than once in a worker: {pids}"
    assert temporary() == before, "the shipped segment's temporary directory is removed"


def test_in_process_keeps_object_identity():
    sentinel = object()

    @node(output_name="same")
    def passthrough(obj, i):
        return obj

    got = DaftExecutor(use_process=False).map(
        Pipeline([passthrough]), {"obj": sentinel, "i": [1, 2]}, "i"
    )
    assert all(r["same"] is sentinel for r in got)


# ---------------------------------------------------------------- errors


class DomainError(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code


@pytest.mark.parametrize("use_process", [False, True])
def test_node_exception_type_and_note_from_workers(use_process):
    @node(output_name="y")
    def picky(x):
        if x == 3:
            raise DomainError("three", 3)
        return x

    inner = Pipeline([picky], name="inner")
    outer = Pipeline([inner.as_node(name="each", map_over="x")], name="outer")
    with pytest.raises(DomainError) as info:
        DaftExecutor(use_process=use_process).map(outer, {"x": [[1], [2, 3]]}, "x")
    assert info.value.code == 3
    assert info.value.__notes__ == ["in node 'picky' of pipeline 'outer > inner', items 1 > 1"]


def test_error_events_match_node_executor():
    @node(output_name="y")
    def fails(x):
        if x == 1:
            raise ValueError("one")
        return x

    @node(output_name="z")
    def after(y):
        return y

    runs = []
    for ex in (NodeExecutor(), DaftExecutor()):
        rec = Recorder()
        with pytest.raises(ValueError):
            ex.map(Pipeline([fails, after], name="e", callbacks=[rec]), {"x": [0, 1, 2]}, "x")
        runs.append(rec.events)
    assert runs[0] == runs[1]
    assert runs[1][-1][0] == "on_error"


@pytest.mark.parametrize("use_process", [False, True])
def test_a_failing_nested_pipeline_keeps_its_events_from_workers(use_process):
    # the events a nested pipeline fired before it failed come back with the error (worker
    # processes too), as NodeExecutor delivers them
    @node(output_name="y")
    def fails(x):
        if x == 1:
            raise DomainError("one", 1)
        return x

    inner = Pipeline([fails], name="inner")
    runs = []
    for ex in (NodeExecutor(), DaftExecutor(use_process=use_process)):
        rec = Recorder()
        outer = Pipeline([inner.as_node(name="nest")], name="outer", callbacks=[rec])
        with pytest.raises(DomainError) as info:
            ex.map(outer, {"x": [0, 1, 2]}, "x")
        assert info.value.code == 1
        assert info.value.__notes__ == ["in node 'fails' of pipeline 'outer > inner', item 1"]
        runs.append(rec.events)
    assert runs[0] == runs[1]
    assert any(ev[0] == "on_error" and "fails" in str(ev) for ev in runs[1])


def test_unpicklable_function_fails_before_work_starts_naming_the_node(tmp_path):
    lock = threading.Lock()
    ran = tmp_path / "ran"

    @node(output_name="a")
    def first(x):
        ran.write_text("yes")
        return x

    @node(output_name="b")
    def locked(a):
        with lock:
            return a

    p = Pipeline([first, locked], name="locky")
    with pytest.raises(ConfigurationError, match="node 'locked' of pipeline 'locky'"):
        DaftExecutor(use_process=True).map(p, {"x": [1, 2]}, "x")
    assert not ran.exists()
    # in this process (threads) the same pipeline runs
    assert DaftExecutor(use_process=False).map(p, {"x": [1, 2]}, "x")[1]["b"] == 2


def test_unpicklable_item_names_input_and_node():
    @node(output_name="y")
    def use(handle):
        return 1

    with pytest.raises(TransferError, match="input 'handle'.*node\\(s\\) use"):
        DaftExecutor(use_process=True).map(
            Pipeline([use]), {"handle": [threading.Lock()]}, "handle"
        )


def test_configuration_errors():
    with pytest.raises(ConfigurationError, match="unknown Daft runner"):
        DaftExecutor(runner="spark")
    with pytest.raises(ConfigurationError, match="use_process"):
        DaftExecutor(use_process="sometimes")
    with pytest.raises(ConfigurationError, match="address"):
        DaftExecutor(address="ray://x:1")


def test_ray_runner_in_a_native_process_is_a_clear_error():
    DaftExecutor().run(Pipeline([make_doc]), {"i": 1})  # Daft's native runner is now set
    with pytest.raises(ConfigurationError, match="process-wide"):
        DaftExecutor(runner="ray").run(Pipeline([make_doc]), {"i": 1})


# ---------------------------------------------------------------- async


class _InFlight:
    """Counts the coroutines in flight at once (lock-protected: they may run on several threads)
    and remembers the peak, without relying on the machine's speed: each first waits (awaiting, so
    that its event loop runs the others) until `target` are in flight at once, or 10 s passed
    (after which none waits), then stays 50 ms more. Running `target` at once gives peak ==
    target however late they are scheduled; fewer give peak < target, more peak > target."""

    def __init__(self, target: int) -> None:
        self._lock = threading.Lock()
        self.target = target
        self.active = 0
        self.peak = 0
        self._gave_up = False

    async def visit(self) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        deadline = time.monotonic() + 10.0
        while True:
            with self._lock:
                if self.peak < self.target and time.monotonic() > deadline:
                    self._gave_up = True
                if self._gave_up or self.peak >= self.target:
                    break
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.05)
        with self._lock:
            self.active -= 1


def test_async_nodes_run_concurrently_as_async_udfs():
    in_flight = _InFlight(target=12)  # all 12: fewer than max_concurrency (default 32)

    @node(output_name="page")
    async def fetch(url):
        await in_flight.visit()
        return f"<{url}>"

    @node(output_name="size")
    def size(page):
        return len(page)

    p = Pipeline([fetch, size], name="web")
    # use_process=False: with "auto", the first item is first run alone, to time it
    out = DaftExecutor(use_process=False).map(p, {"url": [f"u{i}" for i in range(12)]}, "url")
    assert out[3] == {"page": "<u3>", "size": 4}
    assert in_flight.peak == 12, "the async node's calls did not all run concurrently"


@pytest.mark.parametrize("limit", [1, 3])
def test_max_concurrency_caps_the_coroutines_in_flight(limit):
    in_flight = _InFlight(target=limit)

    @node(output_name="y")
    async def call(x):
        await in_flight.visit()
        return x * 2

    ex = DaftExecutor(use_process=False, max_concurrency=limit)
    out = ex.map(Pipeline([call], name="capped"), {"x": list(range(12))}, "x")
    assert [r["y"] for r in out] == [x * 2 for x in range(12)]
    assert in_flight.peak == limit


# ---------------------------------------------------------------- nested map errors


@pytest.mark.parametrize(
    ("inputs", "error", "named"),
    [
        (
            {"left_items": [1, 2], "right_items": [1]},
            "MapInputError",
            "left_items=2, right_items=1",
        ),
        ({"left_items": 5, "right_items": [1]}, "MapInputTypeError", "map over 'left_items'"),
    ],
)
def test_nested_map_errors_name_the_outer_inputs(inputs, error, named):
    from hypernodes import errors

    @node(output_name="pair")
    def pair(a, b):
        return (a, b)

    inner = Pipeline([pair], name="inner", executor=DaftExecutor())
    n = inner.as_node(
        name="pairs",
        input_mapping={"left_items": "a", "right_items": "b"},
        map_over=["left_items", "right_items"],
    )
    outer = Pipeline([n], name="outer")  # NodeExecutor outside, Daft for the nested map
    with pytest.raises(getattr(errors, error)) as info:
        outer.run(inputs)
    msg = str(info.value)
    assert named in msg and "node 'pairs'" in msg, msg
    assert "'a'" not in msg and "'b'" not in msg
