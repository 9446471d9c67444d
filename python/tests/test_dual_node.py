"""DualNode: ``run`` calls ``singular``, ``map`` calls ``batch`` on batches of the items that missed
the cache, in every executor and mode. Calls are counted through a file, so worker processes count
too."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pyarrow as pa
import pytest
from conftest import IN_WORKER_PROCESSES, make_executor
from hypernodes import (
    Callback,
    ConfigurationError,
    DualNode,
    MemoryCache,
    NodeExecutor,
    OutputArityError,
    Pipeline,
    node,
    stateful,
)


def logged(log):
    """``scaled = x * k`` as a DualNode whose calls are appended to ``log`` (one JSON per call)."""

    def write(entry):
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def one(x, k):
        write({"kind": "one", "x": x})
        return x * k

    def many(x, k):
        write({"kind": "many", "type": type(x).__name__, "x": x.to_pylist(), "k": k})
        return np.asarray(x) * k

    return DualNode("scaled", one, many, batch_size=4)


def calls(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@node(output_name="x")
def inc(raw):
    return raw + 1


@node(output_name="out")
def plus(scaled):
    return scaled + 1000


def test_run_calls_singular(tmp_path):
    log = tmp_path / "log"
    p = Pipeline(nodes=[inc, logged(log), plus])
    assert p.run(inputs={"raw": 1, "k": 10}) == {"x": 2, "scaled": 20, "out": 1020}
    assert [c["kind"] for c in calls(log)] == ["one"]


def test_map_calls_batch_in_every_executor_and_mode(tmp_path, mode):
    log = tmp_path / "log"
    p = Pipeline(nodes=[inc, logged(log), plus], executor=make_executor(mode))
    out = p.map(inputs={"raw": list(range(10)), "k": 3}, map_over="raw")
    assert out == [
        {"x": r + 1, "scaled": (r + 1) * 3, "out": (r + 1) * 3 + 1000} for r in range(10)
    ]
    got = calls(log)
    assert {c["kind"] for c in got} == {"many"}, got
    # every item exactly once, in batches of at most 4, k passed once as a value
    assert sorted(x for c in got for x in c["x"]) == list(range(1, 11))
    assert all(1 <= len(c["x"]) <= 4 and c["k"] == 3 for c in got)
    assert all(c["type"] == "Int64Array" for c in got)
    if mode not in IN_WORKER_PROCESSES and not mode.startswith("daft"):
        # NodeExecutor in this process batches the whole window; DaftExecutor batches within the
        # batches of rows Daft hands its UDF, which vary with load
        assert [len(c["x"]) for c in got] == [4, 4, 2]


def test_cached_items_are_left_out_of_the_batch(tmp_path, mode):
    log = tmp_path / "log"
    p = Pipeline(nodes=[inc, logged(log), plus], executor=make_executor(mode), cache=MemoryCache())
    p.map(inputs={"raw": [1, 2, 3], "k": 2}, map_over="raw")
    log.unlink()
    out = p.map(inputs={"raw": [1, 5, 3, 6], "k": 2}, map_over="raw")
    assert [o["out"] for o in out] == [1004, 1012, 1008, 1014]
    assert sorted(x for c in calls(log) for x in c["x"]) == [6, 7], calls(log)
    # a run reads what the map stored: neither function is called
    log.unlink()
    assert p.run(inputs={"raw": 5, "k": 2})["scaled"] == 12
    assert calls(log) == []


def test_a_wrong_batch_length_names_the_node_and_both_lengths(mode):
    short = DualNode("y", lambda x: x, lambda x: [1] * (len(x) - 1))
    p = Pipeline(nodes=[short], executor=make_executor(mode))
    with pytest.raises(OutputArityError, match=r"node 'y'") as info:
        p.map(inputs={"x": [1, 2, 3]}, map_over="x")
    got, expected = re.search(
        r"returned (\d+) values for a batch of (\d+)", str(info.value)
    ).groups()
    assert int(got) == int(expected) - 1
    if mode not in IN_WORKER_PROCESSES:  # worker processes batch within their chunk of items
        assert (got, expected) == ("2", "3")


def test_a_wrong_batch_type_and_a_raising_batch_name_the_node():
    odd = DualNode("y", lambda x: x, lambda x: {"not": "a list"})
    with pytest.raises(TypeError, match="expected a list, a NumPy array") as info:
        Pipeline(nodes=[odd]).map(inputs={"x": [1, 2]}, map_over="x")
    assert "node 'y'" in "\n".join(info.value.__notes__)

    class QuotaError(Exception):
        def __init__(self, msg, status):
            super().__init__(msg)
            self.status = status

    def boom(x):
        raise QuotaError("over quota", 429)

    bad = DualNode("y", lambda x: x, boom)
    for ex in (NodeExecutor(), NodeExecutor(map_execution="parallel", max_workers=2)):
        with pytest.raises(QuotaError) as info:
            Pipeline(nodes=[bad], executor=ex).map(inputs={"x": [1, 2]}, map_over="x")
        assert info.value.status == 429
        assert "node 'y'" in "\n".join(info.value.__notes__)


def test_what_batch_receives_and_may_return():
    seen = []

    def many(x, tag):
        seen.append((type(x), tag))
        return list(x)

    lists = DualNode("y", lambda x, tag: x, many, batch_lists=True)
    Pipeline(nodes=[lists]).map(inputs={"x": [1, 2], "tag": "t"}, map_over="x")
    assert seen == [(list, "t")]

    class Obj:  # does not convert to Arrow: a list
        pass

    seen.clear()
    arrow = DualNode("y", lambda x, tag: x, many)
    Pipeline(nodes=[arrow]).map(inputs={"x": [Obj(), Obj()], "tag": "t"}, map_over="x")
    assert seen == [(list, "t")]

    for result in (
        lambda x: pa.array([v * 2 for v in x.to_pylist()]),
        lambda x: np.asarray(x) * 2,
        lambda x: tuple(v * 2 for v in x.to_pylist()),
    ):
        out = Pipeline(nodes=[DualNode("y", lambda x: x * 2, result)]).map(
            inputs={"x": [1, 2, 3]}, map_over="x"
        )
        assert out == [{"y": 2}, {"y": 4}, {"y": 6}]
        assert all(type(o["y"]) is int for o in out)
    # rows of a 2-D array stay arrays (embeddings)
    emb = DualNode("e", lambda x: np.ones(2) * x, lambda x: np.outer(np.asarray(x), np.ones(2)))
    out = Pipeline(nodes=[emb]).map(inputs={"x": [1, 2]}, map_over="x")
    assert np.array_equal(out[1]["e"], [2.0, 2.0])


def test_bound_methods_of_a_stateful_object_build_it_once_per_process(tmp_path, mode):
    log = tmp_path / "log"

    @stateful
    class Encoder:
        def __init__(self, dim):
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")
            self.dim = dim

        def one(self, text):
            return [len(text)] * self.dim

        def many(self, text):
            return [[len(t)] * self.dim for t in text.to_pylist()]

    enc = Encoder(2)
    d = DualNode("emb", enc.one, enc.many)
    assert not log.exists()  # taking the methods built nothing
    p = Pipeline(nodes=[d], executor=make_executor(mode))
    for _ in range(2):
        out = p.map(inputs={"text": ["a", "bb", "ccc"]}, map_over="text")
        assert [o["emb"] for o in out] == [[1, 1], [2, 2], [3, 3]]
    pids = [int(x) for x in log.read_text().split()]
    assert len(pids) == len(set(pids)) >= 1


def test_callbacks_count_items_as_usual(mode):
    class Count(Callback):
        def __init__(self):
            self.items = 0
            self.ends = []

        def on_map_item_end(self, item_index, duration, ctx):
            self.items += 1

        def on_node_end(self, node_id, outputs, duration, ctx):
            self.ends.append(node_id)

    cb = Count()
    d = DualNode("y", lambda x: x, lambda x: x.to_pylist())
    p = Pipeline(
        nodes=[d, node(lambda y: y + 1, output_name="z", name="after")],
        callbacks=[cb],
        executor=make_executor(mode),
    )
    p.map(inputs={"x": list(range(7))}, map_over="x")
    assert cb.items == 7
    assert sorted(cb.ends) == ["after"] * 7 + ["y"] * 7


def test_bad_settings_are_refused():
    with pytest.raises(ConfigurationError, match="batch_size"):
        DualNode("y", lambda x: x, lambda x: x, batch_size=0)
    with pytest.raises(
        ConfigurationError, match=r"batch must take the 1 parameter\(s\) of singular"
    ):
        DualNode("y", lambda x: x, lambda a, b: a)
    # the batch function's own names may differ: arguments go by position
    plural = DualNode(
        "y", lambda text, k: text * k, lambda texts, ks: [t * ks for t in texts], batch_lists=True
    )
    assert Pipeline(nodes=[plural]).map(inputs={"text": ["a", "b"], "k": 2}, map_over="text") == [
        {"y": "aa"},
        {"y": "bb"},
    ]
    with pytest.raises(ConfigurationError, match="callable"):
        DualNode("y", lambda x: x, None)


def test_a_dual_node_survives_pickling():
    import cloudpickle

    d = DualNode("y", lambda x: x + 1, lambda x: [v + 1 for v in x.to_pylist()], batch_size=7)
    copy = cloudpickle.loads(cloudpickle.dumps(d))
    assert copy.batch_size == 7 and copy.singular(1) == 2 and copy.batch is not None
    assert copy.code_hash == d.code_hash


@node(output_name="total")
def total(scaled):
    return sum(scaled)


def test_a_mapped_nested_pipeline_batches_its_dual_node(tmp_path, mode):
    log = tmp_path / "log"
    inner = Pipeline(nodes=[logged(log)], name="inner")
    outer = Pipeline(
        nodes=[inner.as_node(name="per_x", map_over="x"), total],
        name="outer",
        executor=make_executor(mode),
    )
    out = outer.run(inputs={"x": [1, 2, 3, 4, 5], "k": 2})
    assert out["scaled"] == [2, 4, 6, 8, 10] and out["total"] == 30
    got = calls(log)
    assert {c["kind"] for c in got} == {"many"}
    assert sorted(x for c in got for x in c["x"]) == [1, 2, 3, 4, 5]


def test_without_pyarrow_batch_receives_lists(tmp_path):
    # a real interpreter in which `import pyarrow` fails
    import subprocess
    import sys

    script = """
import sys
sys.modules["pyarrow"] = None
from hypernodes import DualNode, Pipeline
seen = []
d = DualNode("y", lambda x: x, lambda x: seen.append(type(x).__name__) or list(x))
out = Pipeline(nodes=[d]).map(inputs={"x": [1, 2]}, map_over="x")
assert out == [{"y": 1}, {"y": 2}], out
print(seen)
"""
    run = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['list']"


def test_several_outputs_and_async_functions(tmp_path, mode):
    def one(x):
        return x + 1, x * 2

    def many(x):
        a = np.asarray(x)
        return a + 1, (a * 2).tolist()

    pair = DualNode(("inc", "dbl"), one, many)
    p = Pipeline(nodes=[pair], executor=make_executor(mode))
    assert p.run(inputs={"x": 3}) == {"inc": 4, "dbl": 6}
    assert p.map(inputs={"x": [1, 2]}, map_over="x") == [
        {"inc": 2, "dbl": 2},
        {"inc": 3, "dbl": 4},
    ]

    log = tmp_path / "log"

    def note(kind):
        with open(log, "a") as f:
            f.write(kind + "\n")

    async def one_async(x):
        note("one")
        return x * 10

    async def many_async(x):
        note("many")
        return [v * 10 for v in x.to_pylist()]

    slow = DualNode("y", one_async, many_async)
    p = Pipeline(nodes=[slow], executor=make_executor(mode))
    assert p.run(inputs={"x": 2}) == {"y": 20}
    assert p.map(inputs={"x": [1, 2]}, map_over="x") == [{"y": 10}, {"y": 20}]
    kinds = log.read_text().split()
    assert kinds[0] == "one" and set(kinds[1:]) == {"many"}  # worker processes: one per chunk


def test_several_outputs_of_unequal_lengths_are_refused():
    uneven = DualNode(("a", "b"), lambda x: (x, x), lambda x: ([1, 2], [1]))
    with pytest.raises(ValueError, match="returned 1 values for one of its outputs") as info:
        Pipeline(nodes=[uneven]).map(inputs={"x": [1, 2]}, map_over="x")
    assert "node 'a_b'" in "\n".join(info.value.__notes__)


def test_a_daft_map_inside_a_daft_row_batches_too():
    from hypernodes.daft import DaftExecutor

    sizes = []

    def many(x):
        sizes.append(len(x))
        return [v * 2 for v in x.to_pylist()]

    d = DualNode("y", lambda x: x * 2, many)
    inner = Pipeline(nodes=[d], name="inner", executor=DaftExecutor(use_process=False))

    @node(output_name="xs")
    def make(n):
        return list(range(n))

    per = inner.as_node(name="per", map_over="xs", input_mapping={"xs": "x"})
    outer = Pipeline(nodes=[make, per], executor=DaftExecutor(use_process=False))
    out = outer.map(inputs={"n": [3, 4]}, map_over="n")
    assert [o["y"] for o in out] == [[0, 2, 4], [0, 2, 4, 6]]
    assert sorted(sizes) == [3, 4]  # one batch per row's inner map, run inside the Daft row


def test_a_batch_function_that_cannot_be_pickled_is_named_before_work_starts():
    import threading

    from hypernodes.daft import DaftExecutor

    lock = threading.Lock()

    def many(x):
        with lock:
            return x.to_pylist()

    d = DualNode("y", lambda x: x, many)
    for ex in (DaftExecutor(use_process=True), NodeExecutor(map_execution="parallel")):
        p = Pipeline(nodes=[d], executor=ex)
        with pytest.raises(ConfigurationError, match="node 'y'.*its batch function cannot be"):
            p.map(inputs={"x": [1, 2, 3]}, map_over="x")
