"""Measures pipefunc's disk cache (see bench_cache.py) and prints the result as JSON. Runs inside
benches/.peer-venv.

Every function is ``@pipefunc(output_name=..., cache=True)``, the pipeline
``Pipeline([...], cache_type="disk", cache_kwargs={"cache_dir": path})`` (its defaults otherwise:
cloudpickle files plus an in-memory LRU shared between processes). pipefunc caches ``run`` only, so
the writes are ``run`` calls, one item at a time. No array measurement: pipefunc is not a peer for
the array key here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pipefunc
from bench_cache import CHAIN, inc, peer_main


class PipefuncCache:
    name = "pipefunc"
    version = pipefunc.__version__
    write_batch_size = 100

    def fresh_objects(self, quick: bool) -> int:
        return 5 if quick else 10  # each new cache starts a multiprocessing Manager (shared LRU)

    def _pipeline(self, funcs: list[Any], cache_dir: str | None) -> Any:
        if cache_dir is None:
            return pipefunc.Pipeline(funcs)
        return pipefunc.Pipeline(funcs, cache_type="disk", cache_kwargs={"cache_dir": cache_dir})

    def declare(self, funcs: list[Callable[..., Any]], outputs: list[str]) -> list[Any]:
        return [pipefunc.pipefunc(output_name=o, cache=True)(f) for f, o in zip(funcs, outputs)]

    def chain(self, nodes: list[Any], cache_dir: str) -> Any:
        return self._pipeline(nodes, cache_dir)

    def run_chain(self, pipeline: Any, x0: int) -> Any:
        return pipeline.run(f"x{CHAIN}", kwargs={"x0": x0}, full_output=True)[f"x{CHAIN}"]

    def one(self, cache_dir: str | None) -> Any:
        return self._pipeline(
            [pipefunc.pipefunc(output_name="y", cache=cache_dir is not None)(inc)], cache_dir
        )

    def write_batch(self, pipeline: Any, xs: list[int]) -> list[Any]:
        return [pipeline.run("y", kwargs={"x": x}) for x in xs]


def main() -> None:
    peer_main(PipefuncCache())


if __name__ == "__main__":
    main()
