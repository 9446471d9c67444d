"""DaftExecutor: the same pipeline on NodeExecutor and on Daft (native runner), with a shared cache.

    pip install 'hypernodes[daft]'
    python examples/python/daft_example.py

Consecutive nodes become a Daft UDF column over one row per item; results, cache keys and callback
events are those of NodeExecutor, so the second run below is all cache hits whichever executor
filled it. The last run sends the rows to worker processes.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass

from hypernodes import Callback, DiskCache, NodeExecutor, Pipeline, node
from hypernodes.daft import DaftExecutor


@dataclass
class Review:
    text: str
    stars: int


@node(output_name="review")
def parse(line: str) -> Review:
    text, stars = line.rsplit("|", 1)
    return Review(text.strip(), int(stars))


@node(output_name=("words", "shouting"))
def words(review: Review) -> tuple[int, bool]:
    return len(review.text.split()), review.text.isupper()


@node(output_name="score")
def score(review: Review, words: int, shouting: bool, weight: float = 1.0) -> float:
    return weight * review.stars / max(words, 1) - (0.5 if shouting else 0.0)


class Count(Callback):
    def __init__(self) -> None:
        self.computed = self.cached = 0

    def on_node_end(self, node_id, outputs, duration, ctx):
        self.computed += 1

    def on_node_cached(self, node_id, signature, ctx):
        self.cached += 1


def main() -> None:
    lines = [f"review number {i} | {i % 5 + 1}" for i in range(200)] + ["AWFUL | 1"]
    cache = DiskCache(tempfile.mkdtemp(prefix="hn-daft-"))
    counter = Count()
    p = Pipeline([parse, words, score], name="reviews", cache=cache, callbacks=[counter])

    t = time.perf_counter()
    on_daft = DaftExecutor().map(p, {"line": lines}, "line")
    print(f"DaftExecutor: {len(on_daft)} items in {time.perf_counter() - t:.2f} s,", end=" ")
    print(f"{counter.computed} nodes computed, {counter.cached} cached")
    print("  last item:", on_daft[-1])

    counter.computed = counter.cached = 0
    on_node = NodeExecutor().map(p, {"line": lines}, "line")
    print(f"NodeExecutor on the same cache: {counter.computed} computed, {counter.cached} cached")
    assert on_node == on_daft and type(on_node[0]["review"]) is Review

    # CPU-bound nodes in worker processes (started once, reused by later calls); the cache is
    # turned off for this executor so that every node runs again.
    counter.computed = counter.cached = 0
    in_processes = DaftExecutor(use_process=True, use_cache=False).map(p, {"line": lines}, "line")
    print(f"DaftExecutor(use_process=True), cache off: {counter.computed} nodes computed")
    assert in_processes == on_daft and type(in_processes[0]["review"]) is Review


if __name__ == "__main__":
    main()
