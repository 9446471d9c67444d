"""Crash safety of the DiskCache (issues 4 and 13): a process killed with SIGKILL in the middle of a
large map, while group commits are going on, leaves only whole, committed entries behind. A rerun in
a new process returns correct results for every item, reads every committed item as a hit, raises
nothing and warns about nothing (a torn entry would be reported as corrupt). Both with the map in the
killed process itself and in worker processes (map_execution="parallel"), the whole process group
being killed; with values stored inline in the index and in blob files. And a finished entry is
committed within the group-commit window while the map is still running, so a kill loses at most
that window of work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import _disk
import pytest

N_ITEMS = 400
KILL_AFTER = 30  # entries on disk before the kill

_SCRIPT = """
import json, sys, time, warnings

import numpy as np
from hypernodes import Callback, DiskCache, NodeExecutor, Pipeline, node

N_ITEMS = 400


SIZE = int(sys.argv[3])


@node(output_name="payload")
def slow_payload(i):
    time.sleep(0.005)
    return np.full(SIZE, i, dtype=np.float64)


class Count(Callback):
    def __init__(self):
        self.hits = 0
        self.computed = 0
        self.items_cached = []

    def on_node_cached(self, node_id, signature, ctx):
        self.hits += 1

    def on_node_end(self, node_id, outputs, duration, ctx):
        self.computed += 1

    def on_map_item_cached(self, item_index, signature, ctx):
        self.items_cached.append(item_index)


def main():
    cache_dir, mode = sys.argv[1], sys.argv[2]
    count = Count()
    p = Pipeline(
        [slow_payload],
        cache=DiskCache(cache_dir),
        executor=NodeExecutor(map_execution=mode, max_workers=2),
        callbacks=[count],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = p.map({"i": list(range(N_ITEMS))}, map_over="i")
    bad = [
        i
        for i, o in enumerate(out)
        if o["payload"].shape != (SIZE,) or not (o["payload"] == i).all()
    ]
    print(json.dumps({
        "n": len(out),
        "bad": bad,
        "hits": count.hits,
        "computed": count.computed,
        "items_cached": len(count.items_cached),
        "warnings": [str(w.message) for w in caught],
    }))


if __name__ == "__main__":
    main()
"""


# 1,000 float64 (8 KB, inline in the index) and 25,000 (200 KB, a blob file)
SIZES = {"inline": 1_000, "file": 25_000}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_sigkill_mid_map_then_rerun(tmp_path, mode, size):
    script = tmp_path / "crash_map.py"
    script.write_text(_SCRIPT)
    cache_dir = tmp_path / "cache"
    cmd = [sys.executable, str(script), str(cache_dir), mode, str(SIZES[size])]

    # First run: killed (with its worker processes) once a few dozen entries are committed.
    victim = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 60
    try:
        while _disk.count(cache_dir) < KILL_AFTER:
            assert victim.poll() is None, "the map finished or failed before it could be killed"
            assert time.monotonic() < deadline, "no cache entries appeared"
            time.sleep(0.005)
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.communicate()
    assert victim.returncode == -signal.SIGKILL

    time.sleep(0.3)
    rows = _disk.rows(cache_dir)
    time.sleep(0.3)
    assert len(_disk.rows(cache_dir)) == len(rows), "a writer survived the kill"
    finished = len(rows)
    assert KILL_AFTER <= finished < N_ITEMS, "killed mid-way"
    # Every entry is whole: all items have payloads of one size.
    assert len({r[3] for r in rows}) == 1
    if size == "file":
        assert all(r[4] is None for r in rows)
        sizes = {_disk.blob_of(cache_dir, r[1]).stat().st_size for r in rows}
        assert sizes == {rows[0][3]}
    else:
        assert all(len(r[4]) == r[3] for r in rows)

    # Rerun in a new process: correct, committed items are hits, nothing else is.
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n"] == N_ITEMS
    assert report["bad"] == []
    assert report["warnings"] == []
    assert report["hits"] == finished
    assert report["items_cached"] == finished
    assert report["computed"] == N_ITEMS - finished
    assert _disk.count(cache_dir) == N_ITEMS


_SLOW_SECOND = """
import sys, time
from hypernodes import DiskCache, Pipeline, node


@node(output_name="y")
def step(x):
    if x == 2:
        print("first done", flush=True)
        time.sleep(60)
    return x * 10


Pipeline([step], cache=DiskCache(sys.argv[1])).map({"x": [1, 2]}, map_over="x")
"""


def test_finished_entry_is_committed_within_the_window_while_the_map_runs(tmp_path):
    """Item 1 finishes, item 2 then runs for a minute: item 1's entry is committed by the group
    commit thread (within ~100 ms, not at the end of the map) and survives a SIGKILL."""
    script = tmp_path / "slow_second.py"
    script.write_text(_SLOW_SECOND)
    cache_dir = tmp_path / "cache"
    victim = subprocess.Popen(
        [sys.executable, str(script), str(cache_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert victim.stdout.readline().strip() == "first done"
        started = time.monotonic()
        while _disk.count(cache_dir) < 1:
            assert time.monotonic() - started < 2, "the first entry was not committed"
            time.sleep(0.01)
        assert victim.poll() is None, "the map should still be running"
    finally:
        victim.kill()
        victim.communicate()
    assert _disk.count(cache_dir) == 1
