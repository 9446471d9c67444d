"""Crash safety of the DiskCache (issue 4): a process killed with SIGKILL in the middle of a large map
leaves only whole entries behind. A rerun in a new process returns correct results for every item,
reads the items finished before the kill as hits, raises nothing and warns about nothing (a torn
entry would be reported as corrupt). Both with the map in the killed process itself and with the map
in worker processes (map_execution="parallel"), the whole process group being killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

N_ITEMS = 400
KILL_AFTER = 30  # entries on disk before the kill

_SCRIPT = """
import json, sys, time, warnings

import numpy as np
from hypernodes import Callback, DiskCache, NodeExecutor, Pipeline, node

N_ITEMS = 400


@node(output_name="payload")
def slow_payload(i):
    time.sleep(0.005)
    return np.full(25_000, i, dtype=np.float64)  # 200 KB


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
        if o["payload"].shape != (25_000,) or not (o["payload"] == i).all()
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


def _entries(root: Path) -> list[Path]:
    return [
        p
        for p in root.glob("*/*")
        if p.parent.name != "tmp" and len(p.parent.name) == 2 and len(p.name) == 62
    ]


@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_sigkill_mid_map_then_rerun(tmp_path, mode):
    script = tmp_path / "crash_map.py"
    script.write_text(_SCRIPT)
    cache_dir = tmp_path / "cache"
    cmd = [sys.executable, str(script), str(cache_dir), mode]

    # First run: killed (with its worker processes) once a few dozen entries exist.
    victim = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 60
    try:
        while len(_entries(cache_dir)) < KILL_AFTER:
            assert victim.poll() is None, "the map finished or failed before it could be killed"
            assert time.monotonic() < deadline, "no cache entries appeared"
            time.sleep(0.005)
    finally:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.communicate()
    assert victim.returncode == -signal.SIGKILL

    time.sleep(0.3)
    entries = _entries(cache_dir)
    time.sleep(0.3)
    assert len(_entries(cache_dir)) == len(entries), "a writer survived the kill"
    finished = len(entries)
    assert KILL_AFTER <= finished < N_ITEMS, "killed mid-way"
    # Every entry is whole: all items have payloads of one size, so all entries are one size.
    assert len({p.stat().st_size for p in entries}) == 1

    # Rerun in a new process: correct, finished items are hits, nothing else is.
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n"] == N_ITEMS
    assert report["bad"] == []
    assert report["warnings"] == []
    assert report["hits"] == finished
    assert report["items_cached"] == finished
    assert report["computed"] == N_ITEMS - finished
    assert len(_entries(cache_dir)) == N_ITEMS
