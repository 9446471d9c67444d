"""The "parallel" execution mode in Python: worker processes. Work really runs in other processes,
at most max_workers at once, with the workers reused across calls; functions defined in the test
module or inside a test travel by cloudpickle; a failing item raises in the caller with its original
type and the node's name, and the pool stays usable; a function that cannot be pickled is rejected
before any work starts."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest
from hypernodes import ConfigurationError, NodeExecutor, Pipeline, node

WORKERS = 2


class ItemFailed(Exception):
    """A custom exception raised inside worker processes."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message, index)
        self.index = index


RENDEZVOUS_TIMEOUT = 15.0
"""Seconds a call waits for the others to join it: generous (a worker process may still be starting
on a loaded machine), as only a broken executor waits it out."""
LINGER = 0.05
"""Seconds each call stays active after the rendezvous, so that calls beyond the target are seen."""


class ProcGauge:
    """Counts the calls active at once across worker processes, with files in a directory (processes
    share no Python objects), without relying on the machine's speed. Each call (`visit`) first
    waits until `target` calls have been active at once (or RENDEZVOUS_TIMEOUT passed, after which
    no later call waits), then lingers LINGER s. An executor that runs `target` calls at once
    reaches peak == target however late its workers are scheduled; one that runs fewer shows
    peak < target (after the timeout), one that runs more peak > target. Nodes get the directory
    (`path`) as an input."""

    def __init__(self, directory: Path, target: int = 1) -> None:
        directory.mkdir(parents=True)
        (directory / "target").write_text(str(target))
        self.path = str(directory)

    @property
    def peak(self) -> int:
        """The most calls active at once, as the calls saw it."""
        return max((int(f.read_text()) for f in Path(self.path).glob("seen-*")), default=0)


def visit(gauge: str) -> None:
    """One call counted by the ProcGauge at directory `gauge` (in whatever process runs it)."""
    d = Path(gauge)
    target = int((d / "target").read_text())
    me = f"{os.getpid()}-{uuid.uuid4().hex}"
    (d / f"active-{me}").touch()
    seen = 0
    deadline = time.monotonic() + RENDEZVOUS_TIMEOUT
    while True:
        seen = max(seen, len(list(d.glob("active-*"))))
        if seen >= target:
            (d / "reached").touch()
        if (d / "reached").exists() or (d / "gave_up").exists():
            break
        if time.monotonic() > deadline:
            (d / "gave_up").touch()
            break
        time.sleep(0.005)
    time.sleep(LINGER)
    (d / f"seen-{me}").write_text(str(seen))
    (d / f"active-{me}").unlink()


@node(output_name="span")
def gauged_work(x, gauge):
    """Returns (pid, x) after a visit to `gauge`: enough to see which process ran it and, from the
    gauge, how many ran at once."""
    visit(gauge)
    return (os.getpid(), x)


@node(output_name="y")
def fail_on(x, bad):
    if x in bad:
        raise ItemFailed(f"item {x} failed", x)
    return x * 2


@node(output_name="pid_a")
def pid_a(x, gauge):
    visit(gauge)
    return os.getpid()


@node(output_name="pid_b")
def pid_b(x, gauge):
    visit(gauge)
    return os.getpid()


@pytest.fixture(scope="module", autouse=True)
def warm_pool(tmp_path_factory):
    """Starts both worker processes once (spawning costs ~0.5 s each; two items at once need
    both), so that the tests below rarely wait for a worker to start."""
    gauge = ProcGauge(tmp_path_factory.mktemp("warm") / "gauge", target=WORKERS)
    ex = NodeExecutor(map_execution="parallel", max_workers=WORKERS)
    ex.map(Pipeline([gauged_work]), {"x": list(range(4)), "gauge": gauge.path}, "x")


def _map_spans(tmp_path, n, target=1, workers=WORKERS):
    """Maps gauged_work over n items; returns the (pid, x) of each item and the gauge's peak."""
    gauge = ProcGauge(tmp_path / f"gauge-{uuid.uuid4().hex}", target)
    ex = NodeExecutor(map_execution="parallel", max_workers=workers)
    out = ex.map(
        Pipeline([gauged_work], name="timed"), {"x": list(range(n)), "gauge": gauge.path}, "x"
    )
    return [r["span"] for r in out], gauge.peak


# ---------------------------------------------------------------- processes, order, bounds


def test_map_items_run_in_other_processes_in_order(tmp_path):
    spans, _peak = _map_spans(tmp_path, 6, target=WORKERS)
    assert [x for _, x in spans] == list(range(6))
    pids = {pid for pid, _ in spans}
    assert os.getpid() not in pids
    assert len(pids) > 1, "only one worker process was used"


def test_map_peak_reaches_and_never_exceeds_max_workers(tmp_path):
    spans, peak = _map_spans(tmp_path, 6, target=WORKERS)
    assert peak == WORKERS
    assert len({pid for pid, _ in spans}) <= WORKERS


def test_map_overlaps_in_time(tmp_path):
    _spans, peak = _map_spans(tmp_path, 4, target=WORKERS)
    assert peak == WORKERS, f"4 items on {WORKERS} workers: at most {peak} at once"


def test_workers_are_reused_across_calls(tmp_path):
    # target=WORKERS: each call has all its workers busy at once, so each sees every worker
    first = {pid for pid, _ in _map_spans(tmp_path, 4, target=WORKERS)[0]}
    second = {pid for pid, _ in _map_spans(tmp_path, 4, target=WORKERS)[0]}
    assert len(first | second) <= WORKERS
    assert first & second


def test_many_items_come_back_in_order():
    """More items than workers x 4: the map goes in chunks, results still in item order."""

    @node(output_name="y")
    def square(x):
        return x * x

    out = NodeExecutor(map_execution="parallel", max_workers=WORKERS).map(
        Pipeline([square]), {"x": list(range(50))}, "x"
    )
    assert out == [{"y": x * x} for x in range(50)]


def test_parallel_nodes_run_in_other_processes_and_overlap(tmp_path):
    gauge = ProcGauge(tmp_path / "gauge", target=2)
    ex = NodeExecutor(node_execution="parallel", max_workers=WORKERS)
    p = Pipeline([pid_a, pid_b], name="two_procs", executor=ex)
    out = p.run({"x": 1, "gauge": gauge.path})
    assert os.getpid() not in (out["pid_a"], out["pid_b"])
    assert out["pid_a"] != out["pid_b"]
    assert gauge.peak == 2, "parallel nodes did not overlap"


def test_parallel_map_with_parallel_nodes(tmp_path):
    ex = NodeExecutor(node_execution="parallel", map_execution="parallel", max_workers=WORKERS)
    p = Pipeline([pid_a, pid_b, fail_on], name="both_parallel", executor=ex)
    gauge = ProcGauge(tmp_path / "first").path
    out = p.map({"x": [1, 2, 3], "gauge": gauge, "bad": ()}, map_over="x", output_name="y")
    assert out == [{"y": 2}, {"y": 4}, {"y": 6}]
    gauge = ProcGauge(tmp_path / "second").path
    pids = p.map({"x": [1, 2], "gauge": gauge, "bad": ()}, "x", output_name="pid_a")
    assert os.getpid() not in {r["pid_a"] for r in pids}


def test_nested_pipeline_with_its_own_parallel_executor(tmp_path):
    inner = Pipeline(
        [gauged_work],
        name="inner_parallel",
        executor=NodeExecutor(map_execution="parallel", max_workers=WORKERS),
    ).as_node(name="spans", output_mapping={"span": "spans"}, map_over="x")

    @node(output_name="pids")
    def pids(spans):
        return sorted({s[0] for s in spans})

    gauge = ProcGauge(tmp_path / "gauge")
    out = Pipeline([inner, pids], name="outer_seq").run({"x": [0, 1, 2, 3], "gauge": gauge.path})
    assert [s[1] for s in out["spans"]] == [0, 1, 2, 3]
    assert os.getpid() not in out["pids"]


def test_bound_values_travel_with_the_pipeline():
    @node(output_name="y")
    def affine(x, a, b):
        return (a * x + b, os.getpid())

    p = Pipeline([affine], name="bound").bind(a=3, b=-1)
    ex = NodeExecutor(map_execution="parallel", node_execution="parallel", max_workers=WORKERS)
    out = ex.map(p, {"x": [1, 2, 3, 4]}, "x")
    assert [r["y"][0] for r in out] == [2, 5, 8, 11]
    assert os.getpid() not in {r["y"][1] for r in out}
    assert ex.run(p, {"x": 10})["y"][0] == 29


# ---------------------------------------------------------------- functions defined in a test


def test_closure_over_local_values_travels_to_workers():
    table = {"a": 1, "b": 20}
    offset = 300

    @node(output_name="y")
    def lookup(key):
        return (table[key] + offset, os.getpid())

    helper_calls = []

    def helper(v):  # a local function called by a local node
        helper_calls.append(v)
        return -v

    @node(output_name="z")
    def negate(y):
        return helper(y[0])

    ex = NodeExecutor(map_execution="parallel", max_workers=WORKERS)
    out = Pipeline([lookup, negate], name="closures", executor=ex).map(
        {"key": ["a", "b", "a", "b"]}, map_over="key"
    )
    assert [r["z"] for r in out] == [-301, -320, -301, -320]
    assert os.getpid() not in {r["y"][1] for r in out}
    assert helper_calls == []  # the calls happened in the workers, on copies


# ---------------------------------------------------------------- errors


def test_worker_error_keeps_type_and_names_the_node_and_pool_stays_usable(tmp_path):
    ex = NodeExecutor(map_execution="parallel", max_workers=WORKERS)
    p = Pipeline([fail_on], name="failing", executor=ex)
    with pytest.raises(ItemFailed) as info:
        p.map({"x": [0, 1, 2, 3], "bad": {2}}, map_over="x")
    assert type(info.value) is ItemFailed
    assert info.value.index == 2
    assert "item 2 failed" in str(info.value)
    notes = getattr(info.value, "__notes__", [])
    assert any("fail_on" in n for n in notes), notes
    # the pool is still usable
    assert p.map({"x": [5, 6, 7], "bad": set()}, map_over="x") == [{"y": 10}, {"y": 12}, {"y": 14}]
    spans, _peak = _map_spans(tmp_path, 4)
    assert os.getpid() not in {pid for pid, _ in spans}


def test_first_failing_item_by_index_is_raised():
    ex = NodeExecutor(map_execution="parallel", max_workers=WORKERS)
    p = Pipeline([fail_on], name="failing", executor=ex)
    with pytest.raises(ItemFailed) as info:
        p.map({"x": list(range(8)), "bad": {3, 6}}, map_over="x")
    assert info.value.index == 3


def test_parallel_node_error_keeps_type_and_names_the_node():
    ex = NodeExecutor(node_execution="parallel", max_workers=WORKERS)
    p = Pipeline([fail_on], name="failing_node", executor=ex)
    with pytest.raises(ItemFailed) as info:
        p.run({"x": 4, "bad": {4}})
    assert info.value.index == 4
    assert any("fail_on" in n for n in getattr(info.value, "__notes__", []))
    assert p.run({"x": 3, "bad": {4}}) == {"y": 6}


def test_error_in_a_nested_pipeline_in_a_worker_names_the_node():
    inner = Pipeline([fail_on], name="inner_failing").as_node(
        name="inner_map", output_mapping={"y": "ys"}, map_over="x"
    )

    @node(output_name="x")
    def items(n):
        return list(range(n))

    ex = NodeExecutor(map_execution="parallel", max_workers=WORKERS)
    p = Pipeline([items, inner], name="outer_failing", executor=ex)
    assert p.map({"n": [1, 2], "bad": {5}}, "n", output_name="ys") == [{"ys": [0]}, {"ys": [0, 2]}]
    with pytest.raises(ItemFailed) as info:
        p.map({"n": [1, 3, 2], "bad": {2}}, "n")
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "fail_on" in notes


# ---------------------------------------------------------------- unpicklable functions


def _unpicklable_pipeline(marker_path, executor):
    lock = threading.Lock()

    @node(output_name="marked")
    def mark(x):
        with open(marker_path, "a") as fh:
            fh.write(f"{x}\n")
        return x

    @node(output_name="guarded")
    def guarded(marked):
        with lock:  # closes over a lock: cannot be pickled
            return marked + 1

    return Pipeline([mark, guarded], name="unpicklable", executor=executor)


def test_unpicklable_function_rejected_before_any_map_work(tmp_path):
    marker = tmp_path / "ran.txt"
    ex = NodeExecutor(map_execution="parallel", max_workers=WORKERS)
    p = _unpicklable_pipeline(str(marker), ex)
    with pytest.raises(ConfigurationError) as info:
        p.map({"x": [1, 2, 3, 4]}, map_over="x")
    msg = str(info.value)
    assert "guarded" in msg
    assert "pickle" in msg.lower()
    assert not marker.exists(), "work started before the pickling check"


def test_unpicklable_function_rejected_before_any_node_work(tmp_path):
    marker = tmp_path / "ran.txt"
    ex = NodeExecutor(node_execution="parallel", max_workers=WORKERS)
    p = _unpicklable_pipeline(str(marker), ex)
    with pytest.raises(ConfigurationError) as info:
        p.run({"x": 1})
    assert "guarded" in str(info.value)
    assert not marker.exists(), "work started before the pickling check"


def test_unpicklable_function_rejected_before_any_work_in_a_map_with_parallel_nodes(tmp_path):
    """node_execution="parallel" in a map (items sequential): the check still comes first."""
    marker = tmp_path / "ran.txt"
    ex = NodeExecutor(node_execution="parallel", map_execution="sequential", max_workers=WORKERS)
    p = _unpicklable_pipeline(str(marker), ex)
    with pytest.raises(ConfigurationError) as info:
        p.map({"x": [1, 2, 3]}, map_over="x")
    assert "guarded" in str(info.value)
    assert not marker.exists(), "work started before the pickling check"


@pytest.mark.parametrize(("items", "workers"), [(1, 2), (3, 1)], ids=["one-item", "one-worker"])
def test_unpicklable_function_rejected_whatever_the_number_of_items(tmp_path, items, workers):
    """ "parallel" with a function that cannot be pickled fails the same way whether the map has one
    item (or one worker) or many: the outcome must not depend on the data's size."""
    marker = tmp_path / "ran.txt"
    ex = NodeExecutor(map_execution="parallel", max_workers=workers)
    p = _unpicklable_pipeline(str(marker), ex)
    with pytest.raises(ConfigurationError) as info:
        p.map({"x": list(range(items))}, map_over="x")
    assert "guarded" in str(info.value)
    assert not marker.exists(), "work started before the pickling check"


def test_unpicklable_function_in_a_nested_pipeline_rejected_before_any_work(tmp_path):
    marker = tmp_path / "ran.txt"
    inner = _unpicklable_pipeline(str(marker), None).as_node(name="inner_unpicklable")

    @node(output_name="x")
    def first(seed):
        with open(marker, "a") as fh:
            fh.write("first\n")
        return seed

    ex = NodeExecutor(map_execution="parallel", max_workers=WORKERS)
    p = Pipeline([first, inner], name="outer_unpicklable", executor=ex)
    with pytest.raises(ConfigurationError) as info:
        p.map({"seed": [1, 2, 3]}, map_over="seed")
    assert "guarded" in str(info.value)
    assert not marker.exists(), "work started before the pickling check"


def test_unpicklable_function_is_fine_in_other_modes(tmp_path):
    marker = tmp_path / "ran.txt"
    ex = NodeExecutor(node_execution="threaded", map_execution="threaded", max_workers=WORKERS)
    p = _unpicklable_pipeline(str(marker), ex)
    assert p.map({"x": [1, 2]}, map_over="x", output_name="guarded") == [
        {"guarded": 2},
        {"guarded": 3},
    ]
    assert marker.exists()


# ---------------------------------------------------------------- more bounds and reuse


def test_parallel_node_peak_reaches_and_never_exceeds_max_workers(tmp_path):
    def spanner(i):
        def f(x, gauge):
            visit(gauge)
            return (os.getpid(), i)

        return node(f, output_name=f"span{i}", name=f"spanner{i}")

    gauge = ProcGauge(tmp_path / "gauge", target=WORKERS)
    ex = NodeExecutor(node_execution="parallel", max_workers=WORKERS)
    out = Pipeline([spanner(i) for i in range(5)], name="five", executor=ex).run(
        {"x": 0, "gauge": gauge.path}
    )
    spans = [out[f"span{i}"] for i in range(5)]
    assert [s[1] for s in spans] == list(range(5))
    assert os.getpid() not in {s[0] for s in spans}
    assert gauge.peak == WORKERS


def test_pool_is_reused_whatever_the_number_of_items(tmp_path):
    """One executor with max_workers=3 mapping 2, then 3, then 2 items: the worker processes are
    reused, so no more than 3 distinct processes ever run its items (each call has all its items
    running at once, so each sees as many processes as it has items)."""
    seen = set()
    for n in (2, 3, 2):
        spans, peak = _map_spans(tmp_path, n, target=n, workers=3)
        assert peak == n
        seen |= {pid for pid, _ in spans}
    assert len(seen) <= 3, f"{len(seen)} worker processes for max_workers=3"


# ---------------------------------------------------------------- scripts (__main__)

_MAIN_SCRIPT = """
import os
from hypernodes import NodeExecutor, Pipeline, node


class MainError(Exception):
    pass


@node(output_name="y")
def triple(x):
    if x < 0:
        raise MainError(f"negative {x}")
    return (x * 3, os.getpid())


# No `if __name__ == "__main__":` guard: the workers must not re-run this script.
ex = NodeExecutor(node_execution="parallel", map_execution="parallel", max_workers=2)
p = Pipeline([triple], name="main_pipe", executor=ex)
out = p.map({"x": [1, 2, 3, 4]}, map_over="x")
assert [r["y"][0] for r in out] == [3, 6, 9, 12], out
assert os.getpid() not in {r["y"][1] for r in out}
assert p.run({"x": 5})["y"][1] != os.getpid()
try:
    p.map({"x": [1, -2]}, map_over="x")
except MainError as e:
    assert "triple" in " ".join(e.__notes__)
else:
    raise AssertionError("no error")
print("OK", flush=True)
"""

_CRASH_SCRIPT = """
import os
from hypernodes import NodeExecutor, Pipeline, node


@node(output_name="y")
def crash(x):
    if x == 1:
        os._exit(3)
    return x


p = Pipeline([crash], executor=NodeExecutor(map_execution="parallel", max_workers=2))
try:
    p.map({"x": [0, 1, 2]}, map_over="x")
except Exception as e:
    print("raised", type(e).__name__, flush=True)
assert p.map({"x": [0, 2, 4]}, map_over="x") == [{"y": 0}, {"y": 2}, {"y": 4}]
print("OK", flush=True)
"""


def _run_script(tmp_path, text, timeout=60):
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(text)
    return subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=timeout
    )


def test_functions_defined_in_a_main_script(tmp_path):
    res = _run_script(tmp_path, _MAIN_SCRIPT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("OK")


def test_a_crashed_worker_raises_and_later_maps_work(tmp_path):
    res = _run_script(tmp_path, _CRASH_SCRIPT)
    assert res.returncode == 0, res.stderr
    assert "raised" in res.stdout
    assert res.stdout.strip().endswith("OK")


# ---------------------------------------------------------------- warnings from workers


def test_warnings_raised_in_worker_processes_reach_the_caller():
    import warnings

    @node(output_name="y")
    def careful(x):
        warnings.warn(f"careful with {x}", UserWarning, stacklevel=1)
        return x

    ex = NodeExecutor(map_execution="parallel", max_workers=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ex.map(Pipeline([careful]), {"x": [1, 2, 3]}, "x")
    assert out == [{"y": 1}, {"y": 2}, {"y": 3}]
    got = sorted(str(w.message) for w in caught if issubclass(w.category, UserWarning))
    assert got == ["careful with 1", "careful with 2", "careful with 3"]


def test_cache_warnings_of_worker_processes_reach_the_caller(tmp_path):
    import warnings

    from hypernodes import CacheWarning, DiskCache

    @node(output_name="y")
    def inc(x):
        return x + 1

    cache = DiskCache(tmp_path / "c")
    p = Pipeline([inc], cache=cache)
    p.map({"x": [1, 2]}, map_over="x")
    import _disk

    _disk.sql(tmp_path / "c", ("UPDATE entries SET value = ?", (b"garbage",)))
    ex = NodeExecutor(map_execution="parallel", max_workers=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ex.map(Pipeline([inc], cache=DiskCache(tmp_path / "c")), {"x": [1, 2]}, "x")
    assert out == [{"y": 2}, {"y": 3}]
    corrupt = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(corrupt) == 2 and all("corrupt" in m for m in corrupt), corrupt
