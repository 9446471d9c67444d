"""Command line for a DiskCache directory:

    python -m hypernodes.cache PATH stats
    python -m hypernodes.cache PATH clear
    python -m hypernodes.cache PATH prune --older-than 7d

``stats`` prints the entries and bytes the cache holds; ``clear`` removes every entry; ``prune``
removes the entries not used for the given age (``30s``, ``15m``, ``12h``, ``7d``, ``2w``) and the
files killed writers left behind.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from hypernodes._core import DiskCache

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """Seconds in an age such as ``7d``, ``12h``, ``30m``, ``45s`` or ``2w`` (a bare number is
    seconds); raises ``ValueError`` naming the text otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not m:
        raise ValueError(
            f"age {text!r} is not a number followed by s, m, h, d or w (for example 7d or 12h)"
        )
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m hypernodes.cache", description="Inspect or clean a HyperNodes DiskCache."
    )
    parser.add_argument("path", help="the cache directory")
    parser.add_argument("command", choices=["stats", "clear", "prune"])
    parser.add_argument(
        "--older-than",
        metavar="AGE",
        help="prune: remove entries not used for AGE (30s, 15m, 12h, 7d, 2w)",
    )
    args = parser.parse_args(argv)
    path = Path(args.path)
    if args.command == "prune":
        if args.older_than is None:
            parser.error("prune needs --older-than AGE (for example --older-than 7d)")
        try:
            age = parse_age(args.older_than)
        except ValueError as e:
            parser.error(str(e))
    elif args.older_than is not None:
        parser.error("--older-than applies to prune only")
    if not path.is_dir():
        print(f"error: {path} is not a directory", file=sys.stderr)
        return 2
    try:
        cache = DiskCache(path)
        if args.command == "stats":
            s = cache.stats()
            print(f"path     {cache.path}")
            print(f"entries  {s['entries']}")
            print(f"bytes    {s['bytes']} ({_size(s['bytes'])})")
        elif args.command == "clear":
            n = cache.clear()
            print(f"removed {n} entries from {cache.path}")
        else:
            r = cache.prune(age)
            print(
                f"removed {r['entries']} entries not used for {args.older_than} "
                f"and {r['files']} stray files from {cache.path}"
            )
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
