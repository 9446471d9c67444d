"""The DiskCache on its embedded database (issue 13, and item 6 of issue 12): management (len, clear,
stats, size limit with LRU eviction, the command line), each entry checked against its own key, the
trust model (a shared directory refused, entries signed with secret=), a planted symlink, and the
environment (a deleted directory, a full disk, chdir with worker processes, 4 processes at once).
Real files, real processes, real SQLite; the index is inspected with Python's sqlite3 module."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import _disk
import numpy as np
import pytest
from hypernodes import CacheWarning, DiskCache, NodeExecutor, Pipeline, node

LOG: list = []


@pytest.fixture(autouse=True)
def _clear_log():
    LOG.clear()
    yield
    LOG.clear()


@node(output_name="y")
def times_ten(x):
    LOG.append(x)
    return x * 10


@node(output_name="block")
def block(x):
    LOG.append(x)
    return np.full(1024, x, dtype=np.float64)  # 8 KB: inline


@node(output_name="big")
def big(x):
    LOG.append(x)
    return np.full(200_000, x, dtype=np.float64)  # 1.6 MB: a blob file


def cache_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


def run_recording(p: Pipeline, inputs: dict):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = p.run(inputs)
    return out, cache_warnings(caught)


# ------------------------------------------------------------------ construction


def test_path_is_absolute_and_pickles_as_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = DiskCache("rel", size_limit=10_000, secret="s3cret")
    assert c.path == tmp_path / "rel"
    assert c.size_limit == 10_000
    assert "s3cret" not in repr(c) and "secret=..." in repr(c)
    assert not (tmp_path / "rel").exists(), "opened lazily"
    back = pickle.loads(pickle.dumps(c))
    assert (back.path, back.size_limit) == (c.path, 10_000)
    # The secret travels with it: entries written by one are accepted by the other.
    Pipeline([times_ten], cache=c).run({"x": 1})
    LOG.clear()
    out, ws = run_recording(Pipeline([times_ten], cache=back), {"x": 1})
    assert out == {"y": 10} and LOG == [] and ws == []


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"size_limit": 0}, ValueError, "size_limit"),
        ({"size_limit": -5}, ValueError, "size_limit"),
        ({"size_limit": 1.5}, TypeError, "size_limit"),
        ({"size_limit": True}, TypeError, "size_limit"),
        ({"size_limit": "1GB"}, TypeError, "size_limit"),
        ({"secret": ""}, ValueError, "secret"),
        ({"secret": 42}, TypeError, "secret"),
    ],
)
def test_bad_arguments_are_clear_errors(tmp_path, kwargs, error, words):
    with pytest.raises(error, match=words):
        DiskCache(tmp_path / "c", **kwargs)


# ------------------------------------------------------------------ management


def test_len_stats_clear(tmp_path):
    c = DiskCache(tmp_path / "c")
    assert len(c) == 0
    assert c.stats() == {"entries": 0, "bytes": 0, "hits": 0, "misses": 0}
    p = Pipeline([times_ten], cache=c)
    p.map({"x": [1, 2, 3]}, map_over="x")
    p.map({"x": [1, 2, 3, 4]}, map_over="x")
    s = c.stats()
    assert (s["entries"], s["hits"], s["misses"]) == (4, 3, 4)
    assert s["bytes"] == sum(r[3] for r in _disk.rows(tmp_path / "c")) > 0
    assert len(c) == 4 == len(DiskCache(tmp_path / "c"))
    assert c.clear() == 4
    assert len(c) == 0 and len(DiskCache(tmp_path / "c")) == 0
    LOG.clear()
    p.map({"x": [1, 2]}, map_over="x")
    assert LOG == [1, 2], "cleared entries are recomputed"


def test_clear_removes_blob_files(tmp_path):
    c = DiskCache(tmp_path / "c")
    Pipeline([big], cache=c).run({"x": 1})
    assert len(_disk.blob_files(tmp_path / "c")) == 1
    c.clear()
    assert _disk.blob_files(tmp_path / "c") == []


def test_size_limit_evicts_least_recently_used(tmp_path):
    root = tmp_path / "c"
    probe = DiskCache(tmp_path / "probe")
    Pipeline([block], cache=probe).run({"x": 0})
    entry = probe.stats()["bytes"]
    c = DiskCache(root, size_limit=int(entry * 5.5))  # room for 5 entries
    p = Pipeline([block], cache=c)
    for x in range(5):
        p.run({"x": x})  # one commit each: distinct access times
    assert len(c) == 5
    LOG.clear()
    p.run({"x": 0})  # a hit: 0 becomes the most recently used
    assert LOG == []
    p.run({"x": 5})
    p.run({"x": 6})
    assert len(c) == 5 and c.stats()["bytes"] <= entry * 5.5
    # 1 and 2 were the least recently used: evicted. 0 (just read), 3, 4, 5 and 6 remain.
    LOG.clear()
    fresh = Pipeline([block], cache=DiskCache(root))
    for x in range(7):
        fresh.run({"x": x})
    assert LOG == [1, 2]


def test_size_limit_removes_blob_files_of_evicted_entries(tmp_path):
    root = tmp_path / "c"
    p = Pipeline([big], cache=DiskCache(root, size_limit=2_000_000))
    for x in range(4):
        assert (p.run({"x": x})["big"] == x).all()
    assert len(_disk.rows(root)) == 1
    assert len(_disk.blob_files(root)) == 1


def test_command_line_stats_prune_clear(tmp_path):
    root = tmp_path / "c"
    Pipeline([times_ten, block], cache=DiskCache(root)).map({"x": [1, 2, 3]}, map_over="x")
    out = _disk.cli(str(root), "stats")
    assert out.returncode == 0, out.stderr
    assert "entries  6" in out.stdout and str(root) in out.stdout
    # Entries used within the last day are kept; make 2 of them a week old.
    keys = [r[0] for r in _disk.sql(root, ("SELECT key FROM entries ORDER BY key LIMIT 2", ()))]
    for k in keys:
        _disk.sql(root, ("UPDATE entries SET accessed = accessed - 8 * 86400 WHERE key = ?", (k,)))
    out = _disk.cli(str(root), "prune", "--older-than", "7d")
    assert out.returncode == 0, out.stderr
    assert "removed 2 entries" in out.stdout
    assert _disk.count(root) == 4
    out = _disk.cli(str(root), "clear")
    assert out.returncode == 0, out.stderr
    assert "removed 4 entries" in out.stdout
    assert _disk.count(root) == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["prune"], "--older-than"),
        (["prune", "--older-than", "7x"], "'7x'"),
        (["prune", "--older-than", "soon"], "'soon'"),
        (["stats", "--older-than", "7d"], "prune only"),
        (["explode"], "invalid choice"),
    ],
)
def test_command_line_errors_name_the_fault(tmp_path, args, words):
    (tmp_path / "c").mkdir()
    out = _disk.cli(str(tmp_path / "c"), *args)
    assert out.returncode == 2
    assert words in out.stderr


def test_command_line_on_a_missing_directory(tmp_path):
    out = _disk.cli(str(tmp_path / "nowhere"), "stats")
    assert out.returncode == 2
    assert "nowhere" in out.stderr and "not a directory" in out.stderr
    assert not (tmp_path / "nowhere").exists()


def test_earlier_one_file_per_entry_layout_is_ignored_with_one_warning(tmp_path):
    root = tmp_path / "c"
    shard = root / "3f"
    shard.mkdir(parents=True)
    (shard / ("a" * 62)).write_bytes(b"HNC1" + b"\0" * 40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = Pipeline([times_ten], cache=DiskCache(root))
        p.run({"x": 1})
        Pipeline([times_ten], cache=DiskCache(root)).run({"x": 1})
    ws = cache_warnings(caught)
    assert len(ws) == 1 and "one-file-per-entry" in ws[0] and "clear" in ws[0], ws
    assert LOG == [1]
    DiskCache(root).clear()
    assert not shard.exists()


# ------------------------------------------------------------------ each entry carries its key

_COPY = "UPDATE entries SET sum = ?, tag = ?, value = ? WHERE key = ?"


def test_entry_copied_over_another_key_is_detected_and_recomputed(tmp_path):
    root = tmp_path / "c"
    p = Pipeline([times_ten], cache=DiskCache(root))
    p.map({"x": [1, 2]}, map_over="x")
    (a, b) = _disk.rows(root)
    # b's key now holds a's whole entry (value, checksum, tag): a consistent entry, wrong key
    _disk.sql(root, (_COPY, (a[1], a[2], a[4], b[0])))
    LOG.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = Pipeline([times_ten], cache=DiskCache(root)).map({"x": [1, 2]}, map_over="x")
    assert out == [{"y": 10}, {"y": 20}]
    assert len(LOG) == 1, "the entry under the wrong key was recomputed, the other hit"
    ws = cache_warnings(caught)
    assert len(ws) == 1 and "does not belong to its key" in ws[0], ws


_WRITER = """
import sys
from hypernodes import DiskCache, Pipeline, node


@node(output_name="y")
def square(x):
    return x * x


if sys.argv[2] == "held":  # alive until the interpreter exits
    cache = DiskCache(sys.argv[1])
    out = Pipeline([square], cache=cache).map({"x": list(range(2000))}, map_over="x")
else:  # dropped after the map
    out = Pipeline([square], cache=DiskCache(sys.argv[1])).map({"x": list(range(2000))}, map_over="x")
assert out[3] == {"y": 9}
"""


@pytest.mark.parametrize("held", ["held", "dropped"])
def test_a_process_that_wrote_leaves_an_empty_log_at_exit(tmp_path, held):
    # the next process opens the index without replaying a write-ahead log first (its cost grows
    # with the log: about half a millisecond per megabyte)
    root = tmp_path / "c"
    subprocess.run([sys.executable, "-c", _WRITER, str(root), held], check=True, timeout=120)
    log = root / (_disk.INDEX + "-wal")
    assert not log.exists() or log.stat().st_size == 0, log.stat().st_size
    assert len(DiskCache(root)) == 2000
    # and a second writer process, with this one holding the index open, still exits cleanly
    cache = DiskCache(root)
    assert len(cache) == 2000
    subprocess.run([sys.executable, "-c", _WRITER, str(root), held], check=True, timeout=120)
    assert len(DiskCache(root)) == 2000


# ------------------------------------------------------------------ trust model

_ATTACKER = """
import sys
from hypernodes import DiskCache, Pipeline, node


@node(output_name="y", version="1")
def times_ten(x):
    return "pwned"


Pipeline([times_ten], cache=DiskCache(sys.argv[1])).run({"x": 3})
"""


def _times_ten(x):
    LOG.append(x)
    return x * 10


pinned_times_ten = node(_times_ten, output_name="y", version="1", name="times_ten")


def test_forged_entry_is_refused_with_secret(tmp_path):
    """Another user writes, under the key of our node call, a value of their choosing (here by
    running a node with the same name and pinned version). Without a secret the planted value
    would be served; with secret= it is refused with a warning and recomputed."""
    root = tmp_path / "c"
    (tmp_path / "attacker.py").write_text(_ATTACKER)
    subprocess.run([sys.executable, str(tmp_path / "attacker.py"), str(root)], check=True)
    assert _disk.count(root) == 1

    out, ws = run_recording(Pipeline([pinned_times_ten], cache=DiskCache(root)), {"x": 3})
    assert out == {"y": "pwned"}, "unsigned: the planted entry is served (the documented risk)"

    LOG.clear()
    signed = Pipeline([pinned_times_ten], cache=DiskCache(root, secret=b"k3y"))
    out, ws = run_recording(signed, {"x": 3})
    assert out == {"y": 30} and LOG == [3]
    assert len(ws) == 1 and "no valid signature" in ws[0], ws
    LOG.clear()
    out, ws = run_recording(signed, {"x": 3})
    assert out == {"y": 30} and LOG == [] and ws == []
    # A signed entry copied over another key is refused too.
    Pipeline([pinned_times_ten], cache=DiskCache(root, secret=b"k3y")).run({"x": 4})
    rows = {r[0]: r for r in _disk.rows(root)}
    assert len(rows) == 2
    (a, b) = rows.values()
    _disk.sql(root, (_COPY, (a[1], a[2], a[4], b[0])))
    _disk.remove_hot(root)  # (it holds the rows before the copy; this is about the index)
    LOG.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = Pipeline([pinned_times_ten], cache=DiskCache(root, secret=b"k3y"))
        assert p.map({"x": [3, 4]}, map_over="x") == [{"y": 30}, {"y": 40}]
    assert len(LOG) == 1 and len(cache_warnings(caught)) == 1


def test_secret_from_the_environment(tmp_path, monkeypatch):
    root = tmp_path / "c"
    monkeypatch.setenv("HYPERNODES_CACHE_SECRET", "from-env")
    Pipeline([times_ten], cache=DiskCache(root)).run({"x": 5})
    monkeypatch.delenv("HYPERNODES_CACHE_SECRET")
    LOG.clear()
    out, ws = run_recording(Pipeline([times_ten], cache=DiskCache(root, secret="other")), {"x": 5})
    assert out == {"y": 50} and LOG == [5]
    assert len(ws) == 1 and "no valid signature" in ws[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_directory_writable_by_others_and_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 12345, 12345)
    shared.chmod(0o777)
    with pytest.raises(PermissionError, match="writable by other users") as e:
        DiskCache(shared)
    assert str(shared) in str(e.value) and "secret=" in str(e.value)
    # Opting in: a secret (entries are checked), or the environment variable.
    Pipeline([times_ten], cache=DiskCache(shared, secret="k")).run({"x": 1})
    monkeypatch.setenv("HYPERNODES_CACHE_TRUST_SHARED", "1")
    Pipeline([times_ten], cache=DiskCache(shared)).run({"x": 2})
    # Writable by others but owned by us, or owned by another user but not writable: accepted.
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o777)
    monkeypatch.delenv("HYPERNODES_CACHE_TRUST_SHARED")
    DiskCache(mine)
    shared.chmod(0o755)
    DiskCache(shared)


def test_planted_symlink_at_a_blob_path_is_not_followed(tmp_path):
    root = tmp_path / "c"
    Pipeline([big], cache=DiskCache(root)).run({"x": 2})
    (blob,) = _disk.blob_files(root)
    DiskCache(root).clear()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.symlink_to(victim)
    LOG.clear()
    out = Pipeline([big], cache=DiskCache(root)).run({"x": 2})
    assert (out["big"] == 2).all() and LOG == [2]
    assert victim.read_text() == "precious"
    assert blob.is_file() and not blob.is_symlink()
    LOG.clear()
    again, ws = run_recording(Pipeline([big], cache=DiskCache(root)), {"x": 2})
    assert (again["big"] == 2).all() and LOG == [] and ws == []
    assert list((root / "tmp").iterdir()) == []


def test_symlink_planted_over_a_stored_blob_is_refused_on_read(tmp_path):
    root = tmp_path / "c"
    Pipeline([big], cache=DiskCache(root)).run({"x": 3})
    (blob,) = _disk.blob_files(root)
    copy = tmp_path / "copy"
    shutil.copy(blob, copy)
    blob.unlink()
    blob.symlink_to(copy)
    LOG.clear()
    out, ws = run_recording(Pipeline([big], cache=DiskCache(root)), {"x": 3})
    assert (out["big"] == 3).all() and LOG == [3]
    assert len(ws) == 1 and "unreadable" in ws[0], ws


# ------------------------------------------------------------------ the environment


def test_deleted_directory_is_recreated_and_writing_resumes(tmp_path):
    root = tmp_path / "c"
    c = DiskCache(root)
    p = Pipeline([times_ten, big], cache=c)
    p.run({"x": 1})
    shutil.rmtree(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for x in (2, 3):
            p.run({"x": x})
    assert cache_warnings(caught) == []
    assert _disk.count(root) == 4
    LOG.clear()
    fresh = Pipeline([times_ten, big], cache=DiskCache(root))
    for x in (2, 3):
        fresh.run({"x": x})
    assert LOG == []


@node(output_name="y")
def deleting(x, root):
    LOG.append(x)
    if x == 3:
        shutil.rmtree(root, ignore_errors=True)
    return x + 100


def test_directory_deleted_during_a_map(tmp_path):
    root = tmp_path / "c"
    p = Pipeline([deleting], cache=DiskCache(root))
    assert p.map({"x": list(range(8)), "root": str(root)}, map_over="x")[7] == {"y": 107}
    LOG.clear()
    Pipeline([deleting], cache=DiskCache(root)).map(
        {"x": list(range(8)), "root": str(root)}, map_over="x"
    )
    # Entries from item 3 on went to the recreated directory. Items 0-2 are there too unless they
    # were committed (after 100 ms) before item 3 deleted the directory.
    assert set(LOG) <= {0, 1, 2}
    assert _disk.count(root) == 8


def test_chdir_with_parallel_workers(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    c = DiskCache(".cache")
    monkeypatch.chdir(second)
    ex = NodeExecutor(map_execution="parallel", max_workers=2)
    p = Pipeline([times_ten], cache=c, executor=ex)
    assert p.map({"x": [1, 2, 3]}, map_over="x") == [{"y": 10}, {"y": 20}, {"y": 30}]
    assert _disk.count(first / ".cache") == 3
    assert not (second / ".cache").exists()
    assert c.path == first / ".cache"


_FULL_DISK = """
import json, resource, signal, sys, warnings
import numpy as np
from hypernodes import DiskCache, Pipeline, node

if sys.argv[2] == "fsize":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))


@node(output_name="a")
def arr(i):
    return np.full(100_000 * (1 + i % 3), i, dtype=np.float64)  # 0.8 to 2.4 MB


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out = Pipeline([arr], cache=DiskCache(sys.argv[1])).map({"i": list(range(12))}, map_over="i")
print(json.dumps({
    "ok": all((o["a"] == i).all() for i, o in enumerate(out)),
    "warnings": [str(w.message) for w in caught],
}))
"""


def _fill(tmp_path, root: Path, how: str) -> dict:
    script = tmp_path / "full.py"
    script.write_text(_FULL_DISK)
    done = subprocess.run(
        [sys.executable, str(script), str(root), how],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _assert_one_warning_nothing_partial(report: dict, root: Path) -> None:
    assert report["ok"]
    assert len(report["warnings"]) == 1, report["warnings"]
    assert "not being cached" in report["warnings"][0]
    assert list((root / "tmp").iterdir()) == [], "no partial file is left behind"
    for r in _disk.rows(root):  # what was stored is whole
        assert r[4] is not None or _disk.blob_of(root, r[1]).stat().st_size == r[3]


def test_full_disk_gives_one_warning_and_the_run_continues_uncached(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        root = mnt / "c"
        report = _fill(tmp_path, root, "tmpfs")
        _assert_one_warning_nothing_partial(report, root)
        assert 0 < _disk.count(root) < 12
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_file_size_limit_gives_one_warning_and_the_run_continues_uncached(tmp_path):
    """Writes failing mid-file (RLIMIT_FSIZE: every blob is above the limit) in a real process."""
    root = tmp_path / "c"
    report = _fill(tmp_path, root, "fsize")
    _assert_one_warning_nothing_partial(report, root)
    assert _disk.count(root) == 0


# ------------------------------------------------------------------ 4 processes at once

_WORKER = """
import json, random, sys, warnings
import numpy as np
from hypernodes import DiskCache, Pipeline, node


@node(output_name="v")
def value(i):
    size = 10 if i % 5 else 20_000  # every fifth value in a blob file
    return np.full(size, i, dtype=np.int64)


@node(output_name="s")
def total(v):
    return int(v.sum())


items = list(range(int(sys.argv[2]), int(sys.argv[2]) + 120))
random.Random(int(sys.argv[2])).shuffle(items)
p = Pipeline([value, total], cache=DiskCache(sys.argv[1]))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    results = []
    for chunk in range(0, len(items), 10):
        part = items[chunk : chunk + 10]
        results += list(zip(part, p.map({"i": part}, map_over="i")))
bad = [i for i, o in results if o["s"] != i * (10 if i % 5 else 20_000) or (o["v"] != i).any()]
print(json.dumps({"bad": bad, "warnings": [str(w.message) for w in caught]}))
"""


def test_four_processes_read_and_write_overlapping_keys(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    root = tmp_path / "c"
    # items 0-119, 40-159, 80-199, 120-239: every key is written or read by 2 to 3 processes
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(root), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in (0, 40, 80, 120)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert all(r["bad"] == [] for r in reports)
    assert all(r["warnings"] == [] for r in reports), reports
    assert _disk.count(root) == 240 * 2
    # Every entry is whole and readable: a fresh process hits them all.
    again = subprocess.run(
        [sys.executable, str(script), str(root), "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(again.stdout) == {"bad": [], "warnings": []}
    assert _disk.count(root) == 240 * 2


def test_kill_one_of_several_writers(tmp_path):
    """A writer killed mid-commit does not disturb the others or leave the index locked."""
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    root = tmp_path / "c"
    victim = subprocess.Popen(
        [sys.executable, str(script), str(root), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    others = [
        subprocess.Popen(
            [sys.executable, str(script), str(root), str(s)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in (60, 120)
    ]
    while _disk.count(root) < 20 and victim.poll() is None:
        pass
    os.killpg(victim.pid, signal.SIGKILL)
    victim.communicate()
    for proc in others:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert json.loads(out) == {"bad": [], "warnings": []}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_opens_its_own_connections(tmp_path):
    root = tmp_path / "c"
    p = Pipeline([times_ten, block], cache=DiskCache(root))
    p.map({"x": [1, 2]}, map_over="x")  # the parent has connections open
    pid = os.fork()
    if pid == 0:  # the child: same objects, new inputs, then a hit
        code = 1
        try:
            p.map({"x": [3, 4]}, map_over="x")
            code = 0 if p.run({"x": 1})["y"] == 10 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    LOG.clear()
    p.map({"x": [1, 2, 3, 4, 5]}, map_over="x")  # the parent's connections still work
    assert LOG == [5, 5]
    assert _disk.count(root) == 10


def test_prune_takes_seconds_or_a_timedelta(tmp_path):
    import datetime

    root = tmp_path / "c"
    c = DiskCache(root)
    Pipeline([times_ten], cache=c).map({"x": [1, 2, 3]}, map_over="x")
    assert c.prune(datetime.timedelta(days=1)) == {"entries": 0, "files": 0}
    assert c.prune(3600) == {"entries": 0, "files": 0}
    assert len(c) == 3
    assert c.prune(0)["entries"] == 3
    assert len(c) == 0
    for bad, error in [(-1, ValueError), (float("nan"), ValueError), ("7d", TypeError)]:
        with pytest.raises(error, match="older_than"):
            c.prune(bad)
