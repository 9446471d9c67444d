"""Measures the ``diskcache`` package (see bench_cache.py) and prints the result as JSON. Runs inside
benches/.peer-venv.

``diskcache`` is a key-value store (SQLite index, large values in files: the model issue 13
follows), not a pipeline library, so each node function is memoized with
``diskcache.Cache(path).memoize()`` and a "pipeline" calls them in order: the chain is
``f9(...f1(f0(x0)))``, a map is a loop over the items. What is measured is its store plus its
memoize wrapper (key from the function's name and arguments, a pickle of the value), with its
defaults otherwise. No array-key measurement: memoize keys an argument by pickling it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diskcache
from bench_cache import big_value, inc, peer_main


class Chain:
    """Memoized functions called in order, each on the previous one's output."""

    def __init__(self, funcs: list[Callable[..., Any]], cache_dir: str | None) -> None:
        self.cache = diskcache.Cache(cache_dir) if cache_dir else None
        self.funcs = [self.cache.memoize()(f) if self.cache is not None else f for f in funcs]

    def __call__(self, x: Any) -> Any:
        for f in self.funcs:
            x = f(x)
        return x


class DiskcacheCache:
    name = "diskcache"
    version = diskcache.__version__
    write_batch_size = 1_000

    def fresh_objects(self, quick: bool) -> int:
        return 10 if quick else 30

    def declare(self, funcs: list[Callable[..., Any]], outputs: list[str]) -> list[Any]:
        return list(funcs)

    def chain(self, nodes: list[Any], cache_dir: str | None) -> Any:
        return Chain(nodes, cache_dir)

    def run_chain(self, pipeline: Any, x0: int) -> Any:
        return pipeline(x0)

    def one(self, cache_dir: str | None) -> Any:
        return Chain([inc], cache_dir)

    def write_batch(self, pipeline: Any, xs: list[int]) -> list[Any]:
        return [pipeline(x) for x in xs]

    def one_value(self, cache_dir: str) -> Any:
        return Chain([big_value], cache_dir)

    def run_value(self, pipeline: Any) -> Any:
        return pipeline(1)


def main() -> None:
    peer_main(DiskcacheCache())


if __name__ == "__main__":
    main()
