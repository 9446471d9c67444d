"""Measures hypernodes 0.4.8's DiskCache (see bench_cache.py) and prints the result as JSON.

Runs inside benches/.peer-venv-hn, where `import hypernodes` is the PyPI package, not this project:
``Pipeline(nodes=[...], engine=SeqEngine(cache=DiskCache(path)))``; its key of an array is
``hypernodes.cache.hash_value`` (pickle, then SHA-256).
"""

from __future__ import annotations

import sys

from bench_cache import HypernodesCache, peer_main


def main() -> None:
    adapter = HypernodesCache("hypernodes", legacy=True)
    if not adapter.version.startswith("0.4"):
        sys.exit(f"expected hypernodes 0.4.x in this venv, found {adapter.version}")
    adapter.write_batch_size = 100  # its writes slow down as the cache grows
    peer_main(adapter)


if __name__ == "__main__":
    main()
