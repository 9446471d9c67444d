"""The DiskCache's key map (issue 13): ``<cache>/keys-v1``, the hash table file through which every
process finds a key's row in the index. Tried with real processes as an unlucky user and an attacker
would: the table grown several times while another process reads, a schema-1 index migrated by
three processes at once, damaged and planted tables, a deleted table or index, a clear (method and
command line) under a process that has the table mapped, and 4 processes writing overlapping keys
through growth. A slot is only a hint: never a wrong value, and never a duplicate row.

The table's layout, as read here: a 64-byte header (magic ``HNKEYS01``, capacity u64 at 8, slots
used u64 at 16, retired u64 at 24), then ``capacity`` slots of 16 bytes (the key's first 8 bytes as
a u64 LE, never 0; the row id)."""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import _disk
import pytest

TABLE = "keys-v1"
HEADER, SLOT = 64, 16

# A child process: for each step of argv[2] (JSON: {"xs": [...], "how": "map" | "run"}), looks up
# f(x) for every x on the cache in argv[1] and prints a JSON line: the xs computed (node calls), the
# xs served from the cache, wrong values, and cache warnings; then waits for a line on stdin before
# the next step. With "miss_raises", the node raises instead of computing (a pure reader: nothing
# is written), and a miss is recorded as such. The value holds x itself, so another key's row
# served as x's is a wrong value.
_CHILD = r"""
import json, sys, warnings
from hypernodes import CacheWarning, DiskCache, Pipeline, node

root, steps, opts = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
CALLS = []


@node(output_name="y", version="1")
def f(x):
    if opts.get("miss_raises"):
        raise LookupError("not in the cache")
    CALLS.append(x)
    return {"x": x, "y": x * 3 + opts.get("round", 0)}


p = Pipeline([f], cache=DiskCache(root))
for n, step in enumerate(steps):
    CALLS.clear()
    outs, missed = {}, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        xs = step["xs"]
        if step.get("how", "map") == "map":
            for at in range(0, len(xs), 250):
                part = xs[at : at + 250]
                outs.update(zip(part, (o["y"] for o in p.map({"x": part}, map_over="x"))))
        else:
            for x in xs:
                try:
                    outs[x] = p.run({"x": x})["y"]
                except LookupError:
                    missed.append(x)
    want = lambda x: {"x": x, "y": x * 3 + step.get("round", opts.get("round", 0))}
    bad = [x for x, o in outs.items() if o != want(x)]
    ws = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    served = sorted(set(outs) - set(CALLS))
    print(json.dumps({"calls": sorted(CALLS), "served": served, "missed": missed, "bad": bad,
                      "warnings": ws}), flush=True)
    if n < len(steps) - 1:
        sys.stdin.readline()
"""

# A pure reader: until the file argv[3] exists, looks up random keys of range(argv[2]) on the cache
# in argv[1] (the node raises: a miss writes nothing); prints its hits, misses and wrong values.
# It creates the file argv[4] after its first lookup.
_READER = r"""
import json, os, random, sys, warnings
from hypernodes import CacheWarning, DiskCache, Pipeline, node


@node(output_name="y", version="1")
def f(x):
    raise LookupError("not in the cache")


root, n, stop, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
p = Pipeline([f], cache=DiskCache(root))
rng = random.Random(7)
hits, misses, bad = 0, 0, []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    while not os.path.exists(stop):
        x = rng.randrange(n)
        try:
            out = p.run({"x": x})["y"]
        except LookupError:
            out = None
        if hits + misses == 0:
            open(ready, "w").close()
        if out is None:
            misses += 1
            continue
        hits += 1
        if out != {"x": x, "y": x * 3}:
            bad.append(x)
ws = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
print(json.dumps({"hits": hits, "misses": misses, "bad": bad, "warnings": ws}), flush=True)
"""


def child(root: Path, *steps: dict, **opts) -> list[dict]:
    """Runs the steps in a fresh process (no pause between them); what each printed."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), json.dumps(list(steps)), json.dumps(opts)],
        input="\n" * len(steps),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outs = [json.loads(line) for line in done.stdout.strip().splitlines()]
    for out in outs:
        assert out["bad"] == [], out
    return outs


def started(root: Path, *steps: dict, **opts) -> subprocess.Popen:
    """The steps in a fresh process left running: read its reports with ``report``, let it go on
    to the next step with ``go_on``."""
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), json.dumps(list(steps)), json.dumps(opts)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def report(proc: subprocess.Popen) -> dict:
    out = json.loads(proc.stdout.readline())
    assert out["bad"] == [], out
    return out


def go_on(proc: subprocess.Popen) -> None:
    proc.stdin.write("go\n")
    proc.stdin.flush()


def mapped(xs, **kw) -> dict:
    return {"xs": list(xs), "how": "map", **kw}


def each(xs, **kw) -> dict:
    return {"xs": list(xs), "how": "run", **kw}


def header(root: Path) -> dict:
    """The table's header words."""
    b = (root / TABLE).read_bytes()[:32]
    magic = b[:8]
    capacity, used, retired = struct.unpack("<QQQ", b[8:32])
    return {"magic": magic, "capacity": capacity, "used": used, "retired": retired}


def python(code: str, *args: str) -> str:
    """Runs `code` in a new Python process with `args`; what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def entries(root: Path) -> int:
    """The entries of the index, as a new cache object in a new process counts them."""
    return int(
        python(
            "import sys; from hypernodes import DiskCache as D; print(len(D(sys.argv[1])))",
            str(root),
        )
    )


def user_version(root: Path) -> int:
    return _disk.sql(root, ("PRAGMA user_version", ()))[0][0]


def whole_and_in_use(root: Path) -> None:
    """The table in place is a regular file, whole, valid and not retired."""
    path = root / TABLE
    assert path.is_file() and not path.is_symlink()
    h = header(root)
    assert h["magic"] == b"HNKEYS01" and h["retired"] == 0, h
    assert path.stat().st_size == HEADER + SLOT * h["capacity"], h


# ------------------------------------------------------------------ growth while another reads


def test_growth_while_another_process_reads(tmp_path):
    """9,000 keys written 250 per commit grow the table from 1,024 slots to 32,768 (five times, at
    half full) while another process looks random keys up all along (it starts after the first
    commit; its misses show it read while keys were still being written): every value it is served
    is its key's, and afterwards the table in place is whole and not marked retired, and a new
    process is served every key."""
    root, stop, ready = tmp_path / "c", tmp_path / "stop", tmp_path / "ready"
    n = 9000
    writer = started(root, mapped(range(250)), mapped(range(250, n)))
    assert len(report(writer)["calls"]) == 250
    assert header(root)["capacity"] == 1024
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(root), str(n), str(stop), str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not ready.exists():
            assert reader.poll() is None, reader.communicate()
            time.sleep(0.005)
        go_on(writer)
        wrote = report(writer)
        assert writer.wait(timeout=60) == 0
    finally:
        stop.touch()
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    read = json.loads(out)
    assert read["bad"] == [] and read["warnings"] == [], read
    assert read["hits"] > 0 and read["misses"] > 0, read
    assert len(wrote["calls"]) == n - 250 and wrote["warnings"] == []
    whole_and_in_use(root)
    h = header(root)
    assert (h["capacity"], h["used"]) == (32768, n), h
    (again,) = child(root, mapped(range(n)))
    assert again["calls"] == [] and len(again["served"]) == n and again["warnings"] == []
    assert entries(root) == n


# ------------------------------------------------------------------ migration from schema 1

_TO_SCHEMA_1 = [
    "BEGIN IMMEDIATE",
    "DROP TRIGGER entries_insert",
    "DROP TRIGGER entries_delete",
    "DROP TRIGGER entries_update",
    "DROP INDEX entries_by_access",
    "DROP INDEX entries_by_blob",
    "ALTER TABLE entries RENAME TO entries_v2",
    """CREATE TABLE entries (key BLOB NOT NULL UNIQUE, sum BLOB NOT NULL, tag BLOB NOT NULL,
        size INTEGER NOT NULL, value BLOB, created REAL NOT NULL, accessed REAL NOT NULL)""",
    """INSERT INTO entries SELECT key, sum, tag, size, value, created, accessed
        FROM entries_v2 ORDER BY id DESC""",
    "DROP TABLE entries_v2",
    "CREATE INDEX entries_by_access ON entries(accessed)",
    "CREATE INDEX entries_by_blob ON entries(sum) WHERE value IS NULL",
    """CREATE TRIGGER entries_insert AFTER INSERT ON entries BEGIN
        UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 0; END""",
    """CREATE TRIGGER entries_delete AFTER DELETE ON entries BEGIN
        UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 0; END""",
    """CREATE TRIGGER entries_update AFTER UPDATE OF size ON entries BEGIN
        UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 0; END""",
    "PRAGMA user_version = 1",
    "COMMIT",
    "SELECT sql FROM sqlite_master WHERE name = 'entries'",
]


def test_a_schema_1_index_is_migrated_by_the_processes_that_read_it(tmp_path):
    """A cache written by this version, turned by SQL into the schema-1 layout (a unique key column,
    no row ids; rows copied in reverse order) with keys-v1 and the hot file deleted: three
    processes started at once read it, each is served every entry without running the node; the
    index is at schema 2 with as many entries as before."""
    root = tmp_path / "c"
    child(root, mapped(range(600)))
    (schema,) = _disk.sql(root, *((q, ()) for q in _TO_SCHEMA_1))
    assert "UNIQUE" in schema[0] and " id " not in schema[0]
    (root / TABLE).unlink()
    _disk.remove_hot(root)
    assert user_version(root) == 1
    procs = [started(root, mapped(range(600))) for _ in range(3)]
    for proc in procs:
        out = report(proc)
        assert proc.wait(timeout=60) == 0
        assert out["calls"] == [] and len(out["served"]) == 600 and out["warnings"] == [], out
    assert user_version(root) == 2
    assert entries(root) == 600
    whole_and_in_use(root)
    # and it is written as usual: keys read and new ones, one row each
    (out,) = child(root, mapped(range(500, 700)))
    assert out["calls"] == list(range(600, 700))
    assert entries(root) == 700


# ------------------------------------------------------------------ damaged or planted tables


def _random(root: Path) -> None:
    (root / TABLE).write_bytes(os.urandom((root / TABLE).stat().st_size))


def _huge(root: Path) -> None:
    b = bytearray((root / TABLE).read_bytes())
    b[8:16] = struct.pack("<Q", 1 << 40)
    (root / TABLE).write_bytes(bytes(b))


def _truncated(root: Path) -> None:
    (root / TABLE).write_bytes((root / TABLE).read_bytes()[:40])


def _fifo(root: Path) -> None:
    (root / TABLE).unlink()
    os.mkfifo(root / TABLE)


def _deleted(root: Path) -> None:
    (root / TABLE).unlink()


def _slot(b: bytes, key: bytes) -> int:
    """The offset of the slot holding `key` in table bytes `b`."""
    capacity = struct.unpack_from("<Q", b, 8)[0]
    prefix = max(int.from_bytes(key[:8], "little"), 1)
    for step in range(capacity):
        at = HEADER + ((prefix + step) % (1 << 64) & (capacity - 1)) * SLOT
        if struct.unpack_from("<Q", b, at)[0] == prefix:
            return at
    raise AssertionError("the key has no slot")


def _swapped(root: Path) -> None:
    keys = [r[0] for r in _disk.rows(root)]
    b = bytearray((root / TABLE).read_bytes())
    for a, c in zip(keys[0:20:2], keys[1:20:2]):
        sa, sc = _slot(b, a), _slot(b, c)
        b[sa + 8 : sa + 16], b[sc + 8 : sc + 16] = b[sc + 8 : sc + 16], b[sa + 8 : sa + 16]
    (root / TABLE).write_bytes(bytes(b))


@pytest.mark.parametrize(
    "damage", [_random, _huge, _truncated, _fifo, _deleted, _swapped], ids=lambda f: f.__name__[1:]
)
def test_a_damaged_table_never_serves_a_wrong_value(tmp_path, damage):
    """The table damaged between runs: a pure reader process misses or is served its key's value
    (no hang, no crash, no warning); a run then recomputes what it missed and commits, after which
    a new process is served every entry. The first commit rebuilds the table from the index (the
    writer checks a table it maps against the index, so swapped slots are found out too): no
    duplicate row."""
    root = tmp_path / "c"
    child(root, mapped(range(300)))
    _disk.remove_hot(root)
    damage(root)
    (read,) = child(root, each(range(300)), miss_raises=True)
    assert read["warnings"] == [], read
    (run,) = child(root, mapped(range(300)))
    assert run["warnings"] == [], run
    assert sorted(run["calls"] + run["served"]) == list(range(300))
    whole_and_in_use(root)
    _disk.remove_hot(root)
    (again,) = child(root, each(range(300)), miss_raises=True)
    assert again["missed"] == [] and again["warnings"] == [], again
    assert entries(root) == 300, "duplicate rows"


def test_a_symlink_planted_as_the_table_is_not_followed(tmp_path):
    """keys-v1 replaced by a symlink to a valid table elsewhere (a copy, so a writer that followed
    the link would write its slots there): the file it names is not written, and the run's commit
    puts a table of its own in place of the link."""
    root, elsewhere = tmp_path / "c", tmp_path / "elsewhere"
    child(root, mapped(range(300)))
    _disk.remove_hot(root)
    elsewhere.mkdir()
    victim = elsewhere / "victim"
    (root / TABLE).rename(victim)
    before = victim.read_bytes()
    (root / TABLE).symlink_to(victim)
    (run,) = child(root, mapped(range(350)))
    assert run["warnings"] == []
    assert set(run["calls"]) >= set(range(300, 350))
    assert victim.read_bytes() == before, "the file the link names was written"
    whole_and_in_use(root)
    (again,) = child(root, each(range(350)), miss_raises=True)
    assert again["missed"] == [], again
    assert entries(root) == 350


def test_a_deleted_index_under_a_table_that_stays(tmp_path):
    """index.sqlite and its log files deleted while keys-v1 stays (naming rows of the old index):
    nothing is served, every entry is recomputed once (with other values), and then served."""
    root = tmp_path / "c"
    child(root, mapped(range(300)))
    _disk.remove_hot(root)
    for f in root.glob(_disk.INDEX + "*"):
        f.unlink()
    assert (root / TABLE).is_file()
    (read,) = child(root, each(range(300)), miss_raises=True)
    assert read["served"] == [] and read["warnings"] == [], read
    # written again in reverse (round 1): rows 1..300 hold other keys than before
    (run,) = child(root, mapped(range(299, -1, -1)), round=1)
    assert sorted(run["calls"]) == list(range(300)) and run["warnings"] == []
    _disk.remove_hot(root)
    (again,) = child(root, each(range(300)), miss_raises=True, round=1)
    assert again["missed"] == [] and again["warnings"] == [], again
    assert entries(root) == 300
    whole_and_in_use(root)


# ------------------------------------------------------------------ clear under a mapped table


@pytest.mark.parametrize("how", ["method", "command line"])
def test_clear_from_another_process_under_a_mapped_table(tmp_path, how):
    """A pure reader process is served keys 0-9 (it has the table mapped), then another process
    clears the cache: the reader is served none of the keys it had not used, nor after a third
    process wrote keys 1000-1299 (which take the cleared rows' ids), whose values it is then
    served."""
    root = tmp_path / "c"
    child(root, mapped(range(300)))
    _disk.remove_hot(root)
    reader = started(
        root,
        each(range(10)),
        each(range(10, 300)),
        each(list(range(10, 300)) + list(range(1000, 1300))),
        miss_raises=True,
    )
    out = report(reader)
    assert out["served"] == list(range(10)), out
    if how == "method":
        clear = "import sys; from hypernodes import DiskCache as D; print(D(sys.argv[1]).clear())"
        assert python(clear, str(root)) == "300\n"
    else:
        done = _disk.cli(str(root), "clear")
        assert done.returncode == 0, done.stderr
        assert "removed 300 entries" in done.stdout
    assert not (root / TABLE).exists()
    go_on(reader)
    out = report(reader)
    assert out["served"] == [] and out["warnings"] == [], out
    (wrote,) = child(root, mapped(range(1299, 999, -1)))
    assert len(wrote["calls"]) == 300
    time.sleep(0.05)  # (a reader's read transaction may be up to 20 ms old)
    go_on(reader)
    out = report(reader)
    assert out["served"] == list(range(1000, 1300)), out
    assert out["warnings"] == [], out
    assert reader.wait(timeout=60) == 0
    assert entries(root) == 300


# ------------------------------------------------------------------ concurrent writers


def test_four_processes_write_overlapping_keys_through_growth(tmp_path):
    """4 processes at once, each computing 3,000 keys (0-2999, 1000-3999, 2000-4999, 3000-5999:
    most written by 2 or 3 of them) in its own shuffled order, 250 per commit: the table grows from
    1,024 to 16,384 slots meanwhile. Every value is right, there is one row per key, and a new
    process is served all 6,000."""
    root = tmp_path / "c"
    procs = []
    for start in (0, 1000, 2000, 3000):
        xs = list(range(start, start + 3000))
        random.Random(start).shuffle(xs)
        procs.append(started(root, mapped(xs)))
    for proc in procs:
        out = report(proc)
        assert out["warnings"] == [], out
        assert proc.wait(timeout=120) == 0
    assert entries(root) == 6000, "duplicate rows"
    whole_and_in_use(root)
    assert header(root)["capacity"] == 16384
    (again,) = child(root, mapped(range(6000)))
    assert again["calls"] == [] and len(again["served"]) == 6000, again
