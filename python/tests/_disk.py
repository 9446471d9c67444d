"""Helpers for tests that look inside a DiskCache directory: its SQLite index, read and altered with
Python's own sqlite3 module as another process would, its blob files and hot file, and the
command line (``python -m hypernodes.cache``).

The queries run in a child process: two copies of SQLite in one process (Python's and the one
built into hypernodes) must not open the same database, since closing a file drops the process's
POSIX locks on it, whichever copy took them."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

INDEX = "index.sqlite"


def cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m hypernodes.cache *args`` in a new process (its output captured as text)."""
    return subprocess.run(
        [sys.executable, "-m", "hypernodes.cache", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_QUERY = r"""
import pickle, sqlite3, sys
from contextlib import closing
path, statements = sys.argv[1], pickle.loads(sys.stdin.buffer.read())
out = None
with closing(sqlite3.connect(path, timeout=60, isolation_level=None)) as conn:
    try:
        for sql, params in statements:
            out = conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):  # the index is being created
            raise
        out = []
sys.stdout.buffer.write(pickle.dumps(out))
"""


def sql(root: Path, *statements: tuple[str, tuple]) -> list[tuple]:
    """Runs `(sql, params)` statements on the index in a child process; the last one's rows."""
    done = subprocess.run(
        [sys.executable, "-c", _QUERY, str(Path(root) / INDEX)],
        input=pickle.dumps(list(statements)),
        capture_output=True,
        timeout=120,
        check=True,
    )
    return pickle.loads(done.stdout)


def rows(root: Path) -> list[tuple[bytes, bytes, bytes, int, bytes | None]]:
    """Every entry as (key, sum, tag, size, inline value or None), by key; [] without an index."""
    if not (Path(root) / INDEX).exists():
        return []
    return sql(root, ("SELECT key, sum, tag, size, value FROM entries ORDER BY key", ()))


def count(root: Path) -> int:
    """The number of committed entries."""
    return len(rows(root))


def blob_files(root: Path) -> list[Path]:
    """The blob files: <root>/blobs/<2 hex>/<62 hex>."""
    return sorted(p for p in (Path(root) / "blobs").glob("*/*") if len(p.name) == 62)


def blob_of(root: Path, sum_: bytes) -> Path:
    """The blob file of a content hash."""
    h = sum_.hex()
    return Path(root) / "blobs" / h[:2] / h[2:]


HOT = "hot-v1"
_HOT_HEADER, _HOT_RECORD = 16, 128


def remove_hot(root: Path) -> None:
    """Removes the hot file (a copy of the rows last used, read before the index), so that a test
    of the index's own checks reads the index."""
    (Path(root) / HOT).unlink(missing_ok=True)


def hot_records(root: Path) -> list[dict]:
    """The hot file's records: key, sum, tag, accessed, and the inline payload (None: in a blob),
    with `at`, the record's offset in the file, and `data_at`, its payload's."""
    data = (Path(root) / HOT).read_bytes()
    assert data[:8] == b"HNHOT\x001\n", data[:8]
    n = int.from_bytes(data[8:12], "little")
    out = []
    for i in range(n):
        at = _HOT_HEADER + i * _HOT_RECORD
        r = data[at : at + _HOT_RECORD]
        off, length = int.from_bytes(r[104:112], "little"), int.from_bytes(r[112:120], "little")
        inline = None if length == 2**64 - 1 else data[off : off + length]
        out.append(
            {
                "key": r[:32],
                "sum": r[32:64],
                "tag": r[64:96],
                "inline": inline,
                "at": at,
                "data_at": None if inline is None else off,
            }
        )
    return out


def patch_hot(root: Path, offset: int, new: bytes) -> None:
    """Overwrites bytes of the hot file at `offset` (in place, as an attacker would)."""
    path = Path(root) / HOT
    data = bytearray(path.read_bytes())
    data[offset : offset + len(new)] = new
    path.write_bytes(bytes(data))
