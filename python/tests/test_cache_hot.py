"""The DiskCache's hot file (issue 12, item 3): a process that used a cache writes, at exit, a copy of
the index rows it used to ``<cache>/hot-v1``; a fresh process serves its first hits from it without
opening the SQLite index. Every record is checked as an index row is, so a tampered, copied,
planted or unsigned record is refused (one warning) and the index or the node gives the value;
clear and prune remove the file; concurrent writers leave a valid one. Real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import _disk
import pytest
from hypernodes import DiskCache

# A child process: runs a 3-node chain for each x of argv[2] (a JSON list) on the cache in argv[1],
# and prints what it computed, its cache warnings and its cache object's hits and misses.
_CHILD = r"""
import json, os, sys, warnings
from hypernodes import CacheWarning, DiskCache, Pipeline, node

CALLS = []


@node(output_name="a", version="1")
def first(x):
    CALLS.append(("first", x))
    return x + 1


@node(output_name="b", version="1")
def second(a):
    CALLS.append(("second", a))
    return [a] * 3


@node(output_name="c", version="1")
def third(b):
    CALLS.append(("third", len(b)))
    return {"sum": sum(b)}


root, xs, opts = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
cache = DiskCache(root, secret=opts.get("secret"), size_limit=opts.get("size_limit"))
p = Pipeline([first, second, third], cache=cache)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    outs = []
    for i, x in enumerate(xs):
        outs.append(p.run({"x": x})["c"]["sum"])
        if i == 0 and opts.get("pause"):  # hold on after the first run until the test says go
            print("paused", flush=True)
            sys.stdin.readline()
    if opts.get("wait"):  # hold on (after the run) until the test says go
        print("ready", flush=True)
        sys.stdin.readline()
ws = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
stats = cache.stats() if opts.get("stats") else None
print(json.dumps({"outs": outs, "calls": CALLS, "warnings": ws, "stats": stats}), flush=True)
"""


def child(root: Path, xs: list[int], **opts) -> dict:
    """Runs the chain in a fresh process; its outputs, node calls and cache warnings."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), json.dumps(xs), json.dumps(opts)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["outs"] == [3 * (x + 1) for x in xs], out
    return out


def started(root: Path, xs: list[int], **opts) -> subprocess.Popen:
    """The chain of ``child`` in a fresh process left running (its stdin and stdout piped)."""
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), json.dumps(xs), json.dumps(opts)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def go_on(proc: subprocess.Popen) -> dict:
    """Lets a process ``started`` with ``wait`` or ``pause`` go on; what it printed at its end."""
    proc.stdin.write("go\n")
    proc.stdin.close()
    out = json.loads(proc.stdout.read().strip().splitlines()[-1])
    assert proc.wait(timeout=60) == 0
    return out


def computed(out: dict) -> int:
    """How many node calls a child made."""
    return len(out["calls"])


def hide_index(root: Path) -> Path:
    """Moves the index (and its log files) out of the cache directory; a lookup that reaches the
    index then misses, and nothing may recreate it. Returns where it went."""
    away = root.parent / (root.name + "-index")
    away.mkdir()
    for f in root.glob(_disk.INDEX + "*"):
        f.rename(away / f.name)
    return away


def restore_index(root: Path, away: Path) -> None:
    for f in away.iterdir():
        f.rename(root / f.name)
    away.rmdir()


def hot(root: Path) -> Path:
    return root / _disk.HOT


# ------------------------------------------------------------------ served without the index


def test_a_fresh_process_hits_from_the_hot_file_without_opening_the_index(tmp_path):
    root = tmp_path / "c"
    assert computed(child(root, [1, 2])) == 6
    assert hot(root).is_file()
    assert len(_disk.hot_records(root)) == 6
    before = hot(root).read_bytes()
    away = hide_index(root)
    out = child(root, [1, 2])
    assert computed(out) == 0 and out["warnings"] == [], out
    assert not list(root.glob(_disk.INDEX + "*")), "nothing opened (or created) the index"
    # a process that only hit from the hot file leaves it as it was
    assert hot(root).read_bytes() == before
    # an entry the hot file does not hold is computed (the index is not there to be read)
    assert computed(child(root, [3])) == 3
    restore_index(root, away)


def test_hits_from_the_hot_file_count_in_stats(tmp_path):
    root = tmp_path / "c"
    child(root, [1])
    away = hide_index(root)
    out = child(root, [1, 2], stats=True)
    assert computed(out) == 3
    assert (out["stats"]["hits"], out["stats"]["misses"]) == (3, 3), out
    assert away.is_dir()


# ------------------------------------------------------------------ refused records


def _field(rec: dict, field: str) -> tuple[int, bytes]:
    """The offset and new bytes that damage one field of a hot record."""
    if field == "value":
        return rec["data_at"], bytes([rec["inline"][0] ^ 0xFF])
    at = rec["at"] + {"key": 0, "sum": 32, "tag": 64}[field]
    return at, bytes([rec[field][0] ^ 0xFF])


@pytest.mark.parametrize("field", ["value", "sum", "tag"])
def test_a_tampered_hot_record_is_refused_and_the_index_serves(tmp_path, field):
    root = tmp_path / "c"
    child(root, [5])
    rec = next(r for r in _disk.hot_records(root) if r["inline"])
    _disk.patch_hot(root, *_field(rec, field))
    out = child(root, [5])
    assert computed(out) == 0, "the index served the entry"
    assert len(out["warnings"]) == 1 and "hot file" in out["warnings"][0], out
    # that process rewrote the file from the index: the next one is served silently
    away = hide_index(root)
    out = child(root, [5])
    assert computed(out) == 0 and out["warnings"] == [], out
    restore_index(root, away)


@pytest.mark.parametrize("field", ["value", "tag"])
def test_a_tampered_hot_record_without_the_index_is_recomputed(tmp_path, field):
    root = tmp_path / "c"
    child(root, [5])
    recs = [r for r in _disk.hot_records(root) if r["inline"]]
    for r in recs:
        _disk.patch_hot(root, *_field(r, field))
    away = hide_index(root)
    out = child(root, [5])
    assert computed(out) == 3, "every refused entry was recomputed"
    assert len(out["warnings"]) == 1 and "hot file" in out["warnings"][0], out
    restore_index(root, away)


def test_a_hot_record_copied_over_another_key_is_refused(tmp_path):
    root = tmp_path / "c"
    child(root, [5])
    a, b = [r for r in _disk.hot_records(root) if r["inline"]][:2]
    # b's record gets a's sum and tag, and its payload a's bytes (same length or not: the record
    # then points at a's payload): a consistent entry under the wrong key
    data = bytearray(hot(root).read_bytes())
    data[b["at"] + 32 : b["at"] + 96] = data[a["at"] + 32 : a["at"] + 96]
    data[b["at"] + 104 : b["at"] + 120] = data[a["at"] + 104 : a["at"] + 120]
    hot(root).write_bytes(bytes(data))
    away = hide_index(root)
    out = child(root, [5])
    assert len(out["warnings"]) == 1 and "does not match its key" in out["warnings"][0], out
    assert computed(out) >= 1
    restore_index(root, away)


def test_a_damaged_hot_file_is_ignored_with_one_warning(tmp_path):
    root = tmp_path / "c"
    child(root, [5])
    data = hot(root).read_bytes()
    hot(root).write_bytes(data[:40])  # truncated mid-record
    out = child(root, [5])
    assert computed(out) == 0 and len(out["warnings"]) == 1, out
    assert "not usable" in out["warnings"][0]
    assert len(_disk.hot_records(root)) == 3, "rewritten at that process's exit"


def test_with_a_secret_unsigned_hot_records_are_refused(tmp_path):
    root = tmp_path / "c"
    child(root, [5])  # unsigned (as an attacker without the secret would write)
    away = hide_index(root)
    out = child(root, [5], secret="k3y")
    assert computed(out) == 3, "no unsigned record was served"
    assert len(out["warnings"]) == 1 and "hot file" in out["warnings"][0], out
    restore_index(root, away)
    # signed ones are served
    signed = tmp_path / "s"
    child(signed, [5], secret="k3y")
    away = hide_index(signed)
    out = child(signed, [5], secret="k3y")
    assert computed(out) == 0 and out["warnings"] == [], out
    out = child(signed, [5], secret="other")
    assert computed(out) == 3, out
    restore_index(signed, away)


# ------------------------------------------------------------------ files


def test_a_symlink_planted_at_the_hot_file_is_not_followed(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    hot(root).symlink_to(victim)
    child(root, [1])  # writes the hot file at exit
    assert victim.read_text() == "precious"
    assert hot(root).is_file() and not hot(root).is_symlink()
    # a symlink to a valid hot file is not read either
    valid = tmp_path / "valid-hot"
    hot(root).rename(valid)
    hot(root).symlink_to(valid)
    away = hide_index(root)
    out = child(root, [1])
    assert computed(out) == 3, "not served through the symlink"
    assert len(out["warnings"]) == 1 and "not usable" in out["warnings"][0], out
    restore_index(root, away)


def test_clear_prune_and_the_command_line_remove_the_hot_file(tmp_path):
    root = tmp_path / "c"
    child(root, [1])
    assert hot(root).exists()
    assert DiskCache(root).clear() == 3
    assert not hot(root).exists()
    assert computed(child(root, [1])) == 3
    assert hot(root).exists()
    DiskCache(root).prune(0)
    assert not hot(root).exists()
    assert computed(child(root, [1])) == 3
    assert hot(root).exists()
    done = _disk.cli(str(root), "clear")
    assert done.returncode == 0, done.stderr
    assert not hot(root).exists()
    assert computed(child(root, [1])) == 3


def test_a_process_running_during_a_clear_does_not_bring_cleared_entries_back(tmp_path):
    root = tmp_path / "c"
    child(root, [1, 2])
    _disk.remove_hot(root)  # so that the next process reads the index and rewrites the file
    proc = started(root, [1, 2], wait=True)
    assert proc.stdout.readline().strip() == "ready"  # it has read every entry
    assert DiskCache(root).clear() == 6
    out = go_on(proc)
    assert computed(out) == 0
    assert not hot(root).exists() or _disk.hot_records(root) == []
    assert computed(child(root, [1, 2])) == 6, "nothing cleared was served"


def test_a_process_running_during_a_clear_serves_nothing_it_had_not_used(tmp_path):
    """A process that loaded the hot file (its first hit) before another process cleared the
    cache must not serve, after the clear, the entries of that file it had not used yet: the
    clear removed the file, and the process reads the index (empty) instead."""
    root = tmp_path / "c"
    child(root, [1, 2])
    assert len(_disk.hot_records(root)) == 6
    proc = started(root, [1, 2], pause=True)
    assert proc.stdout.readline().strip() == "paused"  # x=1 was served from the hot file
    done = _disk.cli(str(root), "clear")
    assert done.returncode == 0 and "removed 6 entries" in done.stdout, done
    out = go_on(proc)
    assert out["outs"] == [6, 9], out
    assert computed(out) == 3, "x=2, cleared before it was looked up, was recomputed"


def test_a_directory_planted_at_the_hot_file_does_not_block_clear_or_eviction(tmp_path):
    root = tmp_path / "c"
    child(root, [1])
    _disk.remove_hot(root)
    (hot(root) / "sub").mkdir(parents=True)
    out = child(root, [1])
    assert computed(out) == 0 and len(out["warnings"]) == 1, out
    assert "not usable" in out["warnings"][0]
    # a size-limited cache evicts at its commit, which removes the hot file: it still commits
    out = child(root, [2], size_limit=100)
    assert computed(out) == 3, out
    assert not any("not being cached" in w for w in out["warnings"]), out
    assert 0 < _disk.count(root) < 6, "committed, then evicted down to the limit"
    _disk.remove_hot(root)  # (that process wrote a hot file at exit)
    (hot(root) / "sub").mkdir(parents=True)
    done = _disk.cli(str(root), "clear")
    assert done.returncode == 0, done.stderr
    assert not hot(root).exists() and _disk.count(root) == 0
    assert computed(child(root, [1])) == 3


def test_a_cache_path_that_is_a_file_is_not_reported_as_a_bad_hot_file(tmp_path):
    root = tmp_path / "c"
    root.write_text("not a directory")
    out = child(root, [1])
    assert computed(out) == 3 and out["warnings"], out
    assert not any("hot file" in w for w in out["warnings"]), out
    assert all("cannot create cache directory" in w for w in out["warnings"]), out


def test_two_processes_writing_the_hot_file_at_once_leave_a_valid_one(tmp_path):
    root = tmp_path / "c"
    child(root, [0])  # the index exists
    for _ in range(3):
        procs = [started(root, xs) for xs in ([10, 11, 12], [20, 21, 22])]
        for p in procs:
            p.communicate(timeout=120)
            assert p.returncode == 0
    recs = _disk.hot_records(root)
    assert len({r["key"] for r in recs}) == len(recs)
    away = hide_index(root)
    # the second writer merged the first one's file: both sets are served without the index
    out = child(root, [10, 11, 12, 20, 21, 22])
    assert computed(out) == 0 and out["warnings"] == [], out
    restore_index(root, away)


def test_hits_from_the_hot_file_refresh_the_access_time_for_eviction(tmp_path):
    root = tmp_path / "c"
    limit = 1 << 20
    child(root, [1], size_limit=limit)
    _disk.sql(root, ("UPDATE entries SET accessed = 1000.0", ()))
    before = time.time()
    out = child(root, [1], size_limit=limit)
    assert computed(out) == 0
    accessed = [a for (a,) in _disk.sql(root, ("SELECT accessed FROM entries", ()))]
    assert len(accessed) == 3 and all(a >= before - 1 for a in accessed), accessed
