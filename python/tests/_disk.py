"""Helpers for tests that look inside a DiskCache directory: its SQLite index (read and altered with
Python's own sqlite3 module, as another process would) and its blob files."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

INDEX = "index.sqlite"


def connect(root: Path) -> sqlite3.Connection:
    """A connection to the cache's index (autocommit; waits for other writers)."""
    conn = sqlite3.connect(Path(root) / INDEX, timeout=60, isolation_level=None)
    return conn


def rows(root: Path) -> list[tuple[bytes, bytes, bytes, int, bytes | None]]:
    """Every entry as (key, sum, tag, size, inline value or None), by key; [] without an index."""
    if not (Path(root) / INDEX).exists():
        return []
    with closing(connect(root)) as conn:
        try:
            return conn.execute(
                "SELECT key, sum, tag, size, value FROM entries ORDER BY key"
            ).fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):  # the index is being created
                return []
            raise


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
